import { describe, expect, it } from "vitest";
import zlib from "node:zlib";

import { bf16ToF32, f16ToF32, isContiguous, toFloat32 } from "../../../src/checkpoint/tensor-data.js";
import { crc32, crc32Portable } from "../../../src/checkpoint/zip.js";

/** float16 decoded from its definition, for checking the table. */
function halfByDefinition(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

describe("dtype conversions", () => {
  it("converts all 65536 float16 values exactly (NaN payloads stay NaN)", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = f16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      const want = halfByDefinition(h);
      if (Number.isNaN(want)) expect(Number.isNaN(out[h]!)).toBe(true);
      else if (!Object.is(out[h], want)) throw new Error(`half 0x${h.toString(16)}: got ${out[h]}, want ${want}`);
    }
  });

  it("converts bfloat16 by widening the bits", () => {
    const f = new Float32Array([1, -2.5, 0.15625, -0, Infinity]);
    const hi = new Uint16Array(f.length).map((_, i) => new Uint32Array(f.buffer)[i]! >>> 16);
    expect(Array.from(bf16ToF32(hi))).toEqual([1, -2.5, 0.15625, -0, Infinity]);
  });

  it("converts float64 and integer types through typed arrays", () => {
    expect(Array.from(toFloat32("float64", new Float64Array([0.1, -3]).buffer, 2))).toEqual([Math.fround(0.1), -3]);
    expect(Array.from(toFloat32("int8", new Int8Array([-128, 127]).buffer, 2))).toEqual([-128, 127]);
    expect(Array.from(toFloat32("int64", new BigInt64Array([-(2n ** 40n), 9n]).buffer, 2))).toEqual([-(2 ** 40), 9]);
    expect(Array.from(toFloat32("bool", new Uint8Array([1, 0]).buffer, 2))).toEqual([1, 0]);
  });

  it("knows contiguity as torch does (size-1 dims take any stride)", () => {
    expect(isContiguous([2, 3], [3, 1])).toBe(true);
    expect(isContiguous([1, 128], [128, 1])).toBe(true);
    expect(isContiguous([1, 5], [1, 1])).toBe(true);
    expect(isContiguous([], [])).toBe(true);
    expect(isContiguous([0, 4], [1, 1])).toBe(true);
    expect(isContiguous([3, 2], [1, 3])).toBe(false);
  });
});

describe("crc32", () => {
  it("matches zlib's CRC-32 in both implementations", () => {
    const data = Buffer.from("The quick brown fox jumps over the lazy dog");
    expect(crc32Portable(data)).toBe(0x414fa339);
    expect(crc32(data)).toBe(0x414fa339);
    const big = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
    expect(crc32Portable(big)).toBe(crc32(big));
    const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    if (native) expect(crc32Portable(big)).toBe(native(big) >>> 0);
  });
});
