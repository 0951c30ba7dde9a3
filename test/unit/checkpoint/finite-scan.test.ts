import { mkdtemp, rm, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { FiniteScanner, nonFiniteTensors, scanPlanFor, simdKernelAvailable, type FloatDType, type ScanPlan } from "../../../src/checkpoint/finite-scan.js";
import { digestFile, HashCache } from "../../../src/checkpoint/hash-cache.js";
import type { TensorInfo, WeightsIndex } from "../../../src/checkpoint/types.js";

/** Bit patterns: a finite value, NaN, +Inf, -Inf, per dtype (little-endian element bytes). */
const PATTERNS: Record<FloatDType, { size: number; finite: number[]; nan: number[]; inf: number[]; ninf: number[] }> = {
  float32: { size: 4, finite: [0x00, 0x00, 0x80, 0x3f], nan: [0x01, 0x00, 0xc0, 0x7f], inf: [0x00, 0x00, 0x80, 0x7f], ninf: [0x00, 0x00, 0x80, 0xff] },
  float16: { size: 2, finite: [0x00, 0x3c], nan: [0x01, 0x7e], inf: [0x00, 0x7c], ninf: [0x00, 0xfc] },
  bfloat16: { size: 2, finite: [0x80, 0x3f], nan: [0xc1, 0x7f], inf: [0x80, 0x7f], ninf: [0x80, 0xff] },
  float64: { size: 8, finite: [0, 0, 0, 0, 0, 0, 0xf0, 0x3f], nan: [1, 0, 0, 0, 0, 0, 0xf8, 0x7f], inf: [0, 0, 0, 0, 0, 0, 0xf0, 0x7f], ninf: [0, 0, 0, 0, 0, 0, 0xf0, 0xff] },
};
/** Values that look close but are finite: the largest finite, subnormals, negative zero. */
const NEAR_MISS: Record<FloatDType, number[][]> = {
  float32: [[0xff, 0xff, 0x7f, 0x7f], [0x01, 0x00, 0x00, 0x80], [0x00, 0x00, 0x00, 0x80]],
  float16: [[0xff, 0x7b], [0x01, 0x80]],
  bfloat16: [[0x7f, 0x7f], [0x01, 0x80]],
  float64: [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f], [1, 0, 0, 0, 0, 0, 0, 0x80]],
};

function tensor(name: string, dtype: TensorInfo["dtype"], dataOffset: number, count: number, size: number): TensorInfo {
  return { name, dtype, shape: [count], stride: [1], storageKey: name, storageOffset: 0, dataOffset, byteLength: count * size };
}

/** Feeds `file` to a scanner in chunks of `chunk` bytes, through its own buffers or plain ones. */
function scanInChunks(plan: ScanPlan, file: Buffer, chunk: number, viaKernelMemory: boolean) {
  const s = new FiniteScanner(plan);
  for (let at = 0; at < file.length; at += chunk) {
    const part = file.subarray(at, Math.min(file.length, at + chunk));
    if (viaKernelMemory) {
      const buf = s.buffers[0]!;
      part.copy(buf);
      s.update(buf.subarray(0, part.length), at);
    } else s.update(Buffer.from(part), at);
  }
  return s.result();
}

describe("non-finite scan", () => {
  it("runs the WebAssembly SIMD kernel on Node >= 20 (the plain-JS loop is only a fallback)", () => {
    expect(simdKernelAvailable()).toBe(true);
  });

  for (const dtype of Object.keys(PATTERNS) as FloatDType[]) {
    it(`${dtype}: counts NaN and ±Inf exactly and finds the first, whatever the chunking and alignment`, () => {
      const p = PATTERNS[dtype];
      const n = 1000;
      const start = 13; // not aligned to the element size
      const file = Buffer.alloc(start + n * p.size + 7, 0x11);
      const put = (i: number, bytes: number[]) => Buffer.from(bytes).copy(file, start + i * p.size);
      for (let i = 0; i < n; i++) put(i, i % 3 ? p.finite : NEAR_MISS[dtype][i % NEAR_MISS[dtype].length]!);
      put(17, p.nan);
      put(500, p.inf);
      put(501, p.ninf);
      put(999, p.nan);
      const index: WeightsIndex = { format: "torch", file: "/x", metadata: {}, tensors: [tensor("w", dtype, start, n, p.size), tensor("w.tied", dtype, start, n, p.size)] };
      const plan = scanPlanFor(index);
      expect(plan.ranges).toHaveLength(1); // tied tensors are scanned once
      for (const chunk of [1, 3, 16, 4096, 1 << 20]) {
        for (const viaKernelMemory of [true, false]) {
          const scan = scanInChunks(plan, file, chunk, viaKernelMemory);
          expect(scan.nonFinite, `chunk ${chunk}, kernel memory ${viaKernelMemory}`).toEqual([{ start, end: start + n * p.size, dtype, nan: 2, inf: 2, first: 17 }]);
          expect(nonFiniteTensors(index, scan).map((t) => t.name)).toEqual(["w", "w.tied"]);
        }
      }
      // Clean: nothing found. Then each kind alone, wherever it sits (the vector kernel must see each).
      for (const i of [17, 500, 501, 999]) put(i, p.finite);
      expect(scanInChunks(plan, file, 4096, true).nonFinite).toEqual([]);
      for (const [kind, bytes] of [["nan", p.nan], ["inf", p.inf], ["inf", p.ninf]] as const) {
        for (const i of [0, 7, 8, 640, 999]) {
          put(i, bytes);
          const [found] = scanInChunks(plan, file, 1 << 20, true).nonFinite;
          expect(found, `${dtype} ${kind} at ${i}`).toMatchObject({ nan: kind === "nan" ? 1 : 0, inf: kind === "inf" ? 1 : 0, first: i });
          put(i, p.finite);
        }
      }
    });
  }

  it("scans only float tensors: an int64 tensor full of NaN bit patterns is fine", () => {
    const file = Buffer.alloc(64, 0xff);
    const index: WeightsIndex = { format: "torch", file: "/x", metadata: {}, tensors: [tensor("ids", "int64", 0, 8, 8)] };
    const plan = scanPlanFor(index);
    expect(plan.ranges).toEqual([]);
    expect(scanInChunks(plan, file, 16, false)).toMatchObject({ floatBytes: 0, nonFinite: [] });
  });
  it("views that overlap in one storage are scanned once (400 views of 4 MB: one range), and each is named with the NaN", () => {
    const n = 1 << 20;
    const file = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) file.set(PATTERNS.float32.finite, i * 4);
    file.set(PATTERNS.float32.nan, 1000 * 4);
    // View k starts k elements in and runs to the end: each of the 400 holds element 1000.
    const views = Array.from({ length: 400 }, (_, k) => ({ ...tensor(`view${k}`, "float32", k * 4, n - k, 4), storageKey: "0" }));
    const index: WeightsIndex = { format: "torch", file: "/x", metadata: {}, tensors: views };
    const plan = scanPlanFor(index);
    expect(plan.ranges).toEqual([{ start: 0, end: n * 4, dtype: "float32" }]);
    const scan = scanInChunks(plan, file, 1 << 16, false);
    expect(scan.floatBytes).toBe(n * 4);
    const named = nonFiniteTensors(index, scan);
    expect(named).toHaveLength(400);
    expect(named[0]).toEqual({ name: "view0", dtype: "float32", nan: 1, inf: 0, first: 1000 });
    expect(named[10]).toMatchObject({ name: "view10", first: 990 });
  });
});

describe("hashing and scanning in one read, cached together", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "azbert-finite-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the same sha256 as a plain hash, finds the NaN, and a warm rerun reads nothing", async () => {
    const file = path.join(dir, "w.bin");
    const data = Buffer.alloc(3 * (1 << 20) + 5, 0);
    data.writeFloatLE(NaN, 2 * (1 << 20) + 4);
    await writeFile(file, data);
    const index: WeightsIndex = { format: "torch", file, metadata: {}, tensors: [tensor("w", "float32", 4, (data.length - 5) / 4, 4)] };
    const plan = scanPlanFor(index);
    const plain = await digestFile(file);
    const cache = new HashCache(path.join(dir, "cache.json"));
    const d = await cache.digest(file, { plan });
    expect(d.sha256).toBe(plain.sha256);
    expect(d.scan?.nonFinite).toEqual([{ start: 4, end: data.length - 1, dtype: "float32", nan: 1, inf: 0, first: (1 << 19) }]);
    expect(cache.hashedFiles).toBe(1);
    await cache.save();

    const warm = new HashCache(path.join(dir, "cache.json"));
    expect(await warm.digest(file, { plan })).toEqual(d);
    expect(warm.hashedFiles).toBe(0);

    // Another plan for the same bytes (the index changed): read again.
    const other = scanPlanFor({ ...index, tensors: [tensor("w", "float32", 8, 4, 4)] });
    expect((await warm.digest(file, { plan: other })).scan?.nonFinite).toEqual([]);
    expect(warm.hashedFiles).toBe(1);

    // Changed bytes under the same stat-visible size: the new mtime keys a new read.
    data.writeFloatLE(1, 2 * (1 << 20) + 4);
    await writeFile(file, data);
    const { mtime } = await stat(file);
    await utimes(file, mtime, new Date(mtime.getTime() + 5000));
    expect((await warm.digest(file, { plan })).scan?.nonFinite).toEqual([]);
  });
});
