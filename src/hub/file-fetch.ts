// The fetch under every Hub request: a request whose body is a file on disk (a DiskBlob: an LFS
// PUT, whole or one multipart part) is sent with node:http, the file piped into the socket in
// bounded chunks (about half the CPU of fetch's web-stream path, nearer curl; and nothing
// buffered); anything else goes to the global fetch. Like `redirect: "error"`, a redirect
// answer is returned as is, never followed: a presigned URL does not redirect.
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DiskBlob } from "./file-blob.js";

export const fileStreamingFetch: typeof fetch = (input, init) => {
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
    pipeline(body.nodeStream(), req).catch(fail); // after a response, a late error changes nothing
  });
};
