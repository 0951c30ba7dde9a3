// The remote side: repo head, tree listing (recursive, paginated, with LFS sha256), blob ids.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { HubApiError, listFiles } from "@huggingface/hub";
import { defaultHubFetch } from "./errors.js";
import type { HubTarget, RemoteFile } from "./types.js";

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function repoApiUrl(t: Pick<HubTarget, "endpoint" | "repoId">): string {
  return `${t.endpoint}/api/models/${t.repoId.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * Commit sha of `revision`, or null when the repo does not exist (repoExists false) or the
 * revision does not (repoExists true).
 */
export async function getRevisionHead(t: HubTarget & { revision: string }): Promise<{ repoExists: boolean; commit: string | null; private?: boolean }> {
  const f = t.fetch ?? defaultHubFetch();
  const info = await f(repoApiUrl(t), { headers: authHeaders(t.token) });
  if (info.status === 404) {
    await info.body?.cancel();
    return { repoExists: false, commit: null };
  }
  if (!info.ok) throw await httpError(info, "read the repo info");
  const meta = (await info.json()) as { private?: boolean; sha?: string };
  const res = await f(`${repoApiUrl(t)}/revision/${encodeURIComponent(t.revision)}`, { headers: authHeaders(t.token) });
  if (res.status === 404) {
    await res.body?.cancel();
    return { repoExists: true, commit: null, private: meta.private };
  }
  if (!res.ok) throw await httpError(res, `resolve revision ${t.revision}`);
  const body = (await res.json()) as { sha?: string };
  return { repoExists: true, commit: body.sha ?? null, private: meta.private };
}

/** Every file at `revision` (recursive; follows the Link header), LFS sha256 included. */
export async function listRemoteTree(t: HubTarget & { revision: string }): Promise<RemoteFile[]> {
  const out: RemoteFile[] = [];
  for await (const e of listFiles({
    repo: { type: "model", name: t.repoId },
    revision: t.revision,
    recursive: true,
    hubUrl: t.endpoint,
    fetch: t.fetch ?? defaultHubFetch(),
    ...(t.token ? { accessToken: t.token } : {}),
  })) {
    if (e.type !== "file") continue;
    out.push({ path: e.path, size: e.size, oid: e.oid ?? "", ...(e.lfs ? { lfs: { oid: e.lfs.oid, size: e.lfs.size } } : {}) });
  }
  return out;
}

/** git blob id: sha1("blob <size>\0" + bytes), streamed. */
export async function gitBlobSha1(file: string, size: number): Promise<string> {
  const h = createHash("sha1");
  h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

export function gitBlobSha1OfBytes(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

export function sha256OfBytes(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function httpError(res: Response, what: string): Promise<HubApiError> {
  let detail = "";
  try {
    const body = (await res.json()) as { error?: string };
    detail = body.error ? `: ${body.error}` : "";
  } catch {
    /* not json */
  }
  const err = new HubApiError(res.url, res.status, res.headers.get("X-Request-Id") ?? undefined, `could not ${what} (HTTP ${res.status}${detail})`);
  return err;
}

export { httpError };
