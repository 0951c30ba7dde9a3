// A download as a user's client makes it: GET, redirects followed by hand, the credential sent
// to the origin it belongs to and dropped as soon as a redirect leaves it (LFS and release
// storage refuse a request that carries one, and must never see it), the body streamed to disk
// and hashed as it is written (a 50 GB file never sits in memory). Bounded like every read of
// the HTTP layer: the size is known before the first byte (the manifest's, or a cap; at worst
// the room the disk has left), `identity` encoding is asked for and a compressed body refused,
// a pause, a pace under the minimum or the deadline ends it with a named failure, and an error
// answer is read a few KiB at most. The bytes go to a temporary file beside the destination,
// renamed over it only when complete: a failed download leaves nothing behind.
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { openTempBeside } from "./atomic-write.js";
import { checkAnswerHeaders, expectBody, freeSpaceLimit, HttpError, limitBody, readErrorText, timeoutsOf } from "./http.js";

export interface DownloadOptions {
  /** The fetch to use (the HTTP layer's; any fetch works, the bounds hold either way). */
  fetch: typeof fetch;
  /** `Authorization` for the first URL's origin only. */
  authorization?: string;
  /** Headers for every hop (`Accept`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Default 5. */
  maxRedirects?: number;
  /** The file's exact size (from the manifest): a byte more, or fewer at the end, fails. */
  size?: number;
  /** Without a size: at most this many bytes (default: the room left on the destination's disk, less a reserve). */
  maxBytes?: number;
}

export interface Downloaded {
  size: number;
  sha256: string;
  /** Origins the bytes came through, in order (no path, no query: never a presigned signature). */
  hops: string[];
}

/** The answer was not the file: `status` when a server answered, the URL without its query. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly url: string,
    /** What the HTTP layer found wrong (ETIMEDOUT, ETRUNCATED, EBODYLIMIT, ECOMPRESSED), when it was the bytes. */
    readonly code?: string,
  ) {
    super(message);
    this.name = "DownloadError";
  }

  /** Whether the same download may succeed later (a slow or broken connection). */
  get transient(): boolean {
    return this.code === "ETIMEDOUT" || this.code === "ETRUNCATED";
  }
}

/** A URL as it may be shown: origin and path, never the query (a presigned signature). */
export function publicUrl(u: string | URL): string {
  const url = new URL(u);
  return `${url.origin}${url.pathname}`;
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

export async function downloadToFile(url: string, dest: string, opts: DownloadOptions): Promise<Downloaded> {
  const first = new URL(url).origin;
  const hops: string[] = [];
  const timeouts = timeoutsOf(opts.fetch);
  const maxRedirects = opts.maxRedirects ?? 5;
  await mkdir(path.dirname(dest), { recursive: true });
  const limit = opts.size !== undefined ? { size: opts.size } : { maxBytes: opts.maxBytes ?? (await freeSpaceLimit(path.dirname(dest))) };
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    hops.push(current.origin);
    const here = publicUrl(current);
    const headers: Record<string, string> = { ...opts.headers, "Accept-Encoding": "identity" };
    if (opts.authorization && current.origin === first) headers.Authorization = opts.authorization;
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const startedAt = Date.now();
    const res = await opts.fetch(current.href, expectBody({ headers, redirect: "manual", signal }, { ...limit, callerBounds: true }));
    if (REDIRECT.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get("location");
      if (!location) throw new DownloadError(`${here} answered ${res.status} without a Location`, res.status, here);
      if (redirects >= maxRedirects) throw new DownloadError(`${publicUrl(url)}: more than ${maxRedirects} redirects`, res.status, publicUrl(url));
      const next = new URL(location, current);
      if (next.protocol !== "https:" && next.protocol !== "http:") throw new DownloadError(`${here} redirects to a ${next.protocol} URL`, res.status, here);
      current = next;
      continue;
    }
    if (!res.ok || !res.body) {
      const detail = await readErrorText(res, `GET ${here}`, timeouts);
      throw new DownloadError(`${here} answered ${res.status}${detail ? `: ${detail}` : ""}`, res.status, here);
    }
    try {
      checkAnswerHeaders(res, { ...limit, what: here }, { bytes: true });
    } catch (e) {
      await res.body.cancel().catch(() => undefined);
      throw asDownloadError(e, here);
    }
    const body = limitBody(res, { ...limit, what: here, startedAt }, timeouts, (e) => stop.abort(e))!;
    const hash = createHash("sha256");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const out = await openTempBeside(dest);
    try {
      await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), tap, out.stream(), ...(opts.signal ? [{ signal: opts.signal }] : []));
      await out.commit();
    } catch (e) {
      await out.discard();
      if (opts.signal?.aborted) throw e;
      throw asDownloadError(e, here);
    }
    return { size, sha256: hash.digest("hex"), hops };
  }
}

/** The layer's named failures keep their words; anything else stays what it was. */
function asDownloadError(e: unknown, url: string): unknown {
  if (e instanceof HttpError) return new DownloadError(e.message, undefined, url, e.code);
  return e;
}
