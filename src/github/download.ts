// Download a GitHub Release asset as a user gets it. With a token: the API's asset URL
// (`accept: application/octet-stream`, private repos too), the token sent to the API origin only;
// without: the public `releases/download/<tag>/<name>` URL. Both redirect to a storage host,
// which is never sent the token. The bytes read are bounded by the size the caller knows (the
// packed archive's), else by the size GitHub lists for the asset, else by the room on the disk.
import { UserError } from "../report.js";
import { DownloadError, downloadToFile, type Downloaded } from "../util/download.js";
import type { GitHubClient } from "./client.js";
import { GitHubError } from "./errors.js";
import { githubReleaseByTag, listReleaseAssets } from "./release.js";
import { githubWebUrl } from "./repo.js";

export interface AssetDownloadOptions {
  /** With a client and its token: the API route. */
  client?: GitHubClient;
  token?: string;
  /** GITHUB_API_URL. */
  apiUrl: string;
  owner: string;
  repo: string;
  tag: string;
  name: string;
  /** The asset's id (a draft's assets are found by id only; needs the client and token). */
  assetId?: number;
  dest: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** The asset's exact size, when the caller knows it (the archive it packed). */
  size?: number;
  /** Without a size: at most this many bytes (SHA256SUMS, say). */
  maxBytes?: number;
}

export async function downloadReleaseAsset(o: AssetDownloadOptions): Promise<Downloaded> {
  const base = { fetch: o.fetch ?? (o.client?.request.endpoint.DEFAULTS.request?.fetch as typeof fetch | undefined) ?? globalThis.fetch, ...(o.signal ? { signal: o.signal } : {}) };
  let size = o.size;
  let url: string;
  let auth: { authorization?: string; headers?: Record<string, string> } = {};
  if (o.client && o.token) {
    let id = o.assetId;
    if (id === undefined) {
      const release = await githubReleaseByTag(o.client, o.owner, o.repo, o.tag);
      if (!release) throw new GitHubError(`GitHub: ${o.owner}/${o.repo} has no release ${o.tag}`, 404);
      const asset = (await listReleaseAssets(o.client, o.owner, o.repo, release.id)).find((a) => a.name === o.name && a.state === "uploaded");
      if (!asset) throw new GitHubError(`GitHub: the release ${o.tag} of ${o.owner}/${o.repo} has no ${o.name}`, 404);
      id = asset.id;
      size ??= asset.size;
    }
    url = `${o.apiUrl.replace(/\/+$/, "")}/repos/${o.owner}/${o.repo}/releases/assets/${id}`;
    auth = { authorization: `Bearer ${o.token}`, headers: { Accept: "application/octet-stream" } };
  } else {
    url = `${githubWebUrl(o.apiUrl)}/${o.owner}/${o.repo}/releases/download/${encodeURIComponent(o.tag)}/${encodeURIComponent(o.name)}`;
  }
  try {
    return await downloadToFile(url, o.dest, { ...base, ...auth, ...(size !== undefined ? { size } : {}), ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}) });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    if (e instanceof DownloadError) throw new GitHubError(`GitHub: downloading ${o.name} of the release ${o.tag}: ${e.message}`, e.status, { cause: e });
    const why = e instanceof UserError ? e.message : (e as Error).message;
    throw new GitHubError(`GitHub: downloading ${o.name} of the release ${o.tag}: ${why}`, undefined, { cause: e });
  }
}
