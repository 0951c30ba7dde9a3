// Reading tensor data located by a WeightsIndex: one positioned read per tensor straight into the
// destination buffer (float32 needs no copy and no per-element loop), fp16/bf16/f64/int → float32
// conversion, and a reader that keeps one file handle open for many tensors.
import type { FileHandle } from "node:fs/promises";
import os from "node:os";

import type { DType, TensorInfo, WeightsIndex } from "./types.js";
import { WeightsError, openWeightsFile, rethrowIo } from "./weights-error.js";
import { readAt } from "./zip.js";

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
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

/** Row-major contiguous, as torch's is_contiguous(): dimensions of size 1 may have any stride. */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  if (shape.length !== stride.length) return false;
  if (shape.some((d) => d === 0)) return true;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d !== 1 && stride[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

// ---- conversions ------------------------------------------------------------------------------

let f16Table: Float32Array | undefined;

/** float32 bit pattern of an IEEE half. */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal half: normalize into a float32 normal.
    let e = 113;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  if (exp === 31) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN (payload kept)
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

/** All 65536 halves as float32 (256 KiB), built once. */
function halfTable(): Float32Array {
  if (!f16Table) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = halfToFloatBits(h);
    f16Table = new Float32Array(bits.buffer);
  }
  return f16Table;
}

/** IEEE float16 → float32, exact (table lookup). */
export function f16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = halfTable();
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = t[src[i]!]!;
  return dst;
}

/** bfloat16 → float32, exact (the high half of the float32 bits). */
export function bf16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = src[i]! << 16;
  return dst;
}

/** Converts little-endian elements of `dtype` in `buf` (8-byte aligned) to float32. */
export function toFloat32(dtype: DType, buf: ArrayBuffer, count: number): Float32Array {
  switch (dtype) {
    case "float32":
      return new Float32Array(buf, 0, count);
    case "float16":
      return f16ToF32(new Uint16Array(buf, 0, count));
    case "bfloat16":
      return bf16ToF32(new Uint16Array(buf, 0, count));
    case "float64":
      return new Float32Array(new Float64Array(buf, 0, count));
    case "int32":
      return new Float32Array(new Int32Array(buf, 0, count));
    case "int16":
      return new Float32Array(new Int16Array(buf, 0, count));
    case "int8":
      return new Float32Array(new Int8Array(buf, 0, count));
    case "uint8":
    case "bool":
      return new Float32Array(new Uint8Array(buf, 0, count));
    case "int64": {
      const src = new BigInt64Array(buf, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(src[i]!);
      return out;
    }
  }
}

// ---- reader -----------------------------------------------------------------------------------

export interface WeightsReader {
  readonly index: WeightsIndex;
  /** The TensorInfo for `name`; throws WeightsError("missing-tensor") when absent. */
  info(name: string): TensorInfo;
  /** The tensor's bytes as stored (little-endian, `byteLength` bytes from `dataOffset`), 8-byte aligned. */
  loadRaw(name: string): Promise<Uint8Array>;
  /** The tensor as float32, row-major; non-contiguous tensors are refused. */
  loadF32(name: string): Promise<Float32Array>;
  /**
   * Rows [start, start + count) of the first dimension (a 1-D tensor's rows are its elements) as
   * row-major float32, whatever layout torch saved: a storage offset, strided or transposed views,
   * expanded (stride 0) dimensions, float16/bfloat16/float64 storage. Only the bytes those rows
   * span are read, at most GATHER_WINDOW of them at a time for a strided view. The values go into
   * `into` (its first count * row-size elements) when given.
   */
  loadRowsF32(name: string, start: number, count: number, into?: Float32Array): Promise<Float32Array>;
  /**
   * Several tensors (default: all) read in file order. Tied tensors (same bytes, dtype and shape)
   * get the same Float32Array instance.
   */
  loadAllF32(names?: readonly string[]): Promise<Map<string, Float32Array>>;
  close(): Promise<void>;
}

/** Opens the weights file once for many reads. Call close() when done. */
export async function openWeights(index: WeightsIndex): Promise<WeightsReader> {
  const file = index.file;
  if (os.endianness() !== "LE") throw new WeightsError("unsupported", file, "reading tensors needs a little-endian machine");
  const fh = await openWeightsFile(file);
  try {
    const { size } = await fh.stat();
    let last: TensorInfo | undefined;
    for (const t of index.tensors) if (!last || t.dataOffset + t.byteLength > last.dataOffset + last.byteLength) last = t;
    if (last && last.dataOffset + last.byteLength > size) {
      throw new WeightsError(
        "truncated",
        file,
        `truncated: tensor ${last.name} ends at byte ${last.dataOffset + last.byteLength} but the file has ${size} bytes (did it change after it was indexed?)`,
      );
    }
  } catch (err) {
    await fh.close();
    rethrowIo(file, err);
  }
  return new Reader(index, fh);
}

const LOAD_CONCURRENCY = 4;

class Reader implements WeightsReader {
  private readonly byName = new Map<string, TensorInfo>();
  private closed = false;

  constructor(
    readonly index: WeightsIndex,
    private readonly fh: FileHandle,
  ) {
    for (const t of index.tensors) this.byName.set(t.name, t);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new WeightsError("missing-tensor", this.index.file, `no tensor named ${name}`);
    return t;
  }

  private async readInto(t: TensorInfo, dest: Uint8Array): Promise<void> {
    if (this.closed) throw new Error("WeightsReader used after close()");
    let got: number;
    try {
      got = (await readAt(this.fh, t.dataOffset, t.byteLength, dest)).length;
    } catch (err) {
      rethrowIo(this.index.file, err);
    }
    if (got !== t.byteLength) {
      throw new WeightsError(
        "truncated",
        this.index.file,
        `truncated: tensor ${t.name} ends at byte ${t.dataOffset + t.byteLength} but the file ends at byte ${t.dataOffset + got}`,
      );
    }
  }

  async loadRaw(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const out = new Uint8Array(new ArrayBuffer(t.byteLength));
    await this.readInto(t, out);
    return out;
  }

  async loadF32(name: string): Promise<Float32Array> {
    return this.loadInfoF32(this.info(name));
  }

  private async loadInfoF32(t: TensorInfo): Promise<Float32Array> {
    if (!isContiguous(t.shape, t.stride)) {
      throw new WeightsError(
        "unsupported",
        this.index.file,
        `tensor ${t.name} is not contiguous (shape [${t.shape.join(", ")}], stride [${t.stride.join(", ")}]); save it with .contiguous() to load it`,
      );
    }
    const count = numel(t.shape);
    if (t.dtype === "float32") {
      const out = new Float32Array(count);
      await this.readInto(t, new Uint8Array(out.buffer));
      return out;
    }
    const buf = new ArrayBuffer(t.byteLength);
    await this.readInto(t, new Uint8Array(buf));
    return toFloat32(t.dtype, buf, count);
  }

  async loadRowsF32(name: string, start: number, count: number, into?: Float32Array): Promise<Float32Array> {
    const t = this.info(name);
    const rows = t.shape[0] ?? 1;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RangeError(`rows ${start}..${start + count} of tensor ${t.name}, which has ${rows}`);
    }
    // A 0-d tensor is one row of one element.
    const shape = t.shape.length ? [count, ...t.shape.slice(1)] : [1];
    const stride = t.shape.length ? t.stride : [1];
    const n = numel(shape);
    if (into && into.length < n) throw new RangeError(`${n} values of tensor ${t.name} do not fit in ${into.length}`);
    const out = into ? into.subarray(0, n) : new Float32Array(n);
    if (n === 0) return out;
    const size = DTYPE_SIZE[t.dtype];
    const first = t.dataOffset + start * (stride[0] ?? 0) * size;
    if (isContiguous(shape, stride)) {
      await this.readF32(t, first, n, out);
      return out;
    }
    const outStride = shape.map((_, d) => numel(shape.slice(d + 1)));
    await this.gatherBlock(t, { first, shape, stride, at: 0 }, outStride, out);
    return out;
  }

  /** `count` stored elements from byte `position` on, as float32 into `out`. */
  private async readF32(t: TensorInfo, position: number, count: number, out: Float32Array): Promise<void> {
    const length = count * DTYPE_SIZE[t.dtype];
    const part = { ...t, dataOffset: position, byteLength: length };
    if (t.dtype === "float32") return this.readInto(part, new Uint8Array(out.buffer, out.byteOffset, length));
    const buf = new ArrayBuffer(length);
    await this.readInto(part, new Uint8Array(buf));
    convertInto(t.dtype, buf, count, out);
  }

  /**
   * A block of a strided view into `out`: read whole when the bytes it spans fit the window and
   * are dense enough (or cannot be split), else split in two along its widest dimension.
   */
  private async gatherBlock(t: TensorInfo, b: Block, outStride: readonly number[], out: Float32Array): Promise<void> {
    const span = stridedSpan(b.shape, b.stride);
    const n = numel(b.shape);
    const wide = b.shape.map((d, i) => (d > 1 ? i : -1)).filter((i) => i >= 0);
    const fits = span * DTYPE_SIZE[t.dtype] <= GATHER_WINDOW;
    if (!wide.length || (fits && (span <= 8 * n || wide.length === 1))) {
      const values = new Float32Array(span);
      await this.readF32(t, b.first, span, values);
      scatter(values, b, outStride, out);
      return;
    }
    // the dimension whose elements lie farthest apart
    let d = wide[0]!;
    for (const i of wide) if ((b.stride[i] ?? 0) * (b.shape[i]! - 1) > (b.stride[d] ?? 0) * (b.shape[d]! - 1)) d = i;
    const half = Math.ceil(b.shape[d]! / 2);
    const head = { ...b, shape: b.shape.map((x, i) => (i === d ? half : x)) };
    const tail = {
      first: b.first + half * b.stride[d]! * DTYPE_SIZE[t.dtype],
      shape: b.shape.map((x, i) => (i === d ? x - half : x)),
      stride: b.stride,
      at: b.at + half * outStride[d]!,
    };
    await this.gatherBlock(t, head, outStride, out);
    await this.gatherBlock(t, tail, outStride, out);
  }

  async loadAllF32(names?: readonly string[]): Promise<Map<string, Float32Array>> {
    const infos = (names ?? this.index.tensors.map((t) => t.name)).map((n) => this.info(n));
    const order = [...infos].sort((a, b) => a.dataOffset - b.dataOffset);
    const byBytes = new Map<string, Promise<Float32Array>>();
    const loaded = new Map<string, Float32Array>();
    // A few reads in flight (file order) so the copy out of the page cache runs on several
    // threadpool threads.
    let next = 0;
    const worker = async () => {
      while (next < order.length) {
        const t = order[next++]!;
        const key = `${t.dataOffset}:${t.byteLength}:${t.dtype}:${t.shape.join("x")}`;
        let arr = byBytes.get(key);
        if (!arr) {
          arr = this.loadInfoF32(t);
          byBytes.set(key, arr);
        }
        loaded.set(t.name, await arr);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, order.length) }, worker));
    // Caller's order.
    return new Map(infos.map((t) => [t.name, loaded.get(t.name)!]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/** Bytes of storage a strided view's gather reads at once. */
export const GATHER_WINDOW = 16 * 1024 * 1024;

/** Part of a strided view: its first element's byte offset in the file, and its place in the output. */
interface Block {
  first: number;
  shape: number[];
  stride: readonly number[];
  /** Output index of the block's first element. */
  at: number;
}

/** Converts `count` little-endian elements of `dtype` at the start of `buf` into `out`. */
function convertInto(dtype: DType, buf: ArrayBuffer, count: number, out: Float32Array): void {
  if (dtype === "float16") f16ToF32(new Uint16Array(buf, 0, count), out);
  else if (dtype === "bfloat16") bf16ToF32(new Uint16Array(buf, 0, count), out);
  else out.set(toFloat32(dtype, buf, count));
}

/** The block's elements, read from `values` (its span, from its first element on), into the row-major output. */
function scatter(values: Float32Array, b: Block, outStride: readonly number[], out: Float32Array): void {
  const dims = b.shape.length;
  const last = dims - 1;
  const inner = b.shape[last]!;
  const innerStride = b.stride[last]!;
  const innerOut = outStride[last]!;
  const idx = new Array<number>(dims).fill(0);
  let src = 0;
  let dst = b.at;
  for (;;) {
    for (let j = 0; j < inner; j++) out[dst + j * innerOut] = values[src + j * innerStride]!;
    let d = last - 1;
    for (; d >= 0; d--) {
      idx[d]!++;
      src += b.stride[d]!;
      dst += outStride[d]!;
      if (idx[d]! < b.shape[d]!) break;
      src -= b.stride[d]! * b.shape[d]!;
      dst -= outStride[d]! * b.shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// One shared reader per index for the one-shot functions below, closed after a short idle time,
// so that loading 200 tensors one call at a time opens the file once.
interface Shared {
  reader: Promise<WeightsReader>;
  busy: number;
  timer?: NodeJS.Timeout;
}
const shared = new Map<WeightsIndex, Shared>();
const IDLE_CLOSE_MS = 250;

async function withReader<T>(index: WeightsIndex, fn: (r: WeightsReader) => Promise<T>): Promise<T> {
  let s = shared.get(index);
  if (!s) {
    const entry: Shared = { reader: openWeights(index), busy: 0 };
    entry.reader.catch(() => shared.delete(index));
    shared.set(index, entry);
    s = entry;
  }
  if (s.timer) {
    clearTimeout(s.timer);
    delete s.timer;
  }
  s.busy++;
  try {
    return await fn(await s.reader);
  } finally {
    const entry = s;
    entry.busy--;
    if (entry.busy === 0) {
      entry.timer = setTimeout(() => {
        if (entry.busy !== 0 || shared.get(index) !== entry) return;
        shared.delete(index);
        entry.reader.then((r) => r.close()).catch(() => undefined);
      }, IDLE_CLOSE_MS);
      entry.timer.unref();
    }
  }
}

/** One tensor as float32 (contiguous tensors only). Reuses an open handle across calls. */
export function loadTensorF32(index: WeightsIndex, name: string): Promise<Float32Array> {
  return withReader(index, (r) => r.loadF32(name));
}

/** Rows of one tensor as float32, any layout (WeightsReader.loadRowsF32). Reuses an open handle across calls. */
export function loadTensorRowsF32(index: WeightsIndex, name: string, start: number, count: number): Promise<Float32Array> {
  return withReader(index, (r) => r.loadRowsF32(name, start, count));
}

/** One tensor's stored bytes. Reuses an open handle across calls. */
export function loadTensorRaw(index: WeightsIndex, name: string): Promise<Uint8Array> {
  return withReader(index, (r) => r.loadRaw(name));
}
