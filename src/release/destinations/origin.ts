// The project's git remote (GitHub's repository) as a destination: the release tag is made at
// HEAD locally when the release is staged (a tag that cannot be made — signing configured but
// broken — stops the release before anything is visible), and the branch and the tag are pushed
// in one atomic push as the first visible step, after the proof. Preflight: the git checklist,
// and that this remote is the repository the GitHub Release is made in.
import { ensureReleaseTag, gitAt, GitError, pushRelease, redactGitText, remoteTagCommit, runGitPreflight } from "../../git/index.js";
import { verifyOriginIsReleaseRepository } from "../../github/checks.js";
import { UserError, type CheckResult } from "../../report.js";
import type { Destination, OriginAddress, PlanContext, ReadContext } from "../destination.js";
import { isSkipped, type ReleasePlan } from "../plan.js";
import { tagLabel, tagName, type ReleaseSettings } from "../settings.js";

export function originAddress(s: ReleaseSettings): OriginAddress {
  return { kind: "origin", remote: s.github.remote, remoteUrl: s.github.remoteUrl ?? `(no remote ${s.github.remote})`, branch: s.github.branch };
}

/** GitHub's words for a tag it will never let anyone create again (the tag of a deleted immutable release). */
const TAG_CREATION_RESTRICTED = /GH013|creations being restricted|immutable release/i;

export function originDestination(s: ReleaseSettings): Destination {
  const address = originAddress(s);
  return {
    address,
    group: "Git",
    preflight: (ctx) => originPreflight(ctx),
    plan: (ctx) => planOrigin(ctx),
    refusals: (plan) => originRefusals(plan),
    stage: {
      step: "git-tag",
      title: `Tag HEAD as ${tagLabel(s)}`,
      async run(run) {
        const t = await ensureReleaseTag({ cwd: s.cwd, tag: tagName(s), message: `Release ${tagName(s)}`, ...(run.signal ? { signal: run.signal } : {}) });
        return { status: t.created ? "done" : "unchanged", result: { tag: t.tag, commit: t.commit, created: t.created, annotated: t.annotated } };
      },
    },
    release: {
      step: "git-push",
      title: `Push ${s.github.branch} and ${tagLabel(s)} to ${s.github.remote}`,
      async run(run) {
        const tag = tagName(s);
        try {
          const p = await pushRelease({ cwd: s.cwd, remote: s.github.remote, branch: s.github.branch, tag, ...(run.signal ? { signal: run.signal } : {}) });
          const changed = p.branch.status === "pushed" || p.tag.status === "pushed";
          return { status: changed ? "done" : "unchanged", result: { remote: p.remote, commit: p.commit, branch: p.branch.status, tag: p.tag.status } };
        } catch (e) {
          if (e instanceof GitError && TAG_CREATION_RESTRICTED.test(e.stderr)) {
            throw new UserError(
              `${s.github.remote} refuses to create the tag ${tag}: GitHub keeps the tag of an immutable release that was deleted, and no push or release may use it again. Bump the version and release again (nothing of ${tag} was made visible)`,
            );
          }
          throw e;
        }
      },
    },
    async reverify(run) {
      const pushed = run.journal.get("git-push", address)?.result;
      if (!pushed) return { problems: ["no git push recorded"], result: {} };
      const git = gitAt(s.cwd, run.signal);
      const tag = tagName(s);
      const problems: string[] = [];
      const t = await remoteTagCommit(git, s.github.remote, tag);
      if (!t.ok) throw new GitError(`cannot list tags on ${s.github.remote}: ${t.err.split("\n")[0]}`, t.err);
      if (!t.commit) problems.push(`${s.github.remote} has no tag ${tag}`);
      else if (t.commit !== pushed.commit) problems.push(`tag ${tag} on ${s.github.remote} points at ${t.commit.slice(0, 7)}, not at the released commit ${pushed.commit.slice(0, 7)}`);
      return { problems, result: { originRefs: [`refs/tags/${tag}`] } };
    },
  };
}

async function originPreflight(ctx: ReadContext): Promise<CheckResult[]> {
  const s = ctx.settings;
  if ("error" in s.tag) return [{ id: "git.tag-version", title: "a release tag is known", status: "fail", message: s.tag.error }];
  const checks = runGitPreflight({ cwd: s.cwd, tag: s.tag, remote: s.github.remote, branch: s.github.branch, ignorePaths: s.ignorePaths, offline: s.offline });
  const repository = s.github.repository
    ? verifyOriginIsReleaseRepository({
        cwd: s.cwd,
        remote: s.github.remote,
        owner: s.github.repository.owner,
        repo: s.github.repository.repo,
        apiUrl: s.github.apiUrl,
        ...(ctx.remotes.github ? { client: ctx.remotes.github } : {}),
        offline: s.offline,
      })
    : undefined;
  return [...(await checks), ...(repository ? [await repository] : [])];
}

async function planOrigin(ctx: PlanContext): Promise<void> {
  const s = ctx.settings;
  const remote = s.github.remote;
  if (s.offline) return void (ctx.plan.git = { skipped: `offline: ${remote} was not contacted` });
  const git = gitAt(s.cwd);
  const head = await git.try(["rev-parse", "HEAD"]);
  if (!head.ok) return void (ctx.plan.git = { skipped: "not a git work tree with a commit" });
  const branch = s.github.branch;
  const lsBranch = await git.try(["ls-remote", "--heads", remote, `refs/heads/${branch}`]);
  if (!lsBranch.ok) return void (ctx.plan.git = { skipped: `cannot reach remote ${remote}: ${redactGitText(lsBranch.err.split("\n")[0] ?? "")}` });
  const at = head.out.trim();
  const remoteHead = lsBranch.out.trim().split(/\s+/)[0] || null;
  const contains = remoteHead !== null && (remoteHead === at || (await git.try(["merge-base", "--is-ancestor", at, remoteHead])).ok);
  const tag = tagName(s);
  const t = await remoteTagCommit(git, remote, tag);
  const remoteTag = t.ok ? (t.commit ?? null) : null;
  ctx.plan.git = {
    remote,
    refs: [
      { ref: `refs/heads/${branch}`, from: remoteHead, to: at, action: contains ? "unchanged" : "push" },
      { ref: `refs/tags/${tag}`, from: remoteTag, to: at, action: remoteTag === at ? "unchanged" : remoteTag ? "conflict" : "push" },
    ],
  };
}

function originRefusals(plan: ReleasePlan): CheckResult[] {
  const git = plan.git && !isSkipped(plan.git) ? plan.git : undefined;
  const conflict = git?.refs.find((r) => r.action === "conflict");
  if (!conflict) return [];
  return [
    {
      id: "release.tag-conflict",
      title: "the release tag is not taken on the remote",
      status: "fail",
      message: `${conflict.ref} already exists on ${git!.remote} at ${conflict.from?.slice(0, 7)}, not at HEAD: bump the version`,
    },
  ];
}


