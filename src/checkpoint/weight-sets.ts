// The weights of a checkpoint as transformers sees them: one file (pytorch_model.bin,
// model.safetensors) or shards found through an index (pytorch_model.bin.index.json,
// model.safetensors.index.json). transformers loads every shard the index names and every tensor in
// each of them, so an index that disagrees with its shards silently leaves weights randomly
// initialised; the set is validated here, and checks and loaders use the tensors of the whole set.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { DTYPE_SIZE } from "./tensor-data.js";
import type { CheckpointFile, TensorInfo, WeightsIndex } from "./types.js";
import { readWeights, WeightsError } from "./weights.js";

export type WeightsFormat = "torch" | "safetensors";

/** One weights file as read (or not) by readWeights. */
export interface WeightsState {
  path: string;
  index?: WeightsIndex;
  error?: { code: string; message: string };
}

/** A parsed JSON file of the checkpoint (load.ts fills these). */
export interface JsonValue {
  value?: unknown;
  error?: string;
}

/** A tensor of a set, with the file it is read from. */
export interface SetTensor extends TensorInfo {
  /** The index of the weights file that holds it (`source.file` is its absolute path). */
  source: WeightsIndex;
}

export interface IndexProblem {
  severity: "error" | "warn";
  message: string;
}

export interface WeightsSet {
  format: WeightsFormat;
  /** The file transformers looks for: the single weights file, or the index of a sharded set. */
  path: string;
  sharded: boolean;
  /** Repo paths of the weights files (the single file, or the shards in index order). */
  files: string[];
  /** Every tensor of the set: present when every file was read and the index agrees with the shards. */
  tensors?: SetTensor[];
  /** What is wrong with the index or the shards (sharded sets only). */
  problems: IndexProblem[];
}

/** What transformers looks for, in the order it looks (from_pretrained with a local folder). */
export const WEIGHTS_LOOKUP = [
  { path: "model.safetensors", format: "safetensors", sharded: false },
  { path: "model.safetensors.index.json", format: "safetensors", sharded: true },
  { path: "pytorch_model.bin", format: "torch", sharded: false },
  { path: "pytorch_model.bin.index.json", format: "torch", sharded: true },
] as const satisfies ReadonlyArray<{ path: string; format: WeightsFormat; sharded: boolean }>;

export const WEIGHTS_INDEX_FILES = WEIGHTS_LOOKUP.filter((w) => w.sharded).map((w) => w.path);

const SHARD_NAME: Record<WeightsFormat, RegExp> = {
  torch: /^pytorch_model-(\d{5})-of-(\d{5})\.bin$/,
  safetensors: /^model-(\d{5})-of-(\d{5})\.safetensors$/,
};

/** The shard file name transformers writes: `pytorch_model-00002-of-00003.bin`. */
export function shardName(format: WeightsFormat, n: number, of: number): string {
  const pad = (x: number) => String(x).padStart(5, "0");
  return format === "torch" ? `pytorch_model-${pad(n)}-of-${pad(of)}.bin` : `model-${pad(n)}-of-${pad(of)}.safetensors`;
}

export function isShardName(name: string): boolean {
  return SHARD_NAME.torch.test(name) || SHARD_NAME.safetensors.test(name);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `weight_map` of an index, or why there is none. */
function weightMap(doc: JsonValue | undefined, indexPath: string): { map?: Map<string, string>; totalSize?: unknown; problem?: string } {
  if (!doc) return {};
  if (doc.error) return { problem: `${indexPath} ${doc.error}` };
  const v = doc.value;
  if (!isRecord(v) || !isRecord(v.weight_map)) return { problem: `${indexPath}: has no "weight_map" object (tensor name -> shard file)` };
  const map = new Map<string, string>();
  const bad: string[] = [];
  for (const [name, file] of Object.entries(v.weight_map)) {
    if (typeof file !== "string") bad.push(name);
    else map.set(name, file);
  }
  if (bad.length) return { problem: `${indexPath}: weight_map gives no file name for ${bad.length} tensor(s) (first: ${bad[0]})` };
  const totalSize = isRecord(v.metadata) ? v.metadata.total_size : undefined;
  return { map, totalSize };
}

/** Repo paths of every file readWeights must read: the single files, the shards, and whatever an index names. */
export function weightsFilesToRead(files: readonly CheckpointFile[], json: ReadonlyMap<string, JsonValue>): string[] {
  const have = new Set(files.map((f) => f.repoPath));
  const out = new Set<string>();
  for (const f of files) {
    if (WEIGHTS_LOOKUP.some((w) => !w.sharded && w.path === f.repoPath) || isShardName(f.repoPath)) out.add(f.repoPath);
  }
  for (const indexPath of WEIGHTS_INDEX_FILES) {
    for (const file of weightMap(json.get(indexPath), indexPath).map?.values() ?? []) if (have.has(file)) out.add(file);
  }
  return [...out].sort();
}

/** Reads every weights file (index only, no tensor data); failures are recorded, not thrown. */
export async function readWeightsFiles(files: readonly CheckpointFile[], json: ReadonlyMap<string, JsonValue>): Promise<WeightsState[]> {
  const byPath = new Map(files.map((f) => [f.repoPath, f]));
  const out: WeightsState[] = [];
  for (const name of weightsFilesToRead(files, json)) {
    try {
      out.push({ path: name, index: await readWeights(byPath.get(name)!.source) });
    } catch (e) {
      if (!(e instanceof WeightsError)) throw e;
      out.push({ path: name, error: { code: e.code, message: e.message } });
    }
  }
  return out;
}

/** The weights sets of a checkpoint, in transformers' lookup order, with shard indexes validated. */
export function assembleWeightSets(
  files: readonly CheckpointFile[],
  json: ReadonlyMap<string, JsonValue>,
  weights: readonly WeightsState[],
): WeightsSet[] {
  const have = new Set(files.map((f) => f.repoPath));
  const state = new Map(weights.map((w) => [w.path, w]));
  const sets: WeightsSet[] = [];
  for (const w of WEIGHTS_LOOKUP) {
    if (!w.sharded) {
      if (!have.has(w.path)) continue;
      const idx = state.get(w.path)?.index;
      sets.push({
        format: w.format,
        path: w.path,
        sharded: false,
        files: [w.path],
        ...(idx ? { tensors: idx.tensors.map((t) => ({ ...t, source: idx })) } : {}),
        problems: [],
      });
      continue;
    }
    const shardFiles = [...have].filter((p) => SHARD_NAME[w.format].test(p)).sort();
    if (!have.has(w.path)) {
      if (shardFiles.length) {
        sets.push({
          format: w.format,
          path: w.path,
          sharded: true,
          files: shardFiles,
          problems: [{ severity: "error", message: `${shardFiles.join(", ")}: shards without ${w.path}; transformers finds shards only through that index, so it would not load them` }],
        });
      }
      continue;
    }
    sets.push(validateShardedSet(w.format, w.path, json.get(w.path), shardFiles, have, state));
  }
  return sets;
}

function validateShardedSet(
  format: WeightsFormat,
  indexPath: string,
  doc: JsonValue | undefined,
  shardFiles: readonly string[],
  have: ReadonlySet<string>,
  state: ReadonlyMap<string, WeightsState>,
): WeightsSet {
  const problems: IndexProblem[] = [];
  const error = (message: string) => problems.push({ severity: "error", message });
  const { map, totalSize, problem } = weightMap(doc, indexPath);
  if (!map) {
    error(problem ?? `${indexPath}: cannot be read`);
    return { format, path: indexPath, sharded: true, files: [...shardFiles], problems };
  }
  const listed = [...new Set(map.values())].sort();
  const set: WeightsSet = { format, path: indexPath, sharded: true, files: listed, problems };
  if (!listed.length) error(`${indexPath}: weight_map is empty: it names no shard`);

  const mappedTo = new Map<string, number>();
  for (const file of map.values()) mappedTo.set(file, (mappedTo.get(file) ?? 0) + 1);
  const bad: string[] = [];
  for (const file of listed) {
    if (file.includes("/") || file.includes("\\") || file === "." || file === "..") {
      bad.push(`${indexPath}: weight_map names "${file}", which is not a file name in the checkpoint folder`);
    } else if (!have.has(file)) {
      bad.push(`${indexPath}: maps ${mappedTo.get(file)} tensor(s) to ${file}, which is not in the checkpoint`);
    }
  }
  // An index naming thousands of files is reported by its first few.
  for (const m of bad.slice(0, 3)) error(m);
  if (bad.length > 3) error(`${indexPath}: … and ${bad.length - 3} more files that are not in the checkpoint`);
  const listedSet = new Set(listed);
  for (const file of shardFiles) {
    if (!listedSet.has(file)) error(`${file}: a shard that ${indexPath} does not list; transformers would not load its tensors`);
  }
  // Unreadable shards are reported by the readable check, naming the file and the problem.
  const indexes = listed.map((f) => state.get(f)?.index);
  if (indexes.some((i) => !i)) return set;

  const holders = new Map<string, string[]>();
  listed.forEach((file, i) => {
    for (const t of indexes[i]!.tensors) holders.set(t.name, [...(holders.get(t.name) ?? []), file]);
  });
  const inTwo: string[] = [];
  const unlisted: string[] = [];
  const misplaced: string[] = [];
  for (const [name, where] of holders) {
    if (where.length > 1) inTwo.push(`tensor ${name} is in ${where.join(" and ")}`);
    const mapped = map.get(name);
    if (mapped === undefined) unlisted.push(`${where[0]} holds tensor ${name}, which ${indexPath} does not list`);
    else if (!where.includes(mapped)) misplaced.push(`${indexPath} maps tensor ${name} to ${mapped}, but it is in ${where.join(" and ")}`);
  }
  const absent = [...map].filter(([name]) => !holders.has(name)).map(([name, file]) => `${indexPath} maps tensor ${name} to ${file}, which does not hold it`);
  for (const list of [inTwo, misplaced, absent, unlisted]) {
    if (!list.length) continue;
    error(list.length > 3 ? `${list.slice(0, 3).join("; ")}; … and ${list.length - 3} more` : list.join("; "));
  }

  const tensors = listed.flatMap((_, i) => indexes[i]!.tensors.map((t) => ({ ...t, source: indexes[i]! })));
  const sizeProblem = checkTotalSize(indexPath, totalSize, tensors);
  if (sizeProblem) problems.push(sizeProblem);
  if (!problems.some((p) => p.severity === "error")) set.tensors = tensors;
  return set;
}

/**
 * `metadata.total_size` is the bytes of the tensors: transformers counts tied tensors once
 * (older versions: every name), and loaders do not read it, but tools size downloads by it.
 */
function checkTotalSize(indexPath: string, totalSize: unknown, tensors: readonly SetTensor[]): IndexProblem | undefined {
  if (totalSize === undefined) return undefined;
  if (typeof totalSize !== "number" || !Number.isSafeInteger(totalSize) || totalSize < 0) {
    return { severity: "error", message: `${indexPath}: metadata.total_size is ${JSON.stringify(totalSize)}, not a byte count` };
  }
  const everyName = tensors.reduce((s, t) => s + t.byteLength, 0);
  const regions = new Map<string, number>();
  for (const t of tensors) {
    const key = `${t.source.file}\0${t.storageKey}`;
    regions.set(key, Math.max(regions.get(key) ?? 0, t.storageOffset * DTYPE_SIZE[t.dtype] + t.byteLength));
  }
  const distinct = [...regions.values()].reduce((s, n) => s + n, 0);
  const low = Math.min(distinct, everyName);
  const high = Math.max(distinct, everyName);
  if (totalSize >= low && totalSize <= high) return undefined;
  return {
    severity: "warn",
    message: `${indexPath}: metadata.total_size is ${totalSize} bytes, but the shards hold ${distinct} bytes of tensors (${everyName} counting tied names separately)`,
  };
}

/** The set transformers would load (safetensors first, single file before shards), if any. */
export function chosenWeightsSet(sets: readonly WeightsSet[]): WeightsSet | undefined {
  return sets[0];
}

/** A short name for messages: `pytorch_model.bin`, or `pytorch_model.bin.index.json (3 shards)`. */
export function describeSet(set: WeightsSet): string {
  return set.sharded ? `${set.path} (${set.files.length} shard${set.files.length === 1 ? "" : "s"})` : set.path;
}

/** The weights set made of these files (e.g. what writeSafetensors wrote), read like a checkpoint's. */
export async function loadWeightsSet(paths: readonly string[]): Promise<WeightsSet | undefined> {
  const files = await Promise.all(paths.map(async (p) => ({ repoPath: path.basename(p), source: path.resolve(p), size: (await stat(p)).size })));
  const json = new Map<string, JsonValue>();
  for (const f of files) {
    if (!WEIGHTS_INDEX_FILES.includes(f.repoPath as (typeof WEIGHTS_INDEX_FILES)[number])) continue;
    try {
      json.set(f.repoPath, { value: JSON.parse(await readFile(f.source, "utf8")) });
    } catch (e) {
      json.set(f.repoPath, { error: `is not valid JSON: ${(e as Error).message}` });
    }
  }
  return assembleWeightSets(files, json, await readWeightsFiles(files, json))[0];
}

/** Why a set has no tensors: its files' read errors and its index problems, each naming the file. */
export function whyUnreadable(set: WeightsSet, weights: readonly WeightsState[]): string {
  const problems = [
    ...weights.filter((w) => set.files.includes(w.path) && w.error).map((w) => w.error!.message),
    ...set.problems.filter((p) => p.severity === "error").map((p) => p.message),
  ];
  return problems.join("\n") || `${describeSet(set)}: cannot be read`;
}
