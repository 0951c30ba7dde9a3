// Index of a torch.save zip checkpoint (pytorch_model.bin): the zip directory, data.pkl read by the
// restricted unpickler, and every tensor located in its `data/<key>` entry. Reads only the
// directory, the local headers and the small records, never the tensor data.
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { PyDict, PyStorage, PyTensor, type PyValue, unpickle } from "./pickle.js";
import { DTYPE_SIZE } from "./tensor-data.js";
import type { TensorInfo, WeightsIndex } from "./types.js";
import { WeightsError, withWeightsFile } from "./weights-error.js";
import { type SizeHint, type ZipEntry, crc32, readAt, readZipDirectory } from "./zip.js";

/** data.pkl of a BERT-base state dict is ~27 KB; anything near this is not a state dict. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

export interface TorchArchiveInfo {
  /** The folder name torch used inside the zip, e.g. `archive` or `pytorch_model`. */
  archiveName: string;
  /** Contents of `<archive>/version`, trimmed, when present. */
  version?: string;
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

/** Element span of a strided tensor: 1 + Σ (size-1)*stride, 0 when any size is 0. */
export function stridedSpan(shape: readonly number[], stride: readonly number[]): number {
  let span = 1;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 0) return 0;
    span += (shape[i]! - 1) * stride[i]!;
  }
  return span;
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
  const byName = new Map<string, ZipEntry>();
  for (const e of dir.entries) byName.set(e.name, e);

  const pickles = dir.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pickles.length === 0) {
    throw unsupported("zip archive without a <folder>/data.pkl entry: not a torch.save checkpoint");
  }
  if (pickles.length > 1) {
    throw unsupported(`zip archive with ${pickles.length} data.pkl entries (${pickles.map((e) => e.name).join(", ")}): not a single torch.save checkpoint`);
  }
  const pkl = pickles[0]!;
  const archiveName = pkl.name.slice(0, -"/data.pkl".length);
  const prefix = `${archiveName}/`;

  const stored = (e: ZipEntry) => {
    if (e.method !== 0) {
      throw unsupported(`entry ${e.name} is compressed (zip method ${e.method}); torch.save stores entries uncompressed, so the archive was rewritten by another tool`);
    }
    if (e.compressedSize !== e.size) throw corrupt(`entry ${e.name} is stored but its compressed size ${e.compressedSize} differs from its size ${e.size}`);
  };
  stored(pkl);
  if (pkl.size > MAX_PICKLE_BYTES) throw unsupported(`${pkl.name} is ${pkl.size} bytes, far larger than any state dict's pickle`);
  const pklBytes = await readAt(fh, pkl.dataOffset, pkl.size);
  const crc = crc32(pklBytes);
  if (crc !== pkl.crc32) {
    throw corrupt(
      `${pkl.name} fails its CRC32 check (stored ${hex(pkl.crc32)}, computed ${hex(crc)}): the file is damaged`,
    );
  }

  const small = async (name: string): Promise<string | undefined> => {
    const e = byName.get(prefix + name) ?? byName.get(`${prefix}.data/${name}`);
    if (!e) return undefined;
    stored(e);
    if (e.size > 64) throw corrupt(`entry ${e.name} is ${e.size} bytes, too large for a ${name} record`);
    return (await readAt(fh, e.dataOffset, e.size)).toString("latin1").trim();
  };
  const version = await small("version");
  const byteorder = await small("byteorder");
  if (byteorder !== undefined && byteorder !== "little") {
    throw unsupported(`the checkpoint was saved with ${byteorder}-endian byte order; only little-endian is supported`);
  }

  const root = unpickle(pklBytes, { file });
  if (!(root instanceof PyDict)) {
    throw unsupported(`data.pkl holds ${describe(root)}, not a state dict (a dict of name -> tensor)`);
  }

  const tensors: TensorInfo[] = [];
  const storageDtype = new Map<string, string>();
  for (const [key, value] of root.map) {
    if (typeof key !== "string") throw unsupported(`the state dict has a key ${String(key)} that is not a string`);
    if (!(value instanceof PyTensor)) {
      throw unsupported(`state dict entry "${key}" holds ${describe(value)}, not a tensor: only a flat state dict (name -> tensor) is supported`);
    }
    const { storage, shape, stride, storageOffset } = value;
    const entryName = `${prefix}data/${storage.key}`;
    const entry = byName.get(entryName);
    if (!entry) throw corrupt(`tensor ${key} uses storage ${storage.key}, but the archive has no entry ${entryName}`);
    stored(entry);
    const itemsize = DTYPE_SIZE[storage.dtype];
    const prev = storageDtype.get(storage.key);
    if (prev !== undefined && prev !== storage.dtype) {
      throw corrupt(`storage ${storage.key} is used as both ${prev} and ${storage.dtype}`);
    }
    storageDtype.set(storage.key, storage.dtype);
    const declared = storage.numel * itemsize;
    if (declared > entry.size) {
      throw corrupt(
        `storage ${storage.key} declares ${storage.numel} ${storage.dtype} elements (${declared} bytes) but entry ${entryName} holds ${entry.size} bytes`,
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

  const archive: TorchArchiveInfo = { archiveName, zip64: dir.zip64 };
  if (version !== undefined) archive.version = version;
  if (byteorder !== undefined) archive.byteorder = byteorder;
  return {
    index: { format: "torch", file: path.resolve(file), tensors, metadata: {} },
    archive,
  };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/**
 * For a truncated archive (no central directory): expected sizes of `data/<key>` entries, read
 * from the storages data.pkl declares, once data.pkl itself has been located.
 */
function storageSizeHint(fh: FileHandle, file: string): SizeHint {
  let sizes: Map<string, number> | undefined;
  return async (name, located) => {
    const m = /^([^/]+)\/data\/([^/]+)$/.exec(name);
    if (!m) return undefined;
    if (!sizes) {
      sizes = new Map();
      const pkl = located.get(`${m[1]}/data.pkl`);
      if (!pkl || pkl.size > MAX_PICKLE_BYTES) return undefined;
      try {
        collectStorages(unpickle(await readAt(fh, pkl.dataOffset, pkl.size), { file }), sizes);
      } catch {
        return undefined;
      }
    }
    return sizes.get(m[2]!);
  };
}

function collectStorages(v: PyValue, into: Map<string, number>): void {
  if (v instanceof PyDict) for (const x of v.map.values()) collectStorages(x, into);
  else if (v instanceof PyTensor) collectStorages(v.storage, into);
  else if (v instanceof PyStorage) into.set(v.key, v.numel * DTYPE_SIZE[v.dtype]);
}
