// Reading checkpoint files for a publish: LFS files go as file-backed Blobs (src/util/file-body.ts),
// regular files (under 10 MiB by the Hub's rule) are read whole.
import { readFile } from "node:fs/promises";
import { MAX_WHOLE_READ } from "../util/file-body.js";
import { HubPublishError } from "./errors.js";
import type { DesiredFile } from "./plan.js";

export { DiskBlob, MAX_WHOLE_READ } from "../util/file-body.js";

/** The content of a regular (non-LFS) file: under 10 MiB by the Hub's rule, so it is read whole. */
export async function readRegularFile(f: DesiredFile): Promise<Buffer> {
  if (typeof f.source !== "string") return Buffer.from(f.source.bytes);
  if (f.size > MAX_WHOLE_READ) throw new HubPublishError(`${f.path}: ${f.size} bytes cannot travel as a regular file; it must go to LFS`);
  const bytes = await readFile(f.source);
  if (bytes.length !== f.size) throw new HubPublishError(`${f.path}: ${bytes.length} bytes on disk, the manifest says ${f.size}; run the release again to re-hash it`);
  return bytes;
}
