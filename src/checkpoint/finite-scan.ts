// Finds NaN and infinite values in the float tensors of a weights file while its bytes stream past
// for the sha256 of the manifest: one read of the file serves both. The scan plan (the byte ranges
// of float tensors, from the weights index) is fixed before the read; chunks arrive in any size.
//
// The inner loop is a tiny WebAssembly SIMD kernel (16 bytes per step, ~14 GB/s, against ~3 GB/s
// for the best plain-JS loop), and the file is read straight into the kernel's memory, so hashing
// and scanning touch the same bytes with no copy. Each scanner owns its instance and buffers, so
// several files can be hashed and scanned in parallel.
import { createHash } from "node:crypto";

import type { DType, WeightsIndex } from "./types.js";

export type FloatDType = Extract<DType, "float64" | "float32" | "float16" | "bfloat16">;

const ELEMENT_SIZE: Readonly<Record<FloatDType, number>> = { float64: 8, float32: 4, float16: 2, bfloat16: 2 };

export function isFloatDType(d: DType): d is FloatDType {
  return Object.hasOwn(ELEMENT_SIZE, d);
}

/** Bytes of one float tensor (or of several tied tensors that share them). */
export interface ScanRange {
  start: number;
  end: number;
  dtype: FloatDType;
}

export interface ScanPlan {
  /** Identifies the plan: a cached scan is reused only for the same plan. */
  key: string;
  /** Sorted by start; distinct. */
  ranges: ScanRange[];
}

/** A range holding non-finite values. */
export interface NonFiniteRange extends ScanRange {
  nan: number;
  inf: number;
  /** Element index (from the range start) of the first one. */
  first: number;
}

export interface FiniteScan {
  /** The plan it answers (ScanPlan.key). */
  plan: string;
  /** Float bytes scanned. */
  floatBytes: number;
  nonFinite: NonFiniteRange[];
}

/**
 * The float tensors of a weights index as byte ranges, each byte once: tied tensors, and views
 * that overlap in one storage (same dtype), are merged, so the scan costs one pass over the file
 * however many views a pickle declares.
 */
export function scanPlanFor(index: WeightsIndex): ScanPlan {
  const sorted = index.tensors
    .filter((t) => isFloatDType(t.dtype) && t.byteLength > 0)
    .map((t): ScanRange => ({ start: t.dataOffset, end: t.dataOffset + t.byteLength, dtype: t.dtype as FloatDType }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const ranges: ScanRange[] = [];
  // The last merged range of each dtype: a later range of that dtype starting inside it joins it.
  const open = new Map<FloatDType, ScanRange>();
  for (const r of sorted) {
    const last = open.get(r.dtype);
    if (last && r.start < last.end) {
      last.end = Math.max(last.end, r.end);
      continue;
    }
    const copy = { ...r };
    ranges.push(copy);
    open.set(r.dtype, copy);
  }
  const key = `finite-v2:${createHash("sha256").update(JSON.stringify(ranges)).digest("hex").slice(0, 32)}`;
  return { key, ranges };
}

/** Each float tensor of `index` that holds non-finite values, with the counts of its range. */
/**
 * Each float tensor of `index` whose bytes lie in a range that holds non-finite values, with that
 * range's counts (a tensor's own, unless views of one storage overlap: then the merged range's),
 * and the first one's element index from the tensor's start (0 when it comes before it).
 */
export function nonFiniteTensors(index: WeightsIndex, scan: FiniteScan): Array<{ name: string; dtype: FloatDType; nan: number; inf: number; first: number }> {
  const found = [...scan.nonFinite].sort((a, b) => a.start - b.start);
  // The ranges are disjoint (storages are separate zip entries; safetensors refuses overlaps): a
  // tensor's is the last one starting at or before it.
  const containing = (start: number, end: number, dtype: DType): NonFiniteRange | undefined => {
    let lo = 0;
    let hi = found.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (found[mid]!.start <= start) (at = mid), (lo = mid + 1);
      else hi = mid - 1;
    }
    const r = found[at];
    return r && r.dtype === dtype && end <= r.end ? r : undefined;
  };
  const out: Array<{ name: string; dtype: FloatDType; nan: number; inf: number; first: number }> = [];
  for (const t of index.tensors) {
    if (!isFloatDType(t.dtype) || t.byteLength === 0) continue;
    const r = containing(t.dataOffset, t.dataOffset + t.byteLength, t.dtype);
    if (r) out.push({ name: t.name, dtype: r.dtype, nan: r.nan, inf: r.inf, first: Math.max(0, r.first - (t.dataOffset - r.start) / ELEMENT_SIZE[r.dtype]) });
  }
  return out;
}

// ---- kernels ----------------------------------------------------------------------------------

/** One kernel per dtype: (start, end) byte offsets in its memory, end - start a multiple of 16 → 1 if any element is NaN/±Inf. */
interface Kernels {
  memory: { buffer: ArrayBuffer };
  any: Record<FloatDType, (start: number, end: number) => number>;
}

/**
 * The WebAssembly module, written out here (no toolchain needed). Each exported function is:
 *   (func (param $p i32) (param $end i32) (result i32) (local $acc v128)
 *     (block (loop
 *       (br_if 1 (i32.ge_u $p $end))
 *       (local.set $acc (v128.or $acc (iNxM.eq (v128.and (v128.load $p) MASK) MASK)))
 *       (local.set $p (i32.add $p 16)) (br 0)))
 *     (v128.any_true $acc))
 * where MASK is the exponent field of the dtype in every lane: all exponent bits set = NaN or ±Inf.
 */
function kernelModuleBytes(memoryPages: number): Uint8Array {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
  const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];
  const name = (s: string) => [...leb(s.length), ...Buffer.from(s, "latin1")];
  const simd = (op: number) => [0xfd, ...leb(op)];
  const lanes = (lane: number[], n: number) => Array.from({ length: n }, () => lane).flat();
  const kernel = (mask: number[], eqOp: number) => {
    const maskConst = [...simd(0x0c), ...mask];
    const body = [
      ...[1, 1, 0x7b], // one local: v128
      0x02, 0x40, 0x03, 0x40, // block, loop
      0x20, 0, 0x20, 1, 0x4f, 0x0d, 1, // br_if 1 (p >= end)
      0x20, 2, // acc
      0x20, 0, ...simd(0x00), 4, 0, // v128.load p
      ...maskConst, ...simd(0x4e), // v128.and
      ...maskConst, ...simd(eqOp), // iNxM.eq
      ...simd(0x50), 0x21, 2, // v128.or → acc
      0x20, 0, 0x41, 16, 0x6a, 0x21, 0, // p += 16
      0x0c, 0, 0x0b, 0x0b, // br 0, end loop, end block
      0x20, 2, ...simd(0x53), 0x0b, // v128.any_true acc
    ];
    return [...leb(body.length), ...body];
  };
  const I32X4_EQ = 0x37;
  const I16X8_EQ = 0x2d;
  const I64X2_EQ = 0xd6;
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, 2, 0x7f, 0x7f, 1, 0x7f]])), // type: (i32, i32) → i32
    ...section(3, vec([[0], [0], [0], [0]])),
    ...section(5, vec([[0x00, ...leb(memoryPages)]])),
    ...section(7, vec([[...name("memory"), 2, 0], [...name("float32"), 0, 0], [...name("float16"), 0, 1], [...name("bfloat16"), 0, 2], [...name("float64"), 0, 3]])),
    ...section(
      10,
      vec([
        kernel(lanes([0x00, 0x00, 0x80, 0x7f], 4), I32X4_EQ),
        kernel(lanes([0x00, 0x7c], 8), I16X8_EQ),
        kernel(lanes([0x80, 0x7f], 8), I16X8_EQ),
        kernel(lanes([0, 0, 0, 0, 0, 0, 0xf0, 0x7f], 2), I64X2_EQ),
      ]),
    ),
  ]);
}

/** Bytes read per chunk; the scanner's memory holds `CHUNK_BUFFERS` of them. */
export const CHUNK_BYTES = 1 << 20;
export const CHUNK_BUFFERS = 2;

/** The slice of the WebAssembly API used here (typed locally: the project's lib settings carry no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let kernelModule: object | null | undefined;

function instantiateKernels(): Kernels | undefined {
  if (kernelModule === undefined) {
    const bytes = kernelModuleBytes((CHUNK_BYTES * CHUNK_BUFFERS) / 65536);
    // Without WebAssembly SIMD, the plain-JS loop below does the same work, slower.
    kernelModule = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  if (!kernelModule || !wasm) return undefined;
  const e = new wasm.Instance(kernelModule).exports as { memory: Kernels["memory"] } & Record<FloatDType, (s: number, e: number) => number>;
  return { memory: e.memory, any: { float32: e.float32, float16: e.float16, bfloat16: e.bfloat16, float64: e.float64 } };
}

/** True when the WebAssembly SIMD kernel runs here (else the plain-JS loop does the scan). */
export function simdKernelAvailable(): boolean {
  return instantiateKernels() !== undefined;
}

/** 1 for NaN, 2 for ±Inf, 0 for a finite element at byte `o` of `dv` (little-endian). */
function classify(dtype: FloatDType, dv: DataView, o: number): number {
  switch (dtype) {
    case "float32": {
      const b = dv.getUint32(o, true);
      return (b & 0x7f800000) !== 0x7f800000 ? 0 : b & 0x007fffff ? 1 : 2;
    }
    case "float16": {
      const b = dv.getUint16(o, true);
      return (b & 0x7c00) !== 0x7c00 ? 0 : b & 0x03ff ? 1 : 2;
    }
    case "bfloat16": {
      const b = dv.getUint16(o, true);
      return (b & 0x7f80) !== 0x7f80 ? 0 : b & 0x007f ? 1 : 2;
    }
    case "float64": {
      const hi = dv.getUint32(o + 4, true);
      return (hi & 0x7ff00000) !== 0x7ff00000 ? 0 : (hi & 0x000fffff) | dv.getUint32(o, true) ? 1 : 2;
    }
  }
}

interface RangeState {
  range: ScanRange;
  size: number;
  /** Bytes of the range seen so far. */
  seen: number;
  /** An element split across two chunks. */
  carry: Uint8Array;
  carryLen: number;
  nan: number;
  inf: number;
  first: number;
}

/** Streams a file's chunks past the plan's ranges. Feed it every chunk in file order, then call result(). */
export class FiniteScanner {
  private readonly kernels: Kernels | undefined;
  private readonly ranges: readonly ScanRange[];
  private next = 0;
  private active: RangeState[] = [];
  private readonly finished: RangeState[] = [];
  /** Buffers to read chunks into: in the kernel's memory when there is one, so the scan needs no copy. */
  readonly buffers: Buffer[];

  constructor(private readonly plan: ScanPlan) {
    this.ranges = plan.ranges;
    this.kernels = plan.ranges.length ? instantiateKernels() : undefined;
    const memory = this.kernels?.memory.buffer;
    this.buffers = Array.from({ length: CHUNK_BUFFERS }, (_, i) =>
      memory ? Buffer.from(memory, i * CHUNK_BYTES, CHUNK_BYTES) : Buffer.allocUnsafeSlow(CHUNK_BYTES),
    );
  }

  /** `chunk` holds the file's bytes from `offset`. */
  update(chunk: Uint8Array, offset: number): void {
    const end = offset + chunk.length;
    while (this.next < this.ranges.length && this.ranges[this.next]!.start < end) {
      const range = this.ranges[this.next++]!;
      const size = ELEMENT_SIZE[range.dtype];
      this.active.push({ range, size, seen: 0, carry: new Uint8Array(size), carryLen: 0, nan: 0, inf: 0, first: -1 });
    }
    if (!this.active.length) return;
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (const s of this.active) {
      const lo = Math.max(offset, s.range.start) - offset;
      const hi = Math.min(end, s.range.end) - offset;
      if (lo < hi) this.scanSegment(s, chunk, dv, lo, hi);
    }
    const still: RangeState[] = [];
    for (const s of this.active) (s.range.end <= end ? this.finished : still).push(s);
    this.active = still;
  }

  result(): FiniteScan {
    const nonFinite: NonFiniteRange[] = [];
    for (const s of [...this.finished, ...this.active]) {
      if (s.nan || s.inf) nonFinite.push({ ...s.range, nan: s.nan, inf: s.inf, first: s.first });
    }
    nonFinite.sort((a, b) => a.start - b.start || a.end - b.end);
    const floatBytes = this.ranges.reduce((n, r) => n + (r.end - r.start), 0);
    return { plan: this.plan.key, floatBytes, nonFinite };
  }

  private scanSegment(s: RangeState, chunk: Uint8Array, dv: DataView, lo: number, hi: number): void {
    let p = lo;
    if (s.carryLen) {
      const take = Math.min(s.size - s.carryLen, hi - p);
      s.carry.set(chunk.subarray(p, p + take), s.carryLen);
      s.carryLen += take;
      p += take;
      if (s.carryLen === s.size) {
        this.count(s, new DataView(s.carry.buffer), 0, s.size, s.seen / s.size);
        s.seen += s.size;
        s.carryLen = 0;
      }
    }
    const whole = Math.floor((hi - p) / s.size) * s.size;
    if (whole) {
      const vectorEnd = p + whole - (whole % 16);
      if (vectorEnd > p && this.anyNonFinite(s.range.dtype, chunk, dv, p, vectorEnd)) this.count(s, dv, p, vectorEnd, s.seen / s.size);
      s.seen += vectorEnd - p;
      if (vectorEnd < p + whole) this.count(s, dv, vectorEnd, p + whole, s.seen / s.size);
      s.seen += p + whole - vectorEnd;
      p += whole;
    }
    if (p < hi) {
      s.carry.set(chunk.subarray(p, hi), 0);
      s.carryLen = hi - p;
    }
  }

  private anyNonFinite(dtype: FloatDType, chunk: Uint8Array, dv: DataView, from: number, to: number): boolean {
    const k = this.kernels;
    if (k && chunk.buffer === k.memory.buffer) return k.any[dtype](chunk.byteOffset + from, chunk.byteOffset + to) !== 0;
    const size = ELEMENT_SIZE[dtype];
    for (let o = from; o < to; o += size) if (classify(dtype, dv, o)) return true;
    return false;
  }

  /** Counts NaN and Inf in bytes [from, to) of `dv`, whose first element is element `index` of the range. */
  private count(s: RangeState, dv: DataView, from: number, to: number, index: number): void {
    for (let o = from, i = index; o < to; o += s.size, i++) {
      const c = classify(s.range.dtype, dv, o);
      if (!c) continue;
      if (c === 1) s.nan++;
      else s.inf++;
      if (s.first < 0) s.first = i;
    }
  }
}
