// Checks of the machine and the remotes that the checkpoint checks cannot see, in the order a
// user fixes them: git state, git-lfs and the hgf remote, Hub credentials and permissions,
// GitHub access. Network items report `skip` offline or without a token, saying what to set up.
// The Hub and GitHub clients are imported only where a check contacts them: offline, `check`
// loads neither.
import { runGitPreflight } from "../git/index.js";
import type { HubCardLookup } from "../checkpoint/load.js";
import { checkHubToken } from "../hub/credentials.js";
import { checkGitLfs, checkHubRemote } from "../hub/remote-check.js";
import type { CheckResult } from "../report.js";
import type { Remotes } from "./remotes.js";
import type { ReleaseSettings } from "./settings.js";

export interface CheckGroup {
  title: string;
  run: () => Promise<CheckResult[]>;
}

/** `which` picks the groups a command needs (default: all, as `check` runs them). */
export function environmentChecks(
  s: ReleaseSettings,
  remotes: Remotes,
  which: { git: boolean; hub: boolean; github: boolean } = { git: true, hub: true, github: true },
): CheckGroup[] {
  const group = (title: string, f: () => Promise<CheckResult[]>): CheckGroup => ({ title, run: async () => (await f()).map(stripExtras) });
  return [
    ...(which.git ? [group("Git", () => gitChecks(s))] : []),
    ...(which.hub ? [group("Hugging Face Hub", () => hubChecks(s, remotes))] : []),
    ...(which.github ? [group("GitHub", () => githubChecks(s, remotes))] : []),
  ];
}

export async function gitChecks(s: ReleaseSettings): Promise<CheckResult[]> {
  if ("error" in s.tag) {
    return [{ id: "git.tag-version", title: "a release tag is known", status: "fail", message: s.tag.error }];
  }
  return runGitPreflight({
    cwd: s.cwd,
    tag: s.tag,
    remote: s.github.remote,
    branch: s.github.branch,
    ignorePaths: s.ignorePaths,
    offline: s.offline,
  });
}

export async function hubChecks(s: ReleaseSettings, remotes: Remotes): Promise<CheckResult[]> {
  const target = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, fetch: remotes.hubFetch, ...(s.hub.token ? { token: s.hub.token } : {}) };
  const results: CheckResult[] = await Promise.all([
    checkGitLfs({ transport: s.hub.transport, cwd: s.cwd }),
    checkHubRemote({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId }),
    checkHubToken(s.hub),
  ]);
  const title = `The Hub token may write to ${s.hub.repoId}`;
  if (s.offline) {
    results.push({ id: "hub.whoami", title, status: "skip", message: "offline: the Hub was not contacted" });
    return results;
  }
  if (!s.hub.token || results.at(-1)?.status === "fail") {
    results.push({ id: "hub.whoami", title, status: "skip", message: "no usable Hub token (see hub.token)" });
    return results;
  }
  const [{ checkHubRepo }, { checkHubWhoami }] = await Promise.all([import("../hub/repo-check.js"), import("../hub/whoami-check.js")]);
  const repo = await checkHubRepo({ ...target, revision: s.hub.revision, create: { private: s.hub.private } });
  results.push(await checkHubWhoami({ ...target, mustCreate: repo.repoExists === false }), stripExtras(repo));
  return results;
}

export async function githubChecks(s: ReleaseSettings, remotes: Remotes): Promise<CheckResult[]> {
  const name = s.github.repository ? `${s.github.repository.owner}/${s.github.repository.repo}` : "the GitHub repository";
  const title = `the GitHub token may create releases in ${name}`;
  if (!s.github.repository) return [{ id: "github.access", title, status: "skip", message: s.github.repositoryError ?? "no GitHub repository" }];
  if (!s.github.token) {
    return [{ id: "github.access", title, status: "skip", message: "no GITHUB_TOKEN: set it (contents: write) so the release can create the GitHub Release" }];
  }
  // Offline there is no GitHub client (connectRemotes makes none): nothing to contact.
  if (s.offline) return [{ id: "github.access", title, status: "skip", message: "offline: GitHub not contacted" }];
  const { verifyGitHubAccess } = await import("../github/checks.js");
  return [await verifyGitHubAccess({ client: remotes.github, owner: s.github.repository.owner, repo: s.github.repository.repo })];
}

/**
 * The card the Hub page keeps when the checkpoint has none (azbert's lives in its GitHub README,
 * mirrored to the Hub): README.md of the Hub repo at the branch the release commits to, unless
 * --prune would delete it.
 */
export function hubCardLookup(s: ReleaseSettings, remotes: Remotes): () => Promise<HubCardLookup> {
  // Asked once per command: `check` and the smoke stage of a release see the same answer.
  let answer: Promise<HubCardLookup> | undefined;
  return () => (answer ??= lookUp());
  async function lookUp(): Promise<HubCardLookup> {
    const where = `${s.hub.repoId}@${s.hub.revision}`;
    if (s.hub.prune) return { status: "pruned", where };
    if (s.offline) return { status: "unknown", why: "offline" };
    try {
      const { fetchHubModelCard } = await import("../hub/model-card.js");
      const r = await fetchHubModelCard({ endpoint: s.hub.endpoint, repoId: s.hub.repoId, revision: s.hub.revision, fetch: remotes.hubFetch, ...(s.hub.token ? { token: s.hub.token } : {}) });
      if (r.status === "found") return { status: "found", where, text: r.text };
      // Without a token a private repo looks absent: only a token's answer says there is no card.
      return s.hub.token ? { status: "absent", where } : { status: "unknown", why: `no Hub token, and ${where} does not show a README.md without one` };
    } catch (e) {
      return { status: "unknown", why: `the Hub could not be asked: ${(e as Error).message}` };
    }
  }
}

/** Check functions may return extra data beside the result; the report carries only the contract's fields. */
export function stripExtras(r: CheckResult): CheckResult {
  return { id: r.id, title: r.title, status: r.status, ...(r.message ? { message: r.message } : {}) };
}
