// The BERT masked-LM forward (HF BertForPreTraining / BertForMaskedLM math): the config and the
// checkpoint's tensors it needs, and the ONNX graphs the CPU engine runs step by step. No graph
// holds a weight: every weight is an input, fed once per step from the weights files.
//
//   attention_block, ffn_block   the two halves of an encoder layer, x [N, H] → [N, H], each
//              when its weights fit one step; else
//   linear     y = act(x · Wᵀ + b)          x [N, in], W [k, in] (k rows of a weight), b [k]
//   attention  softmax(q kᵀ / √d + bias) v   for a group of heads: q, k, v = x · W{q,k,v}ᵀ + b of
//              those heads' rows → ctx [N, heads * d]
//   add_ln     LayerNorm(x + residual)
// x [N, H] holds N = R * T tokens: R rows of T, several cases may share a row, kept apart by
// attn_bias [R, 1, T, T] (0 where a query may attend a key, float32 min elsewhere).
import { printable } from "../util/printable.js";
import path from "node:path";
import type { TensorInfo } from "../checkpoint/types.js";
import { describeShapeMismatch, dim, sameShape, type Dim } from "../checks/config-dims.js";
import { UserError } from "../report.js";
import { attr, DT, encodeModel, GraphBuilder, type ValueInfo } from "./onnx.js";

export interface BertConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  typeVocabSize: number;
  eps: number;
  hiddenAct: "gelu" | "gelu_tanh" | "relu";
}

export function parseBertConfig(json: unknown, file: string): BertConfig {
  if (!json || typeof json !== "object") throw new UserError(`${printable(file)}: not a JSON object`, 2);
  const c = json as Record<string, unknown>;
  const num = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new UserError(`${printable(file)}: "${key}" must be a positive number (got ${JSON.stringify(c[key])})`, 2);
    }
    return v;
  };
  if (c.model_type !== undefined && c.model_type !== "bert") {
    throw new UserError(`${printable(file)}: model_type is "${String(c.model_type)}"; the CPU smoke engine runs BERT only`, 2);
  }
  const pet = c.position_embedding_type ?? "absolute";
  if (pet !== "absolute") {
    throw new UserError(`${printable(file)}: position_embedding_type "${String(pet)}" is not supported by the CPU engine (absolute only)`, 2);
  }
  const act = String(c.hidden_act ?? "gelu");
  const hiddenAct =
    act === "gelu" ? "gelu" : act === "gelu_new" || act === "gelu_pytorch_tanh" ? "gelu_tanh" : act === "relu" ? "relu" : null;
  if (!hiddenAct) throw new UserError(`${printable(file)}: hidden_act "${act}" is not supported by the CPU engine`, 2);
  const cfg: BertConfig = {
    hiddenSize: num("hidden_size"),
    numLayers: num("num_hidden_layers"),
    numHeads: num("num_attention_heads"),
    intermediateSize: num("intermediate_size"),
    vocabSize: num("vocab_size"),
    maxPositions: num("max_position_embeddings"),
    typeVocabSize: num("type_vocab_size", 2),
    eps: num("layer_norm_eps", 1e-12),
    hiddenAct,
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new UserError(`${printable(file)}: hidden_size ${cfg.hiddenSize} is not a multiple of num_attention_heads ${cfg.numHeads}`, 2);
  }
  return cfg;
}

/** Canonical (HF, without the `bert.` prefix) tensor names the forward needs. */
export function requiredTensors(cfg: BertConfig): string[] {
  const names = [
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
  ];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `encoder.layer.${i}.`;
    for (const n of ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
      "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"]) {
      names.push(`${p}${n}.weight`, `${p}${n}.bias`);
    }
  }
  names.push(
    "cls.predictions.transform.dense.weight",
    "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight",
    "cls.predictions.transform.LayerNorm.bias",
    "cls.predictions.decoder.weight",
    "cls.predictions.bias",
  );
  return names;
}

export function expectedShape(cfg: BertConfig, canonical: string): Dim[] {
  const H = dim(cfg.hiddenSize, "hidden_size");
  const I = dim(cfg.intermediateSize, "intermediate_size");
  const V = dim(cfg.vocabSize, "vocab_size");
  const table: [RegExp, Dim[]][] = [
    [/^embeddings\.word_embeddings\.weight$/, [V, H]],
    [/^embeddings\.position_embeddings\.weight$/, [dim(cfg.maxPositions, "max_position_embeddings"), H]],
    [/^embeddings\.token_type_embeddings\.weight$/, [dim(cfg.typeVocabSize, "type_vocab_size"), H]],
    [/LayerNorm\.(weight|bias)$/, [H]],
    [/attention\.(self\.(query|key|value)|output\.dense)\.weight$/, [H, H]],
    [/attention\.(self\.(query|key|value)|output\.dense)\.bias$/, [H]],
    [/intermediate\.dense\.weight$/, [I, H]],
    [/intermediate\.dense\.bias$/, [I]],
    [/layer\.\d+\.output\.dense\.weight$/, [H, I]],
    [/layer\.\d+\.output\.dense\.bias$/, [H]],
    [/^cls\.predictions\.transform\.dense\.weight$/, [H, H]],
    [/^cls\.predictions\.transform\.dense\.bias$/, [H]],
    [/^cls\.predictions\.decoder\.weight$/, [V, H]],
    [/^cls\.predictions\.bias$/, [V]],
  ];
  for (const [re, shape] of table) if (re.test(canonical)) return shape;
  throw new Error(`no expected shape for ${canonical}`);
}

/**
 * Maps every canonical name to the checkpoint's tensor: `bert.`-prefixed (BertForPreTraining,
 * BertForMaskedLM) or bare names, `gamma`/`beta` LayerNorm aliases (old pytorch-pretrained-bert),
 * a decoder tied to the word embeddings when it is not stored, `cls.predictions.decoder.bias`
 * when `cls.predictions.bias` is absent. Anything else is a clear error.
 */
export function resolveBertTensors<T extends TensorInfo>(index: { file: string; tensors: readonly T[] }, cfg: BertConfig): Map<string, T> {
  const byName = new Map(index.tensors.map((t) => [t.name, t]));
  const file = path.basename(index.file);
  const prefix = ["bert.", ""].find((p) => byName.has(`${p}embeddings.word_embeddings.weight`));
  if (prefix === undefined) {
    const sample = index.tensors.slice(0, 4).map((t) => t.name).join(", ");
    throw new UserError(
      `${printable(file)}: unknown weights layout: no bert.embeddings.word_embeddings.weight (BertForPreTraining / BertForMaskedLM) ` +
        `nor embeddings.word_embeddings.weight; found ${index.tensors.length} tensors, e.g. ${sample || "none"}`,
    );
  }
  const lookup = (canonical: string): T | undefined => {
    const candidates: string[] = [];
    const base = canonical.startsWith("cls.") ? [canonical] : [prefix + canonical];
    for (const b of base) {
      candidates.push(b);
      if (b.endsWith("LayerNorm.weight")) candidates.push(b.replace(/weight$/, "gamma"));
      if (b.endsWith("LayerNorm.bias")) candidates.push(b.replace(/bias$/, "beta"));
    }
    if (canonical === "cls.predictions.bias") candidates.push("cls.predictions.decoder.bias");
    if (canonical === "cls.predictions.decoder.weight") candidates.push(`${prefix}embeddings.word_embeddings.weight`);
    for (const c of candidates) {
      const t = byName.get(c);
      if (t) return t;
    }
    return undefined;
  };
  // A num_hidden_layers past the file's tensor count and past any real model (a config can
  // declare a billion) is said before the tensors of every layer are listed; below that bound
  // the list of missing tensors (at most 160,000 names) says more.
  if (cfg.numLayers > Math.max(byName.size, 10_000)) {
    throw new UserError(`${printable(file)}: config.json \`num_hidden_layers\` is ${cfg.numLayers}, but the file holds only ${byName.size} tensors (each encoder layer has 16)`);
  }
  const out = new Map<string, T>();
  const missing: string[] = [];
  for (const canonical of requiredTensors(cfg)) {
    const t = lookup(canonical);
    if (!t) {
      missing.push(canonical.startsWith("cls.") ? canonical : prefix + canonical);
      continue;
    }
    const want = expectedShape(cfg, canonical);
    if (!sameShape(t.shape, want)) throw new UserError(`${printable(file)}: tensor ${describeShapeMismatch(t.name, t.shape, want)}`);
    out.set(canonical, t);
  }
  if (missing.length) {
    const head = missing.some((m) => m.startsWith("cls.predictions"));
    throw new UserError(
      `${printable(file)}: unknown weights layout: missing ${missing.length} tensor(s): ${missing.slice(0, 5).join(", ")}` +
        (missing.length > 5 ? ", ..." : "") +
        (head ? " (a masked-LM head is needed: BertForPreTraining or BertForMaskedLM weights, not BertModel)" : ""),
    );
  }
  return out;
}

const OPSET = { opset: 17, irVersion: 8, producer: "azbert-release smoke" };

/** The activation applied to `x` (the exact erf GELU, its tanh approximation, or ReLU). */
function activation(g: GraphBuilder, x: string, act: BertConfig["hiddenAct"]): string {
  if (act === "relu") return g.op("Relu", [x]);
  if (act === "gelu") {
    // 0.5 * x * (1 + erf(x / sqrt(2))): the exact GELU (onnxruntime fuses it into one Gelu kernel)
    const e = g.op("Erf", [g.op("Div", [x, g.float([Math.SQRT2], [])])]);
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [e, g.float([1], [])])]), g.float([0.5], [])], undefined, "gelu");
  }
  // tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const x3 = g.op("Mul", [g.op("Mul", [x, x]), x]);
  const inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [x3, g.float([0.044715], [])])]), g.float([Math.sqrt(2 / Math.PI)], [])]);
  const t = g.op("Tanh", [inner]);
  return g.op("Mul", [g.op("Mul", [x, g.op("Add", [t, g.float([1], [])])]), g.float([0.5], [])], undefined, "gelu");
}

const linear = (g: GraphBuilder, x: string, w: string, b: string): string => g.op("Gemm", [x, w, b], { transB: attr.int(1) }, "linear");

/** LayerNorm(x + residual), as BertSelfOutput and BertOutput apply it. */
const addLayerNorm = (g: GraphBuilder, x: string, residual: string, gamma: string, beta: string, eps: number): string =>
  g.op("LayerNormalization", [g.op("Add", [x, residual]), gamma, beta], { axis: attr.int(-1), epsilon: attr.float(eps) }, "ln");

/**
 * Self-attention of the heads whose projection rows are w{q,k,v}/b{q,k,v}: the context [N, width].
 * heads_shape = [R, T, heads, headDim] and flat_shape = [N, width] come in as inputs.
 */
function attention(g: GraphBuilder, x: string, headDim: number, w: (name: string) => string): string {
  const heads = (v: string, perm: number[]): string =>
    g.op("Transpose", [g.op("Reshape", [linear(g, x, w(`w${v}`), w(`b${v}`)), "heads_shape"])], { perm: attr.ints(perm) });
  const q = heads("q", [0, 2, 1, 3]);
  const k = heads("k", [0, 2, 3, 1]);
  const v = heads("v", [0, 2, 1, 3]);
  const scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), g.float([Math.sqrt(headDim)], [])]), "attn_bias"]);
  const probs = g.op("Softmax", [scores], { axis: attr.int(-1) });
  const ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: attr.ints([0, 2, 1, 3]) });
  return g.op("Reshape", [ctx, "flat_shape"]);
}

const f32 = (name: string, shape: (number | string)[]) => ({ name, elemType: DT.FLOAT, shape });
const int64 = (name: string, n: number) => ({ name, elemType: DT.INT64, shape: [n] });
/** The inputs every attention graph takes besides its weights. */
const attentionInputs = [f32("x", ["n", "hidden"]), f32("attn_bias", ["rows", 1, "seq", "seq"]), int64("heads_shape", 4), int64("flat_shape", 2)];

function model(name: string, g: GraphBuilder, result: string, inputs: ValueInfo[], output: ValueInfo): Uint8Array {
  g.nodes.push({ op: "Identity", inputs: [result], outputs: [output.name] });
  return encodeModel({ name, nodes: g.nodes, initializers: g.initializers, inputs, outputs: [output] }, OPSET);
}

/** y = x · wᵀ + b, then the activation when one is named. */
export function linearModel(act?: BertConfig["hiddenAct"]): Uint8Array {
  const g = new GraphBuilder();
  const y = linear(g, "x", "w", "b");
  return model(act ? `linear_${act}` : "linear", g, act ? activation(g, y, act) : y, [f32("x", ["n", "in"]), f32("w", ["k", "in"]), f32("b", ["k"])], f32("y", ["n", "k"]));
}

/** Self-attention of a group of heads of width `headDim`, their projections' rows as inputs. */
export function attentionModel(headDim: number): Uint8Array {
  const g = new GraphBuilder();
  const ctx = attention(g, "x", headDim, (n) => n);
  const weights = ["q", "k", "v"].flatMap((p) => [f32(`w${p}`, ["width", "hidden"]), f32(`b${p}`, ["width"])]);
  return model("attention", g, ctx, [...attentionInputs, ...weights], f32("ctx", ["n", "width"]));
}

/** y = LayerNorm(x + residual). */
export function addLayerNormModel(eps: number): Uint8Array {
  const g = new GraphBuilder();
  const y = addLayerNorm(g, "x", "residual", "gamma", "beta", eps);
  return model("add_layer_norm", g, y, [f32("x", ["n", "h"]), f32("residual", ["n", "h"]), f32("gamma", ["h"]), f32("beta", ["h"])], f32("y", ["n", "h"]));
}

/** Graph input names of the weights of an encoder layer's attention block, and the tensors they are. */
export const ATTENTION_BLOCK_WEIGHTS = [
  ["wq", "attention.self.query.weight"],
  ["bq", "attention.self.query.bias"],
  ["wk", "attention.self.key.weight"],
  ["bk", "attention.self.key.bias"],
  ["wv", "attention.self.value.weight"],
  ["bv", "attention.self.value.bias"],
  ["wo", "attention.output.dense.weight"],
  ["bo", "attention.output.dense.bias"],
  ["gamma", "attention.output.LayerNorm.weight"],
  ["beta", "attention.output.LayerNorm.bias"],
] as const;

/** The same for the feed-forward block. */
export const FFN_BLOCK_WEIGHTS = [
  ["wi", "intermediate.dense.weight"],
  ["bi", "intermediate.dense.bias"],
  ["wf", "output.dense.weight"],
  ["bf", "output.dense.bias"],
  ["gamma", "output.LayerNorm.weight"],
  ["beta", "output.LayerNorm.bias"],
] as const;

const weightInputs = (names: readonly (readonly [string, string])[]) =>
  names.map(([name]) => f32(name, name === "gamma" || name === "beta" ? ["hidden"] : name.startsWith("w") ? ["out", "in"] : ["out"]));

/**
 * An encoder layer's attention block (BertAttention: self-attention of every head, the output
 * dense layer, LayerNorm(· + x)) in one graph, the same operations as the steps of rows above.
 */
export function attentionBlockModel(cfg: BertConfig): Uint8Array {
  const g = new GraphBuilder();
  const ctx = attention(g, "x", cfg.hiddenSize / cfg.numHeads, (n) => n);
  const y = addLayerNorm(g, linear(g, ctx, "wo", "bo"), "x", "gamma", "beta", cfg.eps);
  return model("attention_block", g, y, [...attentionInputs, ...weightInputs(ATTENTION_BLOCK_WEIGHTS)], f32("y", ["n", "hidden"]));
}

/** An encoder layer's feed-forward block (BertIntermediate, BertOutput) in one graph. */
export function ffnBlockModel(cfg: BertConfig): Uint8Array {
  const g = new GraphBuilder();
  const mid = activation(g, linear(g, "x", "wi", "bi"), cfg.hiddenAct);
  const y = addLayerNorm(g, linear(g, mid, "wf", "bf"), "x", "gamma", "beta", cfg.eps);
  return model("ffn_block", g, y, [f32("x", ["n", "hidden"]), ...weightInputs(FFN_BLOCK_WEIGHTS)], f32("y", ["n", "hidden"]));
}
