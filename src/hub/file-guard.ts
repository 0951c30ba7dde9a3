// The manifest's sha256 is the only hash a publish uses (no second read of a 50 GB file), so
// before bytes leave, each file must still be the one that was hashed: same size, modification
// time and inode as recorded when the manifest was made (what the hash cache keys on). Cheap: a
// stat per file.
import { stat } from "node:fs/promises";
import type { ManifestEntry } from "../checkpoint/types.js";
import { HubPublishError } from "./errors.js";

/** Why `entry`'s file is not the one that was hashed, or undefined when it is. */
export async function changedSinceManifest(entry: ManifestEntry): Promise<string | undefined> {
  let st;
  try {
    st = await stat(entry.source, { bigint: true });
  } catch {
    return "it is gone";
  }
  if (Number(st.size) !== entry.size) return `${st.size} bytes now, ${entry.size} when hashed`;
  if (!entry.stamp) return undefined; // a manifest made without stat data: size is all we can check
  if (String(st.mtimeNs) !== entry.stamp.mtimeNs) return "its modification time changed";
  if (String(st.ino) !== entry.stamp.ino) return "it was replaced by another file";
  return undefined;
}

/** Refuse, before anything is sent, when a file of `paths` changed since the manifest was computed. */
export async function assertUnchangedSinceManifest(manifest: readonly ManifestEntry[], paths: ReadonlySet<string>): Promise<void> {
  const changed: string[] = [];
  for (const e of manifest) {
    if (!paths.has(e.path)) continue;
    const why = await changedSinceManifest(e);
    if (why) changed.push(`${e.path} (${why})`);
  }
  if (changed.length) {
    throw new HubPublishError(`${changed.join(", ")}: changed on disk since its sha256 was computed; nothing was uploaded. Run the release again to hash the new contents`);
  }
}
