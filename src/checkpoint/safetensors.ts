// Index of a safetensors file: the 8-byte little-endian header length, then the JSON header, read
// and validated like the reference implementation (the Rust `safetensors` crate, tensor.rs:
// read_metadata and Metadata::validate): a bounded header read by serde_json, shape entries and
// data_offsets that are integers (usize: `1.0` or `1e3` are refused), known dtypes, each span
// exactly dtype size x shape, offsets that tile the data section with no gap or overlap.
// Tensor data is located, not read.
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { decodeUtf8, JsonTextError, parseJson, Utf8Error } from "./json-text.js";
import { DTYPE_SIZE } from "./tensor-data.js";
import type { DType, TensorInfo, WeightsIndex } from "./types.js";
import { WeightsError, withWeightsFile } from "./weights-error.js";
import { readAt } from "./zip.js";

/** The reference implementation's limit (safetensors MAX_HEADER_SIZE). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

export async function readSafetensors(file: string): Promise<WeightsIndex> {
  return withWeightsFile(file, (fh, size) => readSafetensorsFrom(fh, size, file));
}

/** A number in the header that is not a non-negative integer literal (`1.0`, `1e3`, `-0`): kept as written. */
class NonIndex {
  constructor(readonly literal: string) {}
}

/**
 * serde reads a usize only from a non-negative integer literal: a fraction or an exponent makes a
 * float, `-0` a float too, and it refuses every float.
 */
function readNumber(literal: string): number | NonIndex {
  return /^(0|[1-9]\d*)$/.test(literal) ? Number(literal) : new NonIndex(literal);
}

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v);
}

/** A header value as written (numbers that are not indices keep their literal). */
function show(v: unknown): string {
  if (v instanceof NonIndex) return v.literal;
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  return JSON.stringify(v) ?? String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export async function readSafetensorsFrom(fh: FileHandle, fileSize: number, file: string): Promise<WeightsIndex> {
  const corrupt = (msg: string) => new WeightsError("corrupt", file, msg);
  if (fileSize < 8) throw new WeightsError("truncated", file, `truncated: ${fileSize} bytes, too short for a safetensors header`);
  const lenBuf = await readAt(fh, 0, 8);
  const n64 = lenBuf.readBigUInt64LE(0);
  if (n64 > BigInt(MAX_SAFETENSORS_HEADER)) {
    throw corrupt(`the safetensors header length ${n64} is over the ${MAX_SAFETENSORS_HEADER}-byte limit (not a safetensors file, or damaged)`);
  }
  const n = Number(n64);
  if (8 + n > fileSize) {
    throw new WeightsError("truncated", file, `truncated: the safetensors header ends at byte ${8 + n} but the file has ${fileSize} bytes`);
  }
  const raw = await readAt(fh, 8, n);
  let text: string;
  try {
    text = decodeUtf8(raw);
  } catch (err) {
    if (!(err instanceof Utf8Error)) throw err;
    throw corrupt(`the safetensors header ${err.message}`);
  }
  let header: unknown;
  try {
    header = parseJson(text, { dialect: "serde", uniqueKeys: true, number: readNumber }).value;
  } catch (err) {
    if (!(err instanceof JsonTextError)) throw err;
    throw corrupt(`the safetensors header is not valid JSON (${err.message})`);
  }
  if (!isPlainObject(header)) throw corrupt("the safetensors header is not a JSON object");

  const dataStart = 8 + n;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  type Pending = TensorInfo & { begin: number; end: number };
  const pending: Pending[] = [];

  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (info === null) continue; // serde reads null as no metadata
      if (!isPlainObject(info)) throw corrupt("__metadata__ is not an object of strings");
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== "string") throw corrupt(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isPlainObject(info)) throw corrupt(`tensor ${name}: its header entry is not an object`);
    const { dtype: st, shape, data_offsets: offsets } = info;
    if (typeof st !== "string") throw corrupt(`tensor ${name}: no dtype`);
    const dtype = Object.hasOwn(SAFETENSORS_DTYPES, st) ? SAFETENSORS_DTYPES[st] : undefined;
    if (!dtype) {
      throw new WeightsError(
        "unsupported",
        file,
        `tensor ${name} has dtype ${st}, which is not one of ${Object.keys(SAFETENSORS_DTYPES).join(", ")}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw corrupt(`tensor ${name}: shape ${show(shape)} is not a list of non-negative integers, as the reference reader requires`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw corrupt(`tensor ${name}: data_offsets ${show(offsets)} is not a pair of non-negative integers, as the reference reader requires`);
    }
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    const numel = dims.reduce((a, b) => a * b, 1);
    const bytes = numel * DTYPE_SIZE[dtype];
    if (end < begin) throw corrupt(`tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end - begin !== bytes) {
      throw corrupt(`tensor ${name}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${dims}] of ${st} needs ${bytes}`);
    }
    if (end > dataLen) {
      throw new WeightsError(
        "truncated",
        file,
        `truncated: tensor ${name} ends at byte ${dataStart + end} but the file has ${fileSize} bytes`,
      );
    }
    const stride = new Array<number>(dims.length);
    let s = 1;
    for (let i = dims.length - 1; i >= 0; i--) {
      stride[i] = s;
      s *= dims[i]!;
    }
    pending.push({
      name,
      dtype,
      shape: dims,
      stride,
      storageKey: name,
      storageOffset: 0,
      dataOffset: dataStart + begin,
      byteLength: bytes,
      begin,
      end,
    });
  }

  // File order; offsets must tile the data section with no overlap and no gap (as the reference
  // loader requires).
  pending.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: Pending | undefined;
  for (const t of pending) {
    if (t.begin < at) {
      throw corrupt(`tensor ${t.name} (data bytes ${t.begin}..${t.end}) overlaps tensor ${prev?.name} (bytes ${prev?.begin}..${prev?.end})`);
    }
    if (t.begin > at) throw corrupt(`data bytes ${at}..${t.begin} before tensor ${t.name} belong to no tensor`);
    at = t.end;
    prev = t;
  }
  if (at !== dataLen) {
    throw corrupt(`the tensors cover ${at} data bytes but the file has ${dataLen} after the header (${dataLen - at} bytes belong to no tensor)`);
  }

  const tensors: TensorInfo[] = pending.map(({ begin: _b, end: _e, ...t }) => t);
  return { format: "safetensors", file: path.resolve(file), tensors, metadata };
}
