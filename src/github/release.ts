// The GitHub Release: created or updated for the tag, with its assets uploaded (streamed) only
// when they differ from what is already there. A rerun with nothing changed makes no writes.
import { createHash } from "node:crypto";
import { hashFile } from "../checkpoint/hash-cache.js";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../report.js";
import { isLoopbackHost, refuseCleartextEndpoint } from "../util/redact.js";
import { errorStatus, isRetryable, sleep, type GitHubClient } from "./client.js";
import { GitHubError, toGitHubError } from "./errors.js";

export interface ReleaseAssetInput {
  /** Local file to upload. */
  path: string;
  /** Asset name; default: the file's base name. */
  name?: string;
  contentType?: string;
  /** Known sha256 of the file (e.g. from packCheckpoint); hashed here otherwise. */
  sha256?: string;
}

export interface PublishReleaseOptions {
  client: GitHubClient;
  owner: string;
  repo: string;
  tag: string;
  /** Release title; default the tag. */
  name?: string;
  /** Markdown notes (renderReleaseNotes). */
  body: string;
  /**
   * The commit the tag must point at on GitHub. The tag is pushed first; GitHub would create a
   * missing tag from the default branch, silently, so the release refuses to be made without it.
   */
  commit: string;
  draft?: boolean;
  prerelease?: boolean;
  assets: readonly ReleaseAssetInput[];
  /** Re-uploads after a 5xx/network failure of an upload. Default 3. */
  uploadRetries?: number;
  retryDelayMs?: number;
  /** Assets up to this size, without a digest or label sha, are downloaded to compare. Default 1 MiB. */
  compareDownloadMaxBytes?: number;
  log?: (message: string) => void;
}

export interface PublishedAsset {
  name: string;
  id: number;
  size: number;
  sha256: string;
  url: string;
}

export interface PublishReleaseResult {
  releaseId: number;
  htmlUrl: string;
  tag: string;
  /** What happened to the release itself. */
  release: "created" | "updated" | "unchanged";
  /** Asset names uploaded in this run (new or replaced). */
  uploaded: string[];
  /** Subset of `uploaded` that replaced a different asset of the same name. */
  replaced: string[];
  /** Asset names already there, identical. */
  unchanged: string[];
  assets: PublishedAsset[];
}

export interface RemoteRelease {
  id: number;
  tag_name: string;
  name: string | null;
  body?: string | null;
  draft: boolean;
  prerelease: boolean;
  html_url: string;
  upload_url: string;
}

export interface RemoteAsset {
  id: number;
  name: string;
  label: string | null;
  size: number;
  state: string;
  digest?: string | null;
  browser_download_url: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".gz": "application/gzip",
  ".tgz": "application/gzip",
  ".json": "application/json",
  ".txt": "text/plain",
};

export function assetLabel(name: string, sha256: string): string {
  return `${name} (sha256 ${sha256})`;
}

/** The sha256 GitHub reports (`digest`, since 2025) or that we put in the label. */
export function remoteAssetSha256(a: Pick<RemoteAsset, "digest" | "label">): string | undefined {
  const d = a.digest ? /^sha256:([0-9a-f]{64})$/i.exec(a.digest) : null;
  if (d) return d[1]!.toLowerCase();
  const l = a.label ? /sha256[: ]([0-9a-f]{64})/i.exec(a.label) : null;
  return l ? l[1]!.toLowerCase() : undefined;
}

async function findRelease(o: PublishReleaseOptions): Promise<RemoteRelease | undefined> {
  const { client, owner, repo, tag } = o;
  const published = await githubReleaseByTag(client, owner, repo, tag);
  if (published) return published;
  // Drafts are not found by tag: look through the latest releases.
  try {
    const list = await client.request("GET /repos/{owner}/{repo}/releases", { owner, repo, per_page: 100 });
    return (list.data as unknown as RemoteRelease[]).find((r) => r.tag_name === tag);
  } catch (err) {
    throw toGitHubError("listing releases", err);
  }
}

/** Every asset of a release, whatever its state. */
export async function listReleaseAssets(client: GitHubClient, owner: string, repo: string, releaseId: number): Promise<RemoteAsset[]> {
  try {
    return (await client.paginate("GET /repos/{owner}/{repo}/releases/{release_id}/assets", {
      owner,
      repo,
      release_id: releaseId,
      per_page: 100,
    })) as unknown as RemoteAsset[];
  } catch (err) {
    throw toGitHubError("listing release assets", err);
  }
}

function listAssets(o: PublishReleaseOptions, releaseId: number): Promise<RemoteAsset[]> {
  return listReleaseAssets(o.client, o.owner, o.repo, releaseId);
}

async function deleteAsset(o: PublishReleaseOptions, id: number, name: string): Promise<void> {
  try {
    await o.client.request("DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}", { owner: o.owner, repo: o.repo, asset_id: id });
  } catch (err) {
    if (errorStatus(err) !== 404) throw toGitHubError(`deleting the old ${name}`, err);
  }
}

/** sha256 of an asset's bytes (the API redirects to storage); undefined when the asset is gone. */
async function downloadSha256(o: PublishReleaseOptions, id: number): Promise<string | undefined> {
  let data: unknown;
  try {
    const r = await o.client.request("GET /repos/{owner}/{repo}/releases/assets/{asset_id}", {
      owner: o.owner,
      repo: o.repo,
      asset_id: id,
      headers: { accept: "application/octet-stream" },
    });
    data = r.data;
  } catch (err) {
    if (errorStatus(err) === 404) return undefined;
    throw toGitHubError(`downloading asset ${id} to compare it`, err);
  }
  const bytes = data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.isBuffer(data) ? data : typeof data === "string" ? Buffer.from(data) : undefined;
  if (!bytes) throw new GitHubError(`GitHub: downloading asset ${id} to compare it gave no bytes`);
  return createHash("sha256").update(bytes).digest("hex");
}

/** The commit `tag` points at on GitHub (annotated tags peeled), or undefined when GitHub has no such tag. */
export async function githubTagCommit(client: GitHubClient, owner: string, repo: string, tag: string): Promise<string | undefined> {
  let object: { type: string; sha: string };
  try {
    const r = await client.request("GET /repos/{owner}/{repo}/git/ref/{ref}", { owner, repo, ref: `tags/${tag}` });
    object = (r.data as { object: { type: string; sha: string } }).object;
  } catch (err) {
    if (errorStatus(err) === 404) return undefined;
    throw toGitHubError(`looking up the tag ${tag}`, err);
  }
  for (let depth = 0; object.type === "tag" && depth < 5; depth++) {
    try {
      const t = await client.request("GET /repos/{owner}/{repo}/git/tags/{tag_sha}", { owner, repo, tag_sha: object.sha });
      object = (t.data as { object: { type: string; sha: string } }).object;
    } catch (err) {
      throw toGitHubError(`reading the annotated tag ${tag}`, err);
    }
  }
  return object.type === "commit" ? object.sha : undefined;
}

/** The published release of `tag`, or undefined when there is none. */
export async function githubReleaseByTag(client: GitHubClient, owner: string, repo: string, tag: string): Promise<RemoteRelease | undefined> {
  try {
    const r = await client.request("GET /repos/{owner}/{repo}/releases/tags/{tag}", { owner, repo, tag });
    return r.data as unknown as RemoteRelease;
  } catch (err) {
    if (errorStatus(err) === 404) return undefined;
    throw toGitHubError(`looking up the release for ${tag}`, err);
  }
}

/**
 * The token goes with an asset to the release's `upload_url`, a URL from GitHub's answer: it must
 * be GitHub's upload host for this API (uploads.github.com for api.github.com, uploads.<host> for
 * api.<host>, the API's own host on GitHub Enterprise Server; both on loopback in tests), and
 * never plain http off loopback.
 */
export function assertGitHubUploadUrl(uploadUrl: string, apiBaseUrl: string): void {
  const api = new URL(apiBaseUrl);
  const up = new URL(uploadUrl.replace(/\{[^}]*\}$/, ""));
  refuseCleartextEndpoint("the release's upload_url", up.href);
  const uploadsHost = api.hostname.startsWith("api.") ? `uploads.${api.hostname.slice(4)}` : undefined;
  const ok =
    up.host === api.host ||
    (up.hostname === uploadsHost && up.port === api.port) ||
    (isLoopbackHost(api.hostname) && isLoopbackHost(up.hostname));
  if (!ok) throw new UserError(`GitHub answered with an upload URL on ${up.origin}, which is not the upload host of ${api.origin}: refusing to send the token there`);
}

async function uploadAsset(o: PublishReleaseOptions, release: RemoteRelease, local: Required<Omit<ReleaseAssetInput, "path">> & { path: string; size: number }): Promise<RemoteAsset> {
  const retries = o.uploadRetries ?? 3;
  assertGitHubUploadUrl(release.upload_url, o.client.request.endpoint.DEFAULTS.baseUrl);
  for (let attempt = 0; ; attempt++) {
    const body = createReadStream(local.path, { highWaterMark: 1024 * 1024 });
    try {
      const r = await o.client.request({
        method: "POST",
        url: release.upload_url,
        name: local.name,
        label: assetLabel(local.name, local.sha256),
        data: body,
        headers: { "content-type": local.contentType, "content-length": local.size },
      });
      return r.data as unknown as RemoteAsset;
    } catch (err) {
      body.destroy();
      if (attempt >= retries || !isRetryable(err)) throw toGitHubError(`uploading ${local.name}`, err);
      o.log?.(`GitHub: uploading ${local.name} failed (${errorStatus(err) ?? "network"}), retry ${attempt + 1}/${retries}`);
      await sleep((o.retryDelayMs ?? 1000) * 2 ** attempt);
      // A failed upload can leave a broken asset of that name behind: remove it first.
      for (const a of await listAssets(o, release.id)) if (a.name === local.name) await deleteAsset(o, a.id, a.name);
    }
  }
}

export async function publishGitHubRelease(o: PublishReleaseOptions): Promise<PublishReleaseResult> {
  const { client, owner, repo, tag } = o;
  const name = o.name ?? tag;
  const draft = o.draft ?? false;
  const prerelease = o.prerelease ?? false;

  // Local assets first: a missing file fails before anything is written.
  const locals = await Promise.all(
    o.assets.map(async (a) => {
      const st = await stat(a.path).catch(() => undefined);
      if (!st?.isFile()) throw new UserError(`release asset ${a.path} does not exist`);
      const assetName = a.name ?? path.basename(a.path);
      return {
        path: a.path,
        name: assetName,
        size: st.size,
        sha256: a.sha256 ?? (await hashFile(a.path)),
        contentType: a.contentType ?? CONTENT_TYPES[path.extname(assetName)] ?? "application/octet-stream",
      };
    }),
  );
  const names = new Set<string>();
  for (const l of locals) {
    if (names.has(l.name)) throw new UserError(`two release assets are named ${l.name}`);
    names.add(l.name);
  }

  // The tag is pushed first and must be the released commit: never let GitHub make it.
  const at = await githubTagCommit(client, owner, repo, tag);
  if (!at) {
    throw new GitHubError(
      `GitHub: ${owner}/${repo} has no tag ${tag}: push it first (GitHub would create it from the default branch, which is not what was checked)`,
    );
  }
  if (at !== o.commit) {
    throw new GitHubError(`GitHub: tag ${tag} of ${owner}/${repo} points at ${at.slice(0, 7)}, not at the released commit ${o.commit.slice(0, 7)}`);
  }

  let release = await findRelease(o);
  let state: PublishReleaseResult["release"] = "unchanged";
  if (!release) {
    try {
      const r = await client.request("POST /repos/{owner}/{repo}/releases", {
        owner,
        repo,
        tag_name: tag,
        name,
        body: o.body,
        draft,
        prerelease,
      });
      release = r.data as unknown as RemoteRelease;
      state = "created";
    } catch (err) {
      throw toGitHubError(`creating the release ${tag}`, err);
    }
  } else if ((release.name ?? "") !== name || (release.body ?? "") !== o.body || release.draft !== draft || release.prerelease !== prerelease) {
    try {
      const r = await client.request("PATCH /repos/{owner}/{repo}/releases/{release_id}", {
        owner,
        repo,
        release_id: release.id,
        name,
        body: o.body,
        draft,
        prerelease,
      });
      release = r.data as unknown as RemoteRelease;
      state = "updated";
    } catch (err) {
      throw toGitHubError(`updating the release ${tag}`, err);
    }
  }

  const remote = state === "created" ? [] : await listAssets(o, release.id);
  const uploaded: string[] = [];
  const replaced: string[] = [];
  const unchanged: string[] = [];
  const assets: PublishedAsset[] = [];
  for (const l of locals) {
    const existing = remote.find((a) => a.name === l.name);
    if (existing && existing.state === "uploaded" && existing.size === l.size) {
      let sha = remoteAssetSha256(existing);
      if (!sha && l.size <= (o.compareDownloadMaxBytes ?? 1024 * 1024)) sha = await downloadSha256(o, existing.id);
      if (sha === l.sha256) {
        unchanged.push(l.name);
        assets.push({ name: l.name, id: existing.id, size: existing.size, sha256: l.sha256, url: existing.browser_download_url });
        continue;
      }
    }
    if (existing) {
      await deleteAsset(o, existing.id, existing.name);
      replaced.push(l.name);
    }
    const up = await uploadAsset(o, release, l);
    uploaded.push(l.name);
    assets.push({ name: l.name, id: up.id, size: up.size, sha256: l.sha256, url: up.browser_download_url });
  }
  return { releaseId: release.id, htmlUrl: release.html_url, tag, release: state, uploaded, replaced, unchanged, assets };
}
