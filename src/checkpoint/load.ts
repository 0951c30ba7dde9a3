// Reads everything the checks look at, once: the flattened file list, every JSON file, the
// vocabulary, the weights index (without loading tensors) and the model card. Checks are pure
// functions over the result.
import path from "node:path";
import { UserError } from "../report.js";
import { discoverCheckpoint, type InventoryProblem } from "./discover.js";
import { formatBytes } from "../util/format-bytes.js";
import type { FiniteScan } from "./finite-scan.js";
import type { WeightsAgreement } from "./weights-compare.js";
import { HashCache } from "./hash-cache.js";
import { decodeUtf8, JsonTextError, parseJson, Utf8Error, type NonFiniteNumber } from "./json-text.js";
import type { ModelCard } from "./model-card.js";
import { describeReadError, openRegularFile, readRegularFile } from "./regular-file.js";
import type { CheckpointFile } from "./types.js";
import { assembleWeightSets, readWeightsFiles, WEIGHTS_INDEX_FILES, type WeightsSet, type WeightsState } from "./weight-sets.js";

export type { WeightsSet, WeightsState } from "./weight-sets.js";

export interface JsonDoc {
  path: string;
  value?: unknown;
  /** Why the file cannot be read as its loader reads it (not UTF-8, a syntax error, too deep...). */
  error?: string;
  /** Numbers that parse but are NaN or infinite in Python (NaN literals, 1e400). */
  nonFinite?: NonFiniteNumber[];
}

export interface LoadedCheckpoint {
  root: string;
  files: CheckpointFile[];
  problems: InventoryProblem[];
  json: Map<string, JsonDoc>;
  /** The checkpoint's own .gitattributes (published repo path `.gitattributes`), as text, or why it could not be read. */
  gitAttributes?: { text?: string; error?: string };
  /** vocab.txt lines (the trailing newline does not make an empty token). */
  vocab?: string[];
  /** Why vocab.txt could not be read, when it could not. */
  vocabError?: string;
  /** Every weights file (single files and shards), read without loading tensors. */
  weights: WeightsState[];
  /** The weights as transformers loads them (one file or an index with its shards), in its lookup order. */
  weightSets: WeightsSet[];
  /** The card the release publishes (`origin` absent), or, when it has none, the one the Hub repo keeps. */
  modelCard?: { path: string; card: ModelCard; origin?: "hub" };
  /** No card here and none found on the Hub: what is known of the card the Hub page would show. */
  modelCardOnHub?: Exclude<HubCardLookup, { status: "found" }>;
  /**
   * Non-finite values found in each weights file's float tensors (by repo path), from the pass that
   * hashes the manifest; absent until that pass ran.
   */
  finite?: Map<string, FiniteScan>;
  /**
   * pytorch_model.bin against model.safetensors, every tensor, when the checkpoint has both (null:
   * it has one, or one cannot be read); absent until the pass that hashes the manifest ran.
   */
  agreement?: WeightsAgreement | null;
}

/** Far larger than any config or tokenizer file (a 250k-token tokenizer.json is ~17 MB). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;
/** Far larger than any WordPiece vocabulary (BERT's vocab.txt: 30,522 lines, 226 KiB). */
export const MAX_VOCAB_BYTES = 64 * 1024 * 1024;
/** Far larger than any .gitattributes (the Hub's default is 1.5 KiB). */
const MAX_GITATTRIBUTES_BYTES = 1024 * 1024;
/** A model card is text for people; anything this large is not one. */
const MAX_CARD_BYTES = 16 * 1024 * 1024;

export async function loadCheckpoint(
  dir: string,
  opts: {
    modelCard?: string | null;
    cache?: HashCache;
    followLinksOutside?: boolean;
    /** Called as soon as the files are known (hashing threads can start up). */
    onFiles?: (files: readonly CheckpointFile[]) => void;
    /** Called as soon as the files and the weights indexes are known (what hashing needs), before the rest is read. */
    onWeightsRead?: (read: Pick<LoadedCheckpoint, "files" | "weights">) => void;
  } = {},
): Promise<LoadedCheckpoint> {
  const cache = opts.cache ?? new HashCache();
  const found = await discoverCheckpoint(dir, (f) => cache.sha256(f.source), {
    followLinksOutside: opts.followLinksOutside ?? false,
  });
  let files = found.files;
  if (opts.modelCard) {
    // A model card kept outside the checkpoint is published as README.md all the same.
    const fh = await openRegularFile(opts.modelCard).catch((e: unknown) => {
      throw new UserError(`${opts.modelCard}: cannot read the model card: ${describeReadError(e)}`, 2);
    });
    const { size } = await fh.stat().finally(() => fh.close());
    files = [...files.filter((f) => f.repoPath !== "README.md"), { repoPath: "README.md", source: path.resolve(opts.modelCard), size }]
      .sort((a, b) => (a.repoPath < b.repoPath ? -1 : 1));
  }
  opts.onFiles?.(files);
  const byPath = new Map(files.map((f) => [f.repoPath, f]));

  // The weights indexes of sharded sets first, then the weights: whoever waits for them (the
  // hashing) starts before the large JSON files are parsed.
  const docs = new Map<string, JsonDoc>();
  const jsonFiles = files.filter((f) => f.repoPath.endsWith(".json"));
  for (const f of jsonFiles) if ((WEIGHTS_INDEX_FILES as readonly string[]).includes(f.repoPath)) docs.set(f.repoPath, await readJsonDoc(f));
  const weights = await readWeightsFiles(files, docs);
  opts.onWeightsRead?.({ files, weights });
  for (const f of jsonFiles) if (!docs.has(f.repoPath)) docs.set(f.repoPath, await readJsonDoc(f));
  const json = new Map(jsonFiles.map((f) => [f.repoPath, docs.get(f.repoPath)!]));

  let vocab: string[] | undefined;
  let vocabError: string | undefined;
  const vocabFile = byPath.get("vocab.txt");
  if (vocabFile) {
    const r = await readText(vocabFile, MAX_VOCAB_BYTES, "far more than any WordPiece vocabulary (BERT's is 226 KiB)");
    if (r.text !== undefined) vocab = splitLinesLikePython(r.text);
    else vocabError = r.error;
  }

  const weightSets = assembleWeightSets(files, json, weights);

  const attributesFile = byPath.get(".gitattributes");
  const gitAttributes = attributesFile ? await readText(attributesFile, MAX_GITATTRIBUTES_BYTES, "far larger than any .gitattributes") : undefined;

  let modelCard: LoadedCheckpoint["modelCard"];
  const card = byPath.get("README.md");
  if (card) {
    const r = await readText(card, MAX_CARD_BYTES, "too large for a model card");
    // The YAML parser is loaded only here, once the rest is read (and the hashing has started).
    const { parseModelCard } = await import("./model-card.js");
    modelCard = { path: "README.md", card: r.text !== undefined ? parseModelCard(r.text) : { frontMatter: null, body: "", error: r.error } };
  }

  return { root: found.root, files, problems: found.problems, json, vocab, ...(vocabError ? { vocabError } : {}), ...(gitAttributes ? { gitAttributes } : {}), weights, weightSets, modelCard };
}

/** What the Hub repo has as its card when the checkpoint has none (looked up by the command, not here). */
export type HubCardLookup =
  /** `where`: "owner/name@branch". */
  | { status: "found"; where: string; text: string }
  | { status: "absent"; where: string }
  /** --prune deletes every Hub file not in the checkpoint, README.md among them. */
  | { status: "pruned"; where: string }
  /** Not looked up (offline, no token) or the lookup failed: why. */
  | { status: "unknown"; why: string };

/** A checkpoint without a card of its own takes what the Hub repo keeps, for the card checks. */
export async function useHubCard(ckpt: LoadedCheckpoint, lookup: HubCardLookup): Promise<void> {
  if (ckpt.modelCard) return;
  if (lookup.status !== "found") {
    ckpt.modelCardOnHub = lookup;
    return;
  }
  const { parseModelCard } = await import("./model-card.js");
  ckpt.modelCard = { path: `README.md of ${lookup.where} (on the Hub)`, card: parseModelCard(lookup.text), origin: "hub" };
}

/**
 * A text file as Python's `open(f, encoding="utf-8").read()` gives it: strict UTF-8 (a BOM kept as
 * U+FEFF), only regular files, at most `max` bytes. `error` says why not, without the file name.
 */
async function readText(f: CheckpointFile, max: number, tooLarge: string): Promise<{ text?: string; error?: string }> {
  if (f.size > max) return { error: `is ${formatBytes(f.size)}, ${tooLarge}; it was not read` };
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(f.source, max);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EFBIG") return { error: `grew past ${formatBytes(max)} while it was read, ${tooLarge}` };
    return { error: `cannot be read: ${describeReadError(e)}` };
  }
  try {
    return { text: decodeUtf8(bytes) };
  } catch (e) {
    if (!(e instanceof Utf8Error)) throw e;
    return { error: `${e.message}: Python's open(..., encoding="utf-8"), which transformers uses, refuses it` };
  }
}

/**
 * A JSON file read by the strictest reader that loads it: tokenizer.json by the tokenizers library
 * (Rust, serde_json; transformers also reads it with Python's json, which accepts all serde_json
 * does), every other JSON file by Python's json, as transformers' from_pretrained uses it.
 */
async function readJsonDoc(f: CheckpointFile): Promise<JsonDoc> {
  const r = await readText(f, MAX_JSON_BYTES, "too large for a JSON config or tokenizer file");
  if (r.text === undefined) return { path: f.repoPath, error: r.error! };
  const serde = f.repoPath === "tokenizer.json";
  try {
    const { value, nonFinite } = parseJson(r.text, { dialect: serde ? "serde" : "python" });
    return { path: f.repoPath, value, ...(nonFinite.length ? { nonFinite } : {}) };
  } catch (e) {
    if (!(e instanceof JsonTextError)) throw e;
    if (!serde && e.problem.startsWith("nested deeper")) {
      // Python's json reads it; transformers' recursive copy of the values does not.
      return { path: f.repoPath, error: `cannot be loaded by transformers: ${e.message}; from_pretrained copies the values recursively and Python's recursion limit stops it from about 490 levels (RecursionError)` };
    }
    const reader = serde ? "the tokenizers library (serde_json)" : "Python's json";
    return { path: f.repoPath, error: `is not valid JSON as ${reader} reads it: ${e.message}` };
  }
}

/** Lines as Python's text-mode readlines() splits them (\n, \r\n and \r all end a line); no empty last line. */
export function splitLinesLikePython(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** Absolute path of the file published as `repoPath` (after flattening), if the checkpoint has it. */
export function checkpointSource(ckpt: Pick<LoadedCheckpoint, "files">, repoPath: string): string | undefined {
  return ckpt.files.find((f) => f.repoPath === repoPath)?.source;
}
