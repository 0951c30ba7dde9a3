// Preflight on the project's git repo: the `hgf` remote points at the configured Hub repo, and
// git-lfs works. `ensureHubRemote()` is the release's (not the dry run's) fix for a missing remote.
import { gitAt } from "../git/run.js";
import type { CheckResult } from "../report.js";
import { HubPublishError, stripUrlCredentials } from "./errors.js";

export interface RemoteCheckOptions {
  /** The project's git work tree. */
  cwd: string;
  /** Remote name (config; usually `hgf`). */
  remote: string;
  endpoint: string;
  repoId: string;
}

/** `https://huggingface.co/ns/name` for the endpoint (no `.git`). */
export function hubRepoUrl(endpoint: string, repoId: string): string {
  return `${endpoint.replace(/\/+$/, "")}/${repoId}`;
}

/**
 * Where a git remote URL points, as `host/path` (lowercase host, no credentials, no `.git`,
 * no trailing slash); handles https, ssh:// and scp-like `git@host:path`. Undefined if unparsable.
 */
export function normalizeRemoteUrl(url: string): { host: string; path: string } | undefined {
  const u = url.trim();
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(u);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return { host: scp[1]!.toLowerCase(), path: clean(scp[2]!) };
  try {
    const parsed = new URL(u);
    return { host: parsed.host.toLowerCase(), path: clean(decodeURIComponent(parsed.pathname)) };
  } catch {
    return undefined;
  }
}

function clean(p: string): string {
  return p.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/, "");
}

/** The same Hub repo? (`huggingface.co` and `hf.co` are one host.) */
export function remoteMatchesRepo(url: string, endpoint: string, repoId: string): boolean {
  const got = normalizeRemoteUrl(url);
  const want = normalizeRemoteUrl(hubRepoUrl(endpoint, repoId));
  if (!got || !want) return false;
  const alias = (h: string): string => h.replace(/:(443|80)$/, "").replace(/^(www\.)?hf\.co$/, "huggingface.co").replace(/^www\./, "");
  return alias(got.host) === alias(want.host) && got.path === want.path;
}

async function getRemoteUrl(cwd: string, remote: string): Promise<string | undefined | null> {
  const r = await gitAt(cwd).try(["remote", "get-url", remote]);
  if (r.ok) return r.out.trim();
  if (/No such remote/i.test(r.err)) return undefined;
  return null; // not a git repository, or git missing
}

/** `hub.remote`: pass when it matches; warn when missing ("will be added"); fail on a mismatch. */
export async function checkHubRemote(opts: RemoteCheckOptions): Promise<CheckResult> {
  const want = hubRepoUrl(opts.endpoint, opts.repoId);
  const base = { id: "hub.remote", title: `git remote "${opts.remote}" must point at the Hub repo ${want}` };
  const url = await getRemoteUrl(opts.cwd, opts.remote);
  if (url === null) return { ...base, status: "warn", message: `${opts.cwd} is not a git repository (or git is missing): remote "${opts.remote}" cannot be checked` };
  if (url === undefined) return { ...base, status: "warn", message: `there is no remote "${opts.remote}" yet: the release will add it` };
  if (remoteMatchesRepo(url, opts.endpoint, opts.repoId)) return { ...base, status: "pass" };
  return {
    ...base,
    status: "fail",
    message: `"${opts.remote}" points at ${stripUrlCredentials(url)}: fix it with \`git remote set-url ${opts.remote} ${want}\` or change the repo in the config`,
  };
}

/** Add the remote when missing; refuse (UserError) when it points elsewhere. */
export async function ensureHubRemote(opts: RemoteCheckOptions): Promise<{ status: "added" | "unchanged"; url: string }> {
  const want = hubRepoUrl(opts.endpoint, opts.repoId);
  const url = await getRemoteUrl(opts.cwd, opts.remote);
  if (url === null) throw new HubPublishError(`${opts.cwd} is not a git repository: cannot add remote "${opts.remote}"`);
  if (url === undefined) {
    await gitAt(opts.cwd).run(["remote", "add", opts.remote, want]);
    return { status: "added", url: want };
  }
  if (!remoteMatchesRepo(url, opts.endpoint, opts.repoId)) {
    throw new HubPublishError(`git remote "${opts.remote}" points at ${stripUrlCredentials(url)}, not ${want}; not changing it`);
  }
  return { status: "unchanged", url: stripUrlCredentials(url) };
}

/** `git.lfs`: `git lfs version` works. Required (fail) for the git transport, a warning otherwise. */
export async function checkGitLfs(opts: { transport: "api" | "git"; cwd?: string }): Promise<CheckResult & { version?: string }> {
  const base = { id: "git.lfs", title: "git-lfs is installed" };
  const r = await gitAt(opts.cwd ?? process.cwd()).try(["lfs", "version"]);
  if (r.ok) return { ...base, status: "pass", message: r.out.trim(), version: r.out.trim() };
  const message = "`git lfs version` failed: install git-lfs (https://git-lfs.com) and run `git lfs install`";
  return { ...base, status: opts.transport === "git" ? "fail" : "warn", message: opts.transport === "git" ? `${message}; the git transport needs it` : message };
}
