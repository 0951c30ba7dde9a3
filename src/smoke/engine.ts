// The CPU engine: the checkpoint's BERT as an ONNX graph built in memory, run by
// onnxruntime-node. The checkpoint is read through the same inventory as `check` (nested layouts
// flattened, sharded weights through their index). Weights go to the runtime as external data
// pointing at the checkpoint's own weights files (byte ranges from the project's weights index, one
// or several files: no copy through JavaScript) when they are stored contiguously as
// float32/float16/bfloat16; otherwise they are loaded as float32 through the project's tensor
// loader and embedded (raw_data).
import { printable } from "../checkpoint/printable.js";
import { realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import { loadCheckpoint, type LoadedCheckpoint } from "../checkpoint/load.js";
import type { DType, TensorInfo, WeightsIndex } from "../checkpoint/types.js";
import { chosenWeightsSet, describeSet, type SetTensor, type WeightsSet, whyUnreadable } from "../checkpoint/weight-sets.js";
import { loadTensorF32 } from "../checkpoint/weights.js";
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

/** Access to the project's tensor loader (injectable for tests). */
export interface WeightsAccess {
  loadF32(index: WeightsIndex, name: string): Promise<Float32Array>;
}

/** The project's reader: src/checkpoint/tensor-data.ts (float32 data). */
export const defaultWeightsAccess: WeightsAccess = { loadF32: loadTensorF32 };

export interface EngineOptions {
  /** "external" (default when possible): the runtime reads the weights files itself; "inline": float32 copies in the graph. */
  weights?: "auto" | "inline";
  /** The weights to run (default: the set transformers would load from the checkpoint). */
  weightsSet?: WeightsSet;
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

/**
 * The weights set the engine runs: the one transformers would load (safetensors first, a single
 * file before shards), refused with the reason when it cannot be read.
 */
export function engineWeights(ckpt: LoadedCheckpoint): WeightsSet & { tensors: SetTensor[] } {
  const set = chosenWeightsSet(ckpt.weightSets);
  if (!set) throw new UserError(`${printable(ckpt.root)}: no weights file (model.safetensors or pytorch_model.bin, single or sharded with its index)`, 2);
  if (set.tensors) return set as WeightsSet & { tensors: SetTensor[] };
  throw new UserError(whyUnreadable(set, ckpt.weights), 1);
}

function asUserError(e: unknown): unknown {
  if (e instanceof Error && e.name === "WeightsError") return new UserError(e.message, 1);
  return e;
}

function configOf(ckpt: LoadedCheckpoint): { json: unknown; file: string } {
  const doc = ckpt.json.get("config.json");
  const file = ckpt.files.find((f) => f.repoPath === "config.json")?.source ?? path.join(ckpt.root, "config.json");
  if (!doc) throw new UserError(`${printable(file)}: no such file`, 2);
  if (doc.error) throw new UserError(`${printable(file)} ${doc.error}`, 2);
  return { json: doc.value, file };
}

/** The folder onnxruntime resolves external data against, and each file's location inside it. */
function externalLocations(files: readonly string[]): { folder: string; location: Map<string, string> } {
  const real = new Map(files.map((f) => {
    try {
      // onnxruntime refuses external data that resolves outside its folder, so name the real file
      // (a Hub cache snapshot links pytorch_model.bin to ../../blobs/<sha>)
      return [f, realpathSync(f)] as const;
    } catch {
      return [f, path.resolve(f)] as const;
    }
  }));
  let folder = path.dirname([...real.values()][0] ?? ".");
  for (const r of real.values()) while (path.relative(folder, r).startsWith("..")) folder = path.dirname(folder);
  return { folder, location: new Map([...real].map(([f, r]) => [f, path.relative(folder, r).split(path.sep).join("/")])) };
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

  static async load(source: string | LoadedCheckpoint, opts: EngineOptions = {}): Promise<CpuEngine> {
    const t0 = performance.now();
    const ortPromise = import("onnxruntime-node");
    const ckpt = typeof source === "string" ? await loadCheckpoint(path.resolve(source), { followLinksOutside: true }) : source;
    const tokenizer = opts.tokenizer ?? (await loadTokenizer(ckpt));
    const t1 = performance.now();
    const { json: configJson, file: configFile } = configOf(ckpt);
    const config = parseBertConfig(configJson, configFile);
    const set = opts.weightsSet ?? engineWeights(ckpt);
    if (!set.tensors) throw new UserError(`${describeSet(set)}: cannot be read`, 1);
    const tensors = resolveBertTensors({ file: describeSet(set), tensors: set.tensors }, config);
    const t2 = performance.now();
    const ort = await ortPromise;
    const access = opts.access ?? defaultWeightsAccess;

    const { folder, location } = externalLocations([...new Set([...tensors.values()].map((t) => t.source.file))]);
    const weightFiles = set.files.length === 1 ? set.files[0]! : `${set.files.length} shards (${set.files.join(", ")})`;
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
          ...(external ? { model_external_initializers_file_folder_path: folder } : {}),
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
          location: location.get(t.source.file)!,
          offset: t.dataOffset,
          length: t.byteLength,
          key: `${t.source.file}:${t.storageKey}@${t.storageOffset}:${t.shape.join("x")}:${t.dtype}`,
        });
      }
      const model = buildBertModel(config, refs);
      graphMs += performance.now() - tg;
      try {
        session = await ort.InferenceSession.create(model, sessionOptions(true));
        mode = `weights read by onnxruntime straight from ${weightFiles} (external data, ${dtypes})`;
      } catch (e) {
        mode = `weights inlined after the runtime refused external data: ${(e as Error).message.split("\n")[0]}`;
      }
    }
    if (!session) {
      const tg = performance.now();
      const refs = new Map<string, WeightRef>();
      const loaded = new Map<string, Float32Array>();
      for (const [canonical, t] of tensors) {
        const key = `${t.source.file}:${t.storageKey}@${t.storageOffset}:${t.shape.join("x")}:${t.dtype}`;
        let data = loaded.get(key);
        if (!data) {
          try {
            data = await access.loadF32(t.source, t.name);
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
      if (!mode) mode = `weights loaded from ${weightFiles} (${dtypes} -> float32, inline)`;
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
