// readWeights: index any supported weights file, chosen by content (git-lfs pointer, zip magic,
// safetensors header), not by file name.
import type { FileHandle } from "node:fs/promises";

import { LFS_POINTER_MAX_BYTES, looksLikeLfsPointer, parseLfsPointer } from "./lfs-pointer.js";
import { readSafetensorsFrom } from "./safetensors.js";
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
    return (await readTorchWeightsFrom(fh, size, file)).index;
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0x06054b50) {
    throw new WeightsError("corrupt", file, "is an empty zip archive, not a torch checkpoint");
  }
  if (head.length >= 9 && head[8] === 0x7b /* { */) {
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
