// The transport under the HTTP layer (src/util/http.ts): a request whose body is a file on disk
// (a DiskBlob: an LFS PUT, whole or one multipart part, a release asset) is sent with node:http,
// the file read into the socket in bounded chunks (about half the CPU of fetch's web-stream path,
// nearer curl; and nothing buffered); anything else goes to the global fetch. Like
// `redirect: "error"`, a redirect answer to a file upload is returned as is, never followed: a
// presigned URL does not redirect.
import http from "node:http";
import https from "node:https";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { DiskBlob } from "./file-body.js";

/**
 * A file upload that moves no byte either way for this long fails with ETIMEDOUT (and is
 * retried like any dropped connection): a storage host that stops reading, or never answers,
 * would otherwise hold the release forever. fetch's own requests have undici's timeouts.
 */
export const UPLOAD_IDLE_TIMEOUT_MS = 300_000;

/** Bytes read and written at a time; two buffers, each reused once the socket took its bytes. */
const SEND_CHUNK = 1024 * 1024;

/**
 * Sends the blob's bytes as the request body: the next chunk is read while the last one is
 * written, into the buffer the socket released before. A stream that allocated a buffer per
 * chunk would leave a gigabyte of garbage behind a gigabyte sent, and its collections would cost
 * as much CPU as the send.
 */
async function sendFile(body: DiskBlob, req: http.ClientRequest): Promise<void> {
  const fh = await open(body.file, "r");
  try {
    const bufs = [Buffer.allocUnsafeSlow(SEND_CHUNK), Buffer.allocUnsafeSlow(SEND_CHUNK)];
    const end = body.size;
    let pos = 0;
    let k = 0;
    let written: Promise<void> = Promise.resolve();
    const readAt = (i: number) => fh.read(bufs[i]!, 0, Math.min(SEND_CHUNK, end - pos), body.start + pos);
    body.reportRead(0);
    let reading = end > 0 ? readAt(0) : undefined;
    while (reading) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) throw new Error(`${body.file} is shorter than expected (changed on disk?)`);
      const chunk = bufs[k]!.subarray(0, bytesRead);
      pos += bytesRead;
      body.reportRead(pos);
      await written; // the other buffer is free again
      written = new Promise<void>((resolve, reject) => req.write(chunk, (err) => (err ? reject(err) : resolve())));
      k ^= 1;
      reading = pos < end ? readAt(k) : undefined;
    }
    await written;
  } finally {
    await fh.close();
  }
  req.end();
}

/** The transport; `idleTimeoutMs` bounds a file upload's silence (tests lower it). */
export function createFileStreamingFetch(opts: { idleTimeoutMs?: number } = {}): typeof fetch {
  const idleTimeoutMs = opts.idleTimeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS;
  return ((input, init) => streamingFetch(input, init, idleTimeoutMs)) as typeof fetch;
}

export const fileStreamingFetch: typeof fetch = createFileStreamingFetch();

function streamingFetch(input: string | URL | Request, init: RequestInit | undefined, idleTimeoutMs: number): Promise<Response> {
  const body = init?.body;
  if (!(body instanceof DiskBlob)) return globalThis.fetch(input, init);
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  const transport = url.protocol === "https:" ? https : url.protocol === "http:" ? http : undefined;
  if (!transport) return Promise.reject(new TypeError(`fetch failed: unsupported protocol ${url.protocol}`));
  const headers: Record<string, string> = Object.fromEntries(new Headers(init?.headers).entries());
  headers["content-length"] = String(body.size);
  const method = (init?.method ?? "PUT").toUpperCase();
  return new Promise<Response>((resolve, reject) => {
    // fetch's error shape: a TypeError whose cause carries the network error code (retries read it).
    const fail = (err: Error): void => reject(err.name === "AbortError" ? err : new TypeError("fetch failed", { cause: err }));
    const req = transport.request(url, { method, headers, ...(init?.signal ? { signal: init.signal } : {}) });
    req.on("error", fail);
    req.setTimeout(idleTimeoutMs, () => {
      req.destroy(Object.assign(new Error(`no byte sent or received for ${idleTimeoutMs >= 1000 ? `${Math.round(idleTimeoutMs / 1000)} s` : `${idleTimeoutMs} ms`}`), { code: "ETIMEDOUT" }));
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) for (const x of [v ?? []].flat()) h.append(k, x);
      const empty = method === "HEAD" || [204, 205, 304].includes(status);
      if (empty) res.resume();
      const response = new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? "", headers: h });
      Object.defineProperty(response, "url", { value: url.href });
      resolve(response);
    });
    // After a response, a late error changes nothing; a failed send also ends the request.
    sendFile(body, req).catch((err: Error) => {
      req.destroy(err);
      fail(err);
    });
  });
}
