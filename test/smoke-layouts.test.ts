// Every layout torch.load accepts reaches the CPU engine: the tensor reader gives rows of strided
// and transposed views, views with a storage offset, expanded (stride 0) dimensions and
// float16/bfloat16/float64 storage as their row-major float32 values; and the engine on the
// sample saved by torch with such tensors (test/fixtures/azbert-tiny-strided.bin, written by
// tools/make_strided_fixture.py) gives what transformers computes from that file.
import { readFileSync } from "node:fs";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATHER_WINDOW } from "../src/checkpoint/tensor-data.js";
import { openWeights, readWeights } from "../src/checkpoint/weights.js";
import { CpuEngine } from "../src/smoke/engine.js";
import { parseReport, runCli } from "./helpers/cli.js";
import { useScratchDir } from "./helpers/scratch.js";
import { stateDictPickle, torchZip, type CraftedTensor } from "./helpers/torch-fixtures.js";
import { f32ToF16Bits, repoRoot, sampleDir, type Reference } from "./smoke-helpers.js";

const scratch = useScratchDir("azbert-layouts-");
const stridedBin = path.join(repoRoot, "test", "fixtures", "azbert-tiny-strided.bin");
const stridedReference = JSON.parse(readFileSync(path.join(repoRoot, "test", "fixtures", "azbert-tiny-strided.reference.json"), "utf8")) as Reference;
const expectationsFile = path.join(repoRoot, "test", "fixtures", "smoke-expectations.json");

/** Element (i, j, ...) of a view: storage[offset + Σ index * stride], in row-major order. */
function viewValues(storage: ArrayLike<number>, shape: number[], stride: number[], offset: number): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let n = 0;
  const walk = (d: number, at: number) => {
    if (d === shape.length) out[n++] = storage[at]!;
    else for (let i = 0; i < shape[d]!; i++) walk(d + 1, at + i * stride[d]!);
  };
  walk(0, offset);
  return out;
}

/** Where two arrays first differ (-1: equal), so that a mismatch in millions of values prints short. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

describe("tensor reader: rows of a tensor in any layout torch saves", () => {
  // a [2100, 2048] float32 storage (17 MB, more than the gather window) seen transposed
  const BIG = [2100, 2048] as const;
  const big = Float32Array.from({ length: BIG[0] * BIG[1] }, (_, i) => i);
  const small = Float32Array.from({ length: 100 }, (_, i) => i * 0.5 - 7);
  const halves = [0, 1, -2, 0.5, 1.5, -0.25, 3, 4, 2048, -1024, 0.125, 7];
  const brains = [1.5, -2, 0.25, 3, -0.75, 96];
  const doubles = Float64Array.from({ length: 10 }, (_, i) => i / 3);
  const tensors: (CraftedTensor & { values: ArrayLike<number> })[] = [
    { name: "big.t", storageType: "FloatStorage", key: "0", storageNumel: big.length, shape: [BIG[1], BIG[0]], stride: [1, BIG[1]], values: big },
    { name: "gaps", storageType: "FloatStorage", key: "1", storageNumel: 100, offset: 7, shape: [3, 4], stride: [10, 2], values: small },
    { name: "expanded", storageType: "FloatStorage", key: "1", storageNumel: 100, offset: 2, shape: [3, 5], stride: [0, 1], values: small },
    { name: "scalar", storageType: "FloatStorage", key: "1", storageNumel: 100, offset: 3, shape: [], stride: [], values: small },
    { name: "half.t", storageType: "HalfStorage", key: "2", storageNumel: 12, shape: [4, 3], stride: [1, 4], values: halves },
    { name: "bf16", storageType: "BFloat16Storage", key: "3", storageNumel: 6, offset: 2, shape: [2, 2], stride: [2, 1], values: brains },
    { name: "f64.every2", storageType: "DoubleStorage", key: "4", storageNumel: 10, offset: 1, shape: [4], stride: [2], values: Array.from(doubles, Math.fround) },
  ];
  let file = "";
  beforeAll(async () => {
    const f16 = Uint16Array.from(halves, f32ToF16Bits);
    const bf16 = Uint16Array.from(brains, (v) => new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16);
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const storages = { "0": bytes(big), "1": bytes(small), "2": bytes(f16), "3": bytes(bf16), "4": bytes(doubles) };
    file = await scratch.write("layouts.bin", torchZip("layouts", stateDictPickle(tensors), storages));
  });

  it("gives every view's rows as their row-major float32 values", async () => {
    expect(BIG[0] * BIG[1] * 4).toBeGreaterThan(GATHER_WINDOW);
    const r = await openWeights(await readWeights(file));
    try {
      for (const t of tensors) {
        const want = viewValues(t.values, t.shape, t.stride!, t.offset ?? 0);
        const rows = t.shape[0] ?? 1;
        expect(firstDifference(await r.loadRowsF32(t.name, 0, rows), want), `${t.name}: all rows`).toBe(-1);
        if (rows > 2) {
          const per = want.length / rows;
          expect(firstDifference(await r.loadRowsF32(t.name, 1, rows - 2), want.subarray(per, per * (rows - 1))), `${t.name}: inner rows`).toBe(-1);
        }
      }
      // rows into a caller's buffer, past its first elements untouched
      const into = new Float32Array(2 * BIG[0] + 1).fill(-1);
      await r.loadRowsF32("big.t", 2046, 2, into);
      expect(into[2 * BIG[0]]).toBe(-1);
      expect(Array.from(into.subarray(0, 3))).toEqual([2046, 2046 + BIG[1], 2046 + 2 * BIG[1]]);
    } finally {
      await r.close();
    }
  });

  it("refuses rows outside the tensor", async () => {
    const r = await openWeights(await readWeights(file));
    try {
      await expect(r.loadRowsF32("gaps", 2, 2)).rejects.toThrow(/rows 2\.\.4 of tensor gaps, which has 3/);
      await expect(r.loadRowsF32("nope", 0, 1)).rejects.toMatchObject({ code: "missing-tensor" });
    } finally {
      await r.close();
    }
  });
});

describe("CPU engine on the sample as torch saved it with views, offsets, strides, stride 0 and float16/bfloat16/float64 storage", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "azbert-strided-"));
    for (const f of await readdir(sampleDir)) if (f !== "pytorch_model.bin") await copyFile(path.join(sampleDir, f), path.join(dir, f));
    await copyFile(stridedBin, path.join(dir, "pytorch_model.bin"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("the file really holds those layouts", async () => {
    const byName = new Map((await readWeights(stridedBin)).tensors.map((t) => [t.name, t]));
    expect(byName.get("bert.embeddings.word_embeddings.weight")).toMatchObject({ shape: [362, 64], stride: [1, 362] });
    expect(byName.get("bert.embeddings.token_type_embeddings.weight")).toMatchObject({ stride: [0, 1] });
    expect(byName.get("bert.encoder.layer.0.attention.self.key.weight")).toMatchObject({ storageOffset: 64 * 64 });
    expect(byName.get("bert.encoder.layer.0.intermediate.dense.weight")?.dtype).toBe("bfloat16");
    expect(byName.get("bert.encoder.layer.1.intermediate.dense.weight")?.dtype).toBe("float16");
    expect(byName.get("bert.embeddings.LayerNorm.weight")?.dtype).toBe("float64");
    expect(byName.get("cls.predictions.decoder.weight")?.storageKey).toBe(byName.get("bert.embeddings.word_embeddings.weight")?.storageKey);
  });

  it("gives transformers' outputs on that file: top-5 ids, scores and logits within 1e-4", async () => {
    const engine = await CpuEngine.load(dir);
    try {
      expect(engine.description).toMatch(/float32\/.*-> float32/);
      const { masks } = await engine.run(stridedReference.cases.map((c) => c.input_ids), 5);
      stridedReference.cases.forEach((c, i) => {
        c.masks.forEach((want, j) => {
          const m = masks[i]?.[j];
          expect(m?.position, c.text).toBe(want.position);
          expect(m?.top.map((t) => t.id), c.text).toEqual(want.top.map((t) => t.id));
          want.top.forEach((t, k) => expect(Math.abs((m?.top[k]?.score ?? NaN) - t.score), `${c.text} score ${k}`).toBeLessThanOrEqual(1e-4));
          want.logits_head.forEach((l, k) => expect(Math.abs((m?.logits[k] ?? NaN) - l), `${c.text} logit ${k}`).toBeLessThanOrEqual(1e-4));
        });
      });
    } finally {
      await engine.dispose();
    }
  });

  it("`smoke --device cpu` passes the shipped expectations on it", async () => {
    const r = await runCli(["smoke", "--device", "cpu", "--json", "--ckpt", dir, "--expect", expectationsFile]);
    expect(r.code, r.stderr).toBe(0);
    const report = parseReport(r.stdout) as unknown as { ok: boolean; cases: { status: string }[] };
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => c.status)).toEqual(["pass", "pass", "pass", "pass", "pass"]);
  });
});
