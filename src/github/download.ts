// Download a GitHub Release asset as a user gets it. With a token: the API's asset URL
// (`accept: application/octet-stream`, private repos too), the token sent to the API origin only;
// without: the public `releases/download/<tag>/<name>` URL. Both redirect to a storage host,
// which is never sent the token.
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
}

export async function downloadReleaseAsset(o: AssetDownloadOptions): Promise<Downloaded> {
  const base = { fetch: o.fetch ?? globalThis.fetch, ...(o.signal ? { signal: o.signal } : {}) };
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
    }
    url = `${o.apiUrl.replace(/\/+$/, "")}/repos/${o.owner}/${o.repo}/releases/assets/${id}`;
    auth = { authorization: `Bearer ${o.token}`, headers: { Accept: "application/octet-stream" } };
  } else {
    url = `${githubWebUrl(o.apiUrl)}/${o.owner}/${o.repo}/releases/download/${encodeURIComponent(o.tag)}/${encodeURIComponent(o.name)}`;
  }
  try {
    return await downloadToFile(url, o.dest, { ...base, ...auth });
  } catch (e) {
    if (e instanceof DownloadError) throw new GitHubError(`GitHub: downloading ${o.name} of the release ${o.tag}: ${e.message}`, e.status);
    throw new GitHubError(`GitHub: downloading ${o.name} of the release ${o.tag}: ${(e as Error).message}`, undefined, { cause: e });
  }
}
