// The manifest (path, size, sha256 of every published file) that the Hub plan, the archive
// and post-publish verification all compare against.
import type { CheckpointFile, Manifest } from "./types.js";
import { HashCache } from "./hash-cache.js";

export interface HashProgress {
  file: string;
  fileBytes: number;
  fileSize: number;
  totalBytes: number;
  totalSize: number;
}

export async function buildManifest(
  files: readonly CheckpointFile[],
  opts: { cache?: HashCache; onProgress?: (p: HashProgress) => void } = {},
): Promise<Manifest> {
  const cache = opts.cache ?? new HashCache();
  const totalSize = files.reduce((s, f) => s + f.size, 0);
  let totalBytes = 0;
  const manifest: Manifest = [];
  for (const f of files) {
    let fileBytes = 0;
    const sha256 = await cache.sha256(f.source, (n) => {
      fileBytes += n;
      totalBytes += n;
      opts.onProgress?.({ file: f.repoPath, fileBytes, fileSize: f.size, totalBytes, totalSize });
    });
    const stamp = cache.stamp(f.source);
    manifest.push({ path: f.repoPath, size: f.size, sha256, source: f.source, ...(stamp ? { stamp } : {}) });
  }
  await cache.save();
  return manifest.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
