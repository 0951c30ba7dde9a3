// What the Hub serves for an LFS file, asked without downloading it: `resolve` answers with the
// redirect to storage and names the object (`X-Linked-ETag`: its sha256, `X-Linked-Size`), and a
// ranged read of the first bytes from storage shows storage holds that object. A file proven by a
// full download in an earlier release of the repo is proven again this way when its sha256 and
// size are the ones recorded then: a README-only re-release does not download the model again.
import { open } from "node:fs/promises";
import { hubResolveUrl } from "./download.js";
import type { HubTarget } from "./types.js";

/** Bytes read from the start of the object and compared with the local file's. */
export const PROBE_BYTES = 64 * 1024;

export interface ProbeOptions extends HubTarget {
  revision: string;
  path: string;
  sha256: string;
  size: number;
  /** The local file with these bytes (the checkpoint's): its first bytes are compared. */
  source: string;
  signal?: AbortSignal;
}

/** Why the probe did not prove the file (then it is downloaded), or undefined when it did. */
export async function probeHubLfsFile(o: ProbeOptions): Promise<string | undefined> {
  const f = o.fetch ?? globalThis.fetch;
  const url = hubResolveUrl(o, o.revision, o.path);
  const res = await f(url, { method: "HEAD", redirect: "manual", headers: { ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}), "Accept-Encoding": "identity" }, ...(o.signal ? { signal: o.signal } : {}) });
  await res.body?.cancel().catch(() => undefined);
  const location = res.headers.get("location");
  const etag = res.headers.get("x-linked-etag")?.replace(/^W\//, "").replace(/"/g, "");
  const size = Number(res.headers.get("x-linked-size"));
  if (res.status < 300 || res.status >= 400 || !location) return `resolve answered ${res.status}, not a redirect to storage`;
  if (etag !== o.sha256) return `the Hub names another object (${etag ?? "none"})`;
  if (size !== o.size) return `the Hub gives another size (${res.headers.get("x-linked-size") ?? "none"})`;
  // Storage holds that object: its first bytes, read with no token, are the local file's.
  const want = Math.min(PROBE_BYTES, o.size);
  if (want === 0) return undefined;
  const head = await f(new URL(location, url).href, { headers: { Range: `bytes=0-${want - 1}`, "Accept-Encoding": "identity" }, redirect: "manual", ...(o.signal ? { signal: o.signal } : {}) });
  if (head.status !== 206 && head.status !== 200) {
    await head.body?.cancel().catch(() => undefined);
    return `storage answered ${head.status}`;
  }
  const got = await readAtMost(head, want);
  const local = Buffer.alloc(want);
  const fh = await open(o.source, "r");
  try {
    await fh.read(local, 0, want, 0);
  } finally {
    await fh.close();
  }
  return got.equals(local) ? undefined : "storage serves other bytes";
}

/** The first `n` bytes of a body, and no more read from the socket. */
async function readAtMost(res: Response, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  const reader = res.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  try {
    while (have < n) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
      have += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, n);
}
