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

/** A number in the header that is not a usize literal (`1.0`, `1e3`, `-0`, 2^64): kept as written. */
class NonIndex {
  constructor(readonly literal: string) {}
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * serde reads a usize only from a non-negative integer literal that fits 64 bits: a fraction or an
 * exponent makes a float, `-0` a float too, a larger integer a float as well, and it refuses every float.
 */
function readNumber(literal: string): bigint | NonIndex {
  if (!/^(0|[1-9]\d*)$/.test(literal)) return new NonIndex(literal);
  const v = BigInt(literal);
  return v <= U64_MAX ? v : new NonIndex(literal);
}

function isIndex(v: unknown): v is bigint {
  return typeof v === "bigint";
}

/**
 * The element count as the reference validates it (Metadata::validate): the shape folded from the
 * left with checked u64 multiplication, then the bits (x dtype bit size) checked too; undefined on
 * overflow. [0, 2^32, 2^32] is an empty tensor, [2^32, 2^32, 0] overflows before the 0.
 */
export function checkedElements(shape: readonly bigint[], itemBytes: number): { elements: bigint; bytes: bigint } | undefined {
  let elements = 1n;
  for (const d of shape) {
    elements *= d;
    if (elements > U64_MAX) return undefined;
  }
  const bits = elements * BigInt(itemBytes * 8);
  return bits > U64_MAX ? undefined : { elements, bytes: bits / 8n };
}

/** A header value as written (numbers that are not indices keep their literal). */
function show(v: unknown): string {
  if (v instanceof NonIndex) return v.literal;
  if (typeof v === "bigint") return String(v);
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
    const [begin64, end64] = offsets as [bigint, bigint];
    const dims64 = shape as bigint[];
    const count = checkedElements(dims64, DTYPE_SIZE[dtype]);
    if (!count) {
      throw corrupt(`tensor ${name}: shape [${dims64.join(", ")}] of ${st} overflows 64 bits (the reference reader refuses it: ValidationOverflow)`);
    }
    if (end64 < begin64) throw corrupt(`tensor ${name}: data_offsets [${begin64}, ${end64}] end before they begin`);
    if (end64 - begin64 !== count.bytes) {
      throw corrupt(`tensor ${name}: data_offsets [${begin64}, ${end64}] span ${end64 - begin64} bytes but shape [${dims64.join(",")}] of ${st} needs ${count.bytes}`);
    }
    if (end64 > BigInt(dataLen)) {
      throw new WeightsError("truncated", file, `truncated: tensor ${name} ends at byte ${BigInt(dataStart) + end64} but the file has ${fileSize} bytes`);
    }
    // Only an empty tensor gets here with a dimension past 2^53: no model has such a parameter.
    if (dims64.some((d) => d > BigInt(Number.MAX_SAFE_INTEGER))) {
      throw new WeightsError("unsupported", file, `tensor ${name}: shape [${dims64.join(", ")}] has a dimension over 2^53, which no model parameter has and this reader does not index`);
    }
    const dims = dims64.map(Number);
    const begin = Number(begin64);
    const end = Number(end64);
    const bytes = end - begin;
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
