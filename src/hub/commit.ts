// One atomic Hub commit of files whose sha256 is already known (the manifest's): the documented
// endpoints @huggingface/hub's commit uses (preupload → LFS batch + PUTs → ndjson commit), but
// fed the manifest's oids, so no byte is hashed again. Regular files travel inside the commit
// request (they are under 10 MiB); LFS files go to storage first, streamed from disk.
import { open } from "node:fs/promises";
import type { ManifestEntry } from "../checkpoint/types.js";
import { DiskBlob, readRegularFile } from "./file-blob.js";
import { assertUnchangedSinceManifest } from "./file-guard.js";
import { HubPublishError } from "./errors.js";
import { uploadLfsObjects, type LfsUploadResult } from "./lfs-upload.js";
import { sendOnce } from "./retry-fetch.js";
import type { DesiredFile } from "./plan.js";
import { authHeaders, httpError, repoApiUrl } from "./tree.js";

/** One Hub commit: where it goes, what it adds and deletes, on top of which commit. */
export interface HubCommitRequest {
  endpoint: string;
  repoId: string;
  token: string;
  branch: string;
  /** Files to add or update (from the plan). */
  files: readonly DesiredFile[];
  deletes: readonly string[];
  title: string;
  description?: string;
  parentCommit: string;
  isPullRequest?: boolean;
  fetch: typeof fetch;
  signal?: AbortSignal;
  onPhase?: (phase: "uploading" | "committing") => void;
}

export interface KnownOidCommitOptions extends HubCommitRequest {
  /** For the guard: the files must still be the ones hashed into it. */
  manifest: readonly ManifestEntry[];
  /** Bytes sent for a file (LFS: after each PUT; regular files: once the commit landed). */
  onBytes?: (path: string, bytes: number) => void;
  /**
   * The same files were committed to this repo moments ago (the staged release, now committed to
   * the branch users get): the paths the Hub took in LFS then. Nothing is asked or uploaded
   * again; the Hub refuses a commit naming an LFS object it does not hold.
   */
  knownLfs?: ReadonlySet<string>;
}

export interface KnownOidCommitResult {
  commitOid: string;
  commitUrl: string;
  pullRequestUrl?: string;
  /** How each file travelled. */
  lfs: LfsUploadResult;
  lfsPaths: Set<string>;
}

/** Files per preupload call (the Hub's limit). */
const PREUPLOAD_BATCH = 100;

export async function commitKnownOids(opts: KnownOidCommitOptions): Promise<KnownOidCommitResult> {
  const pr = opts.isPullRequest ? "?create_pr=1" : "";
  const sendPaths = new Set(opts.files.filter((f) => typeof f.source === "string").map((f) => f.path));
  const hubWantsLfs = opts.knownLfs ?? (await preupload(opts, pr));
  // LFS when our rule (size, binary, patterns: what the committed .gitattributes says) or the Hub's says so.
  const lfsFiles = opts.files.filter((f) => typeof f.source === "string" && (f.storage === "lfs" || hubWantsLfs.has(f.path)));
  const lfsPaths = new Set(lfsFiles.map((f) => f.path));

  opts.onPhase?.("uploading");
  const lfs: LfsUploadResult = opts.knownLfs ? { uploaded: [], present: lfsFiles.map((f) => f.sha256) } : await uploadLfsObjects({
    endpoint: opts.endpoint,
    repoId: opts.repoId,
    token: opts.token,
    revision: opts.branch,
    objects: await Promise.all(lfsFiles.map(async (f) => ({ oid: f.sha256, size: f.size, path: f.path, content: await DiskBlob.fromFile(f.source as string) }))),
    fetch: opts.fetch,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
  });
  // Changed while it was being sent: what storage holds may not be what the manifest says.
  await assertUnchangedSinceManifest(opts.manifest, sendPaths);

  opts.onPhase?.("committing");
  const lines: unknown[] = [{ key: "header", value: { summary: opts.title, ...(opts.description ? { description: opts.description } : {}), parentCommit: opts.parentCommit } }];
  for (const f of opts.files) {
    if (lfsPaths.has(f.path)) lines.push({ key: "lfsFile", value: { path: f.path, algo: "sha256", size: f.size, oid: f.sha256 } });
    else lines.push({ key: "file", value: { content: (await readRegularFile(f)).toString("base64"), path: f.path, encoding: "base64" } });
  }
  for (const p of opts.deletes) lines.push({ key: "deletedFile", value: { path: p } });
  const init: RequestInit = {
    method: "POST",
    headers: { ...authHeaders(opts.token), "Content-Type": "application/x-ndjson" },
    body: lines.map((l) => JSON.stringify(l)).join("\n"),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  // A branch commit sent twice is refused by its parentCommit (412, then re-planned); a pull
  // request has no such guard, and a retry after a lost answer would open a second one.
  const res = await opts.fetch(`${repoApiUrl(opts)}/commit/${encodeURIComponent(opts.branch)}${pr}`, pr ? sendOnce(init) : init);
  if (!res.ok) throw await httpError(res, `commit to ${opts.repoId}`);
  const out = (await res.json()) as { commitOid?: string; commitUrl?: string; pullRequestUrl?: string };
  if (!out.commitOid) throw new HubPublishError(`the Hub answered the commit to ${opts.repoId} without a commit id`);
  for (const f of opts.files) if (!lfsPaths.has(f.path)) opts.onBytes?.(f.path, f.size);
  return {
    commitOid: out.commitOid,
    commitUrl: out.commitUrl ?? `${opts.endpoint}/${opts.repoId}/commit/${out.commitOid}`,
    ...(out.pullRequestUrl ? { pullRequestUrl: out.pullRequestUrl } : {}),
    lfs,
    lfsPaths,
  };
}

/** Ask the Hub which files it wants in LFS (it decides on size and a 512-byte sample). */
async function preupload(opts: KnownOidCommitOptions, pr: string): Promise<Set<string>> {
  const wanted = new Set<string>();
  const ga = opts.files.find((f) => f.path === ".gitattributes");
  const gitAttributes = ga ? (await readRegularFile(ga)).toString("utf8") : undefined;
  for (let i = 0; i < opts.files.length; i += PREUPLOAD_BATCH) {
    const batch = opts.files.slice(i, i + PREUPLOAD_BATCH);
    const files = await Promise.all(batch.map(async (f) => ({ path: f.path, size: f.size, sample: (await sample(f)).toString("base64") })));
    const res = await opts.fetch(`${repoApiUrl(opts)}/preupload/${encodeURIComponent(opts.branch)}${pr}`, {
      method: "POST",
      headers: { ...authHeaders(opts.token), "Content-Type": "application/json" },
      body: JSON.stringify({ ...(gitAttributes !== undefined ? { gitAttributes } : {}), files }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (!res.ok) throw await httpError(res, `prepare the upload to ${opts.repoId}`);
    const answer = (await res.json()) as { files?: Array<{ path: string; uploadMode?: string }> };
    for (const f of answer.files ?? []) if (f.uploadMode === "lfs") wanted.add(f.path);
  }
  return wanted;
}

async function sample(f: DesiredFile): Promise<Buffer> {
  if (typeof f.source !== "string") return Buffer.from(f.source.bytes.subarray(0, 512));
  const fh = await open(f.source, "r");
  try {
    const buf = Buffer.alloc(Math.min(512, f.size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
