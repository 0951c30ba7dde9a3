// Checks of the machine and the remotes that the checkpoint checks cannot see: git state,
// git-lfs and the hgf remote, Hub credentials and permissions, GitHub access. Network items
// report `skip` offline or without a token, saying what to set up.
import { runGitPreflight } from "../git/index.js";
import { verifyGitHubAccess } from "../github/checks.js";
import { checkGitLfs, checkHubRemote, checkHubRepo, checkHubToken, checkHubWhoami } from "../hub/index.js";
import type { CheckResult } from "../report.js";
import type { ReleaseSettings } from "./settings.js";

export async function gitChecks(s: ReleaseSettings): Promise<CheckResult[]> {
  if ("error" in s.tag) {
    return [{ id: "git.tag-version", title: "a release tag is known", status: "fail", message: s.tag.error }];
  }
  return runGitPreflight({
    cwd: s.cwd,
    tag: s.tag,
    remote: s.config.github.remote,
    branch: s.config.github.branch,
    ignorePaths: s.ignorePaths,
    offline: s.offline,
  });
}

export async function hubChecks(s: ReleaseSettings): Promise<CheckResult[]> {
  const target = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, fetch: s.hub.fetch, ...(s.hub.token ? { token: s.hub.token } : {}) };
  const results: CheckResult[] = [
    await checkGitLfs({ transport: s.hub.transport, cwd: s.cwd }),
    await checkHubRemote({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId }),
    checkHubToken(s.hub),
  ];
  const title = `The Hub token may write to ${s.hub.repoId}`;
  if (s.offline) {
    results.push({ id: "hub.whoami", title, status: "skip", message: "offline: the Hub was not contacted" });
    return results;
  }
  if (!s.hub.token || results.at(-1)?.status === "fail") {
    results.push({ id: "hub.whoami", title, status: "skip", message: "no usable Hub token (see hub.token)" });
    return results;
  }
  const repo = await checkHubRepo({ ...target, revision: s.hub.revision, create: { private: s.config.hub.private } });
  results.push(await checkHubWhoami({ ...target, mustCreate: repo.repoExists === false }), stripExtras(repo));
  return results;
}

export async function githubChecks(s: ReleaseSettings): Promise<CheckResult[]> {
  const name = s.github.repo ? `${s.github.repo.owner}/${s.github.repo.repo}` : "the GitHub repository";
  const title = `GitHub token can reach ${name}`;
  if (!s.github.repo) return [{ id: "github.access", title, status: "skip", message: s.github.repoError ?? "no GitHub repository" }];
  if (!s.github.client) {
    return [{ id: "github.access", title, status: "skip", message: "no GITHUB_TOKEN: set it (contents: write) so the release can create the GitHub Release" }];
  }
  return [await verifyGitHubAccess({ client: s.github.client, owner: s.github.repo.owner, repo: s.github.repo.repo, offline: s.offline })];
}

/** Check functions may return extra data beside the result; the report carries only the contract's fields. */
export function stripExtras(r: CheckResult): CheckResult {
  return { id: r.id, title: r.title, status: r.status, ...(r.message ? { message: r.message } : {}) };
}
