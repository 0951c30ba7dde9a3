// After a publish: prove the Hub holds exactly our bytes at the new commit.
import type { ManifestEntry } from "../checkpoint/types.js";
import { toHubUserError } from "./errors.js";
import { gitBlobSha1, gitBlobSha1OfBytes, listRemoteTree } from "./tree.js";
import type { HubTarget, RemoteFile } from "./types.js";

export interface VerifyOptions extends HubTarget {
  /** Commit sha (or revision) to verify. */
  revision: string;
  manifest: readonly ManifestEntry[];
  /** Expected `.gitattributes` content (the plan's), checked too when given. */
  gitattributes?: string;
}

export interface VerifyMismatch {
  path: string;
  problem: string;
}

export interface VerifyResult {
  ok: boolean;
  revision: string;
  /** Files compared. */
  checked: number;
  mismatches: VerifyMismatch[];
  /** Remote files not in the manifest (left by a publish without prune). */
  extra: string[];
}

/** Every manifest file is on the Hub at `revision` with the same size and sha256 (LFS) or git blob id (regular). */
export async function verifyHubRevision(opts: VerifyOptions): Promise<VerifyResult> {
  let remote: RemoteFile[];
  try {
    remote = await listRemoteTree(opts);
  } catch (err) {
    throw toHubUserError(err, { action: `list ${opts.repoId}@${opts.revision}`, repoId: opts.repoId, endpoint: opts.endpoint, token: opts.token });
  }
  const byPath = new Map(remote.map((r) => [r.path, r]));
  const mismatches: VerifyMismatch[] = [];
  let checked = 0;
  const expected: Array<{ path: string; size: number; sha256?: string; source: string | Uint8Array }> = opts.manifest
    .filter((e) => !(opts.gitattributes !== undefined && e.path === ".gitattributes"))
    .map((e) => ({ path: e.path, size: e.size, sha256: e.sha256, source: e.source }));
  if (opts.gitattributes !== undefined) {
    const bytes = new TextEncoder().encode(opts.gitattributes);
    expected.push({ path: ".gitattributes", size: bytes.length, source: bytes });
  }
  for (const e of expected) {
    checked++;
    const r = byPath.get(e.path);
    if (!r) {
      mismatches.push({ path: e.path, problem: "missing on the Hub" });
      continue;
    }
    if (r.size !== e.size) {
      mismatches.push({ path: e.path, problem: `size ${r.size} on the Hub, ${e.size} locally` });
      continue;
    }
    if (r.lfs) {
      if (!e.sha256) mismatches.push({ path: e.path, problem: "stored with LFS on the Hub, expected a regular file" });
      else if (r.lfs.oid !== e.sha256) mismatches.push({ path: e.path, problem: `sha256 ${r.lfs.oid} on the Hub, ${e.sha256} locally` });
      continue;
    }
    const local = typeof e.source === "string" ? await gitBlobSha1(e.source, e.size) : gitBlobSha1OfBytes(e.source);
    if (local !== r.oid) mismatches.push({ path: e.path, problem: `git blob ${r.oid} on the Hub, ${local} locally` });
  }
  const names = new Set(expected.map((e) => e.path));
  const extra = remote.filter((r) => !names.has(r.path)).map((r) => r.path);
  return { ok: mismatches.length === 0, revision: opts.revision, checked, mismatches, extra };
}

