// The weights read without executing anything, and their tensors fit config.json.
import type { LoadedCheckpoint, WeightsState } from "../checkpoint/load.js";
import type { TensorInfo } from "../checkpoint/types.js";
import type { CheckResult } from "../report.js";
import { fail, isRecord, pass, skip } from "./helpers.js";

export function checkWeightsReadable(ckpt: LoadedCheckpoint): CheckResult[] {
  if (!ckpt.weights.length) return [skip("weights.read", "weights read without code execution", "no weights file (see files.required)")];
  return ckpt.weights.map((w) => {
    const id = w.path === "pytorch_model.bin" ? "weights.pickle" : "weights.safetensors";
    const title = w.path === "pytorch_model.bin" ? "pytorch_model.bin loads without code execution" : "model.safetensors header is valid";
    if (w.error) return fail(id, title, [w.error.message]);
    const n = w.index!.tensors.length;
    const storages = new Set(w.index!.tensors.map((t) => t.storageKey)).size;
    return pass(id, title, `${n} tensors in ${storages} storages`);
  });
}

interface BertDims {
  V: number;
  H: number;
  L: number;
  I: number;
  P: number;
  T: number;
}

type Expected = { name: string; shape: number[]; optional?: boolean };

/** The tensors transformers expects for the declared architecture. */
export function expectedBertTensors(d: BertDims, architectures: readonly string[], prefix: string): Expected[] {
  const { V, H, L, I, P, T } = d;
  const out: Expected[] = [];
  const lin = (name: string, o: number, i: number, optional = false) => {
    out.push({ name: `${name}.weight`, shape: [o, i], optional }, { name: `${name}.bias`, shape: [o], optional });
  };
  const ln = (name: string) => out.push({ name: `${name}.weight`, shape: [H] }, { name: `${name}.bias`, shape: [H] });
  const e = `${prefix}embeddings`;
  out.push({ name: `${e}.word_embeddings.weight`, shape: [V, H] });
  out.push({ name: `${e}.position_embeddings.weight`, shape: [P, H] });
  out.push({ name: `${e}.token_type_embeddings.weight`, shape: [T, H] });
  out.push({ name: `${e}.position_ids`, shape: [1, P], optional: true });
  ln(`${e}.LayerNorm`);
  for (let i = 0; i < L; i++) {
    const l = `${prefix}encoder.layer.${i}`;
    lin(`${l}.attention.self.query`, H, H);
    lin(`${l}.attention.self.key`, H, H);
    lin(`${l}.attention.self.value`, H, H);
    lin(`${l}.attention.output.dense`, H, H);
    ln(`${l}.attention.output.LayerNorm`);
    lin(`${l}.intermediate.dense`, I, H);
    lin(`${l}.output.dense`, H, I);
    ln(`${l}.output.LayerNorm`);
  }
  const pretraining = architectures.includes("BertForPreTraining");
  const mlm = pretraining || architectures.includes("BertForMaskedLM");
  lin(`${prefix}pooler.dense`, H, H, !pretraining);
  if (mlm) {
    out.push({ name: "cls.predictions.bias", shape: [V] });
    lin("cls.predictions.transform.dense", H, H);
    ln("cls.predictions.transform.LayerNorm");
    // Tied to the word embeddings: transformers re-ties them on load when absent.
    out.push({ name: "cls.predictions.decoder.weight", shape: [V, H], optional: true });
    out.push({ name: "cls.predictions.decoder.bias", shape: [V], optional: true });
  }
  if (pretraining) lin("cls.seq_relationship", 2, H);
  return out;
}

/** Old TF-converted checkpoints name LayerNorm parameters gamma/beta; transformers renames them. */
function lookup(tensors: Map<string, TensorInfo>, name: string): TensorInfo | undefined {
  return tensors.get(name) ?? tensors.get(name.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta"));
}

function primaryWeights(ckpt: LoadedCheckpoint): WeightsState | undefined {
  return ckpt.weights.find((w) => w.index);
}

export function checkTensorShapes(ckpt: LoadedCheckpoint): CheckResult {
  const id = "weights.shapes";
  const title = "tensor names and shapes match config.json";
  const config = ckpt.json.get("config.json")?.value;
  const w = primaryWeights(ckpt);
  if (!isRecord(config) || !w?.index) return skip(id, title, "needs a readable config.json and weights file");
  const num = (k: string) => (typeof config[k] === "number" ? (config[k] as number) : NaN);
  const d: BertDims = { V: num("vocab_size"), H: num("hidden_size"), L: num("num_hidden_layers"), I: num("intermediate_size"), P: num("max_position_embeddings"), T: num("type_vocab_size") };
  if (Object.values(d).some((x) => !Number.isInteger(x))) return skip(id, title, "config.json lacks a dimension (see schema.config)");
  const architectures = Array.isArray(config.architectures) ? (config.architectures as string[]) : [];
  const tensors = new Map(w.index.tensors.map((t) => [t.name, t]));
  const prefix = [...tensors.keys()].some((n) => n.startsWith("bert.")) ? "bert." : "";
  const problems: string[] = [];
  const expected = expectedBertTensors(d, architectures, prefix);
  for (const e of expected) {
    const t = lookup(tensors, e.name);
    if (!t) {
      if (!e.optional) problems.push(`${w.path}: tensor ${e.name} is missing (expected by ${architectures.join(", ") || "the architecture"})`);
      continue;
    }
    if (t.shape.join(",") !== e.shape.join(",")) {
      problems.push(`${w.path}: ${e.name} has shape [${t.shape.join(", ")}], config.json implies [${e.shape.join(", ")}]`);
    }
  }
  const known = new Set(expected.flatMap((e) => [e.name, e.name.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta")]));
  const extra = [...tensors.keys()].filter((n) => !known.has(n));
  if (extra.length) problems.push(`${w.path}: ${extra.length} tensors the declared architecture does not use (first: ${extra[0]})`);
  return problems.length ? fail(id, title, problems) : pass(id, title, `${tensors.size} tensors, ${architectures.join(", ")}`);
}

export function checkTensorDtype(ckpt: LoadedCheckpoint): CheckResult {
  const id = "weights.dtype";
  const title = "floating-point tensors match config torch_dtype";
  const config = ckpt.json.get("config.json")?.value;
  const w = primaryWeights(ckpt);
  if (!isRecord(config) || !w?.index) return skip(id, title, "needs a readable config.json and weights file");
  const floats = w.index.tensors.filter((t) => ["float64", "float32", "float16", "bfloat16"].includes(t.dtype));
  const counts = new Map<string, number>();
  for (const t of floats) counts.set(t.dtype, (counts.get(t.dtype) ?? 0) + 1);
  const declared = typeof config.torch_dtype === "string" ? config.torch_dtype : undefined;
  const summary = [...counts].map(([k, v]) => `${v} ${k}`).join(", ");
  if (!declared) return pass(id, title, `no torch_dtype declared; ${summary}`);
  const off = floats.filter((t) => t.dtype !== declared);
  return off.length
    ? fail(id, title, [`${w.path}: config.json declares torch_dtype ${declared} but ${off.length} tensors are ${off[0]!.dtype} (first: ${off[0]!.name}); found ${summary}`])
    : pass(id, title, summary);
}
