// Pre-publish checks on the GitHub side: a token is there and may write to the repository, and
// the git remote the release pushes to is that repository.
import { gitAt, redactGitText } from "../git/run.js";
import type { CheckResult } from "../report.js";
import { redact } from "../util/redact.js";
import { errorStatus, type GitHubClient } from "./client.js";
import { githubWebUrl } from "./repo.js";

export interface GitHubAccessOptions {
  /** Undefined when no GITHUB_TOKEN is set. */
  client?: GitHubClient;
  owner: string;
  repo: string;
  offline?: boolean;
}

/** `github.access`: GET /repos/{owner}/{repo} with the token. */
export async function verifyGitHubAccess({ client, owner, repo, offline = false }: GitHubAccessOptions): Promise<CheckResult> {
  const id = "github.access";
  const title = `the GitHub token may create releases in ${owner}/${repo}`;
  if (offline) return { id, title, status: "skip", message: "offline: GitHub not contacted" };
  if (!client) return { id, title, status: "fail", message: "GITHUB_TOKEN is not set: create a token with contents: write on the repository and export GITHUB_TOKEN" };
  try {
    const r = await client.request("GET /repos/{owner}/{repo}", { owner, repo });
    const perms = (r.data as { permissions?: { push?: boolean } }).permissions;
    if (perms && perms.push === false) {
      return { id, title, status: "fail", message: `the token can read ${owner}/${repo} but not write to it: it needs contents: write to create releases` };
    }
    return { id, title, status: "pass" };
  } catch (err) {
    const s = errorStatus(err);
    const message =
      s === 401
        ? "GITHUB_TOKEN was refused (401): it is invalid or expired — create a new one"
        : s === 404
          ? `${owner}/${repo} not found with this token (404): check GITHUB_REPOSITORY / the origin URL and the token's repository access`
          : `cannot reach GitHub: ${redact(String((err as Error).message))} — check GITHUB_API_URL and the network, or use --offline`;
    return { id, title, status: "fail", message };
  }
}

export interface OriginRepositoryOptions {
  cwd: string;
  remote: string;
  owner: string;
  repo: string;
  /** GITHUB_API_URL: its web host is where the repository's git URLs live. */
  apiUrl: string;
  /** With a token: the repository's own clone URLs are asked (GitHub Enterprise, renamed repositories, tests). */
  client?: GitHubClient;
  offline?: boolean;
}

/** `host/owner/name`, lowercase, without credentials, port 443 or `.git`; undefined when the URL is not such a form. */
function repoKey(url: string): string | undefined {
  const u = url.trim();
  // A local path, as git takes one: the same repository as its file:// URL.
  if (u.startsWith("/")) return `file:/${u.replace(/^\/+|\/+$/g, "").replace(/\.git$/, "")}`.toLowerCase();
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/)(.+)$/.exec(u);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return `${scp[1]}/${scp[2]!.replace(/^\/+|\/+$/g, "").replace(/\.git$/, "")}`.toLowerCase();
  try {
    const p = new URL(u);
    const host = p.protocol === "file:" ? "file:" : p.hostname;
    return `${host}/${decodeURIComponent(p.pathname).replace(/^\/+|\/+$/g, "").replace(/\.git$/, "")}`.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * `git.origin-repository`: the remote the release pushes to (its fetch URL and every push URL)
 * is the GitHub repository the Release is created in. A fork, a mirror or a push URL that points
 * elsewhere would put the tag in one repository and the Release in another: refused before
 * anything is written.
 */
export async function verifyOriginIsReleaseRepository(o: OriginRepositoryOptions): Promise<CheckResult> {
  const full = `${o.owner}/${o.repo}`;
  const id = "git.origin-repository";
  const title = `git remote ${o.remote} is the GitHub repository of the Release (${full})`;
  const git = gitAt(o.cwd);
  const fetchUrl = await git.try(["remote", "get-url", o.remote]);
  if (!fetchUrl.ok) return { id, title, status: "skip", message: `there is no remote ${o.remote}` };
  const pushUrls = await git.try(["remote", "get-url", "--push", "--all", o.remote]);
  const urls = [...new Set([fetchUrl.out.trim(), ...(pushUrls.ok ? pushUrls.out.split("\n").map((l) => l.trim()) : [])].filter(Boolean))];
  const web = new URL(githubWebUrl(o.apiUrl)).hostname.toLowerCase();
  const want = new Set([`${web}/${full}`.toLowerCase()]);
  let asked = false;
  if (o.client && !o.offline) {
    try {
      const r = (await o.client.request("GET /repos/{owner}/{repo}", { owner: o.owner, repo: o.repo })).data as Record<string, unknown>;
      for (const k of ["clone_url", "ssh_url", "git_url", "html_url"]) {
        const key = typeof r[k] === "string" ? repoKey(r[k] as string) : undefined;
        if (key) want.add(key);
      }
      if (typeof r.full_name === "string") want.add(`${web}/${r.full_name}`.toLowerCase());
      asked = true;
    } catch (err) {
      if (errorStatus(err) === 404) return { id, title, status: "fail", message: `${full} was not found on GitHub (404) with this token` };
    }
  }
  const elsewhere = urls.filter((u) => {
    const key = repoKey(u);
    return !key || !want.has(key);
  });
  if (!elsewhere.length) return { id, title, status: "pass" };
  // Without the API, a URL on another host cannot be told apart from the repository's own.
  if (!asked && elsewhere.every((u) => !repoKey(u)?.startsWith(`${web}/`))) {
    return { id, title, status: "skip", message: `${o.remote} (${elsewhere.map((u) => redactGitText(u)).join(", ")}) is not on ${web}: set GITHUB_TOKEN so the repository's own URLs can be compared` };
  }
  return {
    id,
    title,
    status: "fail",
    message: `${o.remote} points at ${elsewhere.map((u) => redactGitText(u)).join(", ")}, not at ${full}: the tag would be pushed to one repository and the Release made in another. Point ${o.remote} (and its push URL) at ${full}, or set github.repository to the repository ${o.remote} pushes to`,
  };
}
