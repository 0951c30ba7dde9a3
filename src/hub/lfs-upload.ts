// Upload LFS objects the Hub lacks, addressed by the manifest's sha256 (nothing is hashed
// here): the git-lfs batch API (`basic` and the Hub's `multipart` transfers), presigned PUTs
// without Authorization. What the batch answer lists without an upload action is already
// stored and is not sent again: that is what makes a re-run after an interruption cheap.
import { HubApiError } from "@huggingface/hub";
import { defaultHubFetch } from "./errors.js";
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
  /** Called after each PUT (whole object or one part) with the bytes it sent. */
  onBytes?: (path: string, bytes: number) => void;
  /** Objects uploaded at once (default 5) and parts per object at once (default 5). */
  concurrency?: number;
  partConcurrency?: number;
}

export interface LfsUploadResult {
  /** oids sent now. */
  uploaded: string[];
  /** oids the Hub already had. */
  present: string[];
}

interface BatchObject {
  oid: string;
  size: number;
  actions?: { upload?: { href: string; header?: Record<string, string> } };
  error?: { code: number; message: string };
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      signal?.throwIfAborted();
      await fn(items[next++]!);
    }
  });
  await Promise.all(workers);
}

export async function uploadLfsObjects(opts: LfsUploadOptions): Promise<LfsUploadResult> {
  const f = opts.fetch ?? defaultHubFetch();
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const signal = abort.signal;
  const result: LfsUploadResult = { uploaded: [], present: [] };
  const unique = [...new Map(opts.objects.map((o) => [o.oid, o])).values()];
  try {
    for (let i = 0; i < unique.length; i += 100) {
      const batch = unique.slice(i, i + 100);
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
      const todo: Array<{ obj: LfsObject; action: NonNullable<NonNullable<BatchObject["actions"]>["upload"]> }> = [];
      for (const a of answer.objects) {
        const obj = byOid.get(a.oid);
        if (!obj) throw new Error(`the LFS batch answer lists an object that was not asked for (${a.oid})`);
        if (a.error) throw new HubApiError(res.url, a.error.code, undefined, `LFS upload of ${obj.path} refused: ${a.error.message}`);
        if (a.actions?.upload) todo.push({ obj, action: a.actions.upload });
        else result.present.push(a.oid);
      }
      await pool(
        todo,
        opts.concurrency ?? 5,
        async ({ obj, action }) => {
          if (action.header?.chunk_size) await multipart(f, obj, action, opts, signal);
          else {
            const put = await f(action.href, { method: "PUT", body: obj.content, signal });
            if (!put.ok) throw await httpError(put, `upload ${obj.path} to LFS storage`);
            await put.body?.cancel();
            opts.onBytes?.(obj.path, obj.size);
          }
          result.uploaded.push(obj.oid);
        },
        signal,
      );
    }
    return result;
  } catch (err) {
    abort.abort(err);
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

async function multipart(
  f: typeof fetch,
  obj: LfsObject,
  action: { href: string; header?: Record<string, string> },
  opts: LfsUploadOptions,
  signal: AbortSignal,
): Promise<void> {
  const header = action.header!;
  const chunkSize = Number.parseInt(header.chunk_size!, 10);
  const parts = Object.keys(header)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));
  if (!(chunkSize > 0) || parts.length !== Math.ceil(obj.size / chunkSize)) {
    throw new Error(`the Hub asked for ${parts.length} parts of ${chunkSize} bytes for ${obj.path} (${obj.size} bytes): inconsistent multipart answer`);
  }
  const etags = new Map<number, string>();
  await pool(
    parts,
    opts.partConcurrency ?? 5,
    async (part) => {
      const n = Number(part);
      const slice = obj.content.slice((n - 1) * chunkSize, n * chunkSize);
      const res = await f(header[part]!, { method: "PUT", body: slice, signal });
      if (!res.ok) throw await httpError(res, `upload part ${n} of ${obj.path} to LFS storage`);
      await res.body?.cancel();
      const etag = res.headers.get("ETag");
      if (!etag) throw new Error(`LFS storage answered part ${n} of ${obj.path} without an ETag`);
      etags.set(n, etag);
      opts.onBytes?.(obj.path, slice.size);
    },
    signal,
  );
  const done = await f(action.href, {
    method: "POST",
    headers: { Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" },
    body: JSON.stringify({ oid: obj.oid, parts: parts.map((p) => ({ partNumber: Number(p), etag: etags.get(Number(p))! })) }),
    signal,
  });
  if (!done.ok) throw await httpError(done, `complete the multipart upload of ${obj.path}`);
  await done.body?.cancel();
}
