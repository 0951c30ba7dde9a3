// The verified write of one safetensors file: the header, then each tensor's bytes copied from the
// .bin, every chunk read back from the new file right after it is written and compared with the
// bytes it was written from, so the file is proven as it is written (a second pass over 50 GB
// would cost another read of both files). The chunks are small enough to stay in the CPU cache
// between the source read, the write, the read back and the compare, and synchronous reads and
// writes of them cost less than handing each to the thread pool; the loop yields to the event
// loop every few MiB (progress). One file runs on the calling thread; several run on worker
// threads at once (verified-write-worker.ts).
import { createHash } from "node:crypto";
import { closeSync, constants, openSync, readSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { UserError } from "../report.js";
import { DTYPE_SIZE, isContiguous, numel } from "./tensor-data.js";
import type { TensorInfo } from "./types.js";
import { openWeightsFile } from "./weights-error.js";

/** Read, written, read back and compared while it is still in the CPU cache (measured: 256 KiB beats 64 KiB and 1 MiB). */
const CHUNK = 256 * 1024;
/** Progress is reported in steps of this many bytes. */
const PROGRESS_BYTES = 16 << 20;

/** A tensor to copy: where its elements are in the .bin, and how (shape and strides: views are gathered). */
export type WriteTensor = Pick<TensorInfo, "name" | "dtype" | "shape" | "stride" | "dataOffset" | "byteLength">;

export interface VerifiedWriteJob {
  /** The .bin file the tensors are read from. */
  source: string;
  /** The file to write (created or truncated). */
  target: string;
  /** The file's name in messages. */
  name: string;
  header: Uint8Array;
  /** In the order of the data section, each right after the previous one. */
  tensors: WriteTensor[];
  /** Also hash the file as it is written. */
  sha256?: boolean;
}

/** Elements of a strided view, in row-major order (what `.contiguous()` gives). */
export function gather(span: Uint8Array, t: Pick<TensorInfo, "dtype" | "shape" | "stride">): Uint8Array {
  const size = DTYPE_SIZE[t.dtype];
  const out = new Uint8Array(numel(t.shape) * size);
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

/** Reads exactly `length` bytes at `position` (short: the file is truncated). */
function readExactlySync(fd: number, into: Uint8Array, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** What a verified write proved: the bytes written, read back and found equal; their sha256 when asked for. */
export interface VerifiedWritten {
  verified: number;
  sha256?: string;
}

/**
 * The job's bytes in file order (the header, then each tensor, views gathered), chunk by chunk into
 * `sink`, which returns true when it is time to yield to the event loop.
 */
async function streamJob(job: VerifiedWriteJob, sink: (bytes: Uint8Array, tensorData: boolean) => boolean): Promise<void> {
  const src = await openWeightsFile(job.source);
  const buf = Buffer.allocUnsafe(CHUNK);
  const pause = () => new Promise<void>((resolve) => setImmediate(resolve));
  const truncated = (t: WriteTensor, end: number, got: number) =>
    new UserError(`${path.basename(job.source)}: truncated: tensor ${t.name} ends at byte ${end} but the file ends at byte ${got} (did it change while it was converted?)`, 1);
  try {
    for (let at = 0; at < job.header.length; at += CHUNK) sink(job.header.subarray(at, Math.min(job.header.length, at + CHUNK)), false);
    for (const t of job.tensors) {
      if (!isContiguous(t.shape, t.stride)) {
        const span = new Uint8Array(t.byteLength);
        const got = readExactlySync(src.fd, span, t.byteLength, t.dataOffset);
        if (got !== t.byteLength) throw truncated(t, t.dataOffset + t.byteLength, t.dataOffset + got);
        const data = gather(span, t);
        for (let at = 0; at < data.length; at += CHUNK) if (sink(data.subarray(at, Math.min(data.length, at + CHUNK)), true)) await pause();
        continue;
      }
      const length = numel(t.shape) * DTYPE_SIZE[t.dtype];
      for (let at = 0; at < length; ) {
        const n = Math.min(CHUNK, length - at);
        const got = readExactlySync(src.fd, buf, n, t.dataOffset + at);
        if (got !== n) throw truncated(t, t.dataOffset + at + n, t.dataOffset + at + got);
        at += n;
        if (sink(buf.subarray(0, n), true)) await pause();
      }
    }
  } finally {
    await src.close();
  }
}

/** Writes the file and proves every byte of it. `onBytes`: tensor bytes done since the last call. */
export async function writeVerified(job: VerifiedWriteJob, onBytes: (n: number) => void = () => {}): Promise<VerifiedWritten> {
  // A new file, never one already there: a link planted at the partial's name is replaced, not written through.
  rmSync(job.target, { force: true });
  const out = openSync(job.target, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
  const back = Buffer.allocUnsafe(CHUNK);
  // In file order, as the verified bytes go out: the manifest's sha256 without a second read.
  const hash = job.sha256 ? createHash("sha256") : undefined;
  let position = 0;
  let unreported = 0;
  try {
    await streamJob(job, (bytes, tensorData) => {
      for (let done = 0; done < bytes.length; ) done += writeSync(out, bytes, done, bytes.length - done, position + done);
      const got = readExactlySync(out, back, bytes.length, position);
      if (got !== bytes.length || !back.subarray(0, got).equals(bytes)) {
        throw new UserError(`${job.name}: the bytes read back at ${position}..${position + bytes.length} differ from those written (a failing disk?)`, 1);
      }
      hash?.update(bytes);
      position += bytes.length;
      if (!tensorData) return false;
      unreported += bytes.length;
      if (unreported < PROGRESS_BYTES) return false;
      onBytes(unreported);
      unreported = 0;
      return true;
    });
    onBytes(unreported);
    return { verified: position, ...(hash ? { sha256: hash.digest("hex") } : {}) };
  } finally {
    closeSync(out);
  }
}

/** What writeVerified would write, hashed instead (a dry run): its size and sha256, nothing on disk. */
export async function digestPlanned(job: Omit<VerifiedWriteJob, "target">): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  let sinceYield = 0;
  await streamJob({ ...job, target: "" }, (bytes) => {
    hash.update(bytes);
    size += bytes.length;
    sinceYield += bytes.length;
    if (sinceYield < PROGRESS_BYTES) return false;
    sinceYield = 0;
    return true;
  });
  return { size, sha256: hash.digest("hex") };
}
