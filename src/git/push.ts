// Land the release on the git remote: create the tag at HEAD if missing, then push the release
// branch and the tag — never forced, and a rerun with everything already there changes nothing.
import { UsageError, UserError } from "../report.js";
import { remoteTagCommit } from "./preflight.js";
import { GitError, gitAt, redactGitText, short, type Git } from "./run.js";

export interface EnsureTagOptions {
  cwd: string;
  tag: string;
  /** Annotated tag message; default `Release <tag>`. `false`: a lightweight tag (unless tags must be signed). */
  message?: string | false;
  signal?: AbortSignal;
}

export interface EnsureTagResult {
  tag: string;
  commit: string;
  created: boolean;
  annotated: boolean;
}

/**
 * Creates `tag` at HEAD if it does not exist; a tag already at HEAD is kept as it is (one the
 * user made and signed, or an earlier run's). A tag elsewhere is an error.
 *
 * Signing follows the user's git config: with `tag.gpgsign=true` the tag is annotated and
 * signed with their key, because a release tag is permanent and public and their policy says
 * tags are signed. If git cannot sign (no key, no identity), that is an error naming the fix,
 * and it comes before anything is pushed. Without signing: annotated when a committer identity
 * is configured, lightweight otherwise (CI runners often have none).
 */
export async function ensureReleaseTag({ cwd, tag, message, signal }: EnsureTagOptions): Promise<EnsureTagResult> {
  const git = gitAt(cwd, signal);
  const head = await git.run(["rev-parse", "--verify", "HEAD"]);
  const existing = await git.try(["rev-parse", "--verify", "-q", `refs/tags/${tag}^{commit}`]);
  if (existing.ok) {
    const at = existing.out.trim();
    if (at !== head) throw new UserError(`tag ${tag} already exists at ${short(at)}, not at HEAD (${short(head)}): bump the version in package.json`);
    const type = await git.run(["cat-file", "-t", `refs/tags/${tag}`]);
    return { tag, commit: head, created: false, annotated: type === "tag" };
  }
  const text = message || `Release ${tag}`;
  if (await configIsTrue(git, "tag.gpgsign")) {
    const r = await git.try(["tag", "-a", tag, "-m", text, head]);
    if (!r.ok) throw unsignableTag(tag, text, r.err, await hasIdentity(git));
    return { tag, commit: head, created: true, annotated: true };
  }
  const annotate = message !== false && (await hasIdentity(git));
  await git.run(annotate ? ["tag", "-a", tag, "-m", text, head] : ["tag", tag, head]);
  return { tag, commit: head, created: true, annotated: annotate };
}

async function configIsTrue(git: Git, key: string): Promise<boolean> {
  const r = await git.try(["config", "--type=bool", "--get", key]);
  return r.ok && r.out.trim() === "true";
}

/** A committer identity set in the config or the environment (never one git would guess). */
async function hasIdentity(git: Git): Promise<boolean> {
  return (await git.try(["var", "GIT_COMMITTER_IDENT"], { config: { "user.useConfigOnly": "true" } })).ok;
}

function unsignableTag(tag: string, message: string, err: string, identity: boolean): UserError {
  const why = identity ? `git could not sign it: ${err.split("\n").filter(Boolean).slice(-2).join(" / ")}` : "git has no committer identity to sign it with (user.name, user.email)";
  return new UserError(
    `cannot create the release tag ${tag}: tag.gpgsign is true, so it must be signed, and ${why}. ` +
      `Set up your signing key, or create the tag yourself (\`git tag -s ${tag} -m "${message}"\`) and run the release again, ` +
      `or turn signing off for this repository (\`git config tag.gpgsign false\`)`,
  );
}

export type PushStatus = "pushed" | "unchanged";

export interface PushOptions {
  cwd: string;
  remote?: string;
  /** Release branch; default `main`. */
  branch?: string;
  tag: string;
  signal?: AbortSignal;
}

export interface PushResult {
  remote: string;
  /** The remote's URL, credentials redacted. */
  remoteUrl: string;
  commit: string;
  branch: { name: string; status: PushStatus; detail?: string };
  tag: { name: string; status: PushStatus };
}

async function remoteBranchCommit(git: Git, remote: string, branch: string): Promise<string | undefined> {
  const r = await git.try(["ls-remote", "--heads", remote, `refs/heads/${branch}`]);
  if (!r.ok) throw new GitError(`cannot reach ${remote}: ${r.err.split("\n")[0]} — check its URL (\`git remote get-url ${remote}\`), the network and your git credentials`, r.err);
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
export async function pushRelease({ cwd, remote = "origin", branch = "main", tag, signal }: PushOptions): Promise<PushResult> {
  const git = gitAt(cwd, signal);
  const head = await git.run(["rev-parse", "--verify", "HEAD"]);
  const url = await git.try(["remote", "get-url", remote]);
  if (!url.ok) throw new UsageError(`no git remote named ${remote}: \`git remote add ${remote} <url>\``);
  const localTag = await git.try(["rev-parse", "--verify", "-q", `refs/tags/${tag}^{commit}`]);
  if (!localTag.ok) throw new UserError(`tag ${tag} does not exist locally: create it first`);
  if (localTag.out.trim() !== head) throw new UserError(`tag ${tag} is at ${short(localTag.out.trim())}, not at HEAD (${short(head)})`);

  const refspecs: string[] = [];
  const remoteHead = await remoteBranchCommit(git, remote, branch);
  let branchStatus: PushStatus = "pushed";
  let detail: string | undefined;
  if (remoteHead === head) {
    branchStatus = "unchanged";
  } else if (remoteHead && (await git.try(["merge-base", "--is-ancestor", head, remoteHead])).ok) {
    branchStatus = "unchanged";
    detail = `${remote}/${branch} (${short(remoteHead)}) already contains HEAD`;
  } else {
    const current = await git.try(["symbolic-ref", "--quiet", "--short", "HEAD"]);
    if (!current.ok || current.out.trim() !== branch) {
      throw new UserError(`HEAD (${short(head)}) is not on ${branch}${remoteHead ? ` nor on ${remote}/${branch}` : ""}: \`git checkout ${branch}\``);
    }
    refspecs.push(`refs/heads/${branch}:refs/heads/${branch}`);
  }

  const remoteTag = await remoteTagCommit(git, remote, tag);
  if (!remoteTag.ok) throw new GitError(`cannot list tags on ${remote}: ${remoteTag.err.split("\n")[0]}`, remoteTag.err);
  let tagStatus: PushStatus = "pushed";
  if (remoteTag.commit === head) tagStatus = "unchanged";
  else if (remoteTag.commit) {
    throw new UserError(`tag ${tag} already exists on ${remote} at ${short(remoteTag.commit)}, not at HEAD (${short(head)}): bump the version in package.json`);
  } else refspecs.push(`refs/tags/${tag}:refs/tags/${tag}`);

  if (refspecs.length > 0) {
    // Exactly these refs, all or nothing: no --force, and none of what a user's push.followTags or
    // push.recurseSubmodules would add (other local tags, submodule commits to other remotes).
    const r = await git.try(["push", "--atomic", "--porcelain", "--no-follow-tags", "--recurse-submodules=check", remote, ...refspecs]);
    if (!r.ok) {
      // A ref the remote moved meanwhile, not one its hooks refused ("remote rejected").
      const hint = /non-fast-forward|fetch first|\[rejected\]/i.test(r.err) ? ` — ${remote}/${branch} moved: \`git pull\`, then release` : "";
      throw new GitError(`git push to ${remote} failed: ${r.err.split("\n").filter(Boolean).slice(-3).join(" / ")}${hint}`, r.err);
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
