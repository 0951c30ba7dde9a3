// Sharded copies of the sample checkpoint, built at test time from its own tensors the way
// transformers' save_pretrained(max_shard_size=...) lays them out: tensors in state-dict order,
// tied tensors kept in one shard, `pytorch_model-0000N-of-0000M.bin` (a torch.save zip each) or
// `model-0000N-of-0000M.safetensors` (tied names dropped), and the index with `metadata.total_size`
// (bytes of the distinct storages) and `weight_map`.
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DTYPE_SIZE } from "../src/checkpoint/tensor-data.js";
import { loadTensorRaw, readWeights } from "../src/checkpoint/weights.js";
import type { DType, TensorInfo } from "../src/checkpoint/types.js";
import { safetensorsFile, stateDictPickle, torchZip, type CraftedTensor } from "./helpers/torch-fixtures.js";
import { sampleDir } from "./smoke-helpers.js";

const STORAGE_TYPE: Partial<Record<DType, string>> = { float32: "FloatStorage", int64: "LongStorage", float16: "HalfStorage", bfloat16: "BFloat16Storage" };
const ST_DTYPE: Partial<Record<DType, string>> = { float32: "F32", int64: "I64", float16: "F16", bfloat16: "BF16" };

const created: string[] = [];

/** Removes every copy writeShardedSample made (call in afterAll). */
export async function removeShardedCopies(): Promise<void> {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

const pad = (n: number) => String(n).padStart(5, "0");

export interface ShardedCopy {
  dir: string;
  /** Shard file names, in order. */
  shards: string[];
  /** Tensor name -> shard file. */
  weightMap: Record<string, string>;
  indexFile: string;
}

/** Splits the sample's tensors into `count` shards of about equal bytes, tied tensors together. */
async function splitSample(count: number): Promise<{ groups: TensorInfo[][][]; raw: Map<string, Uint8Array> }> {
  const index = await readWeights(path.join(sampleDir, "pytorch_model.bin"));
  const byStorage = new Map<string, TensorInfo[]>();
  for (const t of index.tensors) byStorage.set(t.storageKey, [...(byStorage.get(t.storageKey) ?? []), t]);
  const storages = [...byStorage.values()];
  const raw = new Map<string, Uint8Array>();
  for (const group of storages) raw.set(group[0]!.storageKey, await loadTensorRaw(index, group[0]!.name));
  const total = storages.reduce((s, g) => s + raw.get(g[0]!.storageKey)!.length, 0);
  const groups: TensorInfo[][][] = Array.from({ length: count }, () => []);
  let acc = 0;
  for (const g of storages) {
    const bytes = raw.get(g[0]!.storageKey)!.length;
    const shard = Math.min(count - 1, Math.floor((acc / total) * count));
    groups[shard]!.push(g);
    acc += bytes;
  }
  return { groups, raw };
}

/**
 * A copy of the sample with its weights in `count` shards plus the index (no pytorch_model.bin).
 * `format: "safetensors"` writes safetensors shards and model.safetensors.index.json instead.
 */
export async function writeShardedSample(opts: { format?: "torch" | "safetensors"; count?: number; dir?: string } = {}): Promise<ShardedCopy> {
  const format = opts.format ?? "torch";
  const count = opts.count ?? 3;
  let dir = opts.dir;
  if (!dir) {
    const parent = await mkdtemp(path.join(os.tmpdir(), "azbert-sharded-"));
    created.push(parent);
    dir = path.join(parent, "ckpt");
  }
  await cp(sampleDir, dir, { recursive: true });
  await rm(path.join(dir, "pytorch_model.bin"));
  const { groups, raw } = await splitSample(count);
  const weightMap: Record<string, string> = {};
  const shards: string[] = [];
  let totalSize = 0;
  for (let i = 0; i < count; i++) {
    const name = format === "torch" ? `pytorch_model-${pad(i + 1)}-of-${pad(count)}.bin` : `model-${pad(i + 1)}-of-${pad(count)}.safetensors`;
    shards.push(name);
    const storages = groups[i]!;
    totalSize += storages.reduce((s, g) => s + raw.get(g[0]!.storageKey)!.length, 0);
    if (format === "torch") {
      const tensors: CraftedTensor[] = [];
      const data: Record<string, Uint8Array> = {};
      storages.forEach((g, k) => {
        const bytes = raw.get(g[0]!.storageKey)!;
        data[String(k)] = bytes;
        for (const t of g) {
          tensors.push({ name: t.name, storageType: STORAGE_TYPE[t.dtype]!, key: String(k), storageNumel: bytes.length / DTYPE_SIZE[t.dtype], shape: t.shape });
          weightMap[t.name] = name;
        }
      });
      await writeFile(path.join(dir, name), torchZip(name.replace(/\.bin$/, ""), stateDictPickle(tensors), data));
    } else {
      // save_pretrained drops the tied names (the decoder) from safetensors files
      const tensors = storages.map((g) => {
        const t = [...g].sort((a, b) => (a.name < b.name ? -1 : 1))[0]!;
        weightMap[t.name] = name;
        return { name: t.name, dtype: ST_DTYPE[t.dtype]!, shape: t.shape, data: raw.get(t.storageKey)! };
      });
      await writeFile(path.join(dir, name), safetensorsFile(tensors, { format: "pt" }));
    }
  }
  const indexFile = path.join(dir, format === "torch" ? "pytorch_model.bin.index.json" : "model.safetensors.index.json");
  const sortedMap = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFile(indexFile, `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2)}\n`);
  return { dir, shards, weightMap, indexFile };
}

/** Rewrites one torch shard with the given tensors (taken from the sample), e.g. to add or drop one. */
export async function rewriteTorchShard(copy: ShardedCopy, shard: string, names: string[]): Promise<void> {
  const index = await readWeights(path.join(sampleDir, "pytorch_model.bin"));
  const tensors: CraftedTensor[] = [];
  const data: Record<string, Uint8Array> = {};
  for (const [k, n] of names.entries()) {
    const t = index.tensors.find((x) => x.name === n)!;
    const bytes = await loadTensorRaw(index, n);
    data[String(k)] = bytes;
    tensors.push({ name: n, storageType: STORAGE_TYPE[t.dtype]!, key: String(k), storageNumel: bytes.length / DTYPE_SIZE[t.dtype], shape: t.shape });
  }
  await writeFile(path.join(copy.dir, shard), torchZip(shard.replace(/\.bin$/, ""), stateDictPickle(tensors), data));
}
