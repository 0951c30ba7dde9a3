// The model card a Hub repo already has: README.md at the branch a release commits to. A release
// without a card of its own (and without --prune) leaves that one in place, so it is the card the
// Hub page will show.
import { defaultHubFetch, toHubUserError } from "./errors.js";
import { authHeaders, httpError } from "./tree.js";
import type { HubTarget } from "./types.js";

/** A model card is text for people; anything larger is not one (the checkpoint's card has the same bound). */
const MAX_CARD_BYTES = 16 * 1024 * 1024;

export type HubModelCard =
  | { status: "found"; text: string; commit?: string }
  /** No README.md there: no repo yet, no such branch, or no such file. */
  | { status: "absent" };

/** README.md of `repoId` at `revision`, as the Hub serves it to a browser (`/resolve/`). */
export async function fetchHubModelCard(t: HubTarget & { revision: string }): Promise<HubModelCard> {
  const f = t.fetch ?? defaultHubFetch();
  const url = `${t.endpoint}/${t.repoId}/resolve/${encodeURIComponent(t.revision)}/README.md`;
  const action = `read README.md of ${t.repoId}@${t.revision}`;
  try {
    const res = await f(url, { headers: authHeaders(t.token) });
    if (res.status === 404) {
      await res.body?.cancel();
      return { status: "absent" };
    }
    if (!res.ok) throw await httpError(res, action);
    const text = await readBounded(res, `README.md of ${t.repoId}@${t.revision}`);
    const commit = res.headers.get("X-Repo-Commit") ?? undefined;
    return { status: "found", text, ...(commit ? { commit } : {}) };
  } catch (err) {
    throw toHubUserError(err, { action, repoId: t.repoId, endpoint: t.endpoint, ...(t.token ? { token: t.token } : {}) });
  }
}

/** The body as UTF-8 text, refused past MAX_CARD_BYTES whatever the server says its length is. */
async function readBounded(res: Response, what: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    // Leaving the loop by a throw cancels the body: nothing more is downloaded.
    if (size > MAX_CARD_BYTES) {
      throw new Error(`${what} is over ${MAX_CARD_BYTES / 1024 / 1024} MiB, too large for a model card`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
