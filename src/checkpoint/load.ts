// Reads everything the checks look at, once: the flattened file list, every JSON file, the
// vocabulary, the weights index (without loading tensors) and the model card. Checks are pure
// functions over the result.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { discoverCheckpoint, type InventoryProblem } from "./discover.js";
import { HashCache } from "./hash-cache.js";
import { parseModelCard, type ModelCard } from "./model-card.js";
import type { CheckpointFile } from "./types.js";
import { assembleWeightSets, readWeightsFiles, type WeightsSet, type WeightsState } from "./weight-sets.js";

export type { WeightsSet, WeightsState } from "./weight-sets.js";

export interface JsonDoc {
  path: string;
  value?: unknown;
  /** Parse error in words, when the file is not valid JSON. */
  error?: string;
}

export interface LoadedCheckpoint {
  root: string;
  files: CheckpointFile[];
  problems: InventoryProblem[];
  json: Map<string, JsonDoc>;
  /** vocab.txt lines (the trailing newline does not make an empty token). */
  vocab?: string[];
  /** Every weights file (single files and shards), read without loading tensors. */
  weights: WeightsState[];
  /** The weights as transformers loads them (one file or an index with its shards), in its lookup order. */
  weightSets: WeightsSet[];
  modelCard?: { path: string; card: ModelCard };
}

const MAX_JSON_BYTES = 64 * 1024 * 1024;

export async function loadCheckpoint(
  dir: string,
  opts: { modelCard?: string | null; cache?: HashCache; followLinksOutside?: boolean } = {},
): Promise<LoadedCheckpoint> {
  const cache = opts.cache ?? new HashCache();
  const found = await discoverCheckpoint(dir, async (a, b) => (await cache.sha256(a.source)) === (await cache.sha256(b.source)), {
    followLinksOutside: opts.followLinksOutside ?? false,
  });
  let files = found.files;
  if (opts.modelCard) {
    // A model card kept outside the checkpoint is published as README.md all the same.
    const { size } = await stat(opts.modelCard);
    files = [...files.filter((f) => f.repoPath !== "README.md"), { repoPath: "README.md", source: path.resolve(opts.modelCard), size }]
      .sort((a, b) => (a.repoPath < b.repoPath ? -1 : 1));
  }
  const byPath = new Map(files.map((f) => [f.repoPath, f]));

  const json = new Map<string, JsonDoc>();
  for (const f of files) {
    if (!f.repoPath.endsWith(".json")) continue;
    if (f.size > MAX_JSON_BYTES) {
      json.set(f.repoPath, { path: f.repoPath, error: `is ${f.size} bytes, too large for a JSON config file` });
      continue;
    }
    const text = await readFile(f.source, "utf8");
    try {
      json.set(f.repoPath, { path: f.repoPath, value: JSON.parse(text) });
    } catch (e) {
      json.set(f.repoPath, { path: f.repoPath, error: `is not valid JSON: ${(e as Error).message}` });
    }
  }

  let vocab: string[] | undefined;
  const vocabFile = byPath.get("vocab.txt");
  if (vocabFile) {
    const lines = (await readFile(vocabFile.source, "utf8")).split(/\r?\n/);
    if (lines.at(-1) === "") lines.pop();
    vocab = lines;
  }

  const weights = await readWeightsFiles(files, json);
  const weightSets = assembleWeightSets(files, json, weights);

  let modelCard: LoadedCheckpoint["modelCard"];
  const card = byPath.get("README.md");
  if (card) modelCard = { path: "README.md", card: parseModelCard(await readFile(card.source, "utf8")) };

  return { root: found.root, files, problems: found.problems, json, vocab, weights, weightSets, modelCard };
}

/** Absolute path of the file published as `repoPath` (after flattening), if the checkpoint has it. */
export function checkpointSource(ckpt: Pick<LoadedCheckpoint, "files">, repoPath: string): string | undefined {
  return ckpt.files.find((f) => f.repoPath === repoPath)?.source;
}
