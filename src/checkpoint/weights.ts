// readWeights: index any supported weights file, read by its content (git-lfs pointer, zip magic,
// safetensors header). The name must agree with the content: transformers picks the loader by name
// (torch.load for *.bin, safetensors for *.safetensors), so safetensors bytes named
// pytorch_model.bin load for nobody even though they are valid.
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { LFS_POINTER_MAX_BYTES, looksLikeLfsPointer, parseLfsPointer } from "./lfs-pointer.js";
import { MAX_SAFETENSORS_HEADER, readSafetensorsFrom } from "./safetensors.js";
import { readTorchWeightsFrom } from "./torch-weights.js";
import type { WeightsIndex } from "./types.js";
import { WeightsError, withWeightsFile } from "./weights-error.js";
import { readAt } from "./zip.js";

export { WeightsError, type WeightsErrorCode } from "./weights-error.js";
export { readLfsPointer, type LfsPointer } from "./lfs-pointer.js";
export { readTorchWeights } from "./torch-weights.js";
export { readSafetensors } from "./safetensors.js";
export { loadTensorF32, loadTensorRaw, openWeights, type WeightsReader } from "./tensor-data.js";

/** Start of a legacy (pre-1.6, non-zip) torch.save file: PROTO 2, LONG1 magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_TORCH_MAGIC = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);

/** Indexes a weights file (torch zip or safetensors) without reading tensor data. Throws WeightsError. */
export async function readWeights(file: string): Promise<WeightsIndex> {
  return withWeightsFile(file, async (fh, size) => dispatch(fh, size, await readAt(fh, 0, Math.min(size, LFS_POINTER_MAX_BYTES)), file));
}

/** The format a weights file's name promises the loaders; undefined for names no loader picks by. */
export function formatPromisedBy(file: string): WeightsIndex["format"] | undefined {
  const name = path.basename(file).toLowerCase();
  if (name.endsWith(".safetensors")) return "safetensors";
  if (name.endsWith(".bin")) return "torch";
  return undefined;
}

const FORMAT_WORDS: Record<WeightsIndex["format"], string> = { torch: "a torch.save zip archive", safetensors: "safetensors data" };
const LOADER_REFUSAL: Record<WeightsIndex["format"], string> = {
  torch: "torch.load, which transformers uses for this name, refuses it (invalid load key)",
  safetensors: "the safetensors loader, which transformers uses for this name, refuses it (header too large)",
};
const RENAME: Record<WeightsIndex["format"], string> = { torch: "pytorch_model.bin", safetensors: "model.safetensors" };

function refuseMisnamed(file: string, found: WeightsIndex["format"]): void {
  const promised = formatPromisedBy(file);
  if (promised === undefined || promised === found) return;
  throw new WeightsError(
    "format-mismatch",
    file,
    `holds ${FORMAT_WORDS[found]}, but its name promises ${FORMAT_WORDS[promised]}: ${LOADER_REFUSAL[promised]}; rename it to ${RENAME[found]} or convert it`,
  );
}

/** safetensors: an 8-byte header length that fits the file, then a JSON object (serde_json skips leading whitespace). */
function looksLikeSafetensors(head: Buffer, size: number): boolean {
  if (head.length < 9) return false;
  if (head[8] === 0x7b /* { */) return true;
  const n = head.readBigUInt64LE(0);
  if (n > BigInt(MAX_SAFETENSORS_HEADER) || 8n + n > BigInt(size)) return false;
  let i = 8;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  return head[i] === 0x7b;
}

async function dispatch(fh: FileHandle, size: number, head: Buffer, file: string): Promise<WeightsIndex> {
  if (size === 0) throw new WeightsError("truncated", file, "truncated: the file is empty (0 bytes)");
  const pointer = parseLfsPointer(head);
  if (pointer) {
    throw new WeightsError(
      "lfs-pointer",
      file,
      `is a git-lfs pointer (oid ${pointer.oid}, size ${pointer.size}), not the weights: run git lfs pull`,
    );
  }
  if (looksLikeLfsPointer(head)) {
    throw new WeightsError("lfs-pointer", file, "is a malformed git-lfs pointer, not the weights: run git lfs pull");
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) {
    refuseMisnamed(file, "torch");
    return (await readTorchWeightsFrom(fh, size, file)).index;
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0x06054b50) {
    throw new WeightsError("corrupt", file, "is an empty zip archive, not a torch checkpoint");
  }
  if (looksLikeSafetensors(head, size)) {
    refuseMisnamed(file, "safetensors");
    return readSafetensorsFrom(fh, size, file);
  }
  if (head.subarray(0, LEGACY_TORCH_MAGIC.length).equals(LEGACY_TORCH_MAGIC)) {
    throw new WeightsError(
      "unsupported",
      file,
      "uses the legacy (pre-1.6, non-zip) torch.save format; re-save it with torch.save(state_dict, path) from torch >= 1.6 or convert it to safetensors",
    );
  }
  const start = head.subarray(0, 16);
  const textStart = start.toString("latin1").trimStart().toLowerCase();
  if (textStart.startsWith("<!doctype html") || textStart.startsWith("<html")) {
    throw new WeightsError("corrupt", file, "is an HTML page, not weights (a failed download?)");
  }
  const bytes = [...start.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new WeightsError("corrupt", file, `is neither a torch zip checkpoint nor a safetensors file (it starts with bytes ${bytes})`);
}
