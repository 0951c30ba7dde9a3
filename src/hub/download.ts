// Download a file of a Hub repo at a revision the way `from_pretrained` / `hf_hub_download`
// does: `GET {endpoint}/{repo}/resolve/{revision}/{path}`, which answers LFS files with a
// redirect to the storage host. The token goes to the Hub origin only (a public repo needs
// none), never to storage.
import { defaultHubFetch, HubPublishError, redactHub } from "./errors.js";
import { retryableErrorCode } from "./retry-fetch.js";
import { repoApiUrl } from "./tree.js";
import type { HubTarget } from "./types.js";
import { DownloadError, downloadToFile, type Downloaded } from "../util/download.js";

export interface HubDownloadOptions extends HubTarget {
  revision: string;
  /** Repo path of the file. */
  path: string;
  /** Where to write it. */
  dest: string;
  signal?: AbortSignal;
}

/** The public URL a user's client resolves for `path` at `revision`. */
export function hubResolveUrl(t: Pick<HubTarget, "endpoint" | "repoId">, revision: string, filePath: string): string {
  const enc = (p: string) => p.split("/").map(encodeURIComponent).join("/");
  return `${t.endpoint}/${enc(t.repoId)}/resolve/${encodeURIComponent(revision)}/${enc(filePath)}`;
}

export async function downloadHubFile(o: HubDownloadOptions): Promise<Downloaded> {
  const url = hubResolveUrl(o, o.revision, o.path);
  try {
    return await downloadToFile(url, o.dest, {
      fetch: o.fetch ?? defaultHubFetch(),
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    if (!(e instanceof DownloadError)) {
      const cause = (e as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } }).cause;
      const code = retryableErrorCode(e) ?? cause?.code ?? cause?.errors?.[0]?.code;
      const why = typeof code === "string" ? `network error (${code})` : redactHub((e as Error).message ?? String(e), [o.token]);
      throw new HubPublishError(`downloading ${o.path} from ${url}: ${why}`);
    }
    const why =
      e.status === 404
        ? `${o.repoId} has no ${o.path} at ${o.revision}`
        : e.status === 401 || e.status === 403
          ? `${o.repoId} refused the download (${e.status}): a private repo needs HF_TOKEN with read access`
          : e.message;
    throw new HubPublishError(`downloading ${o.path} from ${url}: ${why}`, e.status);
  }
}

/** Whether anyone may read the repo: its info answers without a token. */
export async function isPublicHubRepo(t: Omit<HubTarget, "token">): Promise<boolean> {
  const res = await (t.fetch ?? defaultHubFetch())(repoApiUrl(t));
  await res.body?.cancel().catch(() => undefined);
  return res.ok;
}
