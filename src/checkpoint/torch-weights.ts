// Index of a torch.save zip checkpoint (pytorch_model.bin): the zip directory, data.pkl read by the
// restricted unpickler, and every tensor located in its `data/<key>` entry. Reads only the
// directory, the local headers and the small records, never the tensor data.
import { readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { PyDict, PyStorage, PyTensor, PyTuple, type PyValue, unpickle } from "./pickle.js";
import { DTYPE_SIZE, stridedSpan } from "./tensor-data.js";
import type { TensorInfo, WeightsIndex } from "./types.js";
import { WeightsError, withWeightsFile } from "./weights-error.js";
import { type SizeHint, type ZipEntry, crc32, readAt, readZipDirectory, zipNameKey } from "./zip.js";

/** data.pkl of a BERT-base state dict is ~27 KB; anything near this is not a state dict. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

/** The format versions torch's PyTorchStreamReader reads (caffe2/serialize/versions.h; torch.save writes 3). */
export const MIN_TORCH_FORMAT = 1;
export const MAX_TORCH_FORMAT = 10;

/**
 * The archive folder the way torch's PyTorchStreamReader finds it: from the FIRST entry's name,
 * up to its first `/`. Every entry must sit in that folder (torch refuses the file otherwise), and
 * records are looked up in it ignoring ASCII case, as miniz does.
 */
export function archiveFolder(
  entries: readonly ZipEntry[],
  file: string,
): { name: string; prefix: string; record: (name: string) => ZipEntry | undefined } {
  const first = entries[0];
  if (!first) throw new WeightsError("corrupt", file, "the zip archive holds no entries: not a torch.save checkpoint");
  const slash = first.name.indexOf("/");
  if (slash <= 0) {
    throw new WeightsError("corrupt", file, `the first zip entry, ${first.name}, is not in a folder: torch takes the archive folder from the first entry and refuses this file`);
  }
  const name = first.name.slice(0, slash);
  const prefix = `${name}/`;
  const outside = entries.find((e) => !e.name.startsWith(prefix));
  if (outside) {
    throw new WeightsError(
      "corrupt",
      file,
      `entry ${outside.name} is outside the archive folder ${prefix} (torch takes the folder from the first entry, ${first.name}): torch refuses such a file`,
    );
  }
  const scripted = entries.find((e) => e.name === `${prefix}constants.pkl`);
  if (scripted) {
    throw new WeightsError("unsupported", file, `holds ${scripted.name}: a TorchScript archive (torch.jit.save), not a state dict; torch.load hands it to torch.jit.load`);
  }
  const byKey = new Map(entries.map((e) => [e.key, e]));
  return { name, prefix, record: (rec) => byKey.get(zipNameKey(prefix + rec)) };
}

/**
 * The version record read as torch reads it (C++ std::stoull): leading whitespace, an optional
 * sign, at least one digit; what follows the digits is ignored. undefined when stoull would throw.
 */
export function parseVersionLikeTorch(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(text);
  if (!m) return undefined;
  const v = BigInt(m[2]!);
  if (v > 0xffffffffffffffffn) return undefined; // out_of_range
  // stoull negates modulo 2^64: "-1" is 18446744073709551615, far past any supported version.
  const n = m[1] === "-" && v !== 0n ? (1n << 64n) - v : v;
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

export interface TorchArchiveInfo {
  /** The folder name torch used inside the zip, e.g. `archive` or `pytorch_model`. */
  archiveName: string;
  /** Contents of `<archive>/version`, trimmed. */
  version: string;
  /** Contents of `<archive>/byteorder` when present (`little`). */
  byteorder?: string;
  zip64: boolean;
}

/** Reads the index of a torch zip checkpoint. */
export async function readTorchWeights(file: string): Promise<WeightsIndex> {
  return withWeightsFile(file, async (fh, size) => (await readTorchWeightsFrom(fh, size, file)).index);
}

function describe(v: PyValue): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "a list";
  if (v instanceof PyDict) return "a dict";
  if (v instanceof PyTensor) return "a tensor";
  if (v instanceof Uint8Array) return "bytes";
  if (typeof v === "object") return `a ${v.constructor.name.replace(/^Py/, "").toLowerCase()}`;
  return `a ${typeof v === "number" ? "number" : typeof v === "string" ? "string" : "bool"}`;
}

/** Same as readTorchWeights on an open handle; also returns archive details. */
export async function readTorchWeightsFrom(
  fh: FileHandle,
  fileSize: number,
  file: string,
): Promise<{ index: WeightsIndex; archive: TorchArchiveInfo }> {
  const corrupt = (msg: string) => new WeightsError("corrupt", file, msg);
  const unsupported = (msg: string) => new WeightsError("unsupported", file, msg);

  const dir = await readZipDirectory(fh, fileSize, file, storageSizeHint(fh, file));
  const folder = archiveFolder(dir.entries, file);
  const { prefix, record } = folder;

  const stored = (e: ZipEntry) => {
    if (e.flags & 1) throw unsupported(`entry ${e.name} is marked encrypted (zip flag bit 0): torch refuses to read it ("unsupported encryption")`);
    if (e.method !== 0) {
      throw unsupported(`entry ${e.name} is compressed (zip method ${e.method}); torch.save stores entries uncompressed, so the archive was rewritten by another tool`);
    }
    if (e.compressedSize !== e.size) throw corrupt(`entry ${e.name} is stored but its compressed size ${e.compressedSize} differs from its size ${e.size}`);
  };
  const small = async (e: ZipEntry): Promise<Buffer> => {
    stored(e);
    if (e.size > 64) throw corrupt(`entry ${e.name} is ${e.size} bytes, too large for a ${e.name.slice(prefix.length)} record`);
    return readAt(fh, e.dataOffset, e.size);
  };

  const versionEntry = record(".data/version") ?? record("version");
  if (!versionEntry) {
    throw corrupt(`the archive has no ${prefix}version record (the folder comes from the first entry, ${dir.entries[0]!.name}): torch refuses to load it`);
  }
  const version = (await small(versionEntry)).toString("latin1");
  const versionNumber = parseVersionLikeTorch(version);
  if (versionNumber === undefined) {
    throw corrupt(`${versionEntry.name} holds ${JSON.stringify(version)}, not a number: torch refuses to load it`);
  }
  if (versionNumber < MIN_TORCH_FORMAT || versionNumber > MAX_TORCH_FORMAT) {
    throw unsupported(`${versionEntry.name} says format version ${versionNumber}; torch reads versions ${MIN_TORCH_FORMAT} to ${MAX_TORCH_FORMAT} only and refuses this file`);
  }
  const byteorderEntry = record("byteorder");
  const byteorder = byteorderEntry ? (await small(byteorderEntry)).toString("latin1") : undefined;
  if (byteorder !== undefined && byteorder !== "little") {
    throw unsupported(
      byteorder === "big"
        ? "the checkpoint was saved with big-endian byte order; only little-endian is supported"
        : `${byteorderEntry!.name} holds ${JSON.stringify(byteorder)}, neither "little" nor "big": torch refuses to load it`,
    );
  }

  const pkl = record("data.pkl");
  if (!pkl) throw unsupported(`the archive has no ${prefix}data.pkl: not a torch.save checkpoint`);
  stored(pkl);
  if (pkl.size > MAX_PICKLE_BYTES) throw unsupported(`${pkl.name} is ${pkl.size} bytes, far larger than any state dict's pickle`);
  const pklBytes = await readAt(fh, pkl.dataOffset, pkl.size);
  // torch reads records without checking their CRC32 (its miniz is built without the check), so
  // a stale one does not stop users from loading the file: a warning that the bytes were changed
  // after they were written, not a refusal. What they hold is judged like any other.
  const crc = crc32(pklBytes);
  const warnings: string[] = [];
  if (crc !== pkl.crc32) {
    warnings.push(`${pkl.name} fails its CRC32 check (stored ${hex(pkl.crc32)}, computed ${hex(crc)}): the file was changed after torch.save wrote it (torch does not check, and loads it)`);
  }

  const root = unpickle(pklBytes, { file });
  if (!(root instanceof PyDict)) {
    throw unsupported(`data.pkl holds ${describe(root)}, not a state dict (a dict of name -> tensor)`);
  }

  const tensors: TensorInfo[] = [];
  for (const [key, value] of root.map) {
    if (typeof key !== "string") throw unsupported(`the state dict has a key ${String(key)} that is not a string`);
    if (!(value instanceof PyTensor)) {
      throw unsupported(`state dict entry "${key}" holds ${describe(value)}, not a tensor: only a flat state dict (name -> tensor) is supported`);
    }
    const { storage, shape, stride, storageOffset } = value;
    const entryName = `${prefix}data/${storage.key}`;
    const entry = record(`data/${storage.key}`);
    if (!entry) throw corrupt(`tensor ${key} uses storage ${storage.key}, but the archive has no entry ${entryName}`);
    stored(entry);
    const itemsize = DTYPE_SIZE[storage.dtype];
    // torch >= 2.6 reads a storage's record only at exactly the size its first reference declares
    // ("record size does not match expected size"); torch 1.13 reads past a shorter one.
    const declared = storage.numel * itemsize;
    if (declared !== entry.size) {
      throw corrupt(
        `storage ${storage.key} declares ${storage.numel} ${storage.dtype} elements (${declared} bytes) but entry ${entryName} holds ${entry.size} bytes: torch >= 2.6 refuses a storage whose record has another size`,
      );
    }
    if (shape.some((d) => d < 0) || stride.some((s) => s < 0) || storageOffset < 0) {
      throw corrupt(`tensor ${key} has a negative size, stride or offset (size [${shape}], stride [${stride}], offset ${storageOffset})`);
    }
    const span = stridedSpan(shape, stride);
    if (span > 0 && storageOffset + span > storage.numel) {
      throw corrupt(
        `tensor ${key} needs elements ${storageOffset}..${storageOffset + span} of storage ${storage.key}, which has ${storage.numel}`,
      );
    }
    tensors.push({
      name: key,
      dtype: storage.dtype,
      shape: [...shape],
      stride: [...stride],
      storageKey: `data/${storage.key}`,
      storageOffset,
      dataOffset: entry.dataOffset + storageOffset * itemsize,
      byteLength: span * itemsize,
    });
  }

  const archive: TorchArchiveInfo = { archiveName: folder.name, zip64: dir.zip64, version: version.trim() };
  if (byteorder !== undefined) archive.byteorder = byteorder;
  return {
    index: { format: "torch", file: path.resolve(file), tensors, metadata: {}, ...(warnings.length ? { warnings } : {}) },
    archive,
  };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/**
 * For a truncated archive (no central directory): expected sizes of `data/<key>` entries, read
 * from the storages data.pkl declares, once data.pkl itself has been located. Synchronous, as the
 * walk that asks for them.
 */
function storageSizeHint(fh: FileHandle, file: string): SizeHint {
  let sizes: Map<string, number> | undefined;
  return (name, located) => {
    const m = /^([^/]+)\/data\/([^/]+)$/.exec(name);
    if (!m) return undefined;
    if (!sizes) {
      sizes = new Map();
      const pkl = located.get(`${m[1]}/data.pkl`);
      if (!pkl || pkl.size > MAX_PICKLE_BYTES) return undefined;
      try {
        const bytes = Buffer.allocUnsafe(pkl.size);
        if (readSync(fh.fd, bytes, 0, pkl.size, pkl.dataOffset) !== pkl.size) return undefined;
        collectStorages(unpickle(bytes, { file }), sizes);
      } catch {
        return undefined;
      }
    }
    return sizes.get(m[2]!);
  };
}

/**
 * Every storage reachable from `root`. The memo lets a pickle reference one object many times (a
 * DAG of dicts each holding the previous one twice has 2^depth paths): each object is visited once.
 */
function collectStorages(root: PyValue, into: Map<string, number>): void {
  const seen = new Set<object>();
  const todo: PyValue[] = [root];
  for (let v = todo.pop(); v !== undefined; v = todo.pop()) {
    if (v === null || typeof v !== "object" || seen.has(v)) continue;
    seen.add(v);
    const children = v instanceof PyDict ? v.map.values() : Array.isArray(v) ? v : v instanceof PyTuple ? v.items : [];
    for (const c of children) todo.push(c);
    if (v instanceof PyTensor) todo.push(v.storage);
    else if (v instanceof PyStorage) into.set(v.key, v.numel * DTYPE_SIZE[v.dtype]);
  }
}
