// The CPU engine: the checkpoint's BERT run by onnxruntime-node step by step, so that its memory
// does not grow with the model. A step is one graph run (bert-graph.ts: a whole encoder layer when
// its weights fit a step, else a chunk of rows of one matrix or a group of attention heads) whose
// weights are graph inputs, read from the weights files through the project's tensor reader (any
// layout torch saves: views, offsets, strides, float16/bfloat16/float64) into one reused buffer of
// at most `stepBytes`, and dropped when the next step reads its own. The embeddings read only the
// rows of the input ids and positions; the masked-LM head runs on the masked tokens only, over the
// vocabulary in chunks of rows of the (tied) decoder. The checkpoint is read through the same
// inventory as `check` (nested layouts flattened, shards through their index).
import { printable } from "../util/printable.js";
import path from "node:path";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import { loadCheckpoint, type LoadedCheckpoint } from "../checkpoint/load.js";
import { numel } from "../checkpoint/tensor-data.js";
import type { WeightsIndex } from "../checkpoint/types.js";
import { chosenWeightsSet, describeSet, type SetTensor, type WeightsSet, whyUnreadable } from "../checkpoint/weight-sets.js";
import { openWeights, type WeightsReader } from "../checkpoint/weights.js";
import { UserError } from "../report.js";
import {
  addLayerNormModel,
  ATTENTION_BLOCK_WEIGHTS,
  attentionBlockModel,
  attentionModel,
  FFN_BLOCK_WEIGHTS,
  ffnBlockModel,
  linearModel,
  parseBertConfig,
  resolveBertTensors,
  type BertConfig,
} from "./bert-graph.js";
import { loadTokenizer, type SmokeTokenizer } from "./tokenizer.js";

export interface EngineOptions {
  /** The weights to run (default: the set transformers would load from the checkpoint). */
  weightsSet?: WeightsSet;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, the physical cores). */
  threads?: number;
  /** The checkpoint's tokenizer when the caller already loaded it. */
  tokenizer?: SmokeTokenizer;
  /**
   * Most bytes of weights (as float32) one step holds: the engine's memory beyond the runtime's
   * own. Smaller means more, smaller graph runs; the results do not depend on it.
   */
  stepBytes?: number;
  /** Extra onnxruntime session options (advanced; merged over the engine's). */
  sessionOptions?: Record<string, unknown>;
}

/**
 * 40 MiB: each half of a BERT-base or BERT-large layer (attention: 4 H² weights, 17 MB for
 * BERT-large; feed-forward: 2 H I, 34 MB) is one step, one graph run; wider layers (XLM-R XL and
 * up) run as steps of rows, and the vocabulary takes two steps or more.
 */
export const DEFAULT_STEP_BYTES = 40 * 1024 * 1024;

/** Activations of one batch (tokens × the widest layer, attention scores of a group of heads) stay under this. */
const ACTIVATION_BYTES = 32 * 1024 * 1024;

/** 4 MiB: a step's rows are read as pieces of about this size, several at once. */
const READ_PIECE_FLOATS = 1024 * 1024;

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

/** What the last `run` did: graph runs, weight bytes read, time spent reading them. */
export interface RunStats {
  steps: number;
  bytesRead: number;
  readMs: number;
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

/** Rows [start, start + count) of one tensor (elements, for a 1-D tensor). */
interface RowRead {
  tensor: SetTensor;
  start: number;
  count: number;
}

/** One graph run (or plain arithmetic) with the rows it needs. */
interface Step {
  reads: RowRead[];
  run(weights: Float32Array[]): void | Promise<void>;
}

const rowSize = (t: SetTensor): number => numel(t.shape.slice(1));
const readFloats = (r: RowRead): number => r.count * rowSize(r.tensor);

/**
 * [0, n) in consecutive ranges of `per` (the last one shorter): every step but the last fills the
 * buffer, so the memory a model needs is the buffer's whatever its size.
 */
function ranges(n: number, per: number): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < n; start += per) out.push({ start, count: Math.min(per, n - start) });
  return out;
}

/** Copies a [rows, width] block into columns [at, at + width) of a [rows, full] matrix. */
function putColumns(block: Float32Array, rows: number, width: number, into: Float32Array, full: number, at: number): void {
  for (let r = 0; r < rows; r++) into.set(block.subarray(r * width, (r + 1) * width), r * full + at);
}

/** x = LayerNorm(x) row by row, statistics in double precision. */
function layerNorm(x: Float32Array, width: number, gamma: Float32Array, beta: Float32Array, eps: number): void {
  for (let base = 0; base < x.length; base += width) {
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x[base + j]!;
    mean /= width;
    let variance = 0;
    for (let j = 0; j < width; j++) variance += (x[base + j]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / width + eps);
    for (let j = 0; j < width; j++) x[base + j] = (x[base + j]! - mean) * inv * gamma[j]! + beta[j]!;
  }
}

interface Sessions {
  attentionBlock: InferenceSession;
  ffnBlock: InferenceSession;
  linear: InferenceSession;
  activated: InferenceSession;
  attention: InferenceSession;
  addLayerNorm: InferenceSession;
}

export class CpuEngine {
  private readonly readers = new Map<WeightsIndex, Promise<WeightsReader>>();
  /** The buffer every step's rows are read into. */
  private slot: Float32Array | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** What the last `run` did. */
  stats: RunStats = { steps: 0, bytesRead: 0, readMs: 0 };

  private constructor(
    readonly tokenizer: SmokeTokenizer,
    readonly config: BertConfig,
    private readonly tensors: Map<string, SetTensor>,
    private readonly sessions: Sessions,
    private readonly ort: typeof import("onnxruntime-node"),
    private readonly stepFloats: number,
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

    const models = {
      attentionBlock: attentionBlockModel(config),
      ffnBlock: ffnBlockModel(config),
      linear: linearModel(),
      activated: linearModel(config.hiddenAct),
      attention: attentionModel(config.hiddenSize / config.numHeads),
      addLayerNorm: addLayerNormModel(config.eps),
    };
    const graphMs = performance.now() - t2;
    const extra = (opts.sessionOptions?.extra as Record<string, unknown> | undefined) ?? {};
    const sessionOptions: InferenceSession.SessionOptions = {
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
      ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
      ...(opts.sessionOptions ?? {}),
      extra: {
        ...extra,
        session: {
          // the weights are inputs that change every run: nothing to pre-pack
          disable_prepacking: "1",
          // the sessions' threads take turns with the reads of the next step: spinning between
          // runs would take the cores they need
          "intra_op.allow_spinning": "0",
          ...((extra.session as Record<string, unknown> | undefined) ?? {}),
        },
      },
    };
    const names = Object.keys(models) as (keyof Sessions)[];
    const created = await Promise.all(names.map((k) => ort.InferenceSession.create(models[k], sessionOptions)));
    const sessions = Object.fromEntries(names.map((k, i) => [k, created[i]!])) as unknown as Sessions;
    const t3 = performance.now();

    const stepBytes = opts.stepBytes ?? DEFAULT_STEP_BYTES;
    const weightFiles = set.files.length === 1 ? set.files[0]! : `${set.files.length} shards (${set.files.join(", ")})`;
    const dtypes = [...new Set([...tensors.values()].map((t) => t.dtype))];
    const converted = dtypes.some((d) => d !== "float32") ? ` -> float32` : "";
    const version = (ort.env as { versions?: { common?: string } }).versions?.common ?? "";
    return new CpuEngine(
      tokenizer,
      config,
      tensors,
      sessions,
      ort,
      Math.max(1, Math.floor(stepBytes / 4)),
      `onnxruntime-node${version ? ` ${version}` : ""} CPU, BERT run step by step (at most ${(stepBytes / 2 ** 20).toFixed(stepBytes % 2 ** 20 ? 2 : 0)} MiB of weights a step), ` +
        `weights read straight from ${weightFiles} (${dtypes.join("/")}${converted})`,
      { tokenizerMs: t1 - t0, indexMs: t2 - t1, graphMs, sessionMs: t3 - t2 - graphMs },
    );
  }

  /**
   * Runs the masked-LM forward on every sequence (already tokenized), packing several short
   * sequences into one row (block-diagonal attention) to avoid padding, and returns the
   * top-k at each mask token. The weights are read once per batch of rows.
   */
  run(sequences: number[][], topK: number): Promise<{ masks: MaskResult[][]; ms: number[] }> {
    // one run at a time: every step reads into the one buffer
    const result = this.running.then(() => this.runNow(sequences, topK));
    this.running = result.catch(() => undefined);
    return result;
  }

  private async runNow(sequences: number[][], topK: number): Promise<{ masks: MaskResult[][]; ms: number[] }> {
    const maskId = this.tokenizer.maskId;
    const out: MaskResult[][] = sequences.map(() => []);
    const ms = sequences.map(() => 0);
    this.stats = { steps: 0, bytesRead: 0, readMs: 0 };
    const V = this.config.vocabSize;
    for (const seq of sequences) {
      const bad = seq.find((id) => !Number.isInteger(id) || id < 0 || id >= V);
      if (bad !== undefined) throw new UserError(`the tokenizer gave token id ${bad}, but config.json \`vocab_size\` is ${V}: the tokenizer and the model disagree`, 1);
    }
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
    // batches whose activations stay small: the weights are streamed once per batch
    const widest = Math.max(this.config.intermediateSize, 4 * this.config.hiddenSize);
    const maxTokens = Math.max(longest, Math.floor(ACTIVATION_BYTES / (4 * widest)));
    try {
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
    } catch (e) {
      throw asUserError(e);
    }
    return { masks: out, ms };
  }

  private tensor(canonical: string): SetTensor {
    const t = this.tensors.get(canonical);
    if (!t) throw new Error(`no tensor for ${canonical}`);
    return t;
  }

  private whole(canonical: string): RowRead {
    const t = this.tensor(canonical);
    return { tensor: t, start: 0, count: t.shape[0] ?? 1 };
  }

  private reader(index: WeightsIndex): Promise<WeightsReader> {
    let r = this.readers.get(index);
    if (!r) {
      r = openWeights(index);
      r.catch(() => this.readers.delete(index));
      this.readers.set(index, r);
    }
    return r;
  }

  /** The step's rows, read into `slot`. */
  private async load(step: Step, slot: Float32Array): Promise<Float32Array[]> {
    let at = 0;
    const views = step.reads.map((r) => {
      const view = slot.subarray(at, at + readFloats(r));
      at += view.length;
      return view;
    });
    // pieces of a few MiB, read in parallel: the copies out of the page cache run on several threads
    const pieces: { r: RowRead; view: Float32Array }[] = [];
    step.reads.forEach((r, i) => {
      const size = rowSize(r.tensor);
      const per = Math.max(1, Math.floor(READ_PIECE_FLOATS / Math.max(1, size)));
      for (let a = 0; a < r.count; a += per) {
        const c = Math.min(per, r.count - a);
        pieces.push({ r: { tensor: r.tensor, start: r.start + a, count: c }, view: views[i]!.subarray(a * size, (a + c) * size) });
      }
    });
    await Promise.all(pieces.map(async ({ r, view }) => (await this.reader(r.tensor.source)).loadRowsF32(r.tensor.name, r.start, r.count, view)));
    this.stats.bytesRead += at * 4;
    return views;
  }

  /**
   * Runs the steps in order, each one's rows read just before it runs. Reading the next step
   * while one computes gains nothing on a machine whose cores onnxruntime already uses: the copies
   * out of the page cache and the matrix products take turns on the same cores and memory, so they
   * run one after the other, each on every core, with one buffer.
   */
  private async execute(steps: Step[]): Promise<void> {
    const need = Math.max(0, ...steps.map((s) => s.reads.reduce((n, r) => n + readFloats(r), 0)));
    if (!this.slot || this.slot.length < need) this.slot = new Float32Array(need);
    for (const step of steps) {
      const t0 = performance.now();
      const weights = await this.load(step, this.slot);
      this.stats.readMs += performance.now() - t0;
      await step.run(weights);
      this.stats.steps++;
    }
  }

  /** Steps of y = act(x · Wᵀ + b) over row chunks of W, each chunk's outputs put in their columns of y. */
  private linearSteps(prefix: string, input: () => { x: Float32Array; n: number }, y: Float32Array, activated: boolean): Step[] {
    return this.projectionSteps(this.tensor(`${prefix}.weight`), this.tensor(`${prefix}.bias`), input, y, activated);
  }

  private projectionSteps(w: SetTensor, b: SetTensor, input: () => { x: Float32Array; n: number }, y: Float32Array, activated: boolean): Step[] {
    const [outF, inF] = [w.shape[0]!, w.shape[1]!];
    const chunks = ranges(outF, Math.max(1, Math.floor(this.stepFloats / (inF + 1))));
    const session = activated ? this.sessions.activated : this.sessions.linear;
    const { Tensor: OrtTensor } = this.ort;
    return chunks.map(({ start, count }) => ({
      reads: [
        { tensor: w, start, count },
        { tensor: b, start, count },
      ],
      run: async ([wc, bc]) => {
        const { x, n } = input();
        const r = await session.run({
          x: new OrtTensor("float32", x, [n, inF]),
          w: new OrtTensor("float32", wc!, [count, inF]),
          b: new OrtTensor("float32", bc!, [count]),
        });
        putColumns(r.y!.data as Float32Array, n, count, y, outF, start);
      },
    }));
  }

  /** The step of x = LayerNorm(x) in plain arithmetic (embeddings, head). */
  private layerNormStep(prefix: string, x: () => Float32Array): Step {
    return {
      reads: [this.whole(`${prefix}.weight`), this.whole(`${prefix}.bias`)],
      run: ([gamma, beta]) => layerNorm(x(), this.config.hiddenSize, gamma!, beta!, this.config.eps),
    };
  }

  /** The step of x = LayerNorm(y + x) inside an encoder layer, with the operations the layer graph uses. */
  private addLayerNormStep(prefix: string, x: Float32Array, y: Float32Array, n: number): Step {
    const { Tensor: OrtTensor } = this.ort;
    const H = this.config.hiddenSize;
    return {
      reads: [this.whole(`${prefix}.weight`), this.whole(`${prefix}.bias`)],
      run: async ([gamma, beta]) => {
        const r = await this.sessions.addLayerNorm.run({
          x: new OrtTensor("float32", y, [n, H]),
          residual: new OrtTensor("float32", x, [n, H]),
          gamma: new OrtTensor("float32", gamma!, [H]),
          beta: new OrtTensor("float32", beta!, [H]),
        });
        x.set(r.y!.data as Float32Array);
      },
    };
  }

  private async runRows(sequences: number[][], rows: number[][], T: number, topK: number, out: MaskResult[][]): Promise<void> {
    const cfg = this.config;
    const H = cfg.hiddenSize;
    const I = cfg.intermediateSize;
    const V = cfg.vocabSize;
    const hd = H / cfg.numHeads;
    const R = rows.length;
    const N = R * T;
    const ids = new Int32Array(N);
    const pos = new Int32Array(N);
    const bias = new Float32Array(R * T * T).fill(-3.4028234663852886e38);
    const maskIndex: number[] = [];
    const where: { caseIdx: number; position: number }[] = [];
    rows.forEach((items, r) => {
      let off = 0;
      for (const ci of items) {
        const seq = sequences[ci] ?? [];
        const L = seq.length;
        for (let t = 0; t < L; t++) {
          ids[r * T + off + t] = seq[t] ?? 0;
          pos[r * T + off + t] = t;
          if (seq[t] === this.tokenizer.maskId) {
            maskIndex.push(r * T + off + t);
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
    const M = maskIndex.length;
    const { Tensor: OrtTensor } = this.ort;
    const biasTensor = new OrtTensor("float32", bias, [R, 1, T, T]);

    const s = {
      x: new Float32Array(N * H),
      ctx: new Float32Array(N * H),
      attnOut: new Float32Array(N * H),
      mid: new Float32Array(N * I),
      ffnOut: new Float32Array(N * H),
      head: new Float32Array(M * H),
      masked: new Float32Array(M * H),
      logits: new Float32Array(M * V),
    };
    const steps: Step[] = [];

    // embeddings: only the rows of the ids and positions in this batch
    const word = this.tensor("embeddings.word_embeddings.weight");
    const runs: { start: number; count: number }[] = [];
    for (const id of [...new Set(ids)].sort((a, b) => a - b)) {
      const last = runs.at(-1);
      if (last && last.start + last.count === id) last.count++;
      else runs.push({ start: id, count: 1 });
    }
    const positions = Math.max(...pos) + 1;
    steps.push({
      reads: [
        ...runs.map((r) => ({ tensor: word, ...r })),
        { tensor: this.tensor("embeddings.position_embeddings.weight"), start: 0, count: positions },
        { tensor: this.tensor("embeddings.token_type_embeddings.weight"), start: 0, count: 1 },
      ],
      run: (w) => {
        const rowOf = new Map<number, Float32Array>();
        runs.forEach((r, i) => {
          for (let k = 0; k < r.count; k++) rowOf.set(r.start + k, w[i]!.subarray(k * H, (k + 1) * H));
        });
        const posRows = w[runs.length]!;
        const type0 = w[runs.length + 1]!;
        for (let n = 0; n < N; n++) {
          const wr = rowOf.get(ids[n]!)!;
          const p = pos[n]! * H;
          // as BertEmbeddings adds them: (word + token type) + position, in float32
          for (let j = 0; j < H; j++) s.x[n * H + j] = Math.fround(Math.fround(wr[j]! + type0[j]!) + posRows[p + j]!);
        }
      },
    });
    steps.push(this.layerNormStep("embeddings.LayerNorm", () => s.x));

    const f = (data: Float32Array, dims: number[]) => new OrtTensor("float32", data, dims);
    const i64 = (values: number[]) => new OrtTensor("int64", BigInt64Array.from(values.map(BigInt)), [values.length]);
    // heads per attention step: bounded by the step's weights and by the group's attention scores
    const perHead = 3 * hd * (H + 1);
    const byWeights = Math.max(1, Math.floor(this.stepFloats / perHead));
    const byScores = Math.max(1, Math.floor(ACTIVATION_BYTES / (4 * 3 * N * T)));
    const groups = ranges(cfg.numHeads, Math.min(byWeights, byScores));
    // each half of a layer whose weights fit one step runs as one graph; a larger one as steps of rows
    const floatsOf = (names: readonly (readonly [string, string])[]) => names.reduce((n, [, name]) => n + numel(this.tensor(`encoder.layer.0.${name}`).shape), 0);
    const attentionBlocks = floatsOf(ATTENTION_BLOCK_WEIGHTS) <= this.stepFloats && groups.length === 1;
    const ffnBlocks = floatsOf(FFN_BLOCK_WEIGHTS) <= this.stepFloats;
    const block = (p: string, names: readonly (readonly [string, string])[], session: InferenceSession, feeds: () => Record<string, Tensor>): Step => {
      const reads = names.map(([, name]) => this.whole(`${p}.${name}`));
      return {
        reads,
        run: async (w) => {
          const weights = Object.fromEntries(names.map(([name], j) => [name, f(w[j]!, reads[j]!.tensor.shape)]));
          const r = await session.run({ ...feeds(), ...weights });
          s.x.set(r.y!.data as Float32Array);
        },
      };
    };
    const attentionFeeds = (count: number) => ({
      x: f(s.x, [N, H]),
      attn_bias: biasTensor,
      heads_shape: i64([R, T, count, hd]),
      flat_shape: i64([N, count * hd]),
    });
    for (let i = 0; i < cfg.numLayers; i++) {
      const p = `encoder.layer.${i}`;
      if (attentionBlocks) {
        steps.push(block(p, ATTENTION_BLOCK_WEIGHTS, this.sessions.attentionBlock, () => attentionFeeds(cfg.numHeads)));
      } else {
        for (const g of groups) {
          const rowsOf = (name: string): RowRead => ({ tensor: this.tensor(`${p}.attention.self.${name}`), start: g.start * hd, count: g.count * hd });
          steps.push({
            reads: ["query", "key", "value"].flatMap((n) => [rowsOf(`${n}.weight`), rowsOf(`${n}.bias`)]),
            run: async ([wq, bq, wk, bk, wv, bv]) => {
              const width = g.count * hd;
              const r = await this.sessions.attention.run({
                ...attentionFeeds(g.count),
                wq: f(wq!, [width, H]),
                bq: f(bq!, [width]),
                wk: f(wk!, [width, H]),
                bk: f(bk!, [width]),
                wv: f(wv!, [width, H]),
                bv: f(bv!, [width]),
              });
              putColumns(r.ctx!.data as Float32Array, N, width, s.ctx, H, g.start * hd);
            },
          });
        }
        steps.push(...this.linearSteps(`${p}.attention.output.dense`, () => ({ x: s.ctx, n: N }), s.attnOut, false));
        steps.push(this.addLayerNormStep(`${p}.attention.output.LayerNorm`, s.x, s.attnOut, N));
      }
      if (ffnBlocks) {
        steps.push(block(p, FFN_BLOCK_WEIGHTS, this.sessions.ffnBlock, () => ({ x: f(s.x, [N, H]) })));
      } else {
        steps.push(...this.linearSteps(`${p}.intermediate.dense`, () => ({ x: s.x, n: N }), s.mid, true));
        steps.push(...this.linearSteps(`${p}.output.dense`, () => ({ x: s.mid, n: N }), s.ffnOut, false));
        steps.push(this.addLayerNormStep(`${p}.output.LayerNorm`, s.x, s.ffnOut, N));
      }
    }

    // masked-LM head on the masked tokens only
    const masked = () => {
      maskIndex.forEach((n, m) => s.masked.set(s.x.subarray(n * H, (n + 1) * H), m * H));
      return { x: s.masked, n: M };
    };
    steps.push(...this.linearSteps("cls.predictions.transform.dense", masked, s.head, true));
    steps.push(this.layerNormStep("cls.predictions.transform.LayerNorm", () => s.head));
    // the vocabulary projection, `cls.predictions.decoder.weight` (the word embeddings when tied), in chunks of rows
    const decoder = this.tensor("cls.predictions.decoder.weight");
    const vocabBias = this.tensor("cls.predictions.bias");
    steps.push(...this.projectionSteps(decoder, vocabBias, () => ({ x: s.head, n: M }), s.logits, false));

    await this.execute(steps);
    where.forEach((w, m) => {
      const row = s.logits.slice(m * V, (m + 1) * V);
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
    const readers = [...this.readers.values()];
    this.readers.clear();
    this.slot = undefined;
    await Promise.all([
      ...Object.values(this.sessions).map((s: InferenceSession) => s.release()),
      ...readers.map((r) => r.then((x) => x.close(), () => undefined)),
    ]);
  }
}
