// Helpers for the smoke tests: copies of the sample checkpoint with rewritten weights
// (safetensors, written from the tensors the project's reader loads).
import { copyFile, mkdtemp, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadTensorF32, readWeights } from "../src/checkpoint/weights.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const sampleDir = path.join(repoRoot, "test", "fixtures", "azbert-tiny");
export const referenceFile = path.join(repoRoot, "test", "fixtures", "azbert-tiny.reference.json");

export interface Reference {
  cases: {
    text: string;
    input_ids: number[];
    masks: { position: number; top: { token: string; id: number; score: number }[]; logits_head: number[] }[];
  }[];
}

/** float32 -> IEEE half bits, round to nearest even. */
export function f32ToF16Bits(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export type Transform = (name: string, data: Float32Array) => Float32Array;

/**
 * Copies the sample's non-weight files into a temp dir and writes model.safetensors from the
 * sample's float tensors (after `transform`), as F32 or F16.
 */
export async function writeSafetensorsCopy(opts: { dtype: "F32" | "F16"; transform?: Transform; from?: string }): Promise<string> {
  const from = opts.from ?? sampleDir;
  const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-smoke-ckpt-"));
  for (const f of await readdir(from)) {
    if (f === "pytorch_model.bin" || f === "model.safetensors") continue;
    await copyFile(path.join(from, f), path.join(dir, f));
  }
  const index = await readWeights(path.join(from, "pytorch_model.bin"));
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const t of index.tensors) {
    if (!t.dtype.startsWith("float")) continue;
    let data = await loadTensorF32(index, t.name);
    if (opts.transform) data = opts.transform(t.name, data);
    let bytes: Uint8Array;
    if (opts.dtype === "F16") {
      const h = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) h[i] = f32ToF16Bits(data[i] ?? 0);
      bytes = new Uint8Array(h.buffer);
    } else {
      bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    }
    header[t.name] = { dtype: opts.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await writeFile(path.join(dir, "model.safetensors"), Buffer.concat([len, Buffer.from(json), ...blobs]));
  return dir;
}

/** A deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Permutes each tensor's elements (a destroyed model with the same shapes and value statistics). */
export function shuffleTransform(seed = 1): Transform {
  const r = rng(seed);
  return (_name, data) => {
    const out = Float32Array.from(data);
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      const tmp = out[i] ?? 0;
      out[i] = out[j] ?? 0;
      out[j] = tmp;
    }
    return out;
  };
}
