// Each question asked of the Hub once per run: the repo info, a revision, the refs, a tree
// listing, whoami and the .gitattributes at a commit are read once and shared by the preflight, the
// plan, the publish and the verification. Reads are keyed by method, URL and credential; a write
// to a repo (a commit, a tag, a branch, its settings, its creation, a git push) forgets what it
// may have changed there: every read of the repo that names a branch, a tag or the repo itself.
// What is addressed by a commit id never changes and is kept. Large bodies (a download) and
// anything but a plain answer (a redirect, an error other than 404, a ranged read) pass through.
//
// One memo per run (src/release/remotes.ts makes it): two runs in one process never share one.
import { createHash } from "node:crypto";
import type { HttpFetch } from "../util/http.js";

/** The most body bytes one read keeps (API answers and small files at a commit). */
const MAX_KEPT_BYTES = 8 * 1024 * 1024;
const COMMIT_ID = /^[0-9a-f]{40}$/;

interface Kept {
  status: number;
  statusText: string;
  headers: [string, string][];
  url: string;
  body: Uint8Array;
}

interface Entry {
  /** The repo the read concerns (`ns/name`), when it concerns one. */
  repo?: string;
  /** Addressed by a commit id: no write changes it. */
  immutable: boolean;
  answer: Promise<Kept | undefined>;
}

/** How a Hub URL reads: which repo, whether it is fixed by a commit id, whether it may be kept at all. */
function classify(url: URL): { keep: boolean; repo?: string; immutable: boolean } {
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "api" && parts[1] === "whoami-v2") return { keep: true, immutable: false };
  if (parts[0] === "api" && parts[1] === "models" && parts.length >= 4) {
    const repo = `${parts[2]}/${parts[3]}`;
    const [kind, rev] = [parts[4], parts[5]];
    const immutable = (kind === "tree" || kind === "revision") && COMMIT_ID.test(rev ?? "");
    return { keep: true, repo, immutable };
  }
  // The .gitattributes the plan reads at the parent commit (each file of the proof is read once anyway).
  if (parts.length === 5 && parts[2] === "resolve" && parts[4] === ".gitattributes") return { keep: COMMIT_ID.test(parts[3]!), repo: `${parts[0]}/${parts[1]}`, immutable: true };
  return { keep: false, immutable: false };
}

/** The repo a write changes; undefined when it may be any (a repo created, moved or deleted). */
function writtenRepo(url: URL): { write: boolean; repo?: string } {
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "api" && parts[1] === "repos") return { write: true };
  if (parts[0] === "api" && parts[1] === "models" && parts.length >= 5) {
    // preupload and paths-info only ask.
    if (parts[4] === "preupload" || parts[4] === "paths-info") return { write: false };
    return { write: true, repo: `${parts[2]}/${parts[3]}` };
  }
  return { write: false };
}

export interface HubReadMemo {
  fetch: HttpFetch;
  /** A write made outside this fetch (a git push) changed `repoId`: forget its reads. */
  forget(repoId?: string): void;
}

const memos = new WeakMap<typeof fetch, HubReadMemo>();

/** A write to `repoId` went around `f` (git pushed to the Hub): the memo behind `f`, if any, forgets the repo's reads. */
export function forgetHubReads(f: typeof fetch | undefined, repoId: string): void {
  if (f) memos.get(f)?.forget(repoId);
}

export function memoizeHubReads(inner: HttpFetch): HubReadMemo {
  const entries = new Map<string, Entry>();
  const forget = (repo?: string): void => {
    for (const [k, e] of entries) {
      if (e.immutable) continue;
      if (repo === undefined ? e.repo !== undefined : e.repo === repo) entries.delete(k);
    }
  };
  const memoFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : undefined;
    const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? req?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers ?? req?.headers);
    const url = new URL(href);
    if (method !== "GET" && method !== "HEAD") {
      const w = writtenRepo(url);
      if (!w.write) return inner(input, init);
      forget(w.repo);
      try {
        return await inner(input, init);
      } finally {
        forget(w.repo);
      }
    }
    const c = classify(url);
    if (method !== "GET" || !c.keep || headers.has("range") || init?.redirect === "manual") return inner(input, init);
    const auth = headers.get("authorization");
    const key = `${url.href} ${auth ? createHash("sha256").update(auth).digest("hex") : "-"}`;
    const known = entries.get(key);
    if (known) {
      const kept = await known.answer.catch(() => undefined);
      // An answer not kept (an error, a large body): this caller asks on its own.
      return kept ? replay(kept) : inner(input, init);
    }
    const pending = inner(input, init).then(keep);
    const entry: Entry = { ...(c.repo ? { repo: c.repo } : {}), immutable: c.immutable, answer: pending.then((p) => p.kept) };
    entries.set(key, entry);
    entry.answer.catch(() => undefined); // the caller below sees the error
    const forgetIfMine = (): void => void (entries.get(key) === entry && entries.delete(key));
    try {
      const { kept, res } = await pending;
      if (!kept) {
        forgetIfMine();
        return res;
      }
      return replay(kept);
    } catch (err) {
      forgetIfMine();
      throw err;
    }
  };
  const f = Object.assign(memoFetch, { timeouts: inner.timeouts }) as unknown as HttpFetch;
  const memo: HubReadMemo = { fetch: f, forget };
  memos.set(f, memo);
  return memo;
}

/**
 * The whole answer, when it is one to keep; otherwise the response for its caller, as unread as
 * it came (a body of unknown length read past the limit is handed on from where it stopped).
 */
async function keep(res: Response): Promise<{ kept?: Kept; res: Response }> {
  const length = res.headers.get("content-length");
  if ((res.status !== 200 && res.status !== 404) || res.redirected || Number(length) > MAX_KEPT_BYTES) return { res };
  const chunks: Uint8Array[] = [];
  let have = 0;
  const reader = res.body?.getReader();
  while (reader) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.length;
    if (have > MAX_KEPT_BYTES) return { res: resumed(res, chunks, reader) };
  }
  const body = Buffer.concat(chunks);
  return { kept: { status: res.status, statusText: res.statusText, headers: [...res.headers], url: res.url, body }, res };
}

/** `res` again, its body the chunks already read followed by the rest. */
function resumed(res: Response, read: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of read) c.enqueue(chunk);
    },
    async pull(c) {
      const { value, done } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  if (res.url) Object.defineProperty(out, "url", { value: res.url });
  return out;
}

function replay(k: Kept): Response {
  const res = new Response(k.body.slice(), { status: k.status, statusText: k.statusText, headers: k.headers });
  if (k.url) Object.defineProperty(res, "url", { value: k.url });
  return res;
}
