// Tag a Hub commit with the release tag: `POST /api/models/{repo}/tag/{rev}` `{tag, message}`.
// Already pointing at this commit = fine (idempotent re-run); pointing elsewhere = error. The Hub
// refuses a tag that exists (409): only then are the refs listed, to tell which case it is.
import { defaultHubFetch, HubPublishError, toHubUserError } from "./errors.js";
import { authHeaders, httpError, repoApiUrl } from "./tree.js";
import type { HubTarget, TagResult } from "./types.js";

export interface TagOptions extends HubTarget {
  tag: string;
  /** Full commit sha to tag. */
  commit: string;
  message?: string;
}

export interface HubRefs {
  branches: Array<{ name: string; targetCommit: string }>;
  tags: Array<{ name: string; targetCommit: string }>;
}

/** The repo's branches and tags. */
export async function getHubRefs(t: HubTarget): Promise<HubRefs> {
  const f = t.fetch ?? defaultHubFetch();
  const res = await f(`${repoApiUrl(t)}/refs`, { headers: authHeaders(t.token) });
  if (!res.ok) throw await httpError(res, "list refs");
  const refs = (await res.json()) as Partial<HubRefs>;
  return { branches: Array.isArray(refs.branches) ? refs.branches : [], tags: Array.isArray(refs.tags) ? refs.tags : [] };
}

/** Commit a tag points at on the Hub, or undefined when there is no such tag. */
export async function getHubTag(t: HubTarget & { tag: string }): Promise<string | undefined> {
  return (await getHubRefs(t)).tags.find((x) => x.name === t.tag)?.targetCommit;
}

export async function tagHubRevision(opts: TagOptions): Promise<TagResult> {
  const f = opts.fetch ?? defaultHubFetch();
  const ctx = { action: `tag ${opts.repoId}@${opts.commit.slice(0, 12)} as ${opts.tag}`, repoId: opts.repoId, endpoint: opts.endpoint, token: opts.token };
  try {
    const res = await f(`${repoApiUrl(opts)}/tag/${encodeURIComponent(opts.commit)}`, {
      method: "POST",
      headers: { ...authHeaders(opts.token), "Content-Type": "application/json" },
      body: JSON.stringify({ tag: opts.tag, ...(opts.message ? { message: opts.message } : {}) }),
    });
    if (res.ok) {
      await res.body?.cancel();
      return { tag: opts.tag, status: "created", commit: opts.commit };
    }
    if (res.status === 409) {
      // There already (a re-run, or a retried request that did succeed): where does it point?
      await res.body?.cancel();
      const now = await getHubTag(opts);
      if (now === opts.commit) return { tag: opts.tag, status: "unchanged", commit: opts.commit };
      throw tagElsewhere(opts, now ?? "an unknown commit");
    }
    throw await httpError(res, ctx.action);
  } catch (err) {
    throw toHubUserError(err, ctx);
  }
}

function tagElsewhere(opts: TagOptions, existing: string): HubPublishError {
  return new HubPublishError(
    `tag ${opts.tag} already exists on ${opts.repoId} and points at ${existing.slice(0, 12)}, not at the release commit ${opts.commit.slice(0, 12)}: bump the version, or delete the old tag on the Hub if it was a mistake`,
    409,
  );
}
