// The commit through @huggingface/hub's own commitIter, for Xet storage (`hub.useXet`), whose
// chunked upload protocol only the library speaks. The library reads each LFS file once more
// to hash it (it takes no known sha256); the plain LFS path (commit.ts) does not.
import { commitIter, type CommitOperation, type CommitOutput } from "@huggingface/hub";
import { DiskBlob } from "./file-blob.js";
import { HubPublishError } from "./errors.js";
import type { HubCommitRequest } from "./commit.js";

export interface LibraryCommitOptions extends HubCommitRequest {
  /** Progress of one file, 0..1, while the library hashes or sends it. */
  onFile?: (path: string, state: "hashing" | "uploading", progress: number) => void;
}

export async function commitWithLibrary(opts: LibraryCommitOptions): Promise<{ commitOid: string; commitUrl: string; pullRequestUrl?: string }> {
  const operations: CommitOperation[] = [];
  for (const f of opts.files) {
    const content = typeof f.source === "string" ? await DiskBlob.fromFile(f.source) : new Blob([f.source.bytes]);
    operations.push({ operation: "addOrUpdate", path: f.path, content });
  }
  for (const p of opts.deletes) operations.push({ operation: "delete", path: p });
  const iter = commitIter({
    repo: { type: "model", name: opts.repoId },
    operations,
    title: opts.title,
    ...(opts.description ? { description: opts.description } : {}),
    branch: opts.branch,
    parentCommit: opts.parentCommit,
    isPullRequest: !!opts.isPullRequest,
    hubUrl: opts.endpoint,
    accessToken: opts.token,
    useXet: true,
    fetch: opts.fetch,
    ...(opts.signal ? { abortSignal: opts.signal } : {}),
  });
  let res = await iter.next();
  while (!res.done) {
    const ev = res.value;
    if (ev.event === "phase") {
      if (ev.phase === "uploadingLargeFiles") opts.onPhase?.("uploading");
      if (ev.phase === "committing") opts.onPhase?.("committing");
    } else if (ev.state === "hashing" || ev.state === "uploading") opts.onFile?.(ev.path, ev.state, ev.progress);
    res = await iter.next();
  }
  const out = res.value as CommitOutput | undefined;
  if (!out?.commit?.oid) throw new HubPublishError(`the Hub answered the commit to ${opts.repoId} without a commit id`);
  return { commitOid: out.commit.oid, commitUrl: out.commit.url, ...(out.pullRequestUrl ? { pullRequestUrl: out.pullRequestUrl } : {}) };
}
