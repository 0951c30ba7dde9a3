// writeSafetensors: pytorch_model.bin (one file or shards) rewritten as model.safetensors (or
// model-0000N-of-0000M.safetensors + model.safetensors.index.json) from the project's own reader,
// never through pickle: same names, dtypes, shapes and bytes, streamed file to file.
//
// Tensors that share a storage are written once, as the Hub's convert bot and safetensors'
// save_model do: among names whose bytes overlap, keep the first (sorted) name that covers the
// whole storage, drop the others and record them in __metadata__ ({"format": "pt", dropped: kept});
// refuse when no name covers the storage. Views are written as their own elements (non-contiguous
// ones gathered, as `.contiguous()` does). Before a file takes its final name it is read back by the
// project's safetensors reader and compared byte for byte with the .bin.
import { createHash, type Hash } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../report.js";
import type { LoadedCheckpoint } from "./load.js";
import { readSafetensors, SAFETENSORS_DTYPES } from "./safetensors.js";
import { DTYPE_SIZE, isContiguous, numel } from "./tensor-data.js";
import type { DType, TensorInfo, WeightsIndex } from "./types.js";
import { describeSet, shardName, type SetTensor, type WeightsSet, whyUnreadable } from "./weight-sets.js";
import { openWeightsFile } from "./weights-error.js";
import { readAt, readZipDirectory } from "./zip.js";

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
  /** Dropped names verified to lie inside the storage their kept name covers. */
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
/** Small enough that a buffer read back is still in the CPU cache when it is compared (measured: 2 MiB twice as fast as 8). */
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
  await mkdir(outDir, { recursive: true });
  const total = plans.reduce((s, p) => s + p.dataBytes, 0);
  let done = 0;
  const written: SafetensorsConversion["files"] = [];
  const digests = new Map<string, string>();
  const partials: string[] = [];
  const proof: ConversionProof = { tensorsCompared: 0, bytesCompared: 0, aliasesChecked: 0, sourceBytes: 0, writtenBytes: 0, sizeRatio: 0 };
  try {
    for (const plan of plans) {
      const partial = path.join(outDir, `${plan.name}.partial`);
      partials.push(partial);
      const { verified, sha256 } = await writePlan(plan, partial, (n) => opts.onProgress?.((done += n), total), !!opts.sha256);
      if (sha256) digests.set(plan.name, sha256);
      const p = await proveWritten(plan, partial, verified);
      proof.tensorsCompared += p.tensors;
      proof.bytesCompared += p.bytes;
      proof.aliasesChecked += p.aliases;
      proof.sourceBytes += (await stat(plan.source.file)).size;
      proof.writtenBytes += (await stat(partial)).size;
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
    await Promise.all(partials.map((p) => rm(p, { force: true })));
    throw e;
  }
  if (set.sharded) {
    const text = indexJson(plans);
    const file = path.join(outDir, SAFETENSORS_INDEX);
    await writeFile(file, text);
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
    const sink = new HashingSink();
    await streamPlan(plan, sink);
    files.push({ name: plan.name, size: sink.bytes, sha256: sink.digest() });
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
  return Promise.all(sources.map(async (index, i) => planFile(index, await storageBytes(index.file), set.sharded ? shardName("safetensors", i + 1, sources.length) : "model.safetensors")));
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
  /** Bytes of each storage of the source (`data/<key>` -> size). */
  storages: Map<string, number>;
  header: Buffer;
  dataBytes: number;
}

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Sizes of the storages of a torch zip: the `<archive>/data/<key>` entries. */
async function storageBytes(file: string): Promise<Map<string, number>> {
  const fh = await openWeightsFile(file);
  try {
    const { size } = await fh.stat();
    const dir = await readZipDirectory(fh, size, file);
    const out = new Map<string, number>();
    for (const e of dir.entries) {
      const m = /^[^/]+\/(data\/[^/]+)$/.exec(e.name);
      if (m) out.set(m[1]!, e.size);
    }
    return out;
  } finally {
    await fh.close();
  }
}

const outputBytes = (t: TensorInfo) => numel(t.shape) * DTYPE_SIZE[t.dtype];

/**
 * The convert bot's choice (safetensors.torch._remove_duplicate_names): tensors of one storage
 * whose bytes overlap form a group; the kept name is the first sorted name, outside the names
 * transformers re-ties, among those that start at the storage's first byte and cover all of it.
 */
function planFile(source: WeightsIndex, storages: Map<string, number>, name: string): FilePlan {
  const file = path.basename(source.file);
  const tensors = source.tensors.map((t) => ({ ...t, source }));
  const byStorage = new Map<string, SetTensor[]>();
  for (const t of tensors) byStorage.set(t.storageKey, [...(byStorage.get(t.storageKey) ?? []), t]);
  const kept: SetTensor[] = [];
  const aliases: Record<string, string> = {};
  for (const [key, group] of byStorage) {
    const bytes = storages.get(key) ?? 0;
    const itemStart = (t: TensorInfo) => t.storageOffset * DTYPE_SIZE[t.dtype];
    if (bytes === 0 || group.length === 1) {
      kept.push(...group);
      continue;
    }
    // Split the storage's tensors into runs whose byte ranges overlap.
    const areas = [...group].sort((a, b) => itemStart(a) - itemStart(b) || itemStart(a) + a.byteLength - (itemStart(b) + b.byteLength) || (a.name < b.name ? -1 : 1));
    const clusters: SetTensor[][] = [];
    let stop = -1;
    for (const t of areas) {
      if (clusters.length && itemStart(t) < stop) clusters.at(-1)!.push(t);
      else clusters.push([t]);
      stop = itemStart(t) + t.byteLength;
    }
    for (const cluster of clusters) {
      if (cluster.length === 1) {
        kept.push(cluster[0]!);
        continue;
      }
      const complete = cluster.filter((t) => t.storageOffset === 0 && outputBytes(t) === bytes).map((t) => t.name).sort();
      if (!complete.length) {
        throw new UserError(
          `${file}: tensors ${cluster.map((t) => t.name).sort().join(", ")} share storage ${key} (${bytes} bytes) but none of them covers all of it, so none can stand for the others in a safetensors file; re-save the state dict with .clone() of each tensor`,
          1,
        );
      }
      const keepName = complete.find((n) => !DISCARD_NAMES.has(n)) ?? complete[0]!;
      const keep = cluster.find((t) => t.name === keepName)!;
      kept.push(keep);
      for (const t of cluster) {
        if (t === keep) continue;
        aliases[t.name] = keepName;
      }
    }
  }
  for (const t of kept) {
    if (!isContiguous(t.shape, t.stride) && t.byteLength > MAX_GATHER_BYTES) {
      throw new UserError(`${file}: tensor ${t.name} is not contiguous and spans ${t.byteLength} bytes, too many to gather in memory; save it with .contiguous()`, 1);
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
  return { name, source, kept: placed, aliases, storages, header, dataBytes: at };
}

// ---- write ------------------------------------------------------------------------------------

/** Elements of a strided view, in row-major order (what `.contiguous()` gives). */
function gather(span: Uint8Array, t: TensorInfo): Uint8Array {
  const size = DTYPE_SIZE[t.dtype];
  const out = new Uint8Array(outputBytes(t));
  const dims = t.shape.length;
  if (!out.length) return out;
  const idx = new Array<number>(dims).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o += size) {
    out.set(span.subarray(src * size, src * size + size), o);
    for (let d = dims - 1; d >= 0; d--) {
      idx[d]!++;
      src += t.stride[d]!;
      if (idx[d]! < t.shape[d]!) break;
      src -= t.stride[d]! * t.shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** The tensor's bytes as the safetensors file stores them, in chunks read into `into`. */
async function forEachChunk(src: FileHandle, t: TensorInfo, file: string, take: (n: number) => Promise<Uint8Array>, put: (chunk: Uint8Array) => Promise<void>): Promise<void> {
  if (!isContiguous(t.shape, t.stride)) {
    const span = await readExactly(src, t.dataOffset, t.byteLength, new Uint8Array(t.byteLength), file, t.name);
    const data = gather(span, t);
    for (let at = 0; at < data.length; at += CHUNK) await put(data.subarray(at, Math.min(data.length, at + CHUNK)));
    return;
  }
  const length = outputBytes(t);
  for (let at = 0; at < length; ) {
    const dest = await take(length - at);
    await readExactly(src, t.dataOffset + at, dest.length, dest, file, t.name);
    at += dest.length;
  }
}

async function readExactly(fh: FileHandle, position: number, length: number, into: Uint8Array, file: string, tensor: string): Promise<Uint8Array> {
  const got = await readAt(fh, position, length, into);
  if (got.length !== length) throw new UserError(`${file}: truncated: tensor ${tensor} ends at byte ${position + length} but the file ends at byte ${position + got.length} (did it change while it was converted?)`, 1);
  return into.subarray(0, length);
}

/** Where a plan's bytes go: `take` lends space to read the next bytes into, `put` copies bytes in. */
interface PlanSink {
  take(max: number): Promise<Uint8Array>;
  put(data: Uint8Array): Promise<void>;
}

/**
 * Writes the output through a few buffers: one fills from the source while others are written and
 * read back. Each buffer, once written, is read back from the file and compared with the bytes it
 * was written from, so the file is verified as it is written (a second pass over 50 GB would cost
 * another read of both files).
 */
class VerifiedWriter implements PlanSink {
  private readonly slots = Array.from({ length: 4 }, () => ({ buf: Buffer.allocUnsafe(CHUNK), back: Buffer.allocUnsafe(CHUNK), job: Promise.resolve() }));
  private cur = 0;
  private fill = 0;
  private position = 0;
  private failure: unknown;
  /** Bytes written, read back and found equal. */
  verified = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly name: string,
    /** Hashes each buffer as it is submitted, so in file order. */
    private readonly hash?: Hash,
  ) {}

  /** Free space of the current buffer (up to `max` bytes), to read into; counted as written. */
  async take(max: number): Promise<Uint8Array> {
    if (this.fill === CHUNK) await this.submit();
    const n = Math.min(max, CHUNK - this.fill);
    const view = this.slots[this.cur]!.buf.subarray(this.fill, this.fill + n);
    this.fill += n;
    return view;
  }

  async put(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; ) {
      const dest = await this.take(data.length - at);
      dest.set(data.subarray(at, at + dest.length));
      at += dest.length;
    }
  }

  private async submit(): Promise<void> {
    const slot = this.slots[this.cur]!;
    const data = slot.buf.subarray(0, this.fill);
    const at = this.position;
    this.hash?.update(data);
    // Errors are kept, not left unhandled, and raised at the next wait.
    slot.job = this.writeAndCheck(data, slot.back, at).catch((e: unknown) => {
      this.failure ??= e;
    });
    this.position += this.fill;
    this.fill = 0;
    this.cur = (this.cur + 1) % this.slots.length;
    await this.slots[this.cur]!.job;
    if (this.failure) throw this.failure;
  }

  private async writeAndCheck(data: Buffer, back: Buffer, at: number): Promise<void> {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, at + done);
      done += bytesWritten;
    }
    const got = await readAt(this.fh, at, data.length, back);
    if (got.length !== data.length || !got.equals(data)) {
      throw new UserError(`${this.name}: the bytes read back at ${at}..${at + data.length} differ from those written (a failing disk?)`, 1);
    }
    this.verified += data.length;
  }

  async close(): Promise<void> {
    if (this.fill) await this.submit();
    await Promise.all(this.slots.map((s) => s.job));
    if (this.failure) throw this.failure;
  }
}

/** Bytes lent by `take` are hashed once the next call shows they were filled. */
class HashingSink implements PlanSink {
  private readonly hash = createHash("sha256");
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private lent?: Uint8Array;
  bytes = 0;

  private flush(): void {
    if (this.lent) this.hash.update(this.lent);
    this.lent = undefined;
  }

  async take(max: number): Promise<Uint8Array> {
    this.flush();
    this.lent = this.buf.subarray(0, Math.min(max, CHUNK));
    this.bytes += this.lent.length;
    return this.lent;
  }

  async put(data: Uint8Array): Promise<void> {
    this.flush();
    this.hash.update(data);
    this.bytes += data.length;
  }

  digest(): string {
    this.flush();
    return this.hash.digest("hex");
  }
}

/** The header, then every kept tensor's bytes in data order, into `sink`. */
async function streamPlan(plan: FilePlan, sink: PlanSink, progress?: (n: number) => void): Promise<void> {
  const src = await openWeightsFile(plan.source.file);
  try {
    await sink.put(plan.header);
    const file = path.basename(plan.source.file);
    for (const t of plan.kept) {
      await forEachChunk(src, t, file, (n) => sink.take(n), (c) => sink.put(c));
      progress?.(t.end - t.begin);
    }
  } finally {
    await src.close();
  }
}

async function writePlan(plan: FilePlan, target: string, progress: (n: number) => void, withSha256: boolean): Promise<{ verified: number; sha256?: string }> {
  const out = await open(target, "w+");
  try {
    const hash = withSha256 ? createHash("sha256") : undefined;
    const w = new VerifiedWriter(out, plan.name, hash);
    await streamPlan(plan, w, progress);
    await w.close();
    return { verified: w.verified, ...(hash ? { sha256: hash.digest("hex") } : {}) };
  } finally {
    await out.close();
  }
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
 * alias of a kept tensor that covers the storage the name lies in. Returns the aliases verified.
 */
function checkHeader(bin: WeightsIndex, index: WeightsIndex, storages: ReadonlyMap<string, number>, fail: (what: string) => UserError): number {
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
    const storage = storages.get(t.storageKey) ?? 0;
    const covered =
      !!kept &&
      got.has(kept.name) &&
      kept.storageKey === t.storageKey &&
      kept.dtype === t.dtype &&
      kept.storageOffset === 0 &&
      outputBytes(kept) === storage &&
      t.storageOffset * DTYPE_SIZE[t.dtype] + t.byteLength <= storage;
    if (!covered) throw fail(keptName === undefined ? `tensor ${t.name} is missing` : `the dropped name ${t.name} is not a view of the kept ${keptName}`);
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
  const aliases = checkHeader(plan.source, index, plan.storages, fail);
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
 * __metadata__ as an alias of a kept tensor that covers the storage it lies in; nothing else is in
 * it. Throws a UserError naming the first difference.
 */
export async function proveSafetensors(bin: WeightsIndex, safetensorsFile: string): Promise<SafetensorsProof> {
  const name = path.basename(safetensorsFile);
  const fail = notTheWeights(safetensorsFile, bin);
  const index = await readSafetensors(safetensorsFile);
  const aliases = checkHeader(bin, index, await storageBytes(bin.file), fail);
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
