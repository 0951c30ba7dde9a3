// Hub branches and visibility (the API huggingface_hub's create_branch, delete_branch and
// update_repo_settings call): a release is staged on a branch of its own, which users never see
// unless they ask for it, and a repo the release creates stays private until it is released.
import { defaultHubFetch, HubPublishError, toHubUserError } from "./errors.js";
import { authHeaders, httpError, repoApiUrl } from "./tree.js";
import type { HubTarget } from "./types.js";

function action<T>(t: HubTarget, what: string, run: (f: typeof fetch) => Promise<T>): Promise<T> {
  return run(t.fetch ?? defaultHubFetch()).catch((err: unknown) => {
    throw toHubUserError(err, { action: what, repoId: t.repoId, endpoint: t.endpoint, ...(t.token ? { token: t.token } : {}) });
  });
}

/** Creates `branch` at `startingPoint` (a commit); `exists` when a branch of that name is there already. */
export function createHubBranch(t: HubTarget & { branch: string; startingPoint: string }): Promise<"created" | "exists"> {
  return action(t, `create the branch ${t.branch} of ${t.repoId}`, async (f) => {
    const res = await f(`${repoApiUrl(t)}/branch/${encodeURIComponent(t.branch)}`, {
      method: "POST",
      headers: { ...authHeaders(t.token), "Content-Type": "application/json" },
      body: JSON.stringify({ startingPoint: t.startingPoint }),
    });
    if (res.status === 409) {
      await res.body?.cancel();
      return "exists";
    }
    if (!res.ok) throw await httpError(res, `create the branch ${t.branch}`);
    await res.body?.cancel();
    return "created";
  });
}

/** Deletes `branch`; `gone` when there was no such branch. */
export function deleteHubBranch(t: HubTarget & { branch: string }): Promise<"deleted" | "gone"> {
  if (t.branch === "main") throw new HubPublishError(`refusing to delete the branch main of ${t.repoId}`);
  return action(t, `delete the branch ${t.branch} of ${t.repoId}`, async (f) => {
    const res = await f(`${repoApiUrl(t)}/branch/${encodeURIComponent(t.branch)}`, { method: "DELETE", headers: authHeaders(t.token) });
    if (res.status === 404) {
      await res.body?.cancel();
      return "gone";
    }
    if (!res.ok) throw await httpError(res, `delete the branch ${t.branch}`);
    await res.body?.cancel();
    return "deleted";
  });
}

export function setHubRepoVisibility(t: HubTarget & { private: boolean }): Promise<void> {
  return action(t, `make ${t.repoId} ${t.private ? "private" : "public"}`, async (f) => {
    const res = await f(`${repoApiUrl(t)}/settings`, {
      method: "PUT",
      headers: { ...authHeaders(t.token), "Content-Type": "application/json" },
      body: JSON.stringify({ private: t.private }),
    });
    if (!res.ok) throw await httpError(res, `change the visibility of ${t.repoId}`);
    await res.body?.cancel();
  });
}
