// The archive keeps the checkpoint's own layout (ckpt/math-tokenizer/vocab.txt stays there) while
// the Hub gets the flat repo paths: one release, two views of the same bytes. These are the two
// directions between them.
import path from "node:path";
import type { ManifestEntry } from "../checkpoint/types.js";
import { comparePaths, type PublishedFile } from "./manifest-io.js";

/** The archive's entries: every copy of every file at its place in the checkpoint (an entry without a layout stays at its path). */
export function inCheckpointLayout(files: readonly ManifestEntry[]): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const f of files) {
    const { layout, stamp, ...entry } = f;
    if (!layout?.length) out.push(f.stamp ? { ...entry, stamp: f.stamp } : entry);
    // A copy read from another file is not the file whose stat data was taken when it was hashed.
    else for (const copy of layout) out.push({ ...entry, path: copy.path, source: copy.source, ...(copy.source === f.source && stamp ? { stamp } : {}) });
  }
  return out.sort((a, b) => comparePaths(a.path, b.path));
}

/**
 * The archive's files as the Hub has them: flattened by name, identical copies as one. Returns
 * what differs from `hub` (the Hub's manifest.json but itself), or undefined when they agree.
 */
export function differenceFromFlat(archive: readonly PublishedFile[], hub: readonly PublishedFile[]): string | undefined {
  const flat = new Map<string, PublishedFile & { from: string }>();
  for (const f of archive) {
    const name = path.posix.basename(f.path);
    const seen = flat.get(name);
    if (!seen) flat.set(name, { path: name, size: f.size, sha256: f.sha256, from: f.path });
    else if (seen.sha256 !== f.sha256 || seen.size !== f.size) return `${seen.from} and ${f.path} differ, but the Hub has one ${name}`;
  }
  const want = new Map(hub.map((f) => [f.path, f]));
  for (const [name, f] of flat) {
    const h = want.get(name);
    if (!h) return `${f.from} is not on the Hub`;
    if (h.sha256 !== f.sha256 || h.size !== f.size) return `${f.from}: sha256 ${f.sha256.slice(0, 12)}…, the Hub's ${name} ${h.sha256.slice(0, 12)}…`;
  }
  const missing = hub.find((f) => !flat.has(f.path));
  return missing ? `the Hub's ${missing.path} is not in the archive` : undefined;
}
