// The weights read without executing anything, and their tensors fit config.json.
import { formatBytes } from "../util/format-bytes.js";
import { isFloatDType, nonFiniteTensors } from "../checkpoint/finite-scan.js";
import type { LoadedCheckpoint, WeightsState } from "../checkpoint/load.js";
import type { TensorInfo } from "../checkpoint/types.js";
import type { CheckResult } from "../report.js";
import { describeShapeMismatch, dim, sameShape, type Dim } from "./config-dims.js";
import { fail, isRecord, pass, skip, warn } from "./helpers.js";

/** Every weights file, single or shard, read without executing anything: one result per format. */
export function checkWeightsReadable(ckpt: LoadedCheckpoint): CheckResult[] {
  if (!ckpt.weights.length) return [skip("weights.read", "weights read without code execution", "no weights file (see files.required)")];
  const pickles = ckpt.weights.filter((w) => !w.path.endsWith(".safetensors"));
  const safetensors = ckpt.weights.filter((w) => w.path.endsWith(".safetensors"));
  const results: CheckResult[] = [];
  for (const [group, id] of [[pickles, "weights.pickle"], [safetensors, "weights.safetensors"]] as const) {
    if (!group.length) continue;
    const one = group.length === 1 ? group[0]!.path : undefined;
    const title = id === "weights.pickle"
      ? `${one ?? `${group.length} pickle weight files`} ${one ? "loads" : "load"} without code execution`
      : `${one ?? `${group.length} safetensors files`}${one ? " header is" : ": headers are"} valid`;
    const errors = group.filter((w) => w.error).map((w) => w.error!.message);
    if (errors.length) {
      results.push(fail(id, title, errors));
      continue;
    }
    const tensors = group.flatMap((w) => w.index!.tensors);
    const storages = new Set(group.flatMap((w) => w.index!.tensors.map((t) => `${w.path}\0${t.storageKey}`))).size;
    const warnings = group.flatMap((w) => (w.index!.warnings ?? []).map((m) => `${w.path}: ${m}`));
    if (warnings.length) results.push(warn(id, title, warnings));
    else results.push(pass(id, title, `${one ? "" : `${group.length} files, `}${tensors.length} tensors in ${storages} storages`));
  }
  return results;
}

/** Sharded weights: the index names every shard, and each shard holds exactly the tensors it maps there. */
export function checkWeightsIndex(ckpt: LoadedCheckpoint): CheckResult[] {
  return ckpt.weightSets.filter((s) => s.sharded).map((s) => {
    const id = "weights.index";
    const title = `${s.path} lists every shard and maps every tensor to the one shard that holds it`;
    const errors = s.problems.filter((p) => p.severity === "error").map((p) => p.message);
    const warnings = s.problems.filter((p) => p.severity === "warn").map((p) => p.message);
    if (errors.length) return fail(id, title, [...errors, ...warnings]);
    if (!s.tensors) return skip(id, title, "a shard cannot be read (see weights.pickle / weights.safetensors)");
    if (warnings.length) return warn(id, title, warnings);
    return pass(id, title, `${s.files.length} shards, ${s.tensors.length} tensors`);
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

type Expected = { name: string; shape: Dim[]; optional?: boolean };

/** The tensors transformers expects for the declared architecture, each dimension tied to its config field. */
export function expectedBertTensors(d: BertDims, architectures: readonly string[], prefix: string): Expected[] {
  const V = dim(d.V, "vocab_size");
  const H = dim(d.H, "hidden_size");
  const I = dim(d.I, "intermediate_size");
  const P = dim(d.P, "max_position_embeddings");
  const T = dim(d.T, "type_vocab_size");
  const out: Expected[] = [];
  const lin = (name: string, o: Dim, i: Dim, optional = false) => {
    out.push({ name: `${name}.weight`, shape: [o, i], optional }, { name: `${name}.bias`, shape: [o], optional });
  };
  const ln = (name: string) => out.push({ name: `${name}.weight`, shape: [H] }, { name: `${name}.bias`, shape: [H] });
  const e = `${prefix}embeddings`;
  out.push({ name: `${e}.word_embeddings.weight`, shape: [V, H] });
  out.push({ name: `${e}.position_embeddings.weight`, shape: [P, H] });
  out.push({ name: `${e}.token_type_embeddings.weight`, shape: [T, H] });
  out.push({ name: `${e}.position_ids`, shape: [dim(1), P], optional: true });
  ln(`${e}.LayerNorm`);
  for (let i = 0; i < d.L; i++) {
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
  if (pretraining) lin("cls.seq_relationship", dim(2), H);
  return out;
}

/** Old TF-converted checkpoints name LayerNorm parameters gamma/beta; transformers renames them. */
function legacyName(name: string): string {
  return name.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta");
}

/** The loadable weights sets (a single file, or shards through their index) with every tensor of each. */
function readable(ckpt: LoadedCheckpoint): Array<{ path: string; index: { tensors: TensorInfo[] } }> {
  const sets = [...ckpt.weightSets].sort((a, b) => (a.format === b.format ? 0 : a.format === "torch" ? -1 : 1));
  return sets.flatMap((s) => (s.tensors ? [{ path: s.path, index: { tensors: s.tensors } }] : []));
}

/**
 * Every weights file (transformers loads model.safetensors first, older tools pytorch_model.bin)
 * against config.json, and the two against each other when both are there.
 */
export function checkTensorShapes(ckpt: LoadedCheckpoint): CheckResult {
  const id = "weights.shapes";
  const title = "tensor names and shapes match config.json";
  const config = ckpt.json.get("config.json")?.value;
  const files = readable(ckpt);
  if (!isRecord(config) || !files.length) return skip(id, title, "needs a readable config.json and weights file");
  const num = (k: string) => (typeof config[k] === "number" ? (config[k] as number) : NaN);
  const d: BertDims = { V: num("vocab_size"), H: num("hidden_size"), L: num("num_hidden_layers"), I: num("intermediate_size"), P: num("max_position_embeddings"), T: num("type_vocab_size") };
  if (Object.values(d).some((x) => !Number.isInteger(x))) return skip(id, title, "config.json lacks a dimension (see schema.config)");
  const architectures = Array.isArray(config.architectures) ? (config.architectures as string[]) : [];
  const problems: string[] = [];
  const unused: string[] = [];
  // Disagreement between the two files first: it decides which one users get.
  const [a, b] = files;
  if (a && b) {
    const other = new Map(b.index.tensors.map((t) => [t.name, t]));
    for (const t of a.index.tensors) {
      const u = other.get(t.name);
      if (u && u.shape.join(",") !== t.shape.join(",")) problems.unshift(`${a.path} and ${b.path} disagree: ${t.name} is [${t.shape.join(", ")}] in one and [${u.shape.join(", ")}] in the other`);
    }
  }
  for (const w of files) {
    const tensors = new Map(w.index.tensors.map((t) => [t.name, t]));
    const prefix = [...tensors.keys()].some((n) => n.startsWith("bert.")) ? "bert." : "";
    const layers = layerCount(w.path, [...tensors.keys()], prefix, d.L);
    // Layers past the last one the file holds are missing whole and said once: a config's
    // num_hidden_layers (any integer) never sets how much is enumerated here.
    const expected = expectedBertTensors({ ...d, L: layers.enumerated }, architectures, prefix);
    problems.push(...layers.problems);
    unused.push(...layers.unused);
    for (const e of expected) {
      const t = tensors.get(e.name) ?? tensors.get(legacyName(e.name));
      if (!t) {
        if (!e.optional && !layers.missing.has(layerOf(e.name, prefix) ?? -1)) {
          problems.push(`${w.path}: tensor ${e.name} is missing (expected by ${architectures.join(", ") || "the architecture"})`);
        }
      } else if (!sameShape(t.shape, e.shape)) {
        problems.push(`${w.path}: ${describeShapeMismatch(e.name, t.shape, e.shape)}`);
      }
    }
    const known = new Set(expected.flatMap((e) => [e.name, legacyName(e.name)]));
    const extra = [...tensors.keys()].filter((n) => !known.has(n) && !layers.extra.has(layerOf(n, prefix) ?? -1));
    // transformers loads and ignores unused heads (a BertForMaskedLM from pre-training weights).
    if (extra.length) unused.push(`${w.path}: ${extra.length} tensors that ${architectures.join(", ") || "the architecture"} does not use (first: ${extra[0]}); transformers will ignore them`);
  }
  if (problems.length) return fail(id, title, [...problems, ...unused]);
  if (unused.length) return warn(id, title, unused);
  const n = files.map((w) => `${w.index.tensors.length} tensors${files.length > 1 ? ` in ${w.path}` : ""}`).join(", ");
  return pass(id, title, `${n}, ${architectures.join(", ")}`);
}

/** The encoder layer a tensor belongs to (`encoder.layer.N.`), if any. */
function layerOf(name: string, prefix: string): number | undefined {
  const m = new RegExp(`^${prefix.replace(".", "\\.")}encoder\\.layer\\.(\\d+)\\.`).exec(name);
  return m ? Number(m[1]) : undefined;
}

/** "2", "2–3": a run of layer numbers for a message. */
function layerRange(ns: readonly number[]): string {
  const sorted = [...ns].sort((a, b) => a - b);
  return sorted.length > 1 && sorted.at(-1)! - sorted[0]! === sorted.length - 1 ? `${sorted[0]}–${sorted.at(-1)}` : sorted.join(", ");
}

/**
 * Whole encoder layers missing or extra against `num_hidden_layers`, said once per file with the
 * field named (instead of one line per tensor of each layer). Extra layers are ignored by
 * transformers, so they only warn.
 */
function layerCount(file: string, names: readonly string[], prefix: string, L: number) {
  const present = new Set(names.map((n) => layerOf(n, prefix)).filter((n): n is number => n !== undefined));
  const highest = [...present].reduce((m, i) => Math.max(m, i), -1);
  // Layers 0..enumerated-1 are looked at one by one; enumerated..L-1 hold no tensor at all.
  const enumerated = Math.min(L, highest + 1);
  const missing = new Set<number>();
  for (let i = 0; i < enumerated; i++) if (!present.has(i)) missing.add(i);
  const missingAfter = L - enumerated;
  const extra = new Set([...present].filter((i) => i >= L));
  const plural = (n: number) => (n > 1 ? "s" : "");
  const span = (from: number, to: number) => (to > from ? `${from}–${to}` : `${from}`);
  const implied = `config.json \`num_hidden_layers\` = ${L} implies encoder layer${plural(L)} ${L ? span(0, L - 1) : "none"}`;
  const held = present.size ? `the weights hold layer${plural(present.size)} ${layerRange([...present])}` : "the weights hold none";
  const list = (names: string, n: number) => `encoder layer${plural(n)} ${names} ${n > 1 ? "are" : "is"}`;
  const missingCount = missing.size + missingAfter;
  const missingNames = [...(missing.size ? [layerRange([...missing])] : []), ...(missingAfter ? [span(enumerated, L - 1)] : [])].join(", ");
  return {
    enumerated,
    missing,
    extra,
    problems: missingCount ? [`${file}: ${list(missingNames, missingCount)} missing: ${implied}, ${held}`] : [],
    unused: extra.size ? [`${file}: ${list(layerRange([...extra]), extra.size)} not used: ${implied}; transformers will ignore ${extra.size > 1 ? "them" : "it"}`] : [],
  };
}

export function checkTensorDtype(ckpt: LoadedCheckpoint): CheckResult {
  const id = "weights.dtype";
  const title = "floating-point tensors match config torch_dtype";
  const config = ckpt.json.get("config.json")?.value;
  const files = readable(ckpt);
  if (!isRecord(config) || !files.length) return skip(id, title, "needs a readable config.json and weights file");
  const declared = typeof config.torch_dtype === "string" ? config.torch_dtype : undefined;
  const problems: string[] = [];
  const summaries: string[] = [];
  for (const w of files) {
    const floats = w.index.tensors.filter((t) => ["float64", "float32", "float16", "bfloat16"].includes(t.dtype));
    const counts = new Map<string, number>();
    for (const t of floats) counts.set(t.dtype, (counts.get(t.dtype) ?? 0) + 1);
    const summary = [...counts].map(([k, v]) => `${v} ${k}`).join(", ");
    summaries.push(files.length > 1 ? `${w.path}: ${summary}` : summary);
    const off = floats.filter((t) => declared && t.dtype !== declared);
    if (off.length) problems.push(`${w.path}: config.json declares torch_dtype ${declared} but ${off.length} tensors are ${off[0]!.dtype} (first: ${off[0]!.name}); found ${summary}`);
  }
  if (problems.length) return fail(id, title, problems);
  return pass(id, title, declared ? summaries.join("; ") : `no torch_dtype declared; ${summaries.join("; ")}`);
}

/**
 * NaN or Inf in a float tensor: torch and safetensors load it without a word and every prediction
 * downstream turns into NaN. The values come from the read that hashed the file for the manifest.
 */
export function checkWeightsFinite(ckpt: LoadedCheckpoint): CheckResult {
  const id = "weights.finite";
  const title = "floating-point tensors hold no NaN or Inf";
  // Per file (single or shard): the scan ran on each file's own bytes.
  const files = ckpt.weights.filter((w): w is WeightsState & { index: NonNullable<WeightsState["index"]> } => !!w.index);
  if (!files.length) return skip(id, title, "needs a readable weights file");
  if (!ckpt.finite) return skip(id, title, "the weights were not read (the manifest was not hashed)");
  const problems: string[] = [];
  const summaries: string[] = [];
  for (const w of files) {
    const scan = ckpt.finite.get(w.path);
    if (!scan) {
      problems.push(`${w.path}: was not scanned for NaN and Inf`);
      continue;
    }
    const bad = nonFiniteTensors(w.index, scan);
    for (const t of bad) {
      const what = [t.nan ? `${t.nan} NaN` : "", t.inf ? `${t.inf} infinite` : ""].filter(Boolean).join(" and ");
      problems.push(`${w.path}: ${t.name} (${t.dtype}) holds ${what} values (first at element ${t.first}); everyone who loads it gets them, and the model predicts NaN`);
    }
    const floats = w.index.tensors.filter((t) => isFloatDType(t.dtype)).length;
    summaries.push(`${floats} float tensors (${formatBytes(scan.floatBytes)})${files.length > 1 ? ` in ${w.path}` : ""}`);
  }
  return problems.length ? fail(id, title, problems) : pass(id, title, summaries.join(", "));
}

/**
 * pytorch_model.bin and model.safetensors side by side are one model only if every tensor agrees:
 * transformers loads the safetensors, torch.load users the .bin, and the smoke test runs one.
 */
export function checkWeightsAgree(ckpt: LoadedCheckpoint): CheckResult[] {
  const id = "weights.agree";
  if (ckpt.agreement === null) return [];
  if (ckpt.agreement === undefined) {
    const both = ckpt.weightSets.some((s) => s.format === "torch") && ckpt.weightSets.some((s) => s.format === "safetensors");
    return both ? [skip(id, "pytorch_model.bin and model.safetensors hold the same tensors", "the weights were not read (the manifest was not hashed)")] : [];
  }
  const a = ckpt.agreement;
  const title = `${a.torch} and ${a.safetensors} hold the same tensors`;
  if (a.differences.length) {
    const summary = `${a.torch} and ${a.safetensors} hold different models (${a.differences.length} difference${a.differences.length > 1 ? "s" : ""}): publish one of them, or write ${a.safetensors} from ${a.torch} again (npx azbert-release convert)`;
    return [fail(id, title, [summary, ...a.differences])];
  }
  return [pass(id, title, `${a.tensors} tensors, ${formatBytes(a.bytes)} compared${a.aliases ? `; ${a.aliases} tied name${a.aliases > 1 ? "s" : ""} in ${a.torch}` : ""}`)];
}

/**
 * What must pass before another loader (transformers in the Python runner, a download's proof) is
 * given the weights: every weights file read without executing anything, and shards as their index says.
 */
export function checkWeightsBeforeLoading(ckpt: LoadedCheckpoint): CheckResult[] {
  return [...checkWeightsReadable(ckpt), ...checkWeightsIndex(ckpt)];
}
