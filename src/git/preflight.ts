// Git preflight: each verb checks one thing and returns a CheckResult whose failure message
// says how to fix it. Pure-ish: everything comes from `cwd` and the options, and only
// verifyNotBehindRemote / verifyReleaseTagIsFree touch the network (both skip with `offline`).
import { readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { formatBytes } from "../util/format-bytes.js";
import { printable } from "../util/printable.js";
import { UsageError, type CheckResult } from "../report.js";
import { gitAt, gitOut, listSome, redactGitText, short, tryGit, type Git } from "./run.js";

export interface GitCwd {
  cwd: string;
}

const pass = (id: string, title: string, message?: string): CheckResult => ({ id, title, status: "pass", ...(message ? { message } : {}) });
const fail = (id: string, title: string, message: string): CheckResult => ({ id, title, status: "fail", message });
const skip = (id: string, title: string, message: string): CheckResult => ({ id, title, status: "skip", message });
const warn = (id: string, title: string, message: string): CheckResult => ({ id, title, status: "warn", message });

export async function verifyInsideWorkTree({ cwd }: GitCwd): Promise<CheckResult> {
  const title = "inside a git work tree";
  const r = await tryGit(cwd, ["rev-parse", "--is-inside-work-tree"]);
  if (r.ok && r.out.trim() === "true") return pass("git.repo", title);
  return fail("git.repo", title, `${cwd} is not inside a git work tree: run the release from your clone (or \`git init\` and commit)`);
}

export async function verifyRemoteExists({ cwd, remote = "origin" }: GitCwd & { remote?: string }): Promise<CheckResult> {
  const title = `git remote ${remote} exists`;
  const r = await tryGit(cwd, ["remote", "get-url", remote]);
  if (r.ok) return pass("git.remote", title, `${remote} → ${redactGitText(r.out.trim())}`);
  const remotes = await tryGit(cwd, ["remote"]);
  const others = remotes.ok ? remotes.out.split("\n").filter(Boolean) : [];
  return fail(
    "git.remote",
    title,
    `no git remote named ${remote}${others.length ? ` (remotes: ${others.join(", ")})` : ""}: \`git remote add ${remote} <url>\` or set the remote name in the config`,
  );
}

interface StatusEntry {
  code: string;
  path: string;
}

/** `git status --porcelain=v1 -z`: "XY path\0" (renames/copies add "orig\0"). */
function parsePorcelainZ(out: string): StatusEntry[] {
  const parts = out.split("\0");
  const entries: StatusEntry[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length < 4) continue;
    const code = p.slice(0, 2);
    entries.push({ code, path: p.slice(3) });
    if (code[0] === "R" || code[0] === "C") i++; // skip the original path
  }
  return entries;
}

async function toRepoRelative(cwd: string, top: string, p: string): Promise<string> {
  const abs = path.resolve(cwd, p);
  const real = await realpath(abs).catch(() => abs);
  return path.relative(top, real).split(path.sep).join("/");
}

export interface CleanOptions extends GitCwd {
  /**
   * Folders (relative to cwd, or absolute) whose *untracked* files do not make the tree dirty:
   * the checkpoint folder when the config says it is not tracked. Changes to tracked files
   * always count.
   */
  ignorePaths?: readonly string[];
}

export async function verifyWorkingTreeIsClean({ cwd, ignorePaths = [] }: CleanOptions): Promise<CheckResult> {
  const title = "working tree is clean";
  const st = await tryGit(cwd, ["status", "--porcelain=v1", "-z", "--untracked-files=all"]);
  if (!st.ok) return fail("git.clean", title, `git status failed: ${st.err}`);
  const top = await realpath(await gitOut(cwd, ["rev-parse", "--show-toplevel"]));
  const ignored = await Promise.all(ignorePaths.map((p) => toRepoRelative(cwd, top, p)));
  const under = (file: string): boolean => ignored.some((d) => d === "" || file === d || file.startsWith(d.endsWith("/") ? d : `${d}/`));
  const dirty = parsePorcelainZ(st.out).filter((e) => !(e.code === "??" && under(e.path)));
  if (dirty.length === 0) return pass("git.clean", title);
  const untracked = dirty.filter((e) => e.code === "??").length;
  const changed = dirty.length - untracked;
  const what = [changed ? `${changed} file${changed === 1 ? "" : "s"} changed` : "", untracked ? `${untracked} untracked` : ""].filter(Boolean).join(", ");
  return fail("git.clean", title, `commit or stash: ${what} (${listSome(dirty.map((e) => e.path))})`);
}

export interface BranchOptions extends GitCwd {
  /** The release branch; default `main`. */
  branch?: string;
  remote?: string;
}

export async function verifyReleaseBranch({ cwd, branch = "main", remote = "origin" }: BranchOptions): Promise<CheckResult> {
  const title = `on the release branch ${branch}`;
  const head = await tryGit(cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  if (head.ok) {
    const current = head.out.trim();
    if (current === branch) return pass("git.branch", title);
    return fail("git.branch", title, `on branch ${current}, not the release branch ${branch}: \`git checkout ${branch}\` (or set the release branch in the config)`);
  }
  // Detached HEAD: what CI does when it builds a tag. Fine if HEAD is on the branch's history.
  const sha = await tryGit(cwd, ["rev-parse", "--verify", "-q", "HEAD"]);
  if (!sha.ok) return fail("git.branch", title, "the repository has no commits yet: commit, then release");
  for (const ref of [`refs/heads/${branch}`, `refs/remotes/${remote}/${branch}`]) {
    const r = await tryGit(cwd, ["merge-base", "--is-ancestor", "HEAD", ref]);
    if (r.ok) return pass("git.branch", title, `detached HEAD ${short(sha.out.trim())} is on ${ref.replace(/^refs\/(heads|remotes)\//, "")}`);
  }
  return fail("git.branch", title, `HEAD is detached at ${short(sha.out.trim())}, which is not on ${branch}: \`git checkout ${branch}\``);
}

export interface UpstreamOptions extends BranchOptions {
  /** Skip the fetch (a network operation): reported as `skip`. */
  offline?: boolean;
}

export async function verifyNotBehindRemote({ cwd, branch = "main", remote = "origin", offline = false }: UpstreamOptions): Promise<CheckResult> {
  const upstream = `${remote}/${branch}`;
  const title = `${branch} is not behind ${upstream}`;
  if (offline) return skip("git.upstream", title, `offline: ${upstream} not fetched`);
  // Only the remote-tracking ref moves: no FETCH_HEAD, no background gc or maintenance started by a check.
  const fetched = await gitAt(cwd).try(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`], {
    config: { "maintenance.auto": "false", "gc.auto": "0" },
  });
  if (!fetched.ok) {
    if (/couldn't find remote ref/i.test(fetched.err)) return pass("git.upstream", title, `${remote} has no branch ${branch} yet: the push will create it`);
    return fail("git.upstream", title, `cannot fetch ${branch} from ${remote}: ${fetched.err.split("\n")[0]} — check the network and credentials, or use --offline`);
  }
  const counts = await tryGit(cwd, ["rev-list", "--left-right", "--count", `HEAD...refs/remotes/${upstream}`]);
  if (!counts.ok) return fail("git.upstream", title, `cannot compare HEAD with ${upstream}: ${counts.err}`);
  const [ahead = 0, behind = 0] = counts.out.trim().split(/\s+/).map(Number);
  const plural = (n: number): string => `${n} commit${n === 1 ? "" : "s"}`;
  if (behind > 0 && ahead > 0) {
    return fail("git.upstream", title, `${branch} and ${upstream} have diverged (${ahead} ahead, ${behind} behind): \`git pull --rebase\`, then release`);
  }
  if (behind > 0 && ahead === 0 && !(await tryGit(cwd, ["symbolic-ref", "--quiet", "HEAD"])).ok) {
    // CI building a tag: HEAD is detached at an older commit of the branch, which is what is being released.
    return pass("git.upstream", title, `detached HEAD (a tag build) is on ${upstream}, ${plural(behind)} behind its tip`);
  }
  if (behind > 0) return fail("git.upstream", title, `run \`git pull\` — ${branch} is ${plural(behind)} behind ${upstream}`);
  return pass("git.upstream", title, ahead > 0 ? `${plural(ahead)} ahead of ${upstream}: they will be pushed` : undefined);
}

export interface ResolvedTag {
  tag: string;
  /** Where the tag came from: --tag, the tag CI is building, the config's version, package.json, or the tag at HEAD. */
  source: "option" | "ci" | "config" | "package.json" | "head";
  /** package.json's version, when there is one. */
  packageVersion?: string;
}

/** The source as a message names it. */
export function describeTagSource(t: ResolvedTag): string {
  return { option: "--tag", ci: "the tag this CI run builds", config: "the config's version", "package.json": "package.json's version", head: "the tag at HEAD" }[t.source];
}

/**
 * The release tag: `tag` (--tag) if given; else the tag being built in CI (`GITHUB_REF_TYPE=tag`,
 * `GITHUB_REF_NAME`); else `v` + the config's `version`; else `v` + package.json's version; else
 * the one `v*` tag at HEAD. `env` is explicit: pass process.env from the CLI.
 */
export async function resolveReleaseTag({
  cwd,
  env = {},
  tag,
  configVersion,
}: GitCwd & { env?: Readonly<Record<string, string | undefined>>; tag?: string; configVersion?: string | null }): Promise<ResolvedTag> {
  let packageVersion: string | undefined;
  try {
    const pkg = JSON.parse(await readFile(path.join(cwd, "package.json"), "utf8")) as { version?: unknown };
    if (typeof pkg.version === "string") packageVersion = pkg.version;
  } catch {
    // no package.json: another source must say it
  }
  const withVersion = <T extends object>(o: T): T & { packageVersion?: string } => (packageVersion ? { ...o, packageVersion } : o);
  if (tag) return withVersion({ tag, source: "option" as const });
  if (env.GITHUB_REF_TYPE === "tag" && env.GITHUB_REF_NAME) return withVersion({ tag: env.GITHUB_REF_NAME, source: "ci" as const });
  if (configVersion) return withVersion({ tag: `v${configVersion}`, source: "config" as const });
  if (packageVersion) return { tag: `v${packageVersion}`, source: "package.json", packageVersion };
  const atHead = await gitAt(cwd).try(["tag", "--points-at", "HEAD", "--list", "v*"]);
  const tags = atHead.ok ? atHead.out.split("\n").map((l) => l.trim()).filter(Boolean) : [];
  if (tags.length === 1) return { tag: tags[0]!, source: "head" };
  throw new UsageError(
    tags.length > 1
      ? `no release tag: HEAD has several tags (${tags.join(", ")}): pass --tag`
      : "no release tag: pass --tag vX.Y.Z, set \"version\" in release.config.json, or tag HEAD (git tag v1.0.0)",
  );
}

/** The tag should be `v` + package.json's version: a CI tag build that disagrees fails, an explicit --tag warns. */
export function verifyTagMatchesVersion(resolved: ResolvedTag): CheckResult {
  const title = "release tag matches package.json's version";
  const { tag, source, packageVersion } = resolved;
  // Without package.json the tag is the version: said with where it came from.
  if (!packageVersion) return pass("git.tag-version", title, `${tag}, from ${describeTagSource(resolved)}; no package.json to compare with`);
  if (tag === `v${packageVersion}`) return pass("git.tag-version", title);
  const msg = `releasing tag ${tag} but package.json's version is ${packageVersion}: set "version": "${tag.replace(/^v/, "")}" in package.json, or release v${packageVersion}`;
  return source === "ci" ? fail("git.tag-version", title, msg) : warn("git.tag-version", title, msg);
}

export interface TagOptions extends GitCwd {
  tag: string;
  /** Where the tag came from: in a CI tag build ("ci") the tag on the remote is the one being built, not an earlier release. */
  source?: ResolvedTag["source"];
  remote?: string;
  /** Skip the remote lookup (a network operation). */
  offline?: boolean;
}

/** Peeled commit of `refs/tags/<tag>` on the remote, or undefined when it has none. */
export async function remoteTagCommit(git: Git, remote: string, tag: string): Promise<{ ok: true; commit?: string } | { ok: false; err: string }> {
  const r = await git.try(["ls-remote", "--tags", remote, `refs/tags/${tag}`, `refs/tags/${tag}^{}`]);
  if (!r.ok) return r;
  let plain: string | undefined;
  let peeled: string | undefined;
  for (const line of r.out.split("\n")) {
    const [sha, ref] = line.trim().split(/\s+/);
    if (!sha || !ref) continue;
    if (ref === `refs/tags/${tag}^{}`) peeled = sha;
    else if (ref === `refs/tags/${tag}`) plain = sha;
  }
  return { ok: true, commit: peeled ?? plain };
}

/** The release tag is free (or already marks HEAD: pushed to start a CI build, or an earlier run), locally and on the remote. */
export async function verifyReleaseTagIsFree({ cwd, tag, source, remote = "origin", offline = false }: TagOptions): Promise<CheckResult> {
  const title = `release tag ${tag} is free or already at HEAD`;
  // Three independent reads, at once; their answers are weighed in this order.
  const [valid, head, local] = await Promise.all([
    tryGit(cwd, ["check-ref-format", `refs/tags/${tag}`]),
    tryGit(cwd, ["rev-parse", "--verify", "-q", "HEAD"]),
    tryGit(cwd, ["rev-parse", "--verify", "-q", `refs/tags/${tag}^{commit}`]),
  ]);
  if (!valid.ok) return fail("git.tag", title, `${JSON.stringify(tag)} is not a valid tag name: use vX.Y.Z`);
  if (!head.ok) return fail("git.tag", title, "the repository has no commits yet: commit, then release");
  const headSha = head.out.trim();
  if (local.ok && local.out.trim() !== headSha) {
    return fail(
      "git.tag",
      title,
      `tag ${tag} already exists locally at ${short(local.out.trim())}, not at HEAD (${short(headSha)}): bump the version in package.json, or delete the stale local tag with \`git tag -d ${tag}\` if it was never pushed`,
    );
  }
  if (offline) return pass("git.tag", title, `${local.ok ? `${tag} is at HEAD locally` : `${tag} is free locally`}; ${remote} not checked (offline)`);
  const r = await remoteTagCommit(gitAt(cwd), remote, tag);
  if (!r.ok) return fail("git.tag", title, `cannot list tags on ${remote}: ${r.err.split("\n")[0]} — check the network and credentials, or use --offline`);
  if (r.commit && r.commit !== headSha) {
    return fail(
      "git.tag",
      title,
      `tag ${tag} already exists on ${remote} at ${short(r.commit)}, not at HEAD (${short(headSha)}): a released tag is never moved — bump the version in package.json`,
    );
  }
  if (r.commit) {
    return pass("git.tag", title, source === "ci" ? `${tag} on ${remote} is the tag this CI run builds, at HEAD` : `${tag} is already on ${remote} at HEAD (pushed by an earlier run or by you)`);
  }
  return pass("git.tag", title);
}

/** GitHub refuses a push with a file over 100 MiB, and warns about files over 50 MiB. */
export const GITHUB_FILE_LIMIT = 100 * 1024 * 1024;
export const GITHUB_FILE_WARNING = 50 * 1024 * 1024;

/** GitHub's limits as GitHub states them: "100 MiB". */
const mib = (n: number): string => `${n / (1024 * 1024)} MiB`;

/** Large files listed one by one up to this many; the rest are counted. */
const LARGE_FILES_SHOWN = 20;

/**
 * Every blob over GitHub's limits in the commits a push of HEAD to `remote` would send (those no
 * ref of `remote` already has, as last fetched): a checkpoint committed into the source
 * repository is refused by GitHub, after git has packed all of it. Found by git itself
 * (`rev-list --filter=blob:limit`), named by the commit that added each.
 */
export async function verifyNoLargeFilesToPush({ cwd, remote = "origin" }: GitCwd & { remote?: string }): Promise<CheckResult> {
  const title = `no file over GitHub's ${mib(GITHUB_FILE_LIMIT)} limit in the commits to push to ${remote}`;
  const git = gitAt(cwd);
  const range = ["HEAD", "--not", `--remotes=${remote}`];
  const listed = await git.try(["rev-list", "--objects", "--no-object-names", `--filter=blob:limit=${GITHUB_FILE_WARNING}`, "--filter-print-omitted", ...range]);
  if (!listed.ok) return fail("git.large-files", title, `cannot list the commits to push: ${listed.err.split("\n")[0]}`);
  const large = listed.out.split("\n").filter((l) => l.startsWith("~")).map((l) => l.slice(1).trim());
  if (!large.length) return pass("git.large-files", title);
  const sizes = new Map<string, number>();
  for (const sha of large) sizes.set(sha, Number(await git.run(["cat-file", "-s", sha])));
  const names = await addedPaths(git, range, new Set(large));
  const describe = (sha: string): string => {
    const where = names.get(sha);
    return `${where ? `${where.path} (${formatBytes(sizes.get(sha)!)}, added in ${short(where.commit)})` : `a file of ${formatBytes(sizes.get(sha)!)} (blob ${short(sha)})`}`;
  };
  const list = (shas: string[]): string =>
    shas.slice(0, LARGE_FILES_SHOWN).map(describe).join(", ") + (shas.length > LARGE_FILES_SHOWN ? `, and ${shas.length - LARGE_FILES_SHOWN} more` : "");
  const bySize = [...large].sort((a, b) => sizes.get(b)! - sizes.get(a)!);
  const over = bySize.filter((sha) => sizes.get(sha)! > GITHUB_FILE_LIMIT);
  const near = bySize.filter((sha) => sizes.get(sha)! <= GITHUB_FILE_LIMIT);
  const fix =
    "keep large files out of git: add the folder to .gitignore (a checkpoint is published from the working tree, it need not be committed), or track it with git-lfs (`git lfs track \"ckpt/**\"`); " +
    "a file already committed must also leave the history (`git lfs migrate import --include=\"ckpt/**\"`, or `git rm --cached` and amend the commit that added it)";
  if (over.length) {
    const alsoNear = near.length ? `; also over ${mib(GITHUB_FILE_WARNING)}, which GitHub warns about: ${list(near)}` : "";
    return fail("git.large-files", title, `GitHub refuses files over ${mib(GITHUB_FILE_LIMIT)}, and these are in the commits to push: ${list(over)}${alsoNear}. To fix, ${fix}`);
  }
  return warn("git.large-files", title, `GitHub warns about files over ${mib(GITHUB_FILE_WARNING)}, and these are in the commits to push: ${list(near)}. Consider git-lfs or .gitignore: ${fix}`);
}

/** The path and commit that added each of `blobs`, from the raw diffs of the commits in `range`. */
async function addedPaths(git: Git, range: readonly string[], blobs: ReadonlySet<string>): Promise<Map<string, { path: string; commit: string }>> {
  const out = new Map<string, { path: string; commit: string }>();
  const log = await git.try(["log", "--raw", "--no-abbrev", "--no-renames", "--format=commit %H", ...range], { config: { "core.quotePath": "false" } });
  if (!log.ok) return out;
  let commit = "";
  for (const line of log.out.split("\n")) {
    if (line.startsWith("commit ")) commit = line.slice(7).trim();
    // ":100644 100644 <old> <new> M\t<path>": the newest commit comes first, so the last seen added it.
    const m = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) [A-Z]\d*\t(.*)$/.exec(line);
    if (m && blobs.has(m[1]!)) out.set(m[1]!, { path: printable(m[2]!), commit });
  }
  return out;
}

export interface GitPreflightOptions extends GitCwd {
  tag: ResolvedTag;
  remote?: string;
  branch?: string;
  ignorePaths?: readonly string[];
  offline?: boolean;
}

/** Every git check, in order. Outside a work tree the rest are skipped. */
export async function runGitPreflight(opts: GitPreflightOptions): Promise<CheckResult[]> {
  const { cwd, remote = "origin", branch = "main", offline = false } = opts;
  const repo = await verifyInsideWorkTree({ cwd });
  if (repo.status !== "pass") {
    const why = "not a git work tree";
    return [
      repo,
      skip("git.remote", `git remote ${remote} exists`, why),
      skip("git.clean", "working tree is clean", why),
      skip("git.branch", `on the release branch ${branch}`, why),
      skip("git.upstream", `${branch} is not behind ${remote}/${branch}`, why),
      skip("git.tag-version", "release tag matches package.json's version", why),
      skip("git.tag", `release tag ${opts.tag.tag} is free or already at HEAD`, why),
      skip("git.large-files", `no file over GitHub's ${mib(GITHUB_FILE_LIMIT)} limit in the commits to push to ${remote}`, why),
    ];
  }
  // The checks are independent (read-only git calls): they run at once, reported in this order.
  const remoteCheck = verifyRemoteExists({ cwd, remote });
  const noRemote = remoteCheck.then((r) => r.status !== "pass");
  return Promise.all([
    repo,
    remoteCheck,
    verifyWorkingTreeIsClean({ cwd, ignorePaths: opts.ignorePaths ?? [] }),
    verifyReleaseBranch({ cwd, branch, remote }),
    noRemote.then((none) => (none ? skip("git.upstream", `${branch} is not behind ${remote}/${branch}`, `no remote ${remote}`) : verifyNotBehindRemote({ cwd, branch, remote, offline }))),
    verifyTagMatchesVersion(opts.tag),
    // Offline the remote is not contacted whether or not it exists: no need to wait for its check.
    offline
      ? verifyReleaseTagIsFree({ cwd, tag: opts.tag.tag, source: opts.tag.source, remote, offline })
      : noRemote.then((none) => verifyReleaseTagIsFree({ cwd, tag: opts.tag.tag, source: opts.tag.source, remote, offline: none })),
    verifyNoLargeFilesToPush({ cwd, remote }),
  ]);
}
