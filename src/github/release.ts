// The GitHub Release, made the way immutable releases require: a draft (invisible to users)
// holding every asset, each checked against GitHub's own size and sha256 digest, then published
// in one PATCH — the one visible step. A published release is never given assets afterwards
// (an immutable one refuses them, a mutable one would be seen half-filled).
import { createReadStream } from "node:fs";
import { UserError } from "../report.js";
import { isLoopbackHost, refuseCleartextEndpoint } from "../util/redact.js";
import { errorStatus, isRetryable, sleep, type GitHubClient } from "./client.js";
import { GitHubError, toGitHubError } from "./errors.js";

export interface RemoteRelease {
  id: number;
  tag_name: string;
  name: string | null;
  body?: string | null;
  draft: boolean;
  prerelease: boolean;
  /** Published while the repository had immutable releases on: assets and tag are locked. */
  immutable?: boolean;
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

/** A file to attach: its name on the release, and what it must be there. */
export interface LocalAsset {
  path: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
}

export interface ReleaseTarget {
  client: GitHubClient;
  owner: string;
  repo: string;
}

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

/** The release of `tag`, published or draft (drafts are not found by tag, only in the list). */
export async function findReleaseByTag(t: ReleaseTarget, tag: string): Promise<RemoteRelease | undefined> {
  const published = await githubReleaseByTag(t.client, t.owner, t.repo, tag);
  if (published) return published;
  try {
    const all = (await t.client.paginate("GET /repos/{owner}/{repo}/releases", { owner: t.owner, repo: t.repo, per_page: 100 })) as unknown as RemoteRelease[];
    return all.find((r) => r.tag_name === tag);
  } catch (err) {
    throw toGitHubError("listing releases", err);
  }
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

/** Whether the repository publishes immutable releases; undefined when GitHub does not say (an older GitHub Enterprise). */
export async function immutableReleasesOn(t: ReleaseTarget): Promise<boolean | undefined> {
  try {
    const r = await t.client.request("GET /repos/{owner}/{repo}/immutable-releases", { owner: t.owner, repo: t.repo });
    return (r.data as { enabled?: boolean }).enabled === true;
  } catch (err) {
    const s = errorStatus(err);
    if (s === 404) return false;
    if (s !== undefined && s < 500) return undefined;
    throw toGitHubError("asking whether immutable releases are on", err);
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

export type AssetState = "same" | "differs" | "missing";

/**
 * Each local asset against the release: `same` when GitHub holds it uploaded with its size and
 * sha256. Without a digest from GitHub (an older GitHub Enterprise) only the size can be held to
 * it; the proof downloads the assets anyway.
 */
export function compareAssets(remote: readonly RemoteAsset[], local: ReadonlyArray<Pick<LocalAsset, "name" | "size" | "sha256">>): Map<string, AssetState> {
  const out = new Map<string, AssetState>();
  for (const l of local) {
    const r = remote.find((a) => a.name === l.name);
    if (!r) out.set(l.name, "missing");
    else {
      const sha = remoteAssetSha256(r);
      out.set(l.name, r.state === "uploaded" && r.size === l.size && (sha === undefined || sha === l.sha256) ? "same" : "differs");
    }
  }
  return out;
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

export interface StageDraftOptions extends ReleaseTarget {
  tag: string;
  /** Where GitHub would make a missing tag from; the tag is always pushed before publishing. */
  targetCommitish: string;
  name: string;
  body: string;
  prerelease?: boolean;
  assets: readonly LocalAsset[];
  /** Re-uploads after a 5xx or network failure of one upload. Default 3. */
  uploadRetries?: number;
  retryDelayMs?: number;
  log?: (message: string) => void;
}

export interface StagedAsset {
  name: string;
  id: number;
  size: number;
  sha256: string;
}

export interface StagedRelease {
  releaseId: number;
  /** The draft's page (visible to collaborators only). */
  url: string;
  /** `created`: a new draft; `resumed`: the draft an earlier run left. */
  draft: "created" | "resumed";
  uploaded: string[];
  unchanged: string[];
  assets: StagedAsset[];
}

/**
 * The draft release of `tag` with every asset uploaded and held to GitHub's size and digest.
 * A draft an earlier run left is taken up again (its matching assets kept); a published release
 * of the tag is refused: the plan decides what to do with one before anything is written.
 */
export async function stageDraftRelease(o: StageDraftOptions): Promise<StagedRelease> {
  const { client, owner, repo, tag } = o;
  const names = new Set<string>();
  for (const a of o.assets) {
    if (names.has(a.name)) throw new UserError(`two release assets are named ${a.name}`);
    names.add(a.name);
  }
  let release = await findReleaseByTag(o, tag);
  if (release && !release.draft) {
    throw new GitHubError(`GitHub: ${owner}/${repo} already has a published release ${tag}: it is not touched (bump the version for a new release)`, 409);
  }
  let draft: StagedRelease["draft"] = "resumed";
  try {
    if (!release) {
      const r = await client.request("POST /repos/{owner}/{repo}/releases", {
        owner,
        repo,
        tag_name: tag,
        target_commitish: o.targetCommitish,
        name: o.name,
        body: o.body,
        draft: true,
        prerelease: !!o.prerelease,
      });
      release = r.data as unknown as RemoteRelease;
      draft = "created";
    } else if ((release.name ?? "") !== o.name || (release.body ?? "") !== o.body) {
      const r = await client.request("PATCH /repos/{owner}/{repo}/releases/{release_id}", { owner, repo, release_id: release.id, name: o.name, body: o.body });
      release = r.data as unknown as RemoteRelease;
    }
  } catch (err) {
    throw toGitHubError(`creating the draft release ${tag}`, err);
  }
  if (!release.draft) throw new GitHubError(`GitHub: the release ${tag} of ${owner}/${repo} was published by someone else meanwhile: not touched`, 409);

  const remote = draft === "created" ? [] : await listReleaseAssets(client, owner, repo, release.id);
  const states = compareAssets(remote, o.assets);
  const out: StagedRelease = { releaseId: release.id, url: release.html_url, draft, uploaded: [], unchanged: [], assets: [] };
  for (const a of o.assets) {
    const existing = remote.filter((r) => r.name === a.name);
    if (states.get(a.name) === "same") {
      out.unchanged.push(a.name);
      out.assets.push({ name: a.name, id: existing[0]!.id, size: a.size, sha256: a.sha256 });
      continue;
    }
    for (const e of existing) await deleteAsset(o, e.id, e.name);
    const up = await uploadAsset(o, release, a);
    const sha = remoteAssetSha256(up);
    if (up.state !== "uploaded" || up.size !== a.size || (sha !== undefined && sha !== a.sha256)) {
      throw new GitHubError(
        `GitHub: ${a.name} arrived as ${up.size} bytes${sha ? ` with sha256 ${sha}` : ""} (state ${up.state}), not the ${a.size} bytes with sha256 ${a.sha256} that were sent: the draft is not published`,
      );
    }
    out.uploaded.push(a.name);
    out.assets.push({ name: a.name, id: up.id, size: up.size, sha256: a.sha256 });
  }
  return out;
}

export interface PublishDraftOptions extends ReleaseTarget {
  releaseId: number;
  tag: string;
  /** The commit the tag must point at on GitHub: pushed before, never made by GitHub from a branch. */
  commit: string;
  name: string;
  body: string;
  /** GitHub's "latest release" badge (default true). */
  makeLatest?: boolean;
}

export interface PublishedRelease {
  releaseId: number;
  url: string;
  /** GitHub locked the release: its assets and tag can never change. */
  immutable: boolean;
}

/** Publishes the draft: the one visible step. The tag must already be on GitHub at `commit`. */
export async function publishDraftRelease(o: PublishDraftOptions): Promise<PublishedRelease> {
  const { client, owner, repo, tag } = o;
  const at = await githubTagCommit(client, owner, repo, tag);
  if (!at) {
    throw new GitHubError(`GitHub: ${owner}/${repo} has no tag ${tag}: push it first (GitHub would create it from a branch, which is not what was checked)`);
  }
  if (at !== o.commit) throw new GitHubError(`GitHub: tag ${tag} of ${owner}/${repo} points at ${at.slice(0, 7)}, not at the released commit ${o.commit.slice(0, 7)}`);
  try {
    const r = await client.request("PATCH /repos/{owner}/{repo}/releases/{release_id}", {
      owner,
      repo,
      release_id: o.releaseId,
      tag_name: tag,
      name: o.name,
      body: o.body,
      draft: false,
      make_latest: o.makeLatest === false ? "false" : "true",
    });
    const rel = r.data as unknown as RemoteRelease;
    if (rel.draft) throw new GitHubError(`GitHub: the release ${tag} of ${owner}/${repo} is still a draft after publishing it`);
    return { releaseId: rel.id, url: rel.html_url, immutable: rel.immutable === true };
  } catch (err) {
    if (/immutable/i.test(JSON.stringify((err as { response?: { data?: unknown } }).response?.data ?? "")) || /immutable/i.test(String((err as Error).message))) {
      throw new GitHubError(
        `GitHub refuses to publish ${tag} in ${owner}/${repo}: the tag was used by an immutable release (deleted since), and such a tag can never be used again. Bump the version and release again`,
        errorStatus(err),
        { cause: err },
      );
    }
    throw toGitHubError(`publishing the release ${tag}`, err);
  }
}

/** Removes the draft an unproven release left (drafts are never seen by users; a published release is never deleted). */
export async function deleteDraftRelease(t: ReleaseTarget & { releaseId: number }): Promise<"deleted" | "gone"> {
  let release: RemoteRelease;
  try {
    release = (await t.client.request("GET /repos/{owner}/{repo}/releases/{release_id}", { owner: t.owner, repo: t.repo, release_id: t.releaseId })).data as unknown as RemoteRelease;
  } catch (err) {
    if (errorStatus(err) === 404) return "gone";
    throw toGitHubError("reading the draft release", err);
  }
  if (!release.draft) throw new GitHubError(`GitHub: release ${release.tag_name} of ${t.owner}/${t.repo} is published: it is never deleted by a release run`);
  try {
    await t.client.request("DELETE /repos/{owner}/{repo}/releases/{release_id}", { owner: t.owner, repo: t.repo, release_id: t.releaseId });
  } catch (err) {
    if (errorStatus(err) !== 404) throw toGitHubError("deleting the draft release", err);
  }
  return "deleted";
}

async function deleteAsset(o: ReleaseTarget, id: number, name: string): Promise<void> {
  try {
    await o.client.request("DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}", { owner: o.owner, repo: o.repo, asset_id: id });
  } catch (err) {
    if (errorStatus(err) !== 404) throw toGitHubError(`deleting the old ${name}`, err);
  }
}

async function uploadAsset(o: StageDraftOptions, release: RemoteRelease, local: LocalAsset): Promise<RemoteAsset> {
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
      for (const a of await listReleaseAssets(o.client, o.owner, o.repo, release.id)) if (a.name === local.name) await deleteAsset(o, a.id, a.name);
    }
  }
}
