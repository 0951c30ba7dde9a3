// The BERT masked-LM forward (HF BertForPreTraining / BertForMaskedLM math) as an ONNX graph
// built in memory from a checkpoint's own tensors.
//
// Inputs (R rows of T tokens; several cases may share a row, kept apart by the attention bias):
//   input_ids    int64 [R, T]
//   position_ids int64 [R, T]     position inside its own case
//   attn_bias    float [R, 1, T, T] 0 where a query may attend a key, float32 min elsewhere
//   mask_index   int64 [M]        flat indices (row * T + t) of the masked tokens
// Output:
//   logits       float [M, V]     MLM logits at the masked tokens only
import { printable } from "../checkpoint/printable.js";
import path from "node:path";
import type { DType, TensorInfo } from "../checkpoint/types.js";
import { describeShapeMismatch, dim, sameShape, type Dim } from "../checks/config-dims.js";
import { UserError } from "../report.js";
import { attr, DT, encodeModel, GraphBuilder, type Initializer, type OnnxDataType } from "./onnx.js";

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

/** How one tensor reaches the graph. */
export type WeightRef =
  | {
      kind: "external";
      dtype: DType;
      dims: number[];
      /** File name relative to the external-data folder. */
      location: string;
      offset: number;
      length: number;
      /** Tensors with the same key are one initializer (tied weights). */
      key: string;
    }
  | { kind: "inline"; dims: number[]; data: Float32Array; key: string };

const ONNX_DTYPE: Partial<Record<DType, OnnxDataType>> = {
  float32: DT.FLOAT,
  float16: DT.FLOAT16,
  bfloat16: DT.BFLOAT16,
  float64: DT.DOUBLE,
};

export function onnxDataType(dtype: DType): OnnxDataType | undefined {
  return ONNX_DTYPE[dtype];
}

/** Encodes the masked-LM forward as an ONNX ModelProto. */
export function buildBertModel(cfg: BertConfig, weights: Map<string, WeightRef>): Uint8Array {
  const g = new GraphBuilder();
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = H / nh;
  const names = new Map<string, string>(); // WeightRef.key -> float32 value name

  const w = (canonical: string): string => {
    const ref = weights.get(canonical);
    if (!ref) throw new Error(`no weight for ${canonical}`);
    const known = names.get(ref.key);
    if (known) return known;
    const name = `w${names.size}_${canonical}`;
    let init: Initializer;
    if (ref.kind === "inline") {
      const raw = new Uint8Array(ref.data.buffer, ref.data.byteOffset, ref.data.byteLength);
      init = { name, dataType: DT.FLOAT, dims: ref.dims, raw };
      g.initializers.push(init);
      names.set(ref.key, name);
      return name;
    }
    const dt = onnxDataType(ref.dtype);
    if (dt === undefined) throw new Error(`dtype ${ref.dtype} cannot be an external initializer`);
    const stored = dt === DT.FLOAT ? name : `${name}__${ref.dtype}`;
    g.initializers.push({ name: stored, dataType: dt, dims: ref.dims, location: ref.location, offset: ref.offset, length: ref.length });
    if (dt !== DT.FLOAT) {
      // folded into a float32 constant when the session is created
      g.nodes.push({ op: "Cast", inputs: [stored], outputs: [name], attrs: { to: attr.int(DT.FLOAT) } });
    }
    names.set(ref.key, name);
    return name;
  };

  const linear = (x: string, p: string): string =>
    g.op("Gemm", [x, w(`${p}.weight`), w(`${p}.bias`)], { transB: attr.int(1) }, "linear");
  const layerNorm = (x: string, p: string): string =>
    g.op("LayerNormalization", [x, w(`${p}.weight`), w(`${p}.bias`)], { axis: attr.int(-1), epsilon: attr.float(cfg.eps) }, "ln");
  const act = (x: string): string => {
    if (cfg.hiddenAct === "relu") return g.op("Relu", [x]);
    if (cfg.hiddenAct === "gelu") {
      // 0.5 * x * (1 + erf(x / sqrt(2))): the exact GELU (onnxruntime fuses it into one Gelu kernel)
      const e = g.op("Erf", [g.op("Div", [x, g.float([Math.SQRT2], [])])]);
      return g.op("Mul", [g.op("Mul", [x, g.op("Add", [e, g.float([1], [])])]), g.float([0.5], [])], undefined, "gelu");
    }
    // tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const x3 = g.op("Mul", [g.op("Mul", [x, x]), x]);
    const inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [x3, g.float([0.044715], [])])]), g.float([Math.sqrt(2 / Math.PI)], [])]);
    const t = g.op("Tanh", [inner]);
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [t, g.float([1], [])])]), g.float([0.5], [])], undefined, "gelu");
  };

  // embeddings -> [N, H] with N = R * T
  const word = g.op("Gather", [w("embeddings.word_embeddings.weight"), "input_ids"], { axis: attr.int(0) });
  const pos = g.op("Gather", [w("embeddings.position_embeddings.weight"), "position_ids"], { axis: attr.int(0) });
  const typ = g.op("Gather", [w("embeddings.token_type_embeddings.weight"), g.int64([0], [])], { axis: attr.int(0) });
  const emb = g.op("Add", [g.op("Add", [word, pos]), typ]);
  const flatH = g.int64([-1, H]);
  let x = layerNorm(g.op("Reshape", [emb, flatH]), "embeddings.LayerNorm");

  // [R, T, nh, hd], from the runtime shape of input_ids
  const headsShape = g.op("Concat", [g.op("Shape", ["input_ids"]), g.int64([nh, hd])], { axis: attr.int(0) });
  const scale = g.float([Math.sqrt(hd)], []);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `encoder.layer.${i}`;
    const heads = (v: string, perm: number[]): string =>
      g.op("Transpose", [g.op("Reshape", [v, headsShape])], { perm: attr.ints(perm) });
    const q = heads(linear(x, `${p}.attention.self.query`), [0, 2, 1, 3]);
    const k = heads(linear(x, `${p}.attention.self.key`), [0, 2, 3, 1]);
    const v = heads(linear(x, `${p}.attention.self.value`), [0, 2, 1, 3]);
    const scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), "attn_bias"]);
    const probs = g.op("Softmax", [scores], { axis: attr.int(-1) });
    const ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: attr.ints([0, 2, 1, 3]) });
    const attnOut = linear(g.op("Reshape", [ctx, flatH]), `${p}.attention.output.dense`);
    x = layerNorm(g.op("Add", [attnOut, x]), `${p}.attention.output.LayerNorm`);
    const mid = act(linear(x, `${p}.intermediate.dense`));
    x = layerNorm(g.op("Add", [linear(mid, `${p}.output.dense`), x]), `${p}.output.LayerNorm`);
  }

  // masked-LM head on the masked rows only
  const rows = g.op("Gather", [x, "mask_index"], { axis: attr.int(0) });
  const t = layerNorm(act(linear(rows, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm");
  g.nodes.push({
    op: "Gemm",
    inputs: [t, w("cls.predictions.decoder.weight"), w("cls.predictions.bias")],
    outputs: ["logits"],
    attrs: { transB: attr.int(1) },
  });

  return encodeModel(
    {
      name: "azbert_fill_mask",
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [
        { name: "input_ids", elemType: DT.INT64, shape: ["rows", "seq"] },
        { name: "position_ids", elemType: DT.INT64, shape: ["rows", "seq"] },
        { name: "attn_bias", elemType: DT.FLOAT, shape: ["rows", 1, "seq", "seq"] },
        { name: "mask_index", elemType: DT.INT64, shape: ["masks"] },
      ],
      outputs: [{ name: "logits", elemType: DT.FLOAT, shape: ["masks", cfg.vocabSize] }],
    },
    { opset: 17, irVersion: 8, producer: "azbert-release smoke" },
  );
}
