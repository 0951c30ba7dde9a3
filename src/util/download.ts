// A download as a user's client makes it: GET, redirects followed by hand, the credential sent
// to the origin it belongs to and dropped as soon as a redirect leaves it (LFS and release
// storage refuse a request that carries one, and must never see it), the body streamed to disk
// and hashed as it is written (a 50 GB file never sits in memory).
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

export interface DownloadOptions {
  /** The fetch to use (the Hub's retrying fetch, GitHub's). */
  fetch: typeof fetch;
  /** `Authorization` for the first URL's origin only. */
  authorization?: string;
  /** Headers for every hop (`Accept`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Default 5. */
  maxRedirects?: number;
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
  ) {
    super(message);
    this.name = "DownloadError";
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
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    hops.push(current.origin);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.authorization && current.origin === first) headers.Authorization = opts.authorization;
    const res = await opts.fetch(current.href, { headers, redirect: "manual", ...(opts.signal ? { signal: opts.signal } : {}) });
    if (REDIRECT.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get("location");
      if (!location) throw new DownloadError(`${publicUrl(current)} answered ${res.status} without a Location`, res.status, publicUrl(current));
      if (redirects >= (opts.maxRedirects ?? 5)) throw new DownloadError(`${publicUrl(url)}: more than ${opts.maxRedirects ?? 5} redirects`, res.status, publicUrl(url));
      const next = new URL(location, current);
      if (next.protocol !== "https:" && next.protocol !== "http:") throw new DownloadError(`${publicUrl(current)} redirects to a ${next.protocol} URL`, res.status, publicUrl(current));
      current = next;
      continue;
    }
    if (!res.ok || !res.body) {
      const detail = await res.text().then((t) => t.slice(0, 200).replace(/\s+/g, " ").trim(), () => "");
      throw new DownloadError(`${publicUrl(current)} answered ${res.status}${detail ? `: ${detail}` : ""}`, res.status, publicUrl(current));
    }
    await mkdir(path.dirname(dest), { recursive: true });
    const hash = createHash("sha256");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(dest), ...(opts.signal ? [{ signal: opts.signal }] : []));
    return { size, sha256: hash.digest("hex"), hops };
  }
}
