// writeSafetensors: pytorch_model.bin (one file or shards) rewritten as model.safetensors (or
// model-0000N-of-0000M.safetensors + model.safetensors.index.json) from the project's own reader,
// never through pickle: same names, dtypes, shapes and bytes, streamed file to file.
//
// A tensor is written once under each name, except exact aliases (same storage, offset, shape,
// strides: the tied decoder and word embeddings): one name is kept and the others are recorded in
// __metadata__ ({"format": "pt", dropped: kept}), as the Hub's convert bot does. Every other view
// of a storage, a slice of it included, is written as its own elements (non-contiguous ones
// gathered, as `.contiguous()` does). Before a file takes its final name it is read back by the
// project's safetensors reader and compared byte for byte with the .bin.
import { createHash } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Worker } from "node:worker_threads";
import { UserError } from "../report.js";
import { startWorker } from "../util/worker.js";
import type { LoadedCheckpoint } from "./load.js";
import { readSafetensors, SAFETENSORS_DTYPES } from "./safetensors.js";
import { DTYPE_SIZE, isContiguous, numel } from "./tensor-data.js";
import type { DType, TensorInfo, WeightsIndex } from "./types.js";
import { describeSet, shardName, type SetTensor, type WeightsSet, whyUnreadable } from "./weight-sets.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { openWeightsFile } from "./weights-error.js";
import { digestPlanned, gather, writeVerified, type VerifiedWriteJob, type VerifiedWritten, type WriteTensor } from "./verified-write.js";
import type { VerifiedWriteReply } from "./verified-write-worker.js";
import { readAt } from "./zip.js";

export interface SafetensorsConversion {
  /** What was written (absolute paths): model.safetensors, or the shards and model.safetensors.index.json; sha256 when asked for. */
  files: { path: string; size: number; sha256?: string }[];
  /** Dropped name -> the kept name whose storage it shares (also in the file's __metadata__). */
  aliases: Record<string, string>;
  proof: ConversionProof;
}

export interface ConversionProof {
  /** Tensors read back by the project's safetensors reader and equal to the .bin's: name, dtype, shape, bytes. */
  tensorsCompared: number;
  bytesCompared: number;
  /** Dropped names verified to be exact aliases (same storage, offset, shape, strides) of their kept name. */
  aliasesChecked: number;
  /** Bytes of the .bin file(s) and of the safetensors file(s) (index excluded). */
  sourceBytes: number;
  writtenBytes: number;
  /** writtenBytes / sourceBytes; at most MAX_SIZE_RATIO. */
  sizeRatio: number;
}

export interface WriteSafetensorsOptions {
  /** The torch weights to convert (default: the pytorch_model.bin set transformers would load). */
  set?: WeightsSet;
  /** Bytes of tensor data copied so far, of the total. */
  onProgress?: (done: number, total: number) => void;
  /** Also give each written file's sha256, hashed in order as the verified bytes go out (no second read). */
  sha256?: boolean;
}

/** The new files may be at most 1% larger than the .bin files they replace. */
export const MAX_SIZE_RATIO = 1.01;
/** Non-contiguous tensors are gathered in memory; a span larger than this is refused. */
export const MAX_GATHER_BYTES = 256 * 1024 * 1024;
/** What proveSafetensors compares at a time. */
const CHUNK = 2 * 1024 * 1024;

/** Names transformers re-ties on load (BERT's decoder): never the one kept when it has an alias. */
const DISCARD_NAMES = new Set(["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]);

/** safetensors' own order of the data: larger dtypes first (aligned for mmap), then by name. */
const DTYPE_RANK: Record<DType, number> = {
  int64: 0, float64: 1, float32: 2, int32: 3, bfloat16: 4, float16: 5, int16: 6, int8: 7, uint8: 8, bool: 9,
};
const SAFETENSORS_NAME = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

/** A file name writeSafetensors writes: model.safetensors, a safetensors shard, or their index. */
export function isSafetensorsOutput(name: string): boolean {
  return name === "model.safetensors" || name === "model.safetensors.index.json" || /^model-\d{5}-of-\d{5}\.safetensors$/.test(name);
}

/** The torch set to convert: the one transformers would load among the .bin sets. */
export function torchWeightsSet(ckpt: LoadedCheckpoint): WeightsSet & { tensors: SetTensor[] } {
  const set = ckpt.weightSets.find((s) => s.format === "torch");
  if (!set) throw new UserError(`${ckpt.root}: no pytorch_model.bin (single or sharded) to convert`, 2);
  if (!set.tensors) {
    throw new UserError(whyUnreadable(set, ckpt.weights), 1);
  }
  return set as WeightsSet & { tensors: SetTensor[] };
}

export async function writeSafetensors(ckpt: LoadedCheckpoint, outDir: string, opts: WriteSafetensorsOptions = {}): Promise<SafetensorsConversion> {
  const set = opts.set ?? torchWeightsSet(ckpt);
  const plans = await planFiles(set);

  const own = ckpt.files.filter((f) => isSafetensorsOutput(path.basename(f.source)) && path.dirname(f.source) === path.resolve(outDir));
  if (own.length) {
    throw new UserError(`${outDir} holds the checkpoint's own ${own.map((f) => path.basename(f.source)).join(", ")}; write the conversion to another folder`, 2);
  }
  // Refused before a byte is written when the plan alone breaks the size bound the proof holds it to.
  const total = plans.reduce((s, p) => s + p.dataBytes, 0);
  const sourceBytes = (await Promise.all(plans.map((p) => stat(p.source.file)))).reduce((s, st) => s + st.size, 0);
  if (total > sourceBytes * MAX_SIZE_RATIO) {
    throw new UserError(`the safetensors files would hold ${total} bytes of tensors, ${((total / Math.max(1, sourceBytes) - 1) * 100).toFixed(2)}% more than ${describeSet(set)} (${sourceBytes} bytes); at most ${Math.round((MAX_SIZE_RATIO - 1) * 100)}% is expected (views that repeat their storage's bytes?)`, 1);
  }
  await mkdir(outDir, { recursive: true });
  let done = 0;
  const written: SafetensorsConversion["files"] = [];
  const digests = new Map<string, string>();
  const partial = (plan: FilePlan) => path.join(outDir, `${plan.name}.partial`);
  const partials = plans.map(partial);
  const proof: ConversionProof = { tensorsCompared: 0, bytesCompared: 0, aliasesChecked: 0, sourceBytes: 0, writtenBytes: 0, sizeRatio: 0 };
  const writes = writePlans(plans, partial, (n) => opts.onProgress?.((done += n), total), !!opts.sha256);
  try {
    for (const [i, plan] of plans.entries()) {
      const w = await writes.written[i]!;
      if (w.sha256) digests.set(plan.name, w.sha256);
      const p = await proveWritten(plan, partial(plan), w.verified);
      proof.tensorsCompared += p.tensors;
      proof.bytesCompared += p.bytes;
      proof.aliasesChecked += p.aliases;
      proof.sourceBytes += (await stat(plan.source.file)).size;
      proof.writtenBytes += (await stat(partial(plan))).size;
    }
    proof.sizeRatio = proof.writtenBytes / Math.max(1, proof.sourceBytes);
    if (proof.sizeRatio > MAX_SIZE_RATIO) {
      throw new UserError(`the safetensors files (${proof.writtenBytes} bytes) are ${((proof.sizeRatio - 1) * 100).toFixed(2)}% larger than ${describeSet(set)} (${proof.sourceBytes} bytes); at most ${Math.round((MAX_SIZE_RATIO - 1) * 100)}% is expected`, 1);
    }
    for (const plan of plans) {
      const final = path.join(outDir, plan.name);
      await rename(`${final}.partial`, final);
      const sha256 = digests.get(plan.name);
      written.push({ path: final, size: (await stat(final)).size, ...(sha256 ? { sha256 } : {}) });
    }
  } catch (e) {
    await writes.stop();
    await Promise.all(partials.map((p) => rm(p, { force: true })));
    throw e;
  }
  if (set.sharded) {
    const text = indexJson(plans);
    const file = path.join(outDir, SAFETENSORS_INDEX);
    await writeFileAtomic(file, text);
    written.push({ path: file, size: (await stat(file)).size, ...(opts.sha256 ? { sha256: createHash("sha256").update(text).digest("hex") } : {}) });
  }
  // Outputs of an earlier conversion in another layout would shadow these (transformers loads
  // model.safetensors before an index): the folder keeps exactly the files just written.
  const keep = new Set(written.map((f) => path.basename(f.path)));
  for (const name of await readdir(outDir)) {
    if (!keep.has(name) && isSafetensorsOutput(name)) {
      await rm(path.join(outDir, name), { force: true });
    }
  }
  const aliases: Record<string, string> = {};
  for (const plan of plans) Object.assign(aliases, plan.aliases);
  return { files: written, aliases: sortedObject(aliases), proof };
}

/** What writeSafetensors would write, without writing it: each file's name, size and sha256 (the index's text too). */
export interface SafetensorsDigest {
  files: { name: string; size: number; sha256: string; text?: string }[];
  aliases: Record<string, string>;
}

/**
 * The bytes writeSafetensors would write, hashed instead of written (a dry run's plan needs their
 * sha256): the same plan, the same reads of the .bin, nothing on disk.
 */
export async function digestSafetensors(ckpt: LoadedCheckpoint, opts: Pick<WriteSafetensorsOptions, "set"> = {}): Promise<SafetensorsDigest> {
  const set = opts.set ?? torchWeightsSet(ckpt);
  const plans = await planFiles(set);
  const files: SafetensorsDigest["files"] = [];
  const aliases: Record<string, string> = {};
  for (const plan of plans) {
    const { size, sha256 } = await digestPlanned(writeJob(plan, ""));
    files.push({ name: plan.name, size, sha256 });
    Object.assign(aliases, plan.aliases);
  }
  if (set.sharded) {
    const text = indexJson(plans);
    files.push({ name: SAFETENSORS_INDEX, size: Buffer.byteLength(text), sha256: createHash("sha256").update(text).digest("hex"), text });
  }
  return { files, aliases: sortedObject(aliases) };
}

// ---- plan -------------------------------------------------------------------------------------

const SAFETENSORS_INDEX = "model.safetensors.index.json";

/** One plan per source file: model.safetensors, or one shard per .bin shard. */
async function planFiles(set: WeightsSet): Promise<FilePlan[]> {
  if (set.format !== "torch" || !set.tensors) throw new UserError(`${describeSet(set)}: only readable pytorch_model.bin weights are converted`, 2);
  const sources = [...new Set(set.tensors.map((t) => t.source))];
  return sources.map((index, i) => planFile(index, set.sharded ? shardName("safetensors", i + 1, sources.length) : "model.safetensors"));
}

/** model.safetensors.index.json as transformers' save_pretrained writes it. */
function indexJson(plans: readonly FilePlan[]): string {
  const weightMap: Record<string, string> = {};
  for (const plan of plans) for (const t of plan.kept) weightMap[t.name] = plan.name;
  const index = { metadata: { total_size: plans.reduce((s, p) => s + p.dataBytes, 0) }, weight_map: sortedObject(weightMap) };
  return `${JSON.stringify(index, null, 2)}\n`;
}

interface FilePlan {
  name: string;
  source: WeightsIndex;
  /** Kept tensors in data order, with their offsets in the data section. */
  kept: Array<SetTensor & { begin: number; end: number }>;
  aliases: Record<string, string>;
  header: Buffer;
  dataBytes: number;
}

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const outputBytes = (t: TensorInfo) => numel(t.shape) * DTYPE_SIZE[t.dtype];

/**
 * Which tensors are written: every one that is not an exact alias (same storage, offset, shape,
 * strides and dtype) of another. Of each set of exact aliases one name is kept (the first sorted,
 * outside the names transformers re-ties) and the others are recorded as its aliases. A view of
 * part of a storage (token_type_embeddings saved as two rows of the word embeddings) is written as
 * its own tensor: dropping it would leave it randomly initialised for every transformers user.
 */
function planFile(source: WeightsIndex, name: string): FilePlan {
  const file = path.basename(source.file);
  const tensors = source.tensors.map((t) => ({ ...t, source }));
  const identity = (t: TensorInfo) => `${t.storageKey}\0${t.storageOffset}\0${t.dtype}\0${t.shape.join(",")}\0${t.stride.join(",")}`;
  const byIdentity = new Map<string, SetTensor[]>();
  for (const t of tensors) byIdentity.set(identity(t), [...(byIdentity.get(identity(t)) ?? []), t]);
  const kept: SetTensor[] = [];
  const aliases: Record<string, string> = {};
  for (const same of byIdentity.values()) {
    const names = same.map((t) => t.name).sort();
    const keepName = names.find((n) => !DISCARD_NAMES.has(n)) ?? names[0]!;
    kept.push(same.find((t) => t.name === keepName)!);
    for (const n of names) if (n !== keepName) aliases[n] = keepName;
  }
  for (const t of kept) {
    // What is gathered is the output (a stride-0 view of a few bytes can expand to gigabytes).
    const gathered = Math.max(t.byteLength, outputBytes(t));
    if (!isContiguous(t.shape, t.stride) && gathered > MAX_GATHER_BYTES) {
      throw new UserError(`${file}: tensor ${t.name} is not contiguous and would take ${gathered} bytes to gather in memory; save it with .contiguous()`, 1);
    }
  }
  kept.sort((a, b) => DTYPE_RANK[a.dtype] - DTYPE_RANK[b.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let at = 0;
  const placed = kept.map((t) => {
    const begin = at;
    at += outputBytes(t);
    return { ...t, begin, end: at };
  });
  // Built by hand so that the header keeps this order (a JS object would move "0"-like names first).
  const entries = [
    `"__metadata__":${JSON.stringify({ format: "pt", ...sortedObject(aliases) })}`,
    ...placed.map((t) => `${JSON.stringify(t.name)}:${JSON.stringify({ dtype: SAFETENSORS_NAME[t.dtype], shape: t.shape, data_offsets: [t.begin, t.end] })}`),
  ];
  let json = `{${entries.join(",")}}`;
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const body = Buffer.from(json, "utf8");
  const header = Buffer.alloc(8 + body.length);
  header.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(header, 8);
  return { name, source, kept: placed, aliases, header, dataBytes: at };
}

// ---- write ------------------------------------------------------------------------------------

async function readExactly(fh: FileHandle, position: number, length: number, into: Uint8Array, file: string, tensor: string): Promise<Uint8Array> {
  const got = await readAt(fh, position, length, into);
  if (got.length !== length) throw new UserError(`${file}: truncated: tensor ${tensor} ends at byte ${position + length} but the file ends at byte ${position + got.length} (did it change while it was converted?)`, 1);
  return into.subarray(0, length);
}

/**
 * Writes each plan's file, every chunk read back and compared as it is written (verified-write.ts):
 * one file here (a worker's start-up would cost more than it saves), several on worker threads at
 * once (shards). Gives the bytes verified per plan, and a stop for when the conversion fails (the
 * workers end, what was not written rejects).
 */
function writePlans(
  plans: readonly FilePlan[],
  target: (p: FilePlan) => string,
  progress: (n: number) => void,
  sha256: boolean,
): { written: Promise<VerifiedWritten>[]; stop: () => Promise<void> } {
  const job = (plan: FilePlan): VerifiedWriteJob => ({ ...writeJob(plan, target(plan)), sha256 });
  if (plans.length === 1) {
    const written = writeVerified(job(plans[0]!), progress);
    written.catch(() => undefined); // awaited by the caller
    return { written: [written], stop: async () => void (await written.catch(() => undefined)) };
  }
  const workers = Math.max(1, Math.min(plans.length, os.availableParallelism()));
  const live = new Set<Worker>();
  const queue = plans.map((plan, i) => ({ plan, i }));
  const results = plans.map(() => {
    let settle!: { resolve: (w: VerifiedWritten) => void; reject: (e: unknown) => void };
    const promise = new Promise<VerifiedWritten>((resolve, reject) => (settle = { resolve, reject }));
    promise.catch(() => undefined); // awaited by the caller, in order
    return { promise, ...settle };
  });
  const runNext = (worker: Worker): void => {
    const next = queue.shift();
    if (!next) {
      live.delete(worker);
      void worker.terminate();
      return;
    }
    const { plan, i } = next;
    const onMessage = (m: VerifiedWriteReply) => {
      if ("bytes" in m) return progress(m.bytes);
      worker.off("message", onMessage);
      worker.off("error", onError);
      if ("verified" in m) results[i]!.resolve(m.verified);
      else results[i]!.reject(m.error.exitCode ? new UserError(m.error.message, m.error.exitCode === 2 ? 2 : 1) : Object.assign(new Error(m.error.message), m.error));
      runNext(worker);
    };
    const onError = (e: unknown) => {
      results[i]!.reject(e);
      for (const rest of queue.splice(0)) results[rest.i]!.reject(e);
    };
    worker.on("message", onMessage);
    worker.once("error", onError);
    worker.postMessage(job(plan));
  };
  for (let w = 0; w < workers; w++) {
    const worker = startWorker(import.meta.url, "verified-write-worker");
    live.add(worker);
    runNext(worker);
  }
  const stop = async () => {
    queue.length = 0;
    const stopped = new Error("the conversion stopped");
    for (const r of results) r.reject(stopped); // no effect on those already settled
    await Promise.all([...live].map((w) => w.terminate()));
  };
  return { written: results.map((r) => r.promise), stop };
}

/** The verified write of a plan's file: its header, then each kept tensor in data order. */
function writeJob(plan: FilePlan, target: string): VerifiedWriteJob {
  return { source: plan.source.file, target, name: plan.name, header: plan.header, tensors: plan.kept.map(writeTensor) };
}

function writeTensor(t: SetTensor): WriteTensor {
  return { name: t.name, dtype: t.dtype, shape: t.shape, stride: t.stride, dataOffset: t.dataOffset, byteLength: t.byteLength };
}

// ---- proof ------------------------------------------------------------------------------------

export interface SafetensorsProof {
  tensors: number;
  bytes: number;
  aliases: number;
}

/**
 * What the safetensors header must say, given the .bin: __metadata__.format "pt", only the .bin's
 * names, each with its dtype and shape, and every name it lacks recorded in __metadata__ as an
 * alias of a kept tensor it is exactly (same storage, offset, shape, strides and dtype): a name
 * that is not is missing, whatever the metadata says. Returns the aliases verified.
 */
function checkHeader(bin: WeightsIndex, index: WeightsIndex, fail: (what: string) => UserError): number {
  if (index.metadata.format !== "pt") throw fail(`__metadata__.format is ${JSON.stringify(index.metadata.format)}, not "pt"`);
  const got = new Map(index.tensors.map((t) => [t.name, t]));
  const source = new Map(bin.tensors.map((t) => [t.name, t]));
  const extra = index.tensors.find((t) => !source.has(t.name));
  if (extra) throw fail(`it has tensor ${extra.name}, which the .bin does not`);
  let aliases = 0;
  for (const t of bin.tensors) {
    const w = got.get(t.name);
    if (w) {
      if (w.dtype !== t.dtype || w.shape.join(",") !== t.shape.join(",")) {
        throw fail(`tensor ${t.name} is ${w.dtype} [${w.shape}], the .bin has ${t.dtype} [${t.shape}]`);
      }
      continue;
    }
    const keptName = index.metadata[t.name];
    const kept = keptName === undefined ? undefined : source.get(keptName);
    const exact =
      !!kept &&
      got.has(kept.name) &&
      kept.storageKey === t.storageKey &&
      kept.storageOffset === t.storageOffset &&
      kept.dtype === t.dtype &&
      kept.shape.join(",") === t.shape.join(",") &&
      kept.stride.join(",") === t.stride.join(",");
    if (!exact) {
      throw fail(keptName === undefined ? `tensor ${t.name} is missing` : `tensor ${t.name} is missing: the ${keptName} it is recorded as an alias of is not the same tensor (storage, offset, shape and strides)`);
    }
    aliases++;
  }
  return aliases;
}

const notTheWeights = (file: string, bin: WeightsIndex) => (what: string) =>
  new UserError(`${path.basename(file).replace(/\.partial$/, "")} does not hold the weights of ${path.basename(bin.file)}: ${what}`, 1);

/**
 * The proof of a file writeSafetensors just wrote: every byte was read back and compared as it was
 * written (VerifiedWriter); here the project's safetensors reader reads the file and must locate
 * every tensor exactly where its verified bytes were written, with the .bin's dtype and shape.
 */
async function proveWritten(plan: FilePlan, file: string, verified: number): Promise<SafetensorsProof> {
  const fail = notTheWeights(file, plan.source);
  const index = await readSafetensors(file);
  const aliases = checkHeader(plan.source, index, fail);
  const at = new Map(index.tensors.map((t) => [t.name, t]));
  for (const t of plan.kept) {
    const w = at.get(t.name)!;
    if (w.dataOffset !== plan.header.length + t.begin || w.byteLength !== t.end - t.begin) {
      throw fail(`the reader finds tensor ${t.name} at bytes ${w.dataOffset}..${w.dataOffset + w.byteLength}, it was written at ${plan.header.length + t.begin}..${plan.header.length + t.end}`);
    }
  }
  if (verified !== plan.header.length + plan.dataBytes) throw fail(`${verified} bytes were verified, ${plan.header.length + plan.dataBytes} written`);
  return { tensors: index.tensors.length, bytes: plan.dataBytes, aliases };
}

/**
 * Proves that a safetensors file holds the weights of a torch file, independently of how it was
 * written: read back by the project's safetensors reader, every tensor of the .bin is either in it
 * with the same dtype, shape and bytes (`.contiguous()` order), or dropped and recorded in
 * __metadata__ as an alias of a kept tensor it is exactly (same storage, offset, shape, strides);
 * nothing else is in it. Throws a UserError naming the first difference.
 */
export async function proveSafetensors(bin: WeightsIndex, safetensorsFile: string): Promise<SafetensorsProof> {
  const name = path.basename(safetensorsFile);
  const fail = notTheWeights(safetensorsFile, bin);
  const index = await readSafetensors(safetensorsFile);
  const aliases = checkHeader(bin, index, fail);
  const got = new Map(index.tensors.map((t) => [t.name, t]));
  const src = await openWeightsFile(bin.file);
  const out = await openWeightsFile(safetensorsFile);
  let bytes = 0;
  try {
    const a = new Uint8Array(CHUNK);
    const b = new Uint8Array(CHUNK);
    const file = path.basename(bin.file);
    for (const t of bin.tensors) {
      const w = got.get(t.name);
      if (!w) continue;
      if (!isContiguous(t.shape, t.stride)) {
        const expected = gather(await readExactly(src, t.dataOffset, t.byteLength, new Uint8Array(t.byteLength), file, t.name), t);
        const actual = await readExactly(out, w.dataOffset, w.byteLength, new Uint8Array(w.byteLength), name, t.name);
        if (!Buffer.from(expected).equals(Buffer.from(actual))) throw fail(`the bytes of tensor ${t.name} differ`);
      } else {
        for (let at = 0; at < w.byteLength; at += CHUNK) {
          const n = Math.min(CHUNK, w.byteLength - at);
          const [x, y] = await Promise.all([
            readExactly(src, t.dataOffset + at, n, a, file, t.name),
            readExactly(out, w.dataOffset + at, n, b, name, t.name),
          ]);
          if (!Buffer.from(x.buffer, x.byteOffset, n).equals(Buffer.from(y.buffer, y.byteOffset, n))) {
            throw fail(`the bytes of tensor ${t.name} differ (in bytes ${at}..${at + n})`);
          }
        }
      }
      bytes += w.byteLength;
    }
  } finally {
    await out.close();
    await src.close();
  }
  return { tensors: index.tensors.length, bytes, aliases };
}
