// The CPU engine: the checkpoint's BERT as an ONNX graph built in memory, run by
// onnxruntime-node. Weights go to the runtime as external data pointing at the checkpoint's own
// weights file (byte ranges from the project's weights index: no copy through JavaScript) when
// they are stored contiguously as float32/float16/bfloat16; otherwise they are loaded as float32
// through the project's tensor loader and embedded (raw_data).
import { existsSync, realpathSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import type { DType, TensorInfo, WeightsIndex } from "../checkpoint/types.js";
import { loadTensorF32, readWeights } from "../checkpoint/weights.js";
import { UserError } from "../report.js";
import {
  buildBertModel,
  onnxDataType,
  parseBertConfig,
  resolveBertTensors,
  type BertConfig,
  type WeightRef,
} from "./bert-graph.js";
import { loadTokenizer, type SmokeTokenizer } from "./tokenizer.js";

/** Access to the project's weights reader (injectable for tests). */
export interface WeightsAccess {
  readIndex(file: string): Promise<WeightsIndex>;
  loadF32(index: WeightsIndex, name: string): Promise<Float32Array>;
}

/** The project's reader: src/checkpoint/weights.ts (index) and tensor-data.ts (float32 data). */
export const defaultWeightsAccess: WeightsAccess = { readIndex: readWeights, loadF32: loadTensorF32 };

export interface EngineOptions {
  /** "external" (default when possible): the runtime reads the weights file itself; "inline": float32 copies in the graph. */
  weights?: "auto" | "inline";
  /** onnxruntime intra-op threads (default: onnxruntime's choice, the physical cores). */
  threads?: number;
  access?: WeightsAccess;
  /** The checkpoint's tokenizer when the caller already loaded it. */
  tokenizer?: SmokeTokenizer;
  /**
   * Let onnxruntime pre-pack the weight matrices when the session is created. That costs about
   * as much as one forward pass over all the weights and pays off only over several runs, so it is
   * off unless the caller expects many batches.
   */
  prepack?: boolean;
  /** Extra onnxruntime session options (advanced; merged over the engine's). */
  sessionOptions?: Record<string, unknown>;
}

export interface MaskResult {
  position: number;
  top: { token: string; id: number; score: number }[];
  /** Raw logits at the mask (for fidelity tests; not part of the report). */
  logits: Float32Array;
}

export interface EngineTimings {
  tokenizerMs: number;
  indexMs: number;
  graphMs: number;
  sessionMs: number;
}

const ITEMSIZE: Record<DType, number> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

function isContiguous(t: TensorInfo): boolean {
  let expect = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    if ((t.shape[i] ?? 0) !== 1 && t.stride[i] !== expect) return false;
    expect *= t.shape[i] ?? 1;
  }
  return t.byteLength === expect * ITEMSIZE[t.dtype];
}

/** Chooses the weights file the way transformers does: model.safetensors first. */
export function weightsFile(ckptDir: string): string {
  for (const f of ["model.safetensors", "pytorch_model.bin"]) {
    const p = path.join(ckptDir, f);
    if (existsSync(p)) return p;
  }
  throw new UserError(`${ckptDir}: no weights file (model.safetensors or pytorch_model.bin)`, 2);
}

function asUserError(e: unknown): unknown {
  if (e instanceof Error && e.name === "WeightsError") return new UserError(e.message, 1);
  return e;
}

export class CpuEngine {
  private constructor(
    readonly tokenizer: SmokeTokenizer,
    readonly config: BertConfig,
    private readonly session: InferenceSession,
    private readonly ort: typeof import("onnxruntime-node"),
    readonly description: string,
    readonly timings: EngineTimings,
  ) {}

  static async load(dir: string, opts: EngineOptions = {}): Promise<CpuEngine> {
    const ckptDir = path.resolve(dir);
    const t0 = performance.now();
    const ortPromise = import("onnxruntime-node");
    const tokenizer = opts.tokenizer ?? (await loadTokenizer(ckptDir));
    const t1 = performance.now();
    const configFile = path.join(ckptDir, "config.json");
    let configJson: unknown;
    try {
      configJson = JSON.parse(await readFile(configFile, "utf8"));
    } catch (e) {
      throw new UserError(`${configFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`, 2);
    }
    const config = parseBertConfig(configJson, configFile);
    const file = weightsFile(ckptDir);
    const access = opts.access ?? defaultWeightsAccess;
    let index: WeightsIndex;
    try {
      index = await access.readIndex(file);
    } catch (e) {
      throw asUserError(e);
    }
    const tensors = resolveBertTensors(index, config);
    const t2 = performance.now();
    const ort = await ortPromise;

    // onnxruntime refuses external data that resolves outside its folder, so name the real file
    // (a Hub cache snapshot links pytorch_model.bin to ../../blobs/<sha>)
    let realWeights = path.resolve(index.file);
    try {
      realWeights = realpathSync(realWeights);
    } catch {
      // keep the path as indexed; the runtime will say what is wrong with it
    }
    const sessionOptions = (external: boolean): InferenceSession.SessionOptions => ({
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
      ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
      ...(opts.sessionOptions ?? {}),
      extra: {
        ...((opts.sessionOptions?.extra as Record<string, unknown> | undefined) ?? {}),
        session: {
          ...(((opts.sessionOptions?.extra as Record<string, unknown> | undefined)?.session as Record<string, unknown> | undefined) ?? {}),
          ...(opts.prepack ? {} : { disable_prepacking: "1" }),
          ...(external ? { model_external_initializers_file_folder_path: path.dirname(realWeights) } : {}),
        },
      },
    });

    const canExternal =
      opts.weights !== "inline" &&
      os.endianness() === "LE" &&
      [...tensors.values()].every((t) => onnxDataType(t.dtype) !== undefined && t.dtype !== "float64" && isContiguous(t));
    const dtypes = [...new Set([...tensors.values()].map((t) => t.dtype))].join("/");
    let graphMs = 0;
    let session: InferenceSession | undefined;
    let mode = "";
    if (canExternal) {
      const tg = performance.now();
      const refs = new Map<string, WeightRef>();
      for (const [canonical, t] of tensors) {
        refs.set(canonical, {
          kind: "external",
          dtype: t.dtype,
          dims: t.shape,
          location: path.basename(realWeights),
          offset: t.dataOffset,
          length: t.byteLength,
          key: `${t.storageKey}@${t.storageOffset}:${t.shape.join("x")}:${t.dtype}`,
        });
      }
      const model = buildBertModel(config, refs);
      graphMs += performance.now() - tg;
      try {
        session = await ort.InferenceSession.create(model, sessionOptions(true));
        mode = `weights read by onnxruntime straight from ${path.basename(index.file)} (external data, ${dtypes})`;
      } catch (e) {
        mode = `weights inlined after the runtime refused external data: ${(e as Error).message.split("\n")[0]}`;
      }
    }
    if (!session) {
      const tg = performance.now();
      const refs = new Map<string, WeightRef>();
      const loaded = new Map<string, Float32Array>();
      for (const [canonical, t] of tensors) {
        const key = `${t.storageKey}@${t.storageOffset}:${t.shape.join("x")}:${t.dtype}`;
        let data = loaded.get(key);
        if (!data) {
          try {
            data = await access.loadF32(index, t.name);
          } catch (e) {
            throw asUserError(e);
          }
          loaded.set(key, data);
        }
        refs.set(canonical, { kind: "inline", dims: t.shape, data, key });
      }
      let model: Uint8Array | undefined = buildBertModel(config, refs);
      loaded.clear();
      refs.clear();
      graphMs += performance.now() - tg;
      session = await ort.InferenceSession.create(model, sessionOptions(false));
      model = undefined;
      if (!mode) mode = `weights loaded from ${path.basename(index.file)} (${dtypes} -> float32, inline)`;
    }
    const t3 = performance.now();
    const version = (ort.env as { versions?: { common?: string } }).versions?.common ?? "";
    return new CpuEngine(
      tokenizer,
      config,
      session,
      ort,
      `onnxruntime-node${version ? ` ${version}` : ""} CPU, BERT graph built in memory, ${mode}`,
      { tokenizerMs: t1 - t0, indexMs: t2 - t1, graphMs, sessionMs: t3 - t2 - graphMs },
    );
  }

  /**
   * Runs the masked-LM forward on every sequence (already tokenized), packing several short
   * sequences into one row (block-diagonal attention) to avoid padding, and returns the
   * top-k at each mask token.
   */
  async run(sequences: number[][], topK: number): Promise<{ masks: MaskResult[][]; ms: number[] }> {
    const maskId = this.tokenizer.maskId;
    const out: MaskResult[][] = sequences.map(() => []);
    const ms = sequences.map(() => 0);
    const longest = Math.max(1, ...sequences.map((s) => s.length));
    const capacity = Math.max(longest, 128);
    // first-fit decreasing into rows
    const order = sequences.map((_, i) => i).sort((a, b) => (sequences[b]?.length ?? 0) - (sequences[a]?.length ?? 0));
    const rows: { items: number[]; used: number }[] = [];
    for (const i of order) {
      const len = sequences[i]?.length ?? 0;
      if (!len || !sequences[i]?.includes(maskId)) continue;
      const row = rows.find((r) => r.used + len <= capacity);
      if (row) {
        row.items.push(i);
        row.used += len;
      } else rows.push({ items: [i], used: len });
    }
    // batches of at most ~4096 tokens per run
    const maxTokens = 4096;
    for (let start = 0; start < rows.length; ) {
      let end = start + 1;
      let T = rows[start]?.used ?? 0;
      while (end < rows.length && (end + 1 - start) * Math.max(T, rows[end]?.used ?? 0) <= maxTokens) {
        T = Math.max(T, rows[end]?.used ?? 0);
        end++;
      }
      const batch = rows.slice(start, end).map((r) => r.items);
      const t0 = performance.now();
      await this.runRows(sequences, batch, T, topK, out);
      const elapsed = performance.now() - t0;
      const tokens = batch.flat().reduce((n, i) => n + (sequences[i]?.length ?? 0), 0);
      for (const i of batch.flat()) ms[i] = (elapsed * (sequences[i]?.length ?? 0)) / Math.max(1, tokens);
      start = end;
    }
    return { masks: out, ms };
  }

  /** How many session runs `run` will make for these lengths (to decide on pre-packing). */
  static estimateBatches(lengths: readonly number[]): number {
    const longest = Math.max(1, ...lengths);
    const total = lengths.reduce((a, b) => a + b, 0);
    return Math.ceil(total / Math.max(4096, longest));
  }

  private async runRows(sequences: number[][], rows: number[][], T: number, topK: number, out: MaskResult[][]): Promise<void> {
    const R = rows.length;
    const ids = new BigInt64Array(R * T);
    const pos = new BigInt64Array(R * T);
    const bias = new Float32Array(R * T * T).fill(-3.4028234663852886e38);
    const maskIndex: bigint[] = [];
    const where: { caseIdx: number; position: number }[] = [];
    rows.forEach((items, r) => {
      let off = 0;
      for (const ci of items) {
        const seq = sequences[ci] ?? [];
        const L = seq.length;
        for (let t = 0; t < L; t++) {
          ids[r * T + off + t] = BigInt(seq[t] ?? 0);
          pos[r * T + off + t] = BigInt(t);
          if (seq[t] === this.tokenizer.maskId) {
            maskIndex.push(BigInt(r * T + off + t));
            where.push({ caseIdx: ci, position: t });
          }
          const rowBase = (r * T + off + t) * T + off;
          bias.fill(0, rowBase, rowBase + L);
        }
        off += L;
      }
      // padding queries attend to themselves only, so every softmax row is well defined
      for (let t = off; t < T; t++) bias[(r * T + t) * T + t] = 0;
    });
    const { Tensor: OrtTensor } = this.ort;
    const feeds: Record<string, Tensor> = {
      input_ids: new OrtTensor("int64", ids, [R, T]),
      position_ids: new OrtTensor("int64", pos, [R, T]),
      attn_bias: new OrtTensor("float32", bias, [R, 1, T, T]),
      mask_index: new OrtTensor("int64", BigInt64Array.from(maskIndex), [maskIndex.length]),
    };
    const result = await this.session.run(feeds);
    const logits = result.logits?.data as Float32Array;
    const V = this.config.vocabSize;
    where.forEach((w, m) => {
      const row = logits.slice(m * V, (m + 1) * V);
      out[w.caseIdx]?.push({ position: w.position, top: this.topK(row, topK), logits: row });
    });
    for (const r of out) r.sort((a, b) => a.position - b.position);
  }

  private topK(row: Float32Array, k: number): { token: string; id: number; score: number }[] {
    let max = -Infinity;
    for (const v of row) if (v > max) max = v;
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const best: number[] = [];
    for (let i = 0; i < row.length; i++) {
      const v = row[i] ?? -Infinity;
      if (best.length < k || v > (row[best[best.length - 1] ?? 0] ?? -Infinity)) {
        let j = best.length < k ? best.length : k - 1;
        best[j] = i;
        while (j > 0 && (row[best[j - 1] ?? 0] ?? -Infinity) < v) {
          best[j] = best[j - 1] ?? 0;
          best[j - 1] = i;
          j--;
        }
      }
    }
    return best.map((id) => ({
      token: this.tokenizer.idToToken(id),
      id,
      score: Math.exp((row[id] ?? -Infinity) - max) / sum,
    }));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
