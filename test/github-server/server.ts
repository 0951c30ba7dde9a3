// A local stand-in for GitHub, as strict as github.com on what a release touches:
// - the REST API (api.github.com): the repository (with `permissions` for the token), releases
//   by tag / id / list, create, update, delete, assets list / get / delete, git refs and tags;
// - a separate upload host (uploads.github.com): the release's `upload_url` points there;
// - a separate storage host: asset downloads (API with `accept: application/octet-stream`, and
//   `browser_download_url`) answer 302 to a presigned URL there, which refuses an
//   `Authorization` header, like S3.
// A repository is backed by a real bare git repository (the one `origin` pushes to), so tags
// are real: creating a release for a tag that does not exist creates that tag from
// `target_commitish` (default: the default branch), silently, as GitHub does.
// Tokens: `token` may write, `readOnlyTokens` may only read (writes get 403). Faults: fail a
// chosen request with a status, optionally leaving a half-uploaded asset (`state: "starter"`).
// Immutable releases (a repository setting an org admin can turn on for every repository): a
// published release is `immutable`; its assets cannot be added or deleted, its tag cannot move
// or be deleted, and once such a release is deleted its tag can never be created again — neither
// by another release nor by a git push (GH013). Drafts stay mutable until published.
import { execFile } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);
const PRE_RECEIVE = fileURLToPath(new URL("./pre-receive.mjs", import.meta.url));

export interface FakeAsset {
  id: number;
  name: string;
  label: string | null;
  content_type: string;
  size: number;
  /** `starter`: an upload that did not finish (GitHub keeps such assets until deleted). */
  state: "uploaded" | "starter";
  digest?: string;
  bytes: Buffer;
  releaseId: number;
}

export interface FakeRelease {
  id: number;
  tag_name: string;
  /** Published while immutable releases were on: assets and tag locked. */
  immutable: boolean;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  target_commitish: string;
  owner: string;
  repo: string;
}

export type Host = "api" | "uploads" | "storage";

export interface Fault {
  method: string;
  /** Matched against the request path (without query). */
  path: RegExp | string;
  /** Which host; default any. */
  host?: Host;
  /** Fail the n-th matching request (1-based). Default 1. */
  occurrence?: number;
  status?: number;
  /** Fail this many consecutive matching requests from `occurrence` on. Default 1. */
  times?: number;
  /** Upload faults: keep what arrived as an asset in state `starter`, as an interrupted upload does. */
  leaveStarterAsset?: boolean;
}

export interface LoggedRequest {
  host: Host;
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** Whether the request carried an Authorization header. */
  authorization: boolean;
}

export interface FakeGitHubOptions {
  /** A token with write access (contents: write). */
  token?: string;
  /** Tokens that can read but not write. */
  readOnlyTokens?: string[];
  /** Report `digest: sha256:...` on assets, like github.com since 2025 (default true); false mimics an older GHE. */
  digests?: boolean;
  /** Repositories that exist (owner/name) and the bare git repository holding each one's refs (its `clone_url`). */
  repos?: Record<string, string>;
  defaultBranch?: string;
  /** Immutable releases turned on for every repository (default false); `setImmutable` changes it. */
  immutableReleases?: boolean;
}

export interface FakeGitHub {
  /** API base URL (GITHUB_API_URL). */
  url: string;
  uploadsUrl: string;
  storageUrl: string;
  releases: Map<number, FakeRelease>;
  assets: Map<number, FakeAsset>;
  requests: LoggedRequest[];
  fault(f: Fault): void;
  /** Drop every fault not yet fired: GitHub is healthy again. */
  clearFaults(): void;
  /** Requests that changed state (POST/PATCH/DELETE), for "a rerun changes nothing" asserts. */
  writes(): LoggedRequest[];
  assetsOf(tag: string): FakeAsset[];
  /** Turn immutable releases on or off (releases published before keep what they were). */
  setImmutable(on: boolean): void;
  /** Tags no release and no push may use again (their immutable release was deleted), as `owner/name:tag`. */
  burnedTags: Set<string>;
  /** A tag burned by an immutable release deleted before the test began (its tag deleted too). */
  burnTag(repository: string, tag: string): void;
  close(): Promise<void>;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const writer = opts.token ?? "test-token";
  const readers = new Set(opts.readOnlyTokens ?? []);
  const digests = opts.digests ?? true;
  const defaultBranch = opts.defaultBranch ?? "main";
  const repos = opts.repos ?? {};
  let immutableOn = opts.immutableReleases ?? false;
  const burned = new Set<string>();
  const releases = new Map<number, FakeRelease>();
  const assets = new Map<number, FakeAsset>();
  const requests: LoggedRequest[] = [];
  const faults: (Fault & { seen: number })[] = [];
  const secret = randomBytes(32);
  let nextId = 1;
  const base: Record<Host, string> = { api: "", uploads: "", storage: "" };

  const git = async (full: string, args: string[]): Promise<{ ok: boolean; out: string }> => {
    const dir = repos[full];
    if (!dir) return { ok: false, out: "" };
    try {
      return { ok: true, out: (await exec("git", args, { cwd: dir })).stdout.trim() };
    } catch {
      return { ok: false, out: "" };
    }
  };
  const tagRef = async (full: string, tag: string): Promise<{ type: "tag" | "commit"; sha: string } | undefined> => {
    const r = await git(full, ["rev-parse", "--verify", "-q", `refs/tags/${tag}`]);
    if (!r.ok) return undefined;
    const type = await git(full, ["cat-file", "-t", r.out]);
    return { type: type.out === "tag" ? "tag" : "commit", sha: r.out };
  };

  // The bare repositories enforce what GitHub enforces on pushes: a pre-receive hook reads the
  // locked and burned tags the API keeps in a state file beside it.
  const lockedTags = new Set<string>();
  const refKey = (owner: string, repo: string, tag: string) => `${owner}/${repo}:${tag}`;
  const writeRefState = (): void => {
    for (const [full, dir] of Object.entries(repos)) {
      const mine = (set: Set<string>) => [...set].filter((k) => k.startsWith(`${full}:`)).map((k) => k.slice(full.length + 1));
      writeFileSync(path.join(dir, "fake-github-refs.json"), JSON.stringify({ locked: mine(lockedTags), burned: mine(burned) }));
    }
  };
  for (const dir of Object.values(repos)) {
    mkdirSync(path.join(dir, "hooks"), { recursive: true });
    writeFileSync(path.join(dir, "hooks", "pre-receive"), `#!/bin/sh\nexec "${process.execPath}" "${PRE_RECEIVE}"\n`, { mode: 0o755 });
  }
  writeRefState();
  /** Why GitHub refuses to let a release (or a push) create `tag`, if it does. */
  const tagRefusal = (owner: string, repo: string, tag: string): string | undefined =>
    burned.has(refKey(owner, repo, tag)) ? "tag_name was used by an immutable release" : undefined;
  const publish = async (r: FakeRelease): Promise<{ ok: true } | { ok: false; status: number; body: unknown }> => {
    const refused = tagRefusal(r.owner, r.repo, r.tag_name);
    if (refused) return { ok: false, status: 422, body: { message: "Validation Failed", errors: [{ resource: "Release", code: "custom", field: "tag_name", message: refused }] } };
    const t = await createTagIfMissing(r);
    if (!t.ok) return t;
    r.immutable = immutableOn;
    if (r.immutable) {
      lockedTags.add(refKey(r.owner, r.repo, r.tag_name));
      writeRefState();
    }
    return { ok: true };
  };
  const immutableError = (message: string) => ({ message, documentation_url: "https://docs.github.com/rest/releases" });

  const releaseJson = (r: FakeRelease): Record<string, unknown> => ({
    id: r.id,
    tag_name: r.tag_name,
    name: r.name,
    body: r.body,
    draft: r.draft,
    prerelease: r.prerelease,
    target_commitish: r.target_commitish,
    immutable: r.immutable,
    url: `${base.api}/repos/${r.owner}/${r.repo}/releases/${r.id}`,
    html_url: `${base.api}/${r.owner}/${r.repo}/releases/tag/${encodeURIComponent(r.tag_name)}`,
    assets_url: `${base.api}/repos/${r.owner}/${r.repo}/releases/${r.id}/assets`,
    upload_url: `${base.uploads}/repos/${r.owner}/${r.repo}/releases/${r.id}/assets{?name,label}`,
    assets: [...assets.values()].filter((a) => a.releaseId === r.id).map(assetJson),
  });
  const assetJson = (a: FakeAsset): Record<string, unknown> => {
    const r = releases.get(a.releaseId)!;
    return {
      id: a.id,
      name: a.name,
      label: a.label,
      content_type: a.content_type,
      size: a.size,
      state: a.state,
      ...(digests && a.state === "uploaded" ? { digest: a.digest } : {}),
      url: `${base.api}/repos/${r.owner}/${r.repo}/releases/assets/${a.id}`,
      browser_download_url: `${base.api}/${r.owner}/${r.repo}/releases/download/${encodeURIComponent(r.tag_name)}/${encodeURIComponent(a.name)}`,
    };
  };

  const sign = (p: string, expires: number): string => createHmac("sha256", secret).update(`${p}\n${expires}`).digest("hex");
  const presigned = (a: FakeAsset): string => {
    const p = `/assets/${a.id}/${randomBytes(4).toString("hex")}`;
    const expires = Math.floor(Date.now() / 1000) + 300;
    return `${base.storage}${p}?X-Amz-Expires=${expires}&X-Amz-Signature=${sign(p, expires)}`;
  };

  const readBody = async (req: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  function listen(host: Host, handler: (req: IncomingMessage, res: ServerResponse, log: LoggedRequest, reply: Reply) => Promise<void>): Server {
    return createServer((req, res) => {
      const u = new URL(req.url ?? "/", "http://x");
      const log: LoggedRequest = {
        host,
        method: req.method ?? "GET",
        path: u.pathname,
        query: Object.fromEntries([...u.searchParams].filter(([k]) => !k.startsWith("X-Amz-"))),
        status: 0,
        authorization: req.headers.authorization !== undefined,
      };
      requests.push(log);
      const reply: Reply = (status, body, headers = {}) => {
        log.status = status;
        const data = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : json(body);
        res.writeHead(status, { ...(Buffer.isBuffer(body) || body === undefined ? {} : { "content-type": "application/json; charset=utf-8" }), "content-length": String(data.length), ...headers });
        res.end(data);
      };
      handler(req, res, log, reply).catch((err: unknown) => {
        if (!res.headersSent) reply(500, { message: String(err) });
      });
    });
  }
  type Reply = (status: number, body?: unknown, headers?: Record<string, string>) => void;

  /** Auth and faults, shared by the API and the upload host. Returns false when it answered. */
  async function gate(req: IncomingMessage, log: LoggedRequest, reply: Reply): Promise<{ ok: false } | { ok: true; canWrite: boolean }> {
    const m = /^(?:token|bearer)\s+(.+)$/i.exec(req.headers.authorization ?? "");
    const who = m?.[1];
    if (who !== writer && !(who && readers.has(who))) {
      await readBody(req);
      reply(401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
      return { ok: false };
    }
    const canWrite = who === writer;
    if (!canWrite && !["GET", "HEAD"].includes(log.method)) {
      await readBody(req);
      reply(403, { message: "Resource not accessible by personal access token", documentation_url: "https://docs.github.com/rest" });
      return { ok: false };
    }
    const f = firingFault(log);
    if (f) {
      const bytes = await readBody(req);
      if (f.leaveStarterAsset) leaveStarter(log, bytes, req);
      reply(f.status ?? 502, { message: "Server Error (injected)" });
      return { ok: false };
    }
    return { ok: true, canWrite };
  }

  function firingFault(log: LoggedRequest): Fault | undefined {
    for (const f of faults) {
      const matches = (!f.host || f.host === log.host) && f.method.toUpperCase() === log.method && (typeof f.path === "string" ? log.path.includes(f.path) : f.path.test(log.path));
      if (!matches) continue;
      f.seen++;
      const first = f.occurrence ?? 1;
      if (f.seen >= first && f.seen < first + (f.times ?? 1)) return f;
    }
    return undefined;
  }

  function leaveStarter(log: LoggedRequest, bytes: Buffer, req: IncomingMessage): void {
    const g = /^\/repos\/[^/]+\/[^/]+\/releases\/(\d+)\/assets$/.exec(log.path);
    const name = log.query.name;
    if (!g || !name || !releases.has(Number(g[1]))) return;
    const a: FakeAsset = {
      id: nextId++,
      name,
      label: log.query.label ?? null,
      content_type: String(req.headers["content-type"] ?? "application/octet-stream"),
      size: 0,
      state: "starter",
      bytes: bytes.subarray(0, bytes.length >> 1),
      releaseId: Number(g[1]),
    };
    assets.set(a.id, a);
  }

  async function createTagIfMissing(r: FakeRelease): Promise<{ ok: true } | { ok: false; status: number; body: unknown }> {
    const full = `${r.owner}/${r.repo}`;
    if (await tagRef(full, r.tag_name)) return { ok: true };
    const head = await git(full, ["rev-parse", "--verify", "-q", `${r.target_commitish}^{commit}`]);
    if (!head.ok) {
      const empty = !(await git(full, ["rev-parse", "--verify", "-q", `refs/heads/${defaultBranch}`])).ok;
      return empty
        ? { ok: false, status: 422, body: { message: "Repository is empty." } }
        : { ok: false, status: 422, body: { message: "Validation Failed", errors: [{ resource: "Release", code: "invalid", field: "target_commitish" }] } };
    }
    // What GitHub does for a release whose tag does not exist: a lightweight tag, silently.
    await git(full, ["update-ref", `refs/tags/${r.tag_name}`, head.out]);
    return { ok: true };
  }

  const api = listen("api", async (req, _res, log, reply) => {
    const p = log.path;
    const method = log.method;
    let g: RegExpExecArray | null;
    // Downloads by browser URL are public: a redirect to storage, no token needed.
    if ((g = /^\/([^/]+)\/([^/]+)\/releases\/download\/([^/]+)\/([^/]+)$/.exec(p)) && method === "GET") {
      const tag = decodeURIComponent(g[3]!);
      const name = decodeURIComponent(g[4]!);
      const r = [...releases.values()].find((x) => x.owner === g![1] && x.repo === g![2] && x.tag_name === tag && !x.draft);
      const a = r && [...assets.values()].find((x) => x.releaseId === r.id && x.name === name && x.state === "uploaded");
      return a ? reply(302, undefined, { location: presigned(a) }) : reply(404, { message: "Not Found" });
    }
    const gate_ = await gate(req, log, reply);
    if (!gate_.ok) return;
    const known = (owner: string, repo: string): boolean => `${owner}/${repo}` in repos;

    if ((g = /^\/repos\/([^/]+)\/([^/]+)$/.exec(p)) && method === "GET") {
      const full = `${g[1]}/${g[2]}`;
      if (!known(g[1]!, g[2]!)) return reply(404, { message: "Not Found" });
      const w = gate_.canWrite;
      return reply(200, {
        id: 1,
        name: g[2],
        full_name: full,
        owner: { login: g[1] },
        default_branch: defaultBranch,
        html_url: `${base.api}/${full}`,
        // What `git clone` of the repository uses: here, the bare repository that stands for it.
        clone_url: `file://${repos[full]}`,
        fork: false,
        permissions: { admin: false, maintain: w, push: w, triage: w, pull: true },
      });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/immutable-releases$/.exec(p)) && method === "GET" && known(g[1]!, g[2]!)) {
      return immutableOn ? reply(200, { enabled: true, enforced_by_owner: false }) : reply(404, { message: "Not Found" });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\//.exec(p)) && !known(g[1]!, g[2]!)) {
      await readBody(req);
      return reply(404, { message: "Not Found" });
    }

    // GitHub takes the ref with its slash as is or encoded (tags%2Fv1), as Octokit sends it.
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/git\/ref\/(.+)$/.exec(p)) && method === "GET" && /^tags\//.test(decodeURIComponent(g[3]!))) {
      const tag = decodeURIComponent(g[3]!).slice("tags/".length);
      const t = await tagRef(`${g[1]}/${g[2]}`, tag);
      return t ? reply(200, { ref: `refs/tags/${tag}`, object: { type: t.type, sha: t.sha } }) : reply(404, { message: "Not Found" });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/git\/matching-refs\/(.+)$/.exec(p)) && method === "GET") {
      const prefix = `refs/${decodeURIComponent(g[3]!)}`;
      const out = await git(`${g[1]}/${g[2]}`, ["for-each-ref", "--format=%(refname) %(objectname) %(objecttype)", prefix.endsWith("/") ? prefix : `${prefix}*`]);
      const refs = out.out.split("\n").filter(Boolean).map((l) => l.split(" ")).filter(([ref]) => ref!.startsWith(prefix));
      return reply(200, refs.map(([ref, sha, type]) => ({ ref, object: { type, sha } })));
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/git\/refs$/.exec(p)) && method === "POST") {
      const b = JSON.parse((await readBody(req)).toString("utf8") || "{}") as { ref?: string; sha?: string };
      const tag = b.ref?.startsWith("refs/tags/") ? b.ref.slice("refs/tags/".length) : undefined;
      if (tag && tagRefusal(g[1]!, g[2]!, tag)) return reply(422, { message: "Reference update failed: Cannot create ref due to creations being restricted." });
      const r = await git(`${g[1]}/${g[2]}`, ["update-ref", b.ref ?? "", b.sha ?? "", ""]);
      return r.ok ? reply(201, { ref: b.ref, object: { type: "commit", sha: b.sha } }) : reply(422, { message: "Reference already exists" });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/git\/refs\/(.+)$/.exec(p)) && (method === "PATCH" || method === "DELETE")) {
      const ref = `refs/${decodeURIComponent(g[3]!)}`;
      const body = method === "PATCH" ? (JSON.parse((await readBody(req)).toString("utf8") || "{}") as { sha?: string }) : {};
      if (ref.startsWith("refs/tags/") && lockedTags.has(refKey(g[1]!, g[2]!, ref.slice("refs/tags/".length)))) {
        return reply(422, { message: "Cannot update this protected ref: the tag of an immutable release cannot be moved or deleted" });
      }
      const r = await git(`${g[1]}/${g[2]}`, method === "DELETE" ? ["update-ref", "-d", ref] : ["update-ref", ref, body.sha ?? ""]);
      return r.ok ? reply(method === "DELETE" ? 204 : 200, method === "DELETE" ? undefined : { ref, object: { type: "commit", sha: body.sha } }) : reply(422, { message: "Reference does not exist" });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/git\/tags\/([0-9a-f]{40})$/.exec(p)) && method === "GET") {
      const full = `${g[1]}/${g[2]}`;
      const type = await git(full, ["cat-file", "-t", g[3]!]);
      if (type.out !== "tag") return reply(404, { message: "Not Found" });
      const target = await git(full, ["rev-parse", `${g[3]}^{}`]);
      const targetType = await git(full, ["cat-file", "-t", target.out]);
      return reply(200, { sha: g[3], object: { type: targetType.out, sha: target.out } });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/tags\/(.+)$/.exec(p)) && method === "GET") {
      const tag = decodeURIComponent(g[3]!);
      const r = [...releases.values()].find((x) => x.owner === g![1] && x.repo === g![2] && x.tag_name === tag && !x.draft);
      return r ? reply(200, releaseJson(r)) : reply(404, { message: "Not Found" });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases$/.exec(p))) {
      const [owner, repo] = [g[1]!, g[2]!];
      if (method === "GET") {
        const all = [...releases.values()].filter((x) => x.owner === owner && x.repo === repo).reverse();
        const perPage = Number(log.query.per_page ?? 30);
        const page = Number(log.query.page ?? 1);
        const headers: Record<string, string> = {};
        if (page * perPage < all.length) {
          const next = new URL(`${base.api}${p}`);
          next.searchParams.set("per_page", String(perPage));
          next.searchParams.set("page", String(page + 1));
          headers.link = `<${next.toString()}>; rel="next"`;
        }
        return reply(200, all.slice((page - 1) * perPage, page * perPage).map(releaseJson), headers);
      }
      if (method === "POST") {
        const b = JSON.parse((await readBody(req)).toString("utf8") || "{}") as Partial<FakeRelease>;
        if (!b.tag_name) return reply(422, { message: "Validation Failed", errors: [{ field: "tag_name", code: "missing_field" }] });
        if ([...releases.values()].some((x) => x.owner === owner && x.repo === repo && x.tag_name === b.tag_name)) {
          return reply(422, { message: "Validation Failed", errors: [{ resource: "Release", code: "already_exists", field: "tag_name" }] });
        }
        const r: FakeRelease = {
          id: nextId++,
          tag_name: b.tag_name,
          name: b.name ?? null,
          body: b.body ?? null,
          draft: b.draft ?? false,
          prerelease: b.prerelease ?? false,
          target_commitish: b.target_commitish ?? defaultBranch,
          immutable: false,
          owner,
          repo,
        };
        if (!r.draft) {
          const t = await publish(r);
          if (!t.ok) return reply(t.status, t.body);
        }
        releases.set(r.id, r);
        return reply(201, releaseJson(r));
      }
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)$/.exec(p))) {
      const r = releases.get(Number(g[3]));
      if (!r) {
        await readBody(req);
        return reply(404, { message: "Not Found" });
      }
      if (method === "GET") return reply(200, releaseJson(r));
      if (method === "PATCH") {
        const b = JSON.parse((await readBody(req)).toString("utf8") || "{}") as Partial<FakeRelease>;
        const next = { ...r };
        for (const k of ["tag_name", "name", "body", "draft", "prerelease", "target_commitish"] as const) {
          if (b[k] !== undefined) (next as unknown as Record<string, unknown>)[k] = b[k];
        }
        if (r.immutable) {
          // Only the title and the notes of an immutable release can change.
          const locked = (["tag_name", "draft", "prerelease", "target_commitish"] as const).filter((k) => next[k] !== r[k]);
          if (locked.length) return reply(422, { message: "Validation Failed", errors: [{ resource: "Release", code: "custom", field: locked[0], message: "Cannot modify an immutable release" }] });
        } else if (!next.draft) {
          const t = await publish(next);
          if (!t.ok) return reply(t.status, t.body);
        }
        Object.assign(r, next);
        return reply(200, releaseJson(r));
      }
      if (method === "DELETE") {
        // The tag of a deleted immutable release may then be deleted, but never created again.
        if (r.immutable) {
          lockedTags.delete(refKey(r.owner, r.repo, r.tag_name));
          burned.add(refKey(r.owner, r.repo, r.tag_name));
          writeRefState();
        }
        releases.delete(r.id);
        for (const a of [...assets.values()]) if (a.releaseId === r.id) assets.delete(a.id);
        return reply(204);
      }
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)\/assets$/.exec(p)) && method === "GET") {
      const id = Number(g[3]);
      if (!releases.has(id)) return reply(404, { message: "Not Found" });
      const all = [...assets.values()].filter((a) => a.releaseId === id).map(assetJson);
      const perPage = Number(log.query.per_page ?? 30);
      const page = Number(log.query.page ?? 1);
      const slice = all.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      if (page * perPage < all.length) {
        const next = new URL(`${base.api}${p}`);
        next.searchParams.set("per_page", String(perPage));
        next.searchParams.set("page", String(page + 1));
        headers.link = `<${next.toString()}>; rel="next"`;
      }
      return reply(200, slice, headers);
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/assets\/(\d+)$/.exec(p))) {
      const a = assets.get(Number(g[3]));
      if (!a) return reply(404, { message: "Not Found" });
      if (method === "DELETE") {
        if (releases.get(a.releaseId)?.immutable) return reply(422, immutableError("Cannot delete assets of an immutable release."));
        assets.delete(a.id);
        return reply(204);
      }
      if (method === "GET") {
        // The bytes live on the storage host: the API redirects there.
        if ((req.headers.accept ?? "").includes("application/octet-stream")) {
          return a.state === "uploaded" ? reply(302, undefined, { location: presigned(a) }) : reply(404, { message: "Not Found" });
        }
        return reply(200, assetJson(a));
      }
    }
    await readBody(req);
    return reply(404, { message: `Not Found (fake GitHub: ${method} ${p})` });
  });

  const uploads = listen("uploads", async (req, _res, log, reply) => {
    const gate_ = await gate(req, log, reply);
    if (!gate_.ok) return;
    const g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)\/assets$/.exec(log.path);
    const bytes = await readBody(req);
    if (!g || log.method !== "POST") return reply(404, { message: "Not Found" });
    const r = releases.get(Number(g[3]));
    if (!r) return reply(404, { message: "Not Found" });
    if (r.immutable) return reply(422, immutableError("Cannot upload assets to an immutable release."));
    const name = log.query.name;
    if (!name) return reply(422, { message: "Validation Failed", errors: [{ field: "name", code: "missing" }] });
    if (req.headers["content-length"] !== undefined && Number(req.headers["content-length"]) !== bytes.length) {
      return reply(400, { message: "content-length mismatch" });
    }
    if ([...assets.values()].some((a) => a.releaseId === r.id && a.name === name)) {
      return reply(422, { message: "Validation Failed", errors: [{ resource: "ReleaseAsset", code: "already_exists", field: "name" }] });
    }
    const a: FakeAsset = {
      id: nextId++,
      name,
      label: log.query.label ?? null,
      content_type: String(req.headers["content-type"] ?? "application/octet-stream"),
      size: bytes.length,
      state: "uploaded",
      digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
      bytes,
      releaseId: r.id,
    };
    assets.set(a.id, a);
    return reply(201, assetJson(a));
  });

  const storage = listen("storage", async (req, _res, log, reply) => {
    await readBody(req);
    const f = firingFault(log);
    if (f) return reply(f.status ?? 503, Buffer.from("<Error><Code>InternalError</Code></Error>"));
    // Presigned: the signature is the credential; a second one is refused, as S3 does.
    if (log.authorization) return reply(400, Buffer.from("<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>"));
    const u = new URL(req.url ?? "/", "http://x");
    const expires = Number(u.searchParams.get("X-Amz-Expires"));
    const g = /^\/assets\/(\d+)\/[0-9a-f]+$/.exec(log.path);
    if (!g || !(expires > Date.now() / 1000) || u.searchParams.get("X-Amz-Signature") !== sign(log.path, expires)) {
      return reply(403, Buffer.from("<Error><Code>AccessDenied</Code></Error>"));
    }
    const a = assets.get(Number(g[1]));
    if (!a || log.method !== "GET") return reply(404, Buffer.from("<Error><Code>NoSuchKey</Code></Error>"));
    return reply(200, a.bytes, { "content-type": "application/octet-stream" });
  });

  const servers: Record<Host, Server> = { api, uploads, storage };
  for (const [host, server] of Object.entries(servers) as Array<[Host, Server]>) {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base[host] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  return {
    url: base.api,
    uploadsUrl: base.uploads,
    storageUrl: base.storage,
    releases,
    assets,
    requests,
    fault(f) {
      faults.push({ ...f, seen: 0 });
    },
    clearFaults: () => void faults.splice(0),
    writes: () => requests.filter((r) => r.method !== "GET" && r.method !== "HEAD"),
    setImmutable: (on) => void (immutableOn = on),
    burnedTags: burned,
    burnTag: (repository, tag) => {
      burned.add(`${repository}:${tag}`);
      writeRefState();
    },
    assetsOf: (tag) => {
      const r = [...releases.values()].find((x) => x.tag_name === tag);
      return r ? [...assets.values()].filter((a) => a.releaseId === r.id) : [];
    },
    close: async () => {
      await Promise.all(
        Object.values(servers).map(
          (server) =>
            new Promise<void>((resolve, reject) => {
              server.closeAllConnections();
              server.close((err) => (err ? reject(err) : resolve()));
            }),
        ),
      );
    },
  };
}
