// A local Hugging Face Hub for tests: speaks what @huggingface/hub 2.17.x sends on the wire
// (see shared/docs/hub-protocol.md), backed by real bare git repositories + an LFS store, with
// the real Hub's topology: the API, git smart HTTP and the LFS batch API on the Hub origin; LFS
// bytes on a separate storage origin (another loopback address and port) behind presigned URLs,
// which refuses — and records — any request that carries an Authorization header.
import { createHash, createHmac, createPublicKey, randomBytes, randomUUID, verify as cryptoVerify } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable, Transform } from "node:stream";
import { serveGitHttp } from "./git-http.js";
import { HubError, RepoStore, type CommitOp, type TreeEntry } from "./repo-store.js";

export type TokenRole = "read" | "write" | "fineGrained";

export interface FineGrainedScope {
  entity: { type: "user" | "org" | "model"; name: string };
  permissions: string[];
}

export interface TokenSpec {
  user: string;
  role: TokenRole;
  /** When the token stops being accepted (ms since the epoch): tokens from the OIDC exchange expire. */
  expiresAt?: number;
  orgs?: string[];
  /** For role fineGrained: the `auth.accessToken.fineGrained.scoped` entries. */
  scoped?: FineGrainedScope[];
}

export interface HubServerOptions {
  /** token → who it is and what it may do. */
  tokens: Record<string, TokenSpec>;
  /** Where repos are stored (a temp dir by default, removed by stop()). */
  dataDir?: string;
  /** LFS objects larger than this use the multipart transfer with this part size. Default: never. */
  multipartChunkSize?: number;
  /** Entries per page of the tree listing (default 1000). */
  treePageSize?: number;
  port?: number;
  /** A connection silent this long is closed (a client that gave up mid-body; default 5000 ms). */
  socketIdleTimeoutMs?: number;
  /**
   * Trusted Publishers, by repo (the repo's settings on the Hub): a CI job whose OIDC token comes
   * from `issuer` with exactly these claims may exchange it at /oauth/token for a token that
   * writes to that repo only. `workflow` is the workflow file's name (`release.yml`).
   */
  trustedPublishers?: Record<string, { issuer: string; repository: string; ref?: string; workflow?: string }>;
  /** Lifetime of a token the exchange issues (default 3600 s, as the Hub's). */
  oidcTokenTtlSeconds?: number;
}

/** One request to /oauth/token, as the Hub saw it (the JWT itself is never kept). */
export interface TokenExchange {
  resource: string | undefined;
  status: number;
  error?: string;
  /** The token issued (tests hold every output to not contain it). */
  issued?: string;
}

export interface RequestLogEntry {
  /** Which origin answered: the Hub, or the LFS storage host. */
  origin: "hub" | "storage";
  method: string;
  /** Path without the query string (presigned signatures are never logged). */
  path: string;
  status: number;
  /** Body bytes the server received. */
  bytesIn: number;
  /** From the request's arrival to the end of the answer, in ms (0 until answered). */
  ms: number;
  /** When it arrived (performance.now() of the server's process), to line up concurrent requests. */
  at: number;
  authorization: boolean;
  /** The fault injected into this request, if any. */
  fault?: FaultKind;
  /** The request's Range header, if any. */
  range?: string;
}

export type FaultKind = "429" | "500" | "503" | "drop";

export interface Fault {
  kind: FaultKind;
  method?: string;
  /** Matched against the request path (no query). */
  path: RegExp | string;
  /** Which matching request (1-based) gets the fault (default 1). */
  occurrence?: number;
  /** How many consecutive matching requests get it, from `occurrence` (default 1). */
  times?: number;
  /** For 429: Retry-After header value (seconds or HTTP date). */
  retryAfter?: string;
  /** For drop: destroy the socket after receiving this many body bytes (default: half the Content-Length). */
  afterBytes?: number;
}

/** A request that reached the storage host with an Authorization header (the value is never kept). */
export interface StorageAuthorization {
  method: string;
  path: string;
  /** `Bearer`, `Basic`, ... */
  scheme: string;
}

export interface HubServer {
  /** The Hub origin: API, git smart HTTP, LFS batch API, resolve. */
  url: string;
  /** The LFS storage origin (presigned URLs only). */
  storageUrl: string;
  /** Every request that reached storage carrying an Authorization header: must stay empty. */
  storageAuthorizations: StorageAuthorization[];
  stop(): Promise<void>;
  repoDir(repoId: string): string;
  requests: RequestLogEntry[];
  inject(fault: Fault): void;
  /** Drop every fault not yet fired: the remote is healthy again. */
  clearFaults(): void;
  /** Create a repo directly (no HTTP), owned by its namespace. */
  createRepo(repoId: string, opts?: { private?: boolean }): Promise<void>;
  /** A presigned URL for a plain PUT of an object of this size: the same store path the LFS basic transfer uses (for benchmarks). */
  plainPutUrl(repoId: string, oid: string, size: number): string;
  store: RepoStore;
  /** Most PUTs the storage host had in flight at once (uploads in parallel show here). */
  readonly storagePeakPuts: number;
  /**
   * Hold storage PUTs until `n` are in flight at once (then all proceed): proves a client
   * uploads in parallel without timing. A client that never reaches `n` is released after
   * `timeoutMs`, and `storagePeakPuts` tells how far it got.
   */
  holdStoragePuts(n: number, timeoutMs?: number): void;
  /** Test hook: damage what the Hub serves for a file after it was committed (see RepoStore.corrupt). */
  corrupt(repoId: string, filePath: string, opts?: { rev?: string; how?: "flip" | "truncate"; at?: number }): Promise<void>;
  /**
   * Test hook: run `action` once, just before the Hub origin handles the first request matching
   * (e.g. corrupt a file when the first download after the commit arrives: no timing involved).
   */
  beforeRequest(match: { method?: string; path: RegExp }, action: () => Promise<void> | void): void;
  /** Test hook: every token a Trusted Publishing exchange gave so far is refused from now on (401), as when a repo's Trusted Publisher is removed. */
  revokeExchangedTokens(): void;
  /** Resolves when no request is being handled (e.g. after a client aborted mid-upload). */
  idle(timeoutMs?: number): Promise<void>;
  /** Every token exchange (Trusted Publishing), in order. */
  exchanges: TokenExchange[];
}

interface Upload {
  repoId: string;
  oid: string;
  size: number;
  chunkSize: number;
  dir: string;
  etags: Map<number, string>;
}

const MODEL_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export async function startHubServer(options: HubServerOptions): Promise<HubServer> {
  const ownsData = !options.dataDir;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "local-hub-")));
  const store = new RepoStore(dataDir);
  const secret = randomBytes(32);
  const pageSize = options.treePageSize ?? 1000;
  const requests: RequestLogEntry[] = [];
  const storageAuthorizations: StorageAuthorization[] = [];
  const faults: Array<Fault & { seen: number }> = [];
  const triggers: Array<{ method?: string; path: RegExp; action: () => Promise<void> | void }> = [];
  /** Fires (and drops) the triggers this request matches. */
  const fireTriggers = async (method: string, p: string): Promise<void> => {
    for (const t of [...triggers]) {
      if ((t.method && t.method.toUpperCase() !== method) || !t.path.test(p)) continue;
      triggers.splice(triggers.indexOf(t), 1);
      await t.action();
    }
  };
  const uploads = new Map<string, Upload>();
  const sockets = new Set<Socket>();
  let base = "";
  let storageBase = "";
  const active = new Set<RequestLogEntry>();
  let activePuts = 0;
  let peakPuts = 0;
  let hold: { until: number; waiters: Array<() => void>; timer: NodeJS.Timeout } | undefined;
  const releaseHold = (): void => {
    if (!hold) return;
    clearTimeout(hold.timer);
    hold.waiters.splice(0).forEach((w) => w());
    hold = undefined;
  };
  /** Count a storage PUT in flight (and wait at the hold, if one is set) while `body` runs. */
  async function trackPut<T>(body: () => Promise<T>): Promise<T> {
    activePuts++;
    peakPuts = Math.max(peakPuts, activePuts);
    try {
      if (hold) {
        if (activePuts >= hold.until) releaseHold();
        else await new Promise<void>((r) => hold!.waiters.push(r));
      }
      return await body();
    } finally {
      activePuts--;
    }
  }

  const sign = (method: string, pathname: string, expires: number): string =>
    createHmac("sha256", secret).update(`${method}\n${pathname}\n${expires}`).digest("hex");
  /** A presigned URL on the storage origin: the signature is the only credential it takes. */
  const presign = (method: string, pathname: string): string => {
    const expires = Math.floor(Date.now() / 1000) + 3600;
    return `${storageBase}${pathname}?X-Amz-Expires=${expires}&X-Amz-Signature=${sign(method, pathname, expires)}`;
  };
  const checkSignature = (method: string, url: URL): void => {
    const expires = Number(url.searchParams.get("X-Amz-Expires"));
    const sig = url.searchParams.get("X-Amz-Signature") ?? "";
    const signedAs = method === "HEAD" ? "GET" : method;
    if (!expires || expires < Date.now() / 1000 || sig !== sign(signedAs, url.pathname, expires)) {
      throw new HubError(403, "SignatureDoesNotMatch");
    }
  };
  const objectUrl = (repoId: string, oid: string): string => presign("GET", `/lfs-storage/objects/${repoId}/${oid}`);

  /** The token of a request: `Bearer TOKEN`, or HTTP Basic with any user name and the token as password (git, git-lfs). */
  function auth(req: http.IncomingMessage): TokenSpec | undefined {
    const h = req.headers.authorization;
    if (!h) return undefined;
    let token: string | undefined;
    const bearer = /^Bearer (.+)$/i.exec(h);
    const basic = /^Basic (.+)$/i.exec(h);
    if (bearer) token = bearer[1];
    else if (basic) {
      const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
      token = decoded.includes(":") ? decoded.slice(decoded.indexOf(":") + 1) : undefined;
    }
    const spec = token ? options.tokens[token] : undefined;
    if (!spec) throw new HubError(401, "Invalid credentials in Authorization header", "InvalidCredentials");
    if (spec.expiresAt !== undefined && Date.now() >= spec.expiresAt) throw new HubError(401, "Expired token", "InvalidCredentials");
    return spec;
  }

  function canWrite(t: TokenSpec | undefined, repoId: string): boolean {
    if (!t) return false;
    const ns = repoId.split("/")[0]!;
    if (t.role === "write") return ns === t.user || (t.orgs ?? []).includes(ns);
    if (t.role === "fineGrained") {
      return (t.scoped ?? []).some(
        (s) =>
          s.permissions.includes("repo.write") &&
          ((s.entity.type === "model" && s.entity.name === repoId) || (s.entity.type !== "model" && s.entity.name === ns)),
      );
    }
    return false;
  }

  async function canRead(t: TokenSpec | undefined, repoId: string): Promise<boolean> {
    if (!store.exists(repoId)) return false;
    const meta = await store.meta(repoId);
    if (!meta.private) return true;
    if (!t) return false;
    const ns = repoId.split("/")[0]!;
    if (t.role !== "fineGrained") return ns === t.user || (t.orgs ?? []).includes(ns);
    return (t.scoped ?? []).some(
      (s) =>
        (s.permissions.includes("repo.content.read") || s.permissions.includes("repo.write")) &&
        ((s.entity.type === "model" && s.entity.name === repoId) || (s.entity.type !== "model" && s.entity.name === ns)),
    );
  }

  async function requireRead(t: TokenSpec | undefined, repoId: string): Promise<void> {
    if (!(await canRead(t, repoId))) {
      throw new HubError(store.exists(repoId) && !t ? 401 : 404, `Repository not found: ${repoId}`, "RepoNotFound");
    }
  }

  async function requireWrite(t: TokenSpec | undefined, repoId: string): Promise<void> {
    if (!t) throw new HubError(401, "You must be authenticated to write", "Unauthorized");
    await requireRead(t, repoId);
    if (!canWrite(t, repoId)) throw new HubError(403, `You don't have the rights to write to ${repoId}`, "Forbidden");
  }

  function matchFault(method: string, p: string): (Fault & { seen: number }) | undefined {
    for (const f of faults) {
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (typeof f.path === "string" ? !p.includes(f.path) : !f.path.test(p)) continue;
      f.seen += 1;
      const first = f.occurrence ?? 1;
      if (f.seen >= first && f.seen < first + (f.times ?? 1)) return f;
    }
    return undefined;
  }

  const readBody = async (req: http.IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const readJson = async <T>(req: http.IncomingMessage): Promise<T> => {
    const body = await readBody(req);
    try {
      return JSON.parse(body.toString("utf8")) as T;
    } catch {
      throw new HubError(400, "Invalid JSON body");
    }
  };

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": typeof body === "string" ? "text/plain" : "application/json",
      "Content-Length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function treeJson(e: TreeEntry): Record<string, unknown> {
    return e.lfs ? { type: e.type, oid: e.oid, size: e.size, path: e.path, lfs: e.lfs } : { type: e.type, oid: e.oid, size: e.size, path: e.path };
  }

  /** `Range: bytes=a-b` against `size`: the span to send, or "unsatisfiable". */
  function byteRange(req: http.IncomingMessage, size: number): { start: number; end: number; partial: boolean } | "unsatisfiable" {
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (!range || (!range[1] && !range[2])) return { start: 0, end: size - 1, partial: false };
    let start: number;
    let end: number;
    if (!range[1]) {
      start = Math.max(0, size - Number(range[2])); // suffix: the last N bytes
      end = size - 1;
    } else {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    }
    if (start >= size || end < start) return "unsatisfiable";
    return { start, end, partial: true };
  }

  /** Send `size` bytes (or the requested range) with the headers a download client reads. */
  async function sendBytes(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    size: number,
    open: (start: number, end: number) => NodeJS.ReadableStream,
    headers: Record<string, string>,
  ): Promise<void> {
    const r = byteRange(req, size);
    if (r === "unsatisfiable") {
      res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}` });
      return void res.end();
    }
    const out: Record<string, string> = { ...headers, "Accept-Ranges": "bytes", "Content-Length": String(Math.max(0, r.end - r.start + 1)), "Content-Type": "application/octet-stream" };
    if (r.partial) out["Content-Range"] = `bytes ${r.start}-${r.end}/${size}`;
    res.writeHead(r.partial ? 206 : 200, out);
    if (req.method === "HEAD" || size === 0) return void res.end();
    await pipeline(open(r.start, r.end), res);
  }

  async function lfsRuleFor(repoId: string, rev: string, gitAttributes: string | undefined): Promise<(p: string) => boolean> {
    let text = gitAttributes;
    if (text === undefined) {
      const head = await store.resolve(repoId, rev);
      const f = head ? await store.file(repoId, head, ".gitattributes") : undefined;
      if (f?.bytes) text = f.bytes.toString("utf8");
    }
    const patterns = (text ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && /\bfilter=lfs\b/.test(l))
      .map((l) => globToRegExp(l.split(/\s+/)[0]!));
    return (p) => patterns.some((re) => re.test(p) || re.test(p.split("/").pop()!));
  }

  // ---- the storage origin: presigned URLs, no Authorization ----
  async function storageRoute(req: http.IncomingMessage, res: http.ServerResponse, url: URL, entry: RequestLogEntry): Promise<void> {
    const method = req.method ?? "GET";
    const m = /^\/lfs-storage\/(.+)$/.exec(url.pathname);
    if (!m) throw new HubError(404, "NoSuchKey");
    if (req.headers.authorization) {
      entry.authorization = true;
      storageAuthorizations.push({ method, path: url.pathname, scheme: req.headers.authorization.split(" ")[0] ?? "" });
      throw new HubError(400, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified");
    }
    checkSignature(method, url);
    const parts = m[1]!.split("/");
    if (parts[0] === "basic" && method === "PUT") {
      const repoId = `${decodeURIComponent(parts[1]!)}/${decodeURIComponent(parts[2]!)}`;
      const oid = parts[3]!;
      const size = Number(parts[4]);
      if (req.headers["content-length"] === undefined) throw new HubError(411, "MissingContentLength: a presigned PUT needs Content-Length");
      await trackPut(() => store.putObject(repoId, oid, size, bodyStream(req, entry)));
      return send(res, 200, "", { ETag: `"${oid}"` });
    }
    if (parts[0] === "objects" && (method === "GET" || method === "HEAD")) {
      const repoId = `${decodeURIComponent(parts[1]!)}/${decodeURIComponent(parts[2]!)}`;
      const oid = parts[3]!;
      const file = store.lfsPath(repoId, oid);
      const size = await stat(file).then((st) => st.size, () => -1);
      if (size < 0) throw new HubError(404, "NoSuchKey");
      return sendBytes(req, res, size, (start, end) => createReadStream(file, { start, end }), { ETag: `"${oid}"` });
    }
    if (parts[0] === "multipart") {
      const up = uploads.get(parts[1]!);
      if (!up) throw new HubError(404, "NoSuchUpload");
      if (method === "PUT") {
        const n = Number(parts[2]);
        const md5 = createHash("md5");
        const partFile = path.join(up.dir, String(n).padStart(5, "0"));
        await trackPut(() => pipeline(bodyStream(req, entry), new Transform({ transform(c: Buffer, _e, cb) { md5.update(c); cb(null, c); } }), createWriteStream(partFile)));
        const etag = `"${md5.digest("hex")}"`;
        up.etags.set(n, etag);
        return send(res, 200, "", { ETag: etag });
      }
      if (method === "POST" && parts[2] === "complete") {
        const body = await readJson<{ oid: string; parts: Array<{ partNumber: number; etag: string }> }>(req);
        const count = Math.ceil(up.size / up.chunkSize);
        if (body.oid !== up.oid || body.parts.length !== count) throw new HubError(400, "InvalidPart: wrong part list");
        for (const part of body.parts) {
          if (up.etags.get(part.partNumber) !== part.etag) throw new HubError(400, `InvalidPart: part ${part.partNumber} etag mismatch`);
        }
        const joined = Readable.from(
          (async function* () {
            for (let i = 1; i <= count; i++) yield* createReadStream(path.join(up.dir, String(i).padStart(5, "0")));
          })(),
        );
        try {
          await store.putObject(up.repoId, up.oid, up.size, joined);
        } finally {
          uploads.delete(parts[1]!);
          await rm(up.dir, { recursive: true, force: true });
        }
        return send(res, 200, { oid: up.oid });
      }
    }
    throw new HubError(404, "NoSuchKey");
  }

  // ---- the Hub origin ----
  const exchanges: TokenExchange[] = [];
  /** The claims of an RS256 JWT from `issuer`, verified against its JWKS (discovery), unexpired; undefined otherwise. */
  async function verifiedClaims(token: string, issuer: string): Promise<Record<string, unknown> | undefined> {
    const [head, body, sig] = token.split(".");
    if (!head || !body || !sig) return undefined;
    try {
      const header = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: string; kid?: string };
      const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Record<string, unknown>;
      if (header.alg !== "RS256" || claims.iss !== issuer) return undefined;
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
      const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: Array<Record<string, unknown>> };
      const jwk = jwks.keys.find((k) => k.kid === header.kid);
      if (!jwk) return undefined;
      const ok = cryptoVerify("RSA-SHA256", Buffer.from(`${head}.${body}`), createPublicKey({ key: jwk as never, format: "jwk" }), Buffer.from(sig, "base64url"));
      const now = Date.now() / 1000;
      if (!ok || typeof claims.exp !== "number" || claims.exp <= now || (typeof claims.nbf === "number" && claims.nbf > now + 60)) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse, url: URL, entry: RequestLogEntry): Promise<void> {
    const method = req.method ?? "GET";
    const p = url.pathname;
    let m: RegExpExecArray | null;

    const token = auth(req);
    entry.authorization = !!token;

    // git smart HTTP: Basic auth with the token as password; the repo must exist (created through the API).
    if ((m = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(p))) {
      const repoId = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
      const service = m[3]!;
      const push = service === "git-receive-pack" || url.searchParams.get("service") === "git-receive-pack";
      if (push) await requireWrite(token, repoId);
      else await requireRead(token, repoId);
      return serveGitHttp(req, res, { root: dataDir, repoId, service, query: url.search.slice(1), ...(push ? { user: token!.user } : {}), onBodyBytes: (n) => (entry.bytesIn += n) });
    }

    // Trusted Publishing: an OIDC ID token of a configured CI job, for a token scoped to one repo.
    if (p === "/oauth/token" && method === "POST") {
      const body = await readJson<Record<string, unknown>>(req).catch(() => ({}) as Record<string, unknown>);
      const resource = typeof body.resource === "string" ? body.resource : undefined;
      const refuse = (error: "invalid_request" | "invalid_grant") => {
        exchanges.push({ resource, status: 400, error });
        return send(res, 400, { error });
      };
      if (
        body.grant_type !== "urn:ietf:params:oauth:grant-type:token-exchange" ||
        body.subject_token_type !== "urn:ietf:params:oauth:token-type:id_token" ||
        typeof body.subject_token !== "string" ||
        !resource
      ) {
        return refuse("invalid_request");
      }
      const publisher = options.trustedPublishers?.[resource];
      const claims = publisher ? await verifiedClaims(body.subject_token, publisher.issuer) : undefined;
      const workflow = typeof claims?.workflow_ref === "string" ? /\/\.github\/workflows\/([^@]+)@/.exec(claims.workflow_ref)?.[1] : undefined;
      if (
        !publisher ||
        !claims ||
        claims.aud !== base ||
        claims.repository !== publisher.repository ||
        (publisher.ref !== undefined && claims.ref !== publisher.ref) ||
        (publisher.workflow !== undefined && workflow !== publisher.workflow)
      ) {
        return refuse("invalid_grant");
      }
      const issued = `hf_jwt_${randomBytes(24).toString("base64url")}`;
      const ttl = options.oidcTokenTtlSeconds ?? 3600;
      options.tokens[issued] = {
        user: "[OIDC]",
        role: "fineGrained",
        expiresAt: Date.now() + ttl * 1000,
        scoped: [{ entity: { type: "model", name: resource }, permissions: ["repo.write", "repo.content.read"] }],
      };
      exchanges.push({ resource, status: 200, issued });
      return send(res, 200, { access_token: issued, token_type: "bearer", expires_in: ttl, issued_token_type: "urn:ietf:params:oauth:token-type:access_token" });
    }

    if (p === "/api/whoami-v2" && method === "GET") {
      if (!token) throw new HubError(401, "Invalid credentials in Authorization header", "InvalidCredentials");
      const accessToken: Record<string, unknown> = { displayName: "local", role: token.role, createdAt: "2025-01-01T00:00:00.000Z" };
      if (token.role === "fineGrained") {
        accessToken.fineGrained = {
          canReadGatedRepos: false,
          global: [],
          scoped: (token.scoped ?? []).map((s) => ({ entity: { _id: randomUUID().slice(0, 24), ...s.entity }, permissions: s.permissions })),
        };
      }
      return send(res, 200, {
        type: "user",
        id: createHash("sha1").update(token.user).digest("hex").slice(0, 24),
        name: token.user,
        fullname: token.user,
        email: `${token.user}@example.com`,
        emailVerified: true,
        isPro: false,
        canPay: false,
        orgs: (token.orgs ?? []).map((o) => ({ type: "org", name: o, fullname: o, roleInOrg: "write" })),
        auth: { type: "access_token", accessToken },
      });
    }

    // huggingface_hub's upload_folder has the Hub check a README's YAML front matter first.
    if (p === "/api/validate-yaml" && method === "POST") {
      await readJson<{ content?: string; repoType?: string }>(req);
      return send(res, 200, { errors: [], warnings: [] });
    }

    if (p === "/api/repos/create" && method === "POST") {
      const body = await readJson<{ name: string; organization?: string; type?: string; private?: boolean; visibility?: string }>(req);
      if (!token) throw new HubError(401, "You must be authenticated", "Unauthorized");
      const ns = body.organization ?? token.user;
      const repoId = `${ns}/${body.name}`;
      if ((body.type ?? "model") !== "model" || !MODEL_ID.test(repoId)) throw new HubError(400, "Invalid repo name or type");
      if (!canWrite(token, repoId)) throw new HubError(403, `You don't have the rights to create a model under the namespace "${ns}"`);
      if (store.exists(repoId)) throw new HubError(409, "You already created this model repo", "RepoExists");
      const priv = body.visibility ? body.visibility !== "public" : !!body.private;
      await store.create(repoId, { private: priv, owner: ns });
      return send(res, 200, { url: `${base}/${repoId}`, name: repoId, id: randomUUID() });
    }

    if ((m = /^\/api\/models\/([^/]+)\/([^/]+)(?:\/(.*))?$/.exec(p))) {
      const repoId = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
      const rest = m[3] ?? "";
      if (!rest && method === "GET") {
        await requireRead(token, repoId);
        const head = await store.branchHead(repoId, "main");
        const meta = await store.meta(repoId);
        return send(res, 200, { _id: repoId, id: repoId, modelId: repoId, private: meta.private, sha: head, likes: 0 });
      }
      let r: RegExpExecArray | null;
      if ((r = /^revision\/(.+)$/.exec(rest)) && method === "GET") {
        await requireRead(token, repoId);
        const sha = await store.resolve(repoId, decodeURIComponent(r[1]!));
        if (!sha) throw new HubError(404, "Revision not found", "RevisionNotFound");
        return send(res, 200, { id: repoId, sha, private: (await store.meta(repoId)).private });
      }
      if (rest === "refs" && method === "GET") {
        await requireRead(token, repoId);
        return send(res, 200, { ...(await store.refs(repoId)), converts: [] });
      }
      if ((r = /^preupload\/(.+)$/.exec(rest)) && method === "POST") {
        await requireWrite(token, repoId);
        const body = await readJson<{ files: Array<{ path: string; size: number; sample: string }>; gitAttributes?: string }>(req);
        const rev = decodeURIComponent(r[1]!);
        const isLfsPath = await lfsRuleFor(repoId, rev, body.gitAttributes);
        return send(res, 200, {
          files: body.files.map((f) => {
            const sample = Buffer.from(f.sample, "base64");
            const lfs = f.size >= 10 * 1024 * 1024 || sample.includes(0) || isLfsPath(f.path);
            return { path: f.path, uploadMode: lfs ? "lfs" : "regular", shouldIgnore: false };
          }),
        });
      }
      if ((r = /^commit\/(.+)$/.exec(rest)) && method === "POST") {
        await requireWrite(token, repoId);
        const branch = decodeURIComponent(r[1]!);
        const lines = (await readBody(req)).toString("utf8").split("\n").filter((l) => l.trim());
        let header: { summary: string; description?: string; parentCommit?: string } | undefined;
        const ops: CommitOp[] = [];
        for (const line of lines) {
          const { key, value } = JSON.parse(line) as { key: string; value: Record<string, unknown> };
          const filePath = String(value.path ?? "");
          if (key !== "header" && (!filePath || filePath.startsWith("/") || filePath.split("/").some((s) => s === ".." || s === ".git" || s === ""))) {
            throw new HubError(400, `Invalid path: ${filePath}`);
          }
          if (key === "header") header = value as typeof header;
          else if (key === "file") ops.push({ kind: "file", path: filePath, content: Buffer.from(String(value.content), value.encoding === "base64" ? "base64" : "utf8") });
          else if (key === "lfsFile") {
            if (value.algo !== "sha256") throw new HubError(400, "Unsupported LFS algo");
            ops.push({ kind: "lfsFile", path: filePath, oid: String(value.oid), size: Number(value.size) });
          } else if (key === "deletedFile") ops.push({ kind: "deletedFile", path: filePath });
          else throw new HubError(400, `Unknown key ${key}`);
        }
        if (!header?.summary) throw new HubError(400, "Missing commit header/summary");
        const createPr = url.searchParams.get("create_pr") === "1";
        if (!createPr && !(await store.branchHead(repoId, branch))) throw new HubError(404, `Invalid rev id: ${branch}`, "RevisionNotFound");
        const out = await store.commit(repoId, branch, header, ops, { createPr, author: token!.user });
        return send(res, 200, {
          success: true,
          commitOid: out.commitOid,
          commitUrl: `${base}/${repoId}/commit/${out.commitOid}`,
          hookOutput: "",
          ...(out.prRef ? { pullRequestUrl: `${base}/${repoId}/discussions/${out.prRef.split("/").pop()}`, pullRequestRevision: out.prRef } : {}),
        });
      }
      if ((r = /^tree\/([^/]+)(?:\/(.*))?$/.exec(rest)) && method === "GET") {
        await requireRead(token, repoId);
        const rev = decodeURIComponent(r[1]!);
        const sub = r[2] ? decodeURIComponent(r[2]) : undefined;
        const commit = await store.resolve(repoId, rev);
        if (!commit) throw new HubError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
        const recursive = url.searchParams.get("recursive") === "true" || url.searchParams.get("recursive") === "1";
        const all = await store.tree(repoId, commit, { recursive, path: sub });
        const cursor = Number(Buffer.from(url.searchParams.get("cursor") ?? "MA==", "base64url").toString() || "0");
        const page = all.slice(cursor, cursor + pageSize);
        const headers: Record<string, string> = {};
        if (cursor + pageSize < all.length) {
          const next = new URL(url.toString(), base);
          next.searchParams.set("cursor", Buffer.from(String(cursor + pageSize)).toString("base64url"));
          headers.Link = `<${base}${next.pathname}${next.search}>; rel="next"`;
        }
        return send(res, 200, page.map(treeJson), headers);
      }
      // Branches (huggingface_hub create_branch / delete_branch): a new branch starts at
      // `startingPoint` (a revision), else at main's head; an existing one is a conflict.
      if ((r = /^branch\/(.+)$/.exec(rest)) && (method === "POST" || method === "DELETE")) {
        await requireWrite(token, repoId);
        const branch = decodeURIComponent(r[1]!);
        if (method === "DELETE") {
          if (branch === "main") throw new HubError(403, "Cannot delete the default branch");
          if (!(await store.deleteBranch(repoId, branch))) throw new HubError(404, `Branch ${branch} not found`, "RevisionNotFound");
          return send(res, 200, { success: true });
        }
        const body = await readJson<{ startingPoint?: string }>(req);
        const start = await store.resolve(repoId, body.startingPoint ?? "main");
        if (!start) throw new HubError(404, `Invalid rev id: ${body.startingPoint}`, "RevisionNotFound");
        await store.createBranch(repoId, branch, start);
        return send(res, 200, { success: true });
      }
      // Visibility (huggingface_hub update_repo_settings).
      if (rest === "settings" && method === "PUT") {
        await requireWrite(token, repoId);
        const body = await readJson<{ private?: boolean }>(req);
        if (body.private !== undefined) await store.setPrivate(repoId, !!body.private);
        return send(res, 200, { success: true });
      }
      if ((r = /^tag\/(.+)$/.exec(rest)) && method === "POST") {
        await requireWrite(token, repoId);
        const body = await readJson<{ tag: string; message?: string }>(req);
        const sha = await store.resolve(repoId, decodeURIComponent(r[1]!));
        if (!sha) throw new HubError(404, "Revision not found", "RevisionNotFound");
        await store.createTag(repoId, body.tag, sha, body.message);
        return send(res, 200, { success: true });
      }
      throw new HubError(404, "Not found");
    }

    if ((m = /^\/([^/]+)\/([^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(p)) && method === "POST") {
      const repoId = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
      const body = await readJson<{ operation: string; transfers?: string[]; objects: Array<{ oid: string; size: number }> }>(req);
      if (body.operation === "upload") await requireWrite(token, repoId);
      else await requireRead(token, repoId);
      const objects = await Promise.all(
        body.objects.map(async (o) => {
          if (!/^[0-9a-f]{64}$/.test(o.oid) || !(o.size >= 0)) return { ...o, error: { code: 422, message: "Invalid object" } };
          const stored = await store.hasObject(repoId, o.oid, o.size);
          if (body.operation !== "upload") {
            if (!stored) return { ...o, error: { code: 404, message: "Object does not exist" } };
            return { oid: o.oid, size: o.size, authenticated: true, actions: { download: { href: objectUrl(repoId, o.oid), header: {} } } };
          }
          if (stored) return { oid: o.oid, size: o.size };
          const chunk = options.multipartChunkSize;
          if (chunk && o.size > chunk && body.transfers?.includes("multipart")) {
            const id = randomUUID();
            const dir = path.join(dataDir, ".multipart", id);
            await mkdir(dir, { recursive: true });
            uploads.set(id, { repoId, oid: o.oid, size: o.size, chunkSize: chunk, dir, etags: new Map() });
            const header: Record<string, string> = { chunk_size: String(chunk) };
            const count = Math.ceil(o.size / chunk);
            for (let i = 1; i <= count; i++) header[String(i).padStart(5, "0")] = presign("PUT", `/lfs-storage/multipart/${id}/${i}`);
            return { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: presign("POST", `/lfs-storage/multipart/${id}/complete`), header } } };
          }
          const [ns, name] = repoId.split("/");
          return { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: presign("PUT", `/lfs-storage/basic/${ns}/${name}/${o.oid}/${o.size}`), header: {} } } };
        }),
      );
      res.setHeader("X-Request-Id", randomUUID());
      return send(res, 200, { transfer: "basic", objects }, { "Content-Type": "application/vnd.git-lfs+json" });
    }

    if ((m = /^\/([^/]+)\/([^/]+)\/(raw|resolve)\/([^/]+)\/(.+)$/.exec(p)) && (method === "GET" || method === "HEAD")) {
      const repoId = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
      await requireRead(token, repoId);
      const raw = m[3] === "raw";
      const rev = decodeURIComponent(m[4]!);
      const filePath = m[5]!.split("/").map(decodeURIComponent).join("/");
      const commit = await store.resolve(repoId, rev);
      if (!commit) throw new HubError(404, "Revision not found", "RevisionNotFound");
      const f = await store.file(repoId, commit, filePath);
      if (!f) throw new HubError(404, "Entry not found", "EntryNotFound");
      const common = { "X-Repo-Commit": commit };
      if (f.lfsObject && !raw) {
        // LFS bytes live on the storage host: redirect there (the client drops Authorization on the way).
        res.writeHead(302, {
          ...common,
          Location: objectUrl(repoId, f.entry.lfs!.oid),
          ETag: `"${f.entry.oid}"`,
          "X-Linked-ETag": `"${f.entry.lfs!.oid}"`,
          "X-Linked-Size": String(f.size),
          "Content-Length": "0",
        });
        return void res.end();
      }
      // Regular files (and /raw/ of an LFS file: its pointer) come from the Hub itself.
      const bytes = f.lfsObject ? await store.blob(repoId, f.entry.oid) : f.bytes!;
      return sendBytes(req, res, bytes.length, (start, end) => Readable.from([bytes.subarray(start, end + 1)]), { ...common, ETag: `"${f.entry.oid}"` });
    }

    throw new HubError(404, "Not found");
  }

  /** One origin's HTTP server: request log, fault injection, errors as the Hub words them. */
  function makeServer(origin: RequestLogEntry["origin"], handle: typeof route): http.Server {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const entry: RequestLogEntry = { origin, method: req.method ?? "GET", path: url.pathname, status: 0, bytesIn: 0, ms: 0, at: performance.now(), authorization: false };
      if (req.headers.range) entry.range = req.headers.range;
      requests.push(entry);
      const arrived = entry.at;
      res.on("finish", () => {
        entry.status = res.statusCode;
        entry.ms = performance.now() - arrived;
      });
      const fault = matchFault(entry.method, url.pathname);
      if (fault) {
        entry.fault = fault.kind;
        if (origin === "storage" && req.headers.authorization) storageAuthorizations.push({ method: entry.method, path: url.pathname, scheme: req.headers.authorization.split(" ")[0] ?? "" });
        if (fault.kind === "drop") {
          const limit = fault.afterBytes ?? Math.floor(Number(req.headers["content-length"] ?? 0) / 2);
          let got = 0;
          const kill = (): void => {
            entry.status = -1;
            req.socket.destroy();
          };
          if (limit <= 0) return kill();
          req.on("data", (c: Buffer) => {
            got += c.length;
            entry.bytesIn = got;
            if (got >= limit) kill();
          });
          req.on("end", kill);
          return;
        }
        req.resume();
        const status = fault.kind === "429" ? 429 : Number(fault.kind);
        const headers: Record<string, string> = fault.kind === "429" ? { "Retry-After": fault.retryAfter ?? "1" } : {};
        req.on("end", () => send(res, status, { error: status === 429 ? "Too Many Requests" : "Internal Error" }, headers));
        return;
      }
      active.add(entry);
      (origin === "hub" ? fireTriggers(entry.method, url.pathname) : Promise.resolve())
        .then(() => handle(req, res, url, entry))
        .finally(() => active.delete(entry))
        .catch((err: unknown) => {
          const status = err instanceof HubError ? err.status : 500;
          const message = err instanceof Error ? err.message : String(err);
          if (res.headersSent) return void res.destroy();
          req.resume();
          const headers: Record<string, string> = {};
          if (err instanceof HubError && err.errorCode) {
            headers["X-Error-Code"] = err.errorCode;
            headers["X-Error-Message"] = message.slice(0, 200).replace(/[^\x20-\x7e]/g, "?");
          }
          // git and git-lfs ask their credential helper only when the server asks for Basic auth.
          if (status === 401 && origin === "hub") headers["WWW-Authenticate"] = 'Basic realm="Authentication required", charset="UTF-8"';
          send(res, status, { error: message }, headers);
        });
    });
    server.setTimeout(options.socketIdleTimeoutMs ?? 5000); // no callback: the idle socket is destroyed
    server.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    return server;
  }

  const hubServer = makeServer("hub", route);
  const storageServer = makeServer("storage", storageRoute);
  const listen = (server: http.Server, host: string, port = 0): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  base = `http://127.0.0.1:${await listen(hubServer, "127.0.0.1", options.port ?? 0)}`;
  // Another host where the system allows it (Linux routes all of 127/8 to loopback), else another port.
  const storageHost = await listen(storageServer, "127.0.0.2").then(
    (port) => `127.0.0.2:${port}`,
    async () => `127.0.0.1:${await listen(storageServer, "127.0.0.1")}`,
  );
  storageBase = `http://${storageHost}`;

  return {
    url: base,
    storageUrl: storageBase,
    storageAuthorizations,
    requests,
    store,
    idle: async (timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      while (active.size > 0) {
        if (Date.now() > until) throw new Error(`local Hub still busy with: ${[...active].map((e) => `${e.method} ${e.path} (${e.bytesIn} bytes in)`).join(", ")}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    repoDir: (repoId) => store.dir(repoId),
    inject: (fault) => faults.push({ ...fault, seen: 0 }),
    clearFaults: () => void faults.splice(0),
    createRepo: async (repoId, opts) => store.create(repoId, { private: !!opts?.private, owner: repoId.split("/")[0]! }),
    corrupt: (repoId, filePath, opts) => store.corrupt(repoId, filePath, opts),
    beforeRequest: (match, action) => void triggers.push({ ...match, action }),
    exchanges,
    revokeExchangedTokens: () => {
      for (const x of exchanges) if (x.issued) delete options.tokens[x.issued];
    },
    get storagePeakPuts() {
      return peakPuts;
    },
    holdStoragePuts: (n, timeoutMs = 10_000) => {
      releaseHold();
      peakPuts = activePuts;
      hold = { until: n, waiters: [], timer: setTimeout(releaseHold, timeoutMs).unref() };
    },
    plainPutUrl: (repoId, oid, size) => {
      const [ns, name] = repoId.split("/");
      return presign("PUT", `/lfs-storage/basic/${ns}/${name}/${oid}/${size}`);
    },
    stop: async () => {
      releaseHold();
      const closed = [hubServer, storageServer].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const s of sockets) s.destroy();
      await Promise.all(closed);
      if (ownsData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The request body, counted into the log; errors (client gone mid-body) propagate. */
function bodyStream(req: http.IncomingMessage, entry: RequestLogEntry): Transform {
  const t = new Transform({
    transform(c: Buffer, _e, cb) {
      entry.bytesIn += c.length;
      cb(null, c);
    },
  });
  req.pipe(t);
  // `req.complete` can read true after an abort: only a seen 'end' means the body arrived whole.
  let ended = false;
  req.on("end", () => (ended = true));
  const fail = (): void => {
    if (!ended) t.destroy(new Error("client disconnected mid-body"));
  };
  req.on("error", fail);
  req.on("aborted", fail);
  req.on("close", fail);
  return t;
}

/** gitattributes-style glob → RegExp (`*` and `?` stay within a path segment, `**` crosses). */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
      if (glob[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
