// Which GitHub repository a release goes to: GITHUB_REPOSITORY (owner/name, as Actions sets
// it), else parsed from the `origin` URL (https, ssh and scp-like forms, GitHub Enterprise hosts).
import { UsageError } from "../report.js";
import { redactGitText } from "../git/run.js";

export interface GitHubRepo {
  owner: string;
  repo: string;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

function split(pathPart: string): GitHubRepo | undefined {
  const parts = pathPart.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/, "").split("/");
  if (parts.length !== 2) return undefined;
  const [owner, repo] = parts as [string, string];
  return NAME.test(owner) && NAME.test(repo) && repo !== "." && repo !== ".." ? { owner, repo } : undefined;
}

/** `https://github.com/o/r(.git)`, `git@github.com:o/r.git`, `ssh://git@host[:port]/o/r.git`, with or without credentials. */
export function parseGitHubRemoteUrl(url: string): GitHubRepo | undefined {
  const u = url.trim();
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/)(.+)$/.exec(u);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return split(scp[2]!);
  try {
    const parsed = new URL(u);
    if (!["https:", "http:", "ssh:", "git:", "git+ssh:", "ssh+git:"].includes(parsed.protocol)) return undefined;
    return split(decodeURIComponent(parsed.pathname));
  } catch {
    return undefined;
  }
}

/**
 * The web address of the GitHub that `apiUrl` serves: `https://api.github.com` → `https://github.com`,
 * GitHub Enterprise's `https://host/api/v3` → `https://host`; any other address is its own.
 */
export function githubWebUrl(apiUrl: string): string {
  const u = new URL(apiUrl);
  if (u.hostname.startsWith("api.")) u.hostname = u.hostname.slice(4);
  u.pathname = u.pathname.replace(/\/api\/v3\/?$/, "/");
  return u.href.replace(/\/+$/, "");
}

export interface ResolveRepoOptions {
  /** Pass process.env from the CLI; only GITHUB_REPOSITORY is read. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The `origin` URL (git remote get-url origin). */
  remoteUrl?: string;
}

export function resolveGitHubRepo({ env = {}, remoteUrl }: ResolveRepoOptions): GitHubRepo {
  const fromEnv = env.GITHUB_REPOSITORY;
  if (fromEnv) {
    const r = split(fromEnv);
    if (!r) throw new UsageError(`GITHUB_REPOSITORY=${JSON.stringify(fromEnv)} is not owner/name`);
    return r;
  }
  if (!remoteUrl) throw new UsageError("no GitHub repository: set GITHUB_REPOSITORY=owner/name or add a GitHub `origin` remote");
  const r = parseGitHubRemoteUrl(remoteUrl);
  if (!r) throw new UsageError(`cannot tell the GitHub repository from the remote URL ${redactGitText(remoteUrl)}: set GITHUB_REPOSITORY=owner/name`);
  return r;
}
