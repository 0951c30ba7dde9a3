// Preflight: the repo exists (and its branch), or the release will create it.
import type { CheckResult } from "../report.js";
import { toHubUserError } from "./errors.js";
import { getRevisionHead } from "./tree.js";
import type { HubTarget } from "./types.js";

export interface RepoCheckOptions extends HubTarget {
  revision?: string;
  /** The release may create the repo when missing, with this visibility. */
  create?: { private: boolean } | false;
}

/** `hub.repo`: pass "exists" / "will be created (private|public)"; fail when missing and creation is off. */
export async function checkHubRepo(opts: RepoCheckOptions): Promise<CheckResult & { repoExists?: boolean; head?: string | null }> {
  const revision = opts.revision ?? "main";
  const base = { id: "hub.repo", title: `The Hub repo ${opts.repoId} exists or will be created` };
  if (!opts.token) return { ...base, status: "skip", message: "no Hub token: set HF_TOKEN to check the repo" };
  try {
    const head = await getRevisionHead({ ...opts, revision });
    if (!head.repoExists) {
      if (opts.create) {
        return { ...base, status: "pass", message: `${opts.repoId} does not exist: the release will create it (${opts.create.private ? "private" : "public"})`, repoExists: false, head: null };
      }
      return { ...base, status: "fail", message: `${opts.repoId} does not exist on ${opts.endpoint} (or the token cannot see it); create it or enable creation in the config`, repoExists: false };
    }
    if (!head.commit) return { ...base, status: "fail", message: `${opts.repoId} has no branch "${revision}"`, repoExists: true, head: null };
    const vis = head.private === undefined ? "" : head.private ? "private, " : "public, ";
    return { ...base, status: "pass", message: `${opts.repoId} exists (${vis}${revision} at ${head.commit.slice(0, 12)})`, repoExists: true, head: head.commit };
  } catch (err) {
    return { ...base, status: "fail", message: toHubUserError(err, { action: `read ${opts.repoId}`, repoId: opts.repoId, endpoint: opts.endpoint, token: opts.token }).message };
  }
}
