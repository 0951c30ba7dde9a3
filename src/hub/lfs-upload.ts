// Upload LFS objects the Hub lacks, addressed by the manifest's sha256 (nothing is hashed
// here): the git-lfs batch API (`basic` and the Hub's `multipart` transfers), presigned PUTs
// carrying the batch answer's headers only, never the token. What the batch answer lists
// without an upload action is already stored and is not sent again: that is what makes a
// re-run after an interruption cheap.
//
// Bytes stream from disk: every PUT body is a file-backed Blob (a whole file or one part),
// read in bounded chunks, re-read from disk when a retry sends it again. Whole files and
// multipart parts share one pool of PUTs, so several files and the parts of one file go in
// parallel while memory stays bounded by the pool size.
import { HubApiError } from "@huggingface/hub";
import { defaultHubFetch } from "./errors.js";
import { DiskBlob } from "./file-blob.js";
import { authHeaders, httpError } from "./tree.js";

export interface LfsObject {
  oid: string;
  size: number;
  /** Repo path (for messages and progress). */
  path: string;
  /** Re-sendable content (a file-backed Blob). */
  content: Blob;
}

export interface LfsUploadOptions {
  endpoint: string;
  repoId: string;
  token?: string;
  /** Branch the objects are for (the batch `ref`). */
  revision: string;
  objects: readonly LfsObject[];
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /**
   * Bytes sent, as they go: called with the change in bytes handed to the connection for `path`
   * (negative when a retried PUT starts its part again). For a file-backed object this follows
   * the stream; otherwise it comes once its PUT is done.
   */
  onBytes?: (path: string, bytes: number) => void;
  /** PUTs in flight at once, whole objects and multipart parts together (default 4). */
  concurrency?: number;
}

export interface LfsUploadResult {
  /** oids sent now. */
  uploaded: string[];
  /** oids the Hub already had. */
  present: string[];
}

interface UploadAction {
  href: string;
  header?: Record<string, string>;
}

interface BatchObject {
  oid: string;
  size: number;
  actions?: { upload?: UploadAction };
  error?: { code: number; message: string };
}

/** Objects per batch call (the Hub's limit). */
const BATCH_SIZE = 100;

/** Run `jobs` with at most `limit` at once; the first failure stops the rest. */
async function pool(jobs: ReadonlyArray<() => Promise<void>>, limit: number, signal: AbortSignal): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, jobs.length) }, async () => {
    while (next < jobs.length) {
      signal.throwIfAborted();
      await jobs[next++]!();
    }
  });
  await Promise.all(workers);
}

/**
 * A PUT of a file-backed Blob to a presigned URL. `redirect: "error"` matters: with any other
 * mode fetch clones the request, and the unread copy of the body stream keeps every byte sent
 * in memory until the request ends (the whole file).
 */
async function putBlob(f: typeof fetch, url: string, body: Blob, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  return f(url, { method: "PUT", body, headers, redirect: "error", signal });
}

export async function uploadLfsObjects(opts: LfsUploadOptions): Promise<LfsUploadResult> {
  const f = opts.fetch ?? defaultHubFetch();
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onOuterAbort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const signal = abort.signal;
  const result: LfsUploadResult = { uploaded: [], present: [] };
  const unique = [...new Map(opts.objects.map((o) => [o.oid, o])).values()];
  try {
    const jobs: Array<() => Promise<void>> = [];
    for (let i = 0; i < unique.length; i += BATCH_SIZE) {
      const batch = unique.slice(i, i + BATCH_SIZE);
      for (const { obj, action } of await requestUpload(f, opts, batch, result, signal)) {
        if (action.header?.chunk_size) jobs.push(...multipartJobs(f, obj, action, opts, result, signal));
        else {
          jobs.push(async () => {
            const sent = sentCounter(obj.path, opts.onBytes);
            const put = await putBlob(f, action.href, sent.track(obj.content), transferHeaders(action.header), signal);
            if (!put.ok) throw await httpError(put, `upload ${obj.path} to LFS storage`);
            await put.body?.cancel();
            sent.done(obj.size);
            result.uploaded.push(obj.oid);
          });
        }
      }
    }
    await pool(jobs, opts.concurrency ?? 4, signal);
    return result;
  } catch (err) {
    abort.abort(err);
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

/**
 * The bytes one PUT has sent, reported to `onBytes` as changes: as the body is read when it is a
 * file on disk, and in full when the PUT is done (for any other body, and to settle the count).
 */
function sentCounter(path: string, onBytes: LfsUploadOptions["onBytes"]) {
  let counted = 0;
  const report = (now: number): void => {
    if (now !== counted) onBytes?.(path, now - counted);
    counted = now;
  };
  return {
    track: (body: Blob): Blob => (onBytes && body instanceof DiskBlob ? body.tracked(report) : body),
    done: (size: number): void => report(size),
  };
}

/** One batch call: the objects to send with their actions; the stored ones go to `result.present`. */
async function requestUpload(
  f: typeof fetch,
  opts: LfsUploadOptions,
  batch: readonly LfsObject[],
  result: LfsUploadResult,
  signal: AbortSignal,
): Promise<Array<{ obj: LfsObject; action: UploadAction }>> {
  const res = await f(`${opts.endpoint}/${opts.repoId}.git/info/lfs/objects/batch`, {
    method: "POST",
    headers: { ...authHeaders(opts.token), Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" },
    body: JSON.stringify({
      operation: "upload",
      transfers: ["basic", "multipart"],
      hash_algo: "sha_256",
      ref: { name: opts.revision },
      objects: batch.map((o) => ({ oid: o.oid, size: o.size })),
    }),
    signal,
  });
  if (!res.ok) throw await httpError(res, "start the LFS upload");
  const answer = (await res.json()) as { objects: BatchObject[] };
  const byOid = new Map(batch.map((o) => [o.oid, o]));
  const todo: Array<{ obj: LfsObject; action: UploadAction }> = [];
  for (const a of answer.objects) {
    const obj = byOid.get(a.oid);
    if (!obj) throw new Error(`the LFS batch answer lists an object that was not asked for (${a.oid})`);
    if (a.error) throw new HubApiError(res.url, a.error.code, undefined, `LFS upload of ${obj.path} refused: ${a.error.message}`);
    if (a.actions?.upload) todo.push({ obj, action: a.actions.upload });
    else result.present.push(a.oid);
  }
  return todo;
}

/** The batch answer's headers for a basic PUT (multipart keys are part URLs, not headers). */
function transferHeaders(header: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(header ?? {}).filter(([k]) => !/^\d+$/.test(k) && k !== "chunk_size"));
}

/** One job per part; the part that finishes last completes the upload. */
function multipartJobs(f: typeof fetch, obj: LfsObject, action: UploadAction, opts: LfsUploadOptions, result: LfsUploadResult, signal: AbortSignal): Array<() => Promise<void>> {
  const header = action.header!;
  const chunkSize = Number.parseInt(header.chunk_size!, 10);
  const parts = Object.keys(header)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));
  if (!(chunkSize > 0) || parts.length !== Math.ceil(obj.size / chunkSize)) {
    throw new Error(`the Hub asked for ${parts.length} parts of ${chunkSize} bytes for ${obj.path} (${obj.size} bytes): inconsistent multipart answer`);
  }
  const etags = new Map<number, string>();
  const complete = async (): Promise<void> => {
    const done = await f(action.href, {
      method: "POST",
      headers: { Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" },
      body: JSON.stringify({ oid: obj.oid, parts: parts.map((p) => ({ partNumber: Number(p), etag: etags.get(Number(p))! })) }),
      signal,
    });
    if (!done.ok) throw await httpError(done, `complete the multipart upload of ${obj.path}`);
    await done.body?.cancel();
    result.uploaded.push(obj.oid);
  };
  return parts.map((part) => async () => {
    const n = Number(part);
    const slice = obj.content.slice((n - 1) * chunkSize, n * chunkSize);
    const sent = sentCounter(obj.path, opts.onBytes);
    const res = await putBlob(f, header[part]!, sent.track(slice), {}, signal);
    if (!res.ok) throw await httpError(res, `upload part ${n} of ${obj.path} to LFS storage`);
    await res.body?.cancel();
    const etag = res.headers.get("ETag");
    if (!etag) throw new Error(`LFS storage answered part ${n} of ${obj.path} without an ETag`);
    etags.set(n, etag);
    sent.done(slice.size);
    if (etags.size === parts.length) await complete();
  });
}
