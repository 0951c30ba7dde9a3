// pytorch_model.bin and model.safetensors (single or sharded) in one checkpoint are two models
// unless they hold the same tensors: transformers loads the safetensors, torch.load users and
// older tools the .bin, and the smoke test runs one of them. Every tensor is compared (name, dtype,
// shape, bytes in row-major order), streamed a chunk at a time; a .bin name the safetensors lacks
// is accounted for only when it is an exact alias (same storage, offset, shape and strides) of one
// it holds, as the tied weights safetensors writers drop.
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { DTYPE_SIZE, isContiguous } from "./tensor-data.js";
import type { TensorInfo } from "./types.js";
import { gather } from "./verified-write.js";
import { describeSet, type SetTensor, type WeightsSet } from "./weight-sets.js";
import { UserError } from "../report.js";
import { openWeightsFile } from "./weights-error.js";
import { readAt } from "./zip.js";

export interface WeightsAgreement {
  /** The two sets compared, as messages name them. */
  torch: string;
  safetensors: string;
  /** Tensors whose bytes were compared, and how many bytes. */
  tensors: number;
  bytes: number;
  /** .bin names that are exact aliases of a compared tensor. */
  aliases: number;
  /** Every difference, each naming the tensor and both files; empty: the same model. */
  differences: string[];
}

/** What is compared at a time. */
const CHUNK = 1024 * 1024;
/** A non-contiguous .bin tensor is gathered in memory to be compared; past this it cannot be. */
export const MAX_COMPARE_GATHER = 256 * 1024 * 1024;

/** Same storage, offset, shape, strides and dtype: the same tensor under two names. */
export function isExactAlias(a: SetTensor, b: SetTensor): boolean {
  return (
    a.source.file === b.source.file &&
    a.storageKey === b.storageKey &&
    a.storageOffset === b.storageOffset &&
    a.dtype === b.dtype &&
    a.shape.join(",") === b.shape.join(",") &&
    a.stride.join(",") === b.stride.join(",")
  );
}

const fileOf = (t: SetTensor) => path.basename(t.source.file);

/** Open handles of the files of both sets, one per file, closed together. */
class Handles {
  private readonly open = new Map<string, Promise<FileHandle>>();
  get(file: string): Promise<FileHandle> {
    let fh = this.open.get(file);
    if (!fh) {
      fh = openWeightsFile(file);
      this.open.set(file, fh);
    }
    return fh;
  }
  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}

async function readExactly(fh: FileHandle, position: number, length: number, into: Uint8Array, t: SetTensor): Promise<Uint8Array> {
  const got = await readAt(fh, position, length, into);
  if (got.length !== length) throw new Error(`${fileOf(t)}: truncated: tensor ${t.name} ends at byte ${position + length} but the file ends at byte ${position + got.length}`);
  return got;
}

/** The first byte (of the row-major elements) at which the two tensors differ, or -1. */
async function firstDifference(handles: Handles, bin: SetTensor, st: SetTensor, a: Uint8Array, b: Uint8Array): Promise<number> {
  const binFh = await handles.get(bin.source.file);
  const stFh = await handles.get(st.source.file);
  if (!isContiguous(bin.shape, bin.stride)) {
    const expected = gather(await readExactly(binFh, bin.dataOffset, bin.byteLength, new Uint8Array(bin.byteLength), bin), bin);
    const actual = await readExactly(stFh, st.dataOffset, st.byteLength, new Uint8Array(st.byteLength), st);
    const n = Math.min(expected.length, actual.length);
    for (let i = 0; i < n; i++) if (expected[i] !== actual[i]) return i;
    return expected.length === actual.length ? -1 : n;
  }
  for (let at = 0; at < st.byteLength; at += CHUNK) {
    const n = Math.min(CHUNK, st.byteLength - at);
    const [x, y] = await Promise.all([readExactly(binFh, bin.dataOffset + at, n, a, bin), readExactly(stFh, st.dataOffset + at, n, b, st)]);
    if (Buffer.compare(x, y) !== 0) {
      for (let i = 0; i < n; i++) if (x[i] !== y[i]) return at + i;
    }
  }
  return -1;
}

const elementBytes = (t: TensorInfo) => t.shape.reduce((n, d) => n * d, 1) * DTYPE_SIZE[t.dtype];

/**
 * Compares a torch set with a safetensors set of the same checkpoint, tensor by tensor. A read
 * that fails (a file truncated since it was indexed) is a difference: what cannot be compared is
 * never called equal.
 */
export async function compareWeightSets(
  torch: WeightsSet & { tensors: SetTensor[] },
  safetensors: WeightsSet & { tensors: SetTensor[] },
): Promise<WeightsAgreement> {
  const result: WeightsAgreement = { torch: describeSet(torch), safetensors: describeSet(safetensors), tensors: 0, bytes: 0, aliases: 0, differences: [] };
  const both = (bin: SetTensor, st?: SetTensor) => `${fileOf(bin)} and ${st ? fileOf(st) : describeSet(safetensors)}`;
  const inSt = new Map(safetensors.tensors.map((t) => [t.name, t]));
  const inBin = new Map(torch.tensors.map((t) => [t.name, t]));
  for (const t of safetensors.tensors) {
    if (!inBin.has(t.name)) result.differences.push(`tensor ${t.name} is in ${fileOf(t)} but not in ${describeSet(torch)}: the two files hold different models`);
  }
  const handles = new Handles();
  const a = new Uint8Array(CHUNK);
  const b = new Uint8Array(CHUNK);
  try {
    for (const bin of torch.tensors) {
      const st = inSt.get(bin.name);
      if (!st) {
        const alias = torch.tensors.find((k) => k !== bin && inSt.has(k.name) && isExactAlias(k, bin));
        if (alias) result.aliases++;
        else result.differences.push(`tensor ${bin.name} is in ${fileOf(bin)} but not in ${describeSet(safetensors)}, nor the same storage as a tensor it holds: the two files hold different models`);
        continue;
      }
      if (st.dtype !== bin.dtype || st.shape.join(",") !== bin.shape.join(",")) {
        result.differences.push(`tensor ${bin.name} is ${bin.dtype} [${bin.shape.join(", ")}] in ${fileOf(bin)} but ${st.dtype} [${st.shape.join(", ")}] in ${fileOf(st)}`);
        continue;
      }
      if (!isContiguous(bin.shape, bin.stride) && bin.byteLength > MAX_COMPARE_GATHER) {
        result.differences.push(`tensor ${bin.name} of ${both(bin, st)} cannot be compared: it is not contiguous in ${fileOf(bin)} and spans ${bin.byteLength} bytes; save it with .contiguous()`);
        continue;
      }
      let at: number;
      try {
        at = await firstDifference(handles, bin, st, a, b);
      } catch (e) {
        result.differences.push(`tensor ${bin.name} of ${both(bin, st)} cannot be compared: ${(e as Error).message}`);
        continue;
      }
      result.tensors++;
      result.bytes += elementBytes(st);
      if (at >= 0) {
        const element = Math.floor(at / DTYPE_SIZE[st.dtype]);
        result.differences.push(`tensor ${bin.name} differs between ${both(bin, st)} (first at element ${element}): torch.load users and transformers users get different weights`);
      }
    }
  } finally {
    await handles.close();
  }
  return result;
}

/**
 * The checkpoint's torch and safetensors sets compared when it has both, readable (a set that
 * cannot be read fails its own check); undefined otherwise.
 */
export async function compareCheckpointWeights(sets: readonly WeightsSet[]): Promise<WeightsAgreement | undefined> {
  const torch = sets.find((s) => s.format === "torch");
  const safetensors = sets.find((s) => s.format === "safetensors");
  if (!torch?.tensors || !safetensors?.tensors) return undefined;
  return compareWeightSets(torch as WeightsSet & { tensors: SetTensor[] }, safetensors as WeightsSet & { tensors: SetTensor[] });
}

/**
 * Is every tensor of the .bin in the safetensors written from it (or an exact alias of one it
 * holds), with the same dtype, shape and bytes? The comparison, or a UserError naming what is
 * missing or different (exit 1).
 */
export async function requireSameTensors(
  torch: WeightsSet & { tensors: SetTensor[] },
  safetensors: WeightsSet & { tensors: SetTensor[] },
): Promise<WeightsAgreement> {
  const r = await compareWeightSets(torch, safetensors);
  if (r.differences.length) throw new UserError(`${r.safetensors} does not hold every tensor of ${r.torch} as it is there:\n${r.differences.join("\n")}`, 1);
  return r;
}
