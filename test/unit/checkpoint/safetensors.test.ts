
import { describe, expect, it } from "vitest";
import { useScratchDir, weightsFailure } from "../../helpers/scratch.js";

import { type SafetensorsInput, safetensorsFile } from "../../helpers/torch-fixtures.js";
import { readSafetensors } from "../../../src/checkpoint/safetensors.js";
import { loadTensorF32, openWeights } from "../../../src/checkpoint/tensor-data.js";
import { readWeights } from "../../../src/checkpoint/weights.js";

const scratch = useScratchDir("azbert-st-");
const write = scratch.write;
const failure = weightsFailure;

const F32 = [0.5, -1.25, 3.140000104904175, 1e-30, -0, 65536];
// float16 bit patterns and their exact values.
const F16_BITS = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8400, 0x3555, 0x7c00, 0xfc00];
const F16_VALUES = [1, -2, 65504, 2 ** -24, -(2 ** -14), 0.333251953125, Infinity, -Infinity];

const valid = (): SafetensorsInput[] => [
  { name: "dense.weight", dtype: "F32", shape: [2, 3], data: new Uint8Array(new Float32Array(F32).buffer) },
  { name: "dense.bias", dtype: "F16", shape: [8], data: new Uint8Array(new Uint16Array(F16_BITS).buffer) },
  { name: "ids", dtype: "I64", shape: [1, 2], data: new Uint8Array(new BigInt64Array([5n, -7n]).buffer) },
];

describe("safetensors", () => {
  it("indexes tensors in file order with contiguous strides and metadata", async () => {
    const p = await write("model.safetensors", safetensorsFile(valid(), { format: "pt" }));
    const idx = await readWeights(p);
    expect(idx.format).toBe("safetensors");
    expect(idx.metadata).toEqual({ format: "pt" });
    expect(idx.tensors.map((t) => [t.name, t.dtype, t.shape, t.stride, t.storageKey, t.byteLength])).toEqual([
      ["dense.weight", "float32", [2, 3], [3, 1], "dense.weight", 24],
      ["dense.bias", "float16", [8], [1], "dense.bias", 16],
      ["ids", "int64", [1, 2], [2, 1], "ids", 16],
    ]);
    expect(idx.tensors[1]!.dataOffset - idx.tensors[0]!.dataOffset).toBe(24);
  });

  it("loads F32 and F16 values exactly", async () => {
    const p = await write("values.safetensors", safetensorsFile(valid()));
    const idx = await readSafetensors(p);
    const w = await loadTensorF32(idx, "dense.weight");
    expect(Array.from(w)).toEqual(F32.map(Math.fround));
    expect(Object.is(w[4], -0)).toBe(true);
    expect(Array.from(await loadTensorF32(idx, "dense.bias"))).toEqual(F16_VALUES);
    const r = await openWeights(idx);
    try {
      expect(Array.from(await r.loadF32("ids"))).toEqual([5, -7]);
    } finally {
      await r.close();
    }
  });

  it("orders tensors by data offset, not by header order", async () => {
    const p = await write(
      "order.safetensors",
      safetensorsFile(valid(), undefined, (h) => {
        const entries = Object.entries(h).reverse();
        for (const k of Object.keys(h)) delete h[k];
        for (const [k, v] of entries) h[k] = v;
      }),
    );
    expect((await readWeights(p)).tensors.map((t) => t.name)).toEqual(["dense.weight", "dense.bias", "ids"]);
  });

  it("rejects a header length beyond the file or over 100 MB", async () => {
    const good = safetensorsFile(valid());
    const beyond = Buffer.from(good);
    beyond.writeBigUInt64LE(BigInt(good.length), 0);
    const e1 = await failure(readWeights(await write("beyond.safetensors", beyond)));
    expect(e1.code).toBe("truncated");
    expect(e1.message).toBe(`beyond.safetensors: truncated: the safetensors header ends at byte ${good.length + 8} but the file has ${good.length} bytes`);

    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(100_000_001n, 0);
    const e2 = await failure(readSafetensors(await write("huge.safetensors", huge)));
    expect(e2.code).toBe("corrupt");
    expect(e2.message).toBe(
      "huge.safetensors: the safetensors header length 100000001 is over the 100000000-byte limit (not a safetensors file, or damaged)",
    );
  });

  it("rejects overlapping offsets, offsets outside the file, gaps and size mismatches", async () => {
    const cases: [string, (h: Record<string, unknown>) => void, string, string][] = [
      [
        "overlap",
        (h) => ((h["dense.bias"] as { data_offsets: number[] }).data_offsets = [16, 32]),
        "corrupt",
        "overlap.safetensors: tensor dense.bias (data bytes 16..32) overlaps tensor dense.weight (bytes 0..24)",
      ],
      [
        "outside",
        (h) => ((h["ids"] as { data_offsets: number[] }).data_offsets = [48, 64]),
        "truncated",
        "outside.safetensors: truncated: tensor ids ends at byte",
      ],
      [
        "size",
        (h) => ((h["dense.weight"] as { shape: number[] }).shape = [2, 2]),
        "corrupt",
        "size.safetensors: tensor dense.weight: data_offsets [0, 24] span 24 bytes but shape [2,2] of F32 needs 16",
      ],
      [
        "gap",
        (h) => {
          (h["dense.weight"] as { shape: number[]; data_offsets: number[] }).shape = [1, 3];
          (h["dense.weight"] as { data_offsets: number[] }).data_offsets = [0, 12];
        },
        "corrupt",
        "gap.safetensors: data bytes 12..24 before tensor dense.bias belong to no tensor",
      ],
      [
        "dtype",
        (h) => ((h["ids"] as { dtype: string }).dtype = "F8_E4M3"),
        "unsupported",
        "dtype.safetensors: tensor ids has dtype F8_E4M3, which is not one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL",
      ],
      ["shape", (h) => ((h["ids"] as { shape: unknown }).shape = [1, -2]), "corrupt", "shape.safetensors: tensor ids: shape [1, -2] is not a list"],
      ["meta", (h) => (h.__metadata__ = { n: 1 }), "corrupt", "meta.safetensors: __metadata__.n is not a string"],
    ];
    for (const [tag, edit, code, message] of cases) {
      const err = await failure(readWeights(await write(`${tag}.safetensors`, safetensorsFile(valid(), undefined, edit))));
      expect(err.code, tag).toBe(code);
      expect(err.message.startsWith(message), `${tag}: ${err.message}`).toBe(true);
    }
  });

  it("folds a shape as the reference validates it: checked from the left, so an empty tensor can still overflow", async () => {
    // safetensors 0.8: [0, 2^32, 2^32] loads (an empty tensor), [2^32, 2^32, 0] is "overflow computing buffer size".
    const empty = (shape: string) => {
      const header = Buffer.from(`{"e":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(header.length));
      return Buffer.concat([len, header]);
    };
    const ok = await readWeights(await write("zero-first.safetensors", empty("[0,4294967296,4294967296]")));
    expect(ok.tensors.map((t) => [t.name, t.shape, t.byteLength])).toEqual([["e", [0, 2 ** 32, 2 ** 32], 0]]);
    const err = await failure(readWeights(await write("zero-last.safetensors", empty("[4294967296,4294967296,0]"))));
    expect([err.code, err.message]).toEqual([
      "corrupt",
      "zero-last.safetensors: tensor e: shape [4294967296, 4294967296, 0] of F32 overflows 64 bits (the reference reader refuses it: ValidationOverflow)",
    ]);
    // Elements that fit 64 bits, but not once counted in bits.
    const bits = await failure(readWeights(await write("bits.safetensors", empty("[4611686018427387904]"))));
    expect(bits.message).toMatch(/overflows 64 bits/);
    // A dimension of 2^64 is not a usize: serde reads it as a float and refuses it.
    const wide = await failure(readWeights(await write("wide.safetensors", empty("[18446744073709551616,0]"))));
    expect(wide.message).toMatch(/shape \[18446744073709551616, 0\] is not a list of non-negative integers/);
  });

  it("rejects a header that is not JSON", async () => {
    const bad = Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{nope")]);
    const err = await failure(readWeights(await write("json.safetensors", bad)));
    expect(err.code).toBe("corrupt");
    expect(err.message).toMatch(/^json\.safetensors: the safetensors header is not valid JSON/);
  });

  it("reads the header as serde_json does: null metadata and leading whitespace are fine, a repeated key is not", async () => {
    const file = safetensorsFile(valid(), { format: "pt" });
    const n = Number(file.readBigUInt64LE(0));
    const header = file.subarray(8, 8 + n).toString("utf8").trimEnd();
    const rewrite = (text: string) => {
      const padded = text + " ".repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(Buffer.byteLength(padded)));
      return Buffer.concat([len, Buffer.from(padded), file.subarray(8 + n)]);
    };
    const nullMeta = await readWeights(await write("nullmeta.safetensors", rewrite(header.replace('{"format":"pt"}', "null"))));
    expect(nullMeta.metadata).toEqual({});
    expect((await readWeights(await write("ws.safetensors", rewrite(`\n  ${header}`)))).tensors).toHaveLength(3);
    const twice = rewrite(header.replace('"ids":', '"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[40,56]},"ids":'));
    expect(await failure(readWeights(await write("twice.safetensors", twice)))).toMatchObject({
      code: "corrupt",
      message: expect.stringMatching(/^twice\.safetensors: the safetensors header is not valid JSON \(duplicate key "ids"/),
    });
  });
});
