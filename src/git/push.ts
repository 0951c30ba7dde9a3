// Land the release on the git remote: create the tag at HEAD if missing, then push the release
// branch and the tag — never forced, and a rerun with everything already there changes nothing.
import { UserError } from "../report.js";
import { remoteTagCommit } from "./preflight.js";
import { gitOut, redactGitText, short, tryGit } from "./run.js";

export interface EnsureTagOptions {
  cwd: string;
  tag: string;
  /** Annotated tag message; default `Release <tag>`. `false`: a lightweight tag. */
  message?: string | false;
}

export interface EnsureTagResult {
  tag: string;
  commit: string;
  created: boolean;
  annotated: boolean;
}

/**
 * Creates `tag` at HEAD if it does not exist. Annotated when a committer identity is configured
 * (user.email), lightweight otherwise (CI runners often have none). A tag elsewhere is an error.
 */
export async function ensureReleaseTag({ cwd, tag, message }: EnsureTagOptions): Promise<EnsureTagResult> {
  const head = await gitOut(cwd, ["rev-parse", "--verify", "HEAD"]);
  const existing = await tryGit(cwd, ["rev-parse", "--verify", "-q", `refs/tags/${tag}^{commit}`]);
  if (existing.ok) {
    const at = existing.out.trim();
    if (at !== head) throw new UserError(`tag ${tag} already exists at ${short(at)}, not at HEAD (${short(head)}): bump the version in package.json`);
    const type = await gitOut(cwd, ["cat-file", "-t", `refs/tags/${tag}`]);
    return { tag, commit: head, created: false, annotated: type === "tag" };
  }
  const hasIdentity = (await tryGit(cwd, ["config", "--get", "user.email"])).ok;
  const annotate = message !== false && hasIdentity;
  const args = annotate ? ["tag", "-a", tag, "-m", message || `Release ${tag}`, head] : ["tag", tag, head];
  const r = await tryGit(cwd, args);
  if (!r.ok) throw new UserError(`cannot create tag ${tag}: ${r.err}`);
  return { tag, commit: head, created: true, annotated: annotate };
}

export type PushStatus = "pushed" | "unchanged";

export interface PushOptions {
  cwd: string;
  remote?: string;
  /** Release branch; default `main`. */
  branch?: string;
  tag: string;
}

export interface PushResult {
  remote: string;
  /** The remote's URL, credentials redacted. */
  remoteUrl: string;
  commit: string;
  branch: { name: string; status: PushStatus; detail?: string };
  tag: { name: string; status: PushStatus };
}

async function remoteBranchCommit(cwd: string, remote: string, branch: string): Promise<string | undefined> {
  const r = await tryGit(cwd, ["ls-remote", "--heads", remote, `refs/heads/${branch}`]);
  if (!r.ok) throw new UserError(`cannot reach ${remote}: ${r.err.split("\n")[0]}`);
  for (const line of r.out.split("\n")) {
    const [sha, ref] = line.trim().split(/\s+/);
    if (sha && ref === `refs/heads/${branch}`) return sha;
  }
  return undefined;
}

/**
 * Pushes the release branch and the tag to `remote` in one atomic, non-forced push of only the
 * refs that need it. The tag must exist locally (ensureReleaseTag). If the remote branch
 * already contains HEAD (a rerun, or CI building a tag on an older commit), the branch is left
 * alone.
 */
export async function pushRelease({ cwd, remote = "origin", branch = "main", tag }: PushOptions): Promise<PushResult> {
  const head = await gitOut(cwd, ["rev-parse", "--verify", "HEAD"]);
  const url = await tryGit(cwd, ["remote", "get-url", remote]);
  if (!url.ok) throw new UserError(`no git remote named ${remote}: \`git remote add ${remote} <url>\``, 2);
  const localTag = await tryGit(cwd, ["rev-parse", "--verify", "-q", `refs/tags/${tag}^{commit}`]);
  if (!localTag.ok) throw new UserError(`tag ${tag} does not exist locally: create it first`);
  if (localTag.out.trim() !== head) throw new UserError(`tag ${tag} is at ${short(localTag.out.trim())}, not at HEAD (${short(head)})`);

  const refspecs: string[] = [];
  const remoteHead = await remoteBranchCommit(cwd, remote, branch);
  let branchStatus: PushStatus = "pushed";
  let detail: string | undefined;
  if (remoteHead === head) {
    branchStatus = "unchanged";
  } else if (remoteHead && (await tryGit(cwd, ["merge-base", "--is-ancestor", head, remoteHead])).ok) {
    branchStatus = "unchanged";
    detail = `${remote}/${branch} (${short(remoteHead)}) already contains HEAD`;
  } else {
    const current = await tryGit(cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
    if (!current.ok || current.out.trim() !== branch) {
      throw new UserError(`HEAD (${short(head)}) is not on ${branch}${remoteHead ? ` nor on ${remote}/${branch}` : ""}: \`git checkout ${branch}\``);
    }
    refspecs.push(`refs/heads/${branch}:refs/heads/${branch}`);
  }

  const remoteTag = await remoteTagCommit(cwd, remote, tag);
  if (!remoteTag.ok) throw new UserError(`cannot list tags on ${remote}: ${remoteTag.err.split("\n")[0]}`);
  let tagStatus: PushStatus = "pushed";
  if (remoteTag.commit === head) tagStatus = "unchanged";
  else if (remoteTag.commit) {
    throw new UserError(`tag ${tag} already exists on ${remote} at ${short(remoteTag.commit)}, not at HEAD (${short(head)}): bump the version in package.json`);
  } else refspecs.push(`refs/tags/${tag}:refs/tags/${tag}`);

  if (refspecs.length > 0) {
    // No --force, no --follow-tags: exactly these refs, all or nothing.
    const r = await tryGit(cwd, ["push", "--atomic", "--porcelain", remote, ...refspecs]);
    if (!r.ok) {
      const hint = /non-fast-forward|fetch first|rejected/i.test(r.err) ? ` — ${remote}/${branch} moved: \`git pull\`, then release` : "";
      throw new UserError(`git push to ${remote} failed: ${r.err.split("\n").filter(Boolean).slice(-3).join(" / ")}${hint}`);
    }
  }
  return {
    remote,
    remoteUrl: redactGitText(url.out.trim()),
    commit: head,
    branch: { name: branch, status: branchStatus, ...(detail ? { detail } : {}) },
    tag: { name: tag, status: tagStatus },
  };
}
