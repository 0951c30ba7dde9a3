// Download a file of a Hub repo at a revision the way `from_pretrained` / `hf_hub_download`
// does: `GET {endpoint}/{repo}/resolve/{revision}/{path}`, which answers LFS files with a
// redirect to the storage host. The token goes to the Hub origin only (a public repo needs
// none), never to storage. The file's size from the manifest bounds what is read: a server that
// sends more, less, slower or compressed fails with the file named.
import { defaultHubFetch, HubPublishError, redactHub } from "./errors.js";
import { UserError } from "../report.js";
import { HttpError, retryableErrorCode } from "../util/http.js";
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
  /** The file's size in the manifest: exactly this many bytes are read, or the download fails. */
  size?: number;
  /** Without a size (a manifest.json not yet read): at most this many bytes. Default: the room left on the disk. */
  maxBytes?: number;
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
      ...(o.size !== undefined ? { size: o.size } : {}),
      ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
    });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    if (!(e instanceof DownloadError)) {
      const cause = (e as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } }).cause;
      const code = retryableErrorCode(e) ?? cause?.code ?? cause?.errors?.[0]?.code;
      const why = e instanceof UserError ? e.message : typeof code === "string" ? `network error (${code})` : (e as Error).message ?? String(e);
      throw new HubPublishError(redactHub(`downloading ${o.path} from ${url}: ${why}`, [o.token]), undefined, { cause: e, transient: e instanceof HttpError ? e.transient : !!retryableErrorCode(e) });
    }
    const why =
      e.status === 404
        ? `${o.repoId} has no ${o.path} at ${o.revision}`
        : e.status === 401 || e.status === 403
          ? `${o.repoId} refused the download (${e.status}): a private repo needs HF_TOKEN with read access`
          : e.message;
    throw new HubPublishError(`downloading ${o.path} from ${url}: ${why}`, e.status, { ...(e.transient ? { transient: true } : {}) });
  }
}

/** Whether anyone may read the repo: its info answers without a token. */
export async function isPublicHubRepo(t: Omit<HubTarget, "token">): Promise<boolean> {
  const res = await (t.fetch ?? defaultHubFetch())(repoApiUrl(t));
  await res.body?.cancel().catch(() => undefined);
  return res.ok;
}
