// A local stand-in for the GitHub REST API, just the endpoints a release uses:
// releases by tag / id / list, create, update, assets list / get (JSON or bytes) / delete,
// uploads (at the `upload_url` the release carries, on this same server), and the repo.
// Checks `authorization: token|Bearer <t>`; keeps everything in memory; can fail a chosen
// request with a 5xx (method + path pattern + occurrence) to exercise retries.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeAsset {
  id: number;
  name: string;
  label: string | null;
  content_type: string;
  size: number;
  state: "uploaded";
  digest?: string;
  bytes: Buffer;
  releaseId: number;
}

export interface FakeRelease {
  id: number;
  tag_name: string;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  target_commitish: string;
  owner: string;
  repo: string;
}

export interface Fault {
  method: string;
  /** Matched against the request path (without query). */
  path: RegExp | string;
  /** Fail the n-th matching request (1-based). Default 1. */
  occurrence?: number;
  status?: number;
  /** Fail this many consecutive matching requests from `occurrence` on. Default 1. */
  times?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface FakeGitHubOptions {
  token?: string;
  /** Report `digest: sha256:...` on assets, like github.com since 2025 (default true); false mimics an older GHE. */
  digests?: boolean;
  /** Repositories that exist, as owner/name; default any. */
  repos?: string[];
}

export interface FakeGitHub {
  url: string;
  releases: Map<number, FakeRelease>;
  assets: Map<number, FakeAsset>;
  requests: LoggedRequest[];
  fault(f: Fault): void;
  /** Drop every fault not yet fired: the API is healthy again. */
  clearFaults(): void;
  /** Requests that changed state (POST/PATCH/DELETE), for "a rerun changes nothing" asserts. */
  writes(): LoggedRequest[];
  assetsOf(tag: string): FakeAsset[];
  close(): Promise<void>;
}

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const token = opts.token ?? "test-token";
  const digests = opts.digests ?? true;
  const releases = new Map<number, FakeRelease>();
  const assets = new Map<number, FakeAsset>();
  const requests: LoggedRequest[] = [];
  const faults: (Fault & { seen: number })[] = [];
  let nextId = 1;
  let base = "";

  const releaseJson = (r: FakeRelease): Record<string, unknown> => ({
    id: r.id,
    tag_name: r.tag_name,
    name: r.name,
    body: r.body,
    draft: r.draft,
    prerelease: r.prerelease,
    target_commitish: r.target_commitish,
    url: `${base}/repos/${r.owner}/${r.repo}/releases/${r.id}`,
    html_url: `${base}/${r.owner}/${r.repo}/releases/tag/${encodeURIComponent(r.tag_name)}`,
    assets_url: `${base}/repos/${r.owner}/${r.repo}/releases/${r.id}/assets`,
    upload_url: `${base}/uploads/repos/${r.owner}/${r.repo}/releases/${r.id}/assets{?name,label}`,
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
      ...(digests ? { digest: a.digest } : {}),
      url: `${base}/repos/${r.owner}/${r.repo}/releases/assets/${a.id}`,
      browser_download_url: `${base}/${r.owner}/${r.repo}/releases/download/${encodeURIComponent(r.tag_name)}/${encodeURIComponent(a.name)}`,
    };
  };

  const readBody = async (req: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(err) });
    });
  });

  const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void => {
    const data = body === undefined ? "" : Buffer.isBuffer(body) ? body : JSON.stringify(body);
    res.writeHead(status, { ...(Buffer.isBuffer(body) ? {} : { "content-type": "application/json; charset=utf-8" }), ...headers });
    res.end(data);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    const p = u.pathname;
    const log: LoggedRequest = { method, path: p, query: Object.fromEntries(u.searchParams), status: 0 };
    requests.push(log);
    const reply = (status: number, body?: unknown, headers?: Record<string, string>): void => {
      log.status = status;
      send(res, status, body, headers);
    };

    const auth = req.headers.authorization ?? "";
    const m = /^(?:token|bearer)\s+(.+)$/i.exec(auth);
    if (!m || m[1] !== token) {
      await readBody(req);
      return reply(401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
    }
    for (const f of faults) {
      const matches = f.method.toUpperCase() === method && (typeof f.path === "string" ? p.includes(f.path) : f.path.test(p));
      if (!matches) continue;
      f.seen++;
      const first = f.occurrence ?? 1;
      if (f.seen >= first && f.seen < first + (f.times ?? 1)) {
        await readBody(req);
        return reply(f.status ?? 502, { message: "Server Error (injected)" });
      }
    }

    let g: RegExpExecArray | null;
    if ((g = /^\/repos\/([^/]+)\/([^/]+)$/.exec(p)) && method === "GET") {
      const full = `${g[1]}/${g[2]}`;
      if (opts.repos && !opts.repos.includes(full)) return reply(404, { message: "Not Found" });
      return reply(200, { id: 1, name: g[2], full_name: full, owner: { login: g[1] }, default_branch: "main", html_url: `${base}/${full}` });
    }
    const repoOk = (owner: string, repo: string): boolean => !opts.repos || opts.repos.includes(`${owner}/${repo}`);

    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/tags\/(.+)$/.exec(p)) && method === "GET") {
      const tag = decodeURIComponent(g[3]!);
      const r = [...releases.values()].find((x) => x.owner === g![1] && x.repo === g![2] && x.tag_name === tag && !x.draft);
      return r ? reply(200, releaseJson(r)) : reply(404, { message: "Not Found" });
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases$/.exec(p))) {
      const [owner, repo] = [g[1]!, g[2]!];
      if (!repoOk(owner, repo)) return reply(404, { message: "Not Found" });
      if (method === "GET") {
        return reply(200, [...releases.values()].filter((x) => x.owner === owner && x.repo === repo).reverse().map(releaseJson));
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
          target_commitish: b.target_commitish ?? "main",
          owner,
          repo,
        };
        releases.set(r.id, r);
        return reply(201, releaseJson(r));
      }
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)$/.exec(p))) {
      const r = releases.get(Number(g[3]));
      if (!r) return reply(404, { message: "Not Found" });
      if (method === "GET") return reply(200, releaseJson(r));
      if (method === "PATCH") {
        const b = JSON.parse((await readBody(req)).toString("utf8") || "{}") as Partial<FakeRelease>;
        for (const k of ["tag_name", "name", "body", "draft", "prerelease", "target_commitish"] as const) {
          if (b[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = b[k];
        }
        return reply(200, releaseJson(r));
      }
      if (method === "DELETE") {
        releases.delete(r.id);
        return reply(204);
      }
    }
    if ((g = /^\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)\/assets$/.exec(p)) && method === "GET") {
      const id = Number(g[3]);
      if (!releases.has(id)) return reply(404, { message: "Not Found" });
      const all = [...assets.values()].filter((a) => a.releaseId === id).map(assetJson);
      const perPage = Number(u.searchParams.get("per_page") ?? 30);
      const page = Number(u.searchParams.get("page") ?? 1);
      const slice = all.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      if (page * perPage < all.length) {
        const next = new URL(`${base}${p}`);
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
        assets.delete(a.id);
        return reply(204);
      }
      if (method === "GET") {
        if ((req.headers.accept ?? "").includes("application/octet-stream")) {
          log.status = 200;
          res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(a.bytes.length) });
          res.end(a.bytes);
          return;
        }
        return reply(200, assetJson(a));
      }
    }
    if ((g = /^\/uploads\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)\/assets$/.exec(p)) && method === "POST") {
      const r = releases.get(Number(g[3]));
      const bytes = await readBody(req);
      if (!r) return reply(404, { message: "Not Found" });
      const name = u.searchParams.get("name");
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
        label: u.searchParams.get("label"),
        content_type: String(req.headers["content-type"] ?? "application/octet-stream"),
        size: bytes.length,
        state: "uploaded",
        digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
        bytes,
        releaseId: r.id,
      };
      assets.set(a.id, a);
      return reply(201, assetJson(a));
    }
    await readBody(req);
    return reply(404, { message: `Not Found (fake GitHub: ${method} ${p})` });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    releases,
    assets,
    requests,
    fault(f) {
      faults.push({ ...f, seen: 0 });
    },
    clearFaults: () => void faults.splice(0),
    writes: () => requests.filter((r) => r.method !== "GET" && r.method !== "HEAD"),
    assetsOf: (tag) => {
      const r = [...releases.values()].find((x) => x.tag_name === tag);
      return r ? [...assets.values()].filter((a) => a.releaseId === r.id) : [];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
