// The Hugging Face Hub as a destination. Staged on a branch of its own (or as a pull request),
// proven by downloading the staged commit through resolve/<commit>/ as a user's client does,
// then released: the same tree committed to the branch users get and tagged, in one step after
// the proof. Preflight: git-lfs, the `hgf` remote, the token and what it may write, the repo.
import { gitAt } from "../../git/index.js";
import { githubWebUrl } from "../../github/repo.js";
import {
  HubPublishError,
  checkGitLfs,
  checkHubGitAccess,
  checkHubRemote,
  checkHubToken,
  ensureHubRemote,
  getHubRefs,
  getHubTag,
  hubRepoUrl,
  planHubPublish,
  verifyHubRevision,
  type HubProgressEvent,
} from "../../hub/index.js";
import { revealHubRelease, stageHubRelease, stagingBranchName, withdrawHubRelease, type CommitReuse, type HubReleaseOptions } from "../../hub/staging.js";
import { getRevisionHead } from "../../hub/tree.js";
import { toPublished } from "../../pack/index.js";
import { UserError, type CheckResult } from "../../report.js";
import type { Destination, HubAddress, PlanContext, ReadContext, StepRun } from "../destination.js";
import { hubCardLookup } from "../hub-card.js";
import { hubProgressLine } from "../hub-progress.js";
import type { HubTagPlan, ReleasePlan } from "../plan.js";
import { isSkipped } from "../plan.js";
import { ProvenObjects } from "../journal.js";
import { proveHubDownload } from "../proof.js";
import type { HubStepResult } from "../report.js";
import { tagLabel, tagName, type ReleaseSettings } from "../settings.js";
import { ProofError, VerifyError } from "../verify-error.js";

export function hubAddress(s: ReleaseSettings): HubAddress {
  const h = s.hub;
  return { kind: "hub", endpoint: h.endpoint, repoId: h.repoId, revision: h.revision, transport: h.transport, mode: h.createPr ? "pull-request" : "commit" };
}

export function requireHubToken(s: ReleaseSettings): string {
  if (!s.hub.token) throw new UserError("no Hub token: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), or run `huggingface-cli login`");
  return s.hub.token;
}

/**
 * The Hub token to hand to what is not the Hub fetch (git's credential helper): Trusted
 * Publishing's current one, exchanged anew when about to expire; else the configured token.
 */
async function currentHubToken(s: ReleaseSettings): Promise<string> {
  const token = requireHubToken(s);
  return s.hub.trustedPublishing ? s.hub.trustedPublishing.current() : token;
}

export function hubDestination(s: ReleaseSettings): Destination {
  const address = hubAddress(s);
  // What the stage of this run knows of the commit it made, for the reveal (never journaled).
  let stagedHere: { commit: string; reuse: CommitReuse } | undefined;
  const staged = (run: StepRun): HubStepResult => {
    const r = run.journal.get("hub", address)?.result;
    if (!r) throw new VerifyError("no staged Hub commit is recorded: run the release again");
    return r;
  };
  return {
    address,
    group: "Hugging Face Hub",
    preflight: (ctx) => hubPreflight(ctx),
    plan: (ctx) => planHub(ctx),
    refusals: (plan) => hubRefusals(plan),
    stage: {
      step: "hub",
      title: `Stage the release on the Hub (${s.hub.repoId}, ${s.hub.transport}${s.hub.createPr ? ", pull request" : ""})`,
      async run(run) {
        await ensureHubRemote({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId });
        const plan = run.plan.hub && !isSkipped(run.plan.hub) ? run.plan.hub : undefined;
        const line = hubProgressLine(s.hub.transport);
        const onProgress = (e: HubProgressEvent) => {
          const text = line(e);
          if (text) run.say(text);
        };
        const p = await stageHubRelease({
          ...(await releaseOptions(run)),
          ...(plan ? { plan } : {}),
          ...(plan?.staleStagingBranch === false ? { staleStagingBranch: false } : {}),
          onProgress,
        });
        stagedHere = p.reuse ? { commit: p.commit, reuse: p.reuse } : undefined;
        return {
          status: p.noop ? "unchanged" : "done",
          result: {
            commit: p.commit,
            url: `${hubRepoUrl(s.hub.endpoint, s.hub.repoId)}/commit/${p.commit}`,
            transport: p.transport,
            parentCommit: p.parentCommit,
            ...(p.branch ? { stagingBranch: p.branch } : {}),
            noop: p.noop,
            uploaded: p.uploaded,
            deduplicated: p.deduplicated,
            deleted: p.deleted,
            ...(p.pullRequestUrl ? { pullRequestUrl: p.pullRequestUrl } : {}),
            gitattributes: p.gitattributes,
            createdRepo: p.createdRepo,
          },
        };
      },
      // A staging branch someone removed (or moved) since: the release is staged again.
      async stillThere(run, rec) {
        if (!rec.stagingBranch) return true;
        const head = await getRevisionHead({ endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: requireHubToken(s), fetch: run.remotes.hubFetch, revision: rec.stagingBranch });
        return head.commit === rec.commit;
      },
    },
    // A pull request is proven at its own commit too; it is released once someone merges it.
    prove: async (run) => ({ hub: await proveStaged(run, staged(run)) }),
    ...(s.hub.createPr
      ? {}
      : {
          release: {
            step: "hub-tag",
            title: `Release on the Hub: ${s.hub.revision} and the tag ${tagLabel(s)}`,
            async run(run) {
              const st = staged(run);
              const options = await releaseOptions(run);
              const r = await revealHubRelease(options, {
                transport: st.transport,
                commit: st.commit,
                parentCommit: st.parentCommit,
                noop: st.noop,
                uploaded: st.uploaded,
                deduplicated: st.deduplicated,
                deleted: st.deleted,
                gitattributes: st.gitattributes,
                createdRepo: st.createdRepo,
                ...(st.stagingBranch ? { branch: st.stagingBranch } : {}),
                ...(tagSeen(run.plan) ? { tagAt: tagSeen(run.plan)! } : {}),
                // Staged by this very run: what it knows of that commit.
                ...(stagedHere?.commit === st.commit ? { reuse: stagedHere.reuse } : {}),
              }).catch(async (e: unknown) => {
                if (!(e instanceof HubPublishError && e.status === 412)) throw e;
                // The branch moved while the release was proven: the staged commit sits on an old
                // head. Nothing on the branch changed; the next run stages on the new head.
                await withdrawHubRelease(options, { ...(st.stagingBranch ? { branch: st.stagingBranch } : {}) });
                await run.journal.forget(address, ["hub", "verify.download"]);
                throw new HubPublishError(
                  `${s.hub.repoId}@${s.hub.revision} moved while the release was being proven (someone pushed): nothing of ${tagName(s)} was released on the Hub. Run the release again: it stages and proves it on the new head`,
                  412,
                );
              });
              return { status: r.tag.status === "created" || !st.noop ? "done" : "unchanged", result: { tag: r.tag.tag, commit: r.commit, url: r.url } };
            },
          },
        }),
    async reverify(run) {
      const released = run.journal.get("hub-tag", address)?.result;
      const st = run.journal.get("hub", address)?.result;
      const commit = released?.commit ?? st?.commit;
      if (!commit) return { problems: ["no Hub commit recorded"], result: {} };
      const problems = await hubProblems(run, { commit, ...(released ? { tag: released.tag } : {}), ...(st ? { gitattributes: st.gitattributes } : {}) });
      return { problems, result: { hubFilesChecked: run.manifest.length } };
    },
    async withdraw(run) {
      const st = run.journal.get("hub", address)?.result;
      if (!st?.stagingBranch) return [];
      await withdrawHubRelease(await releaseOptions(run), { branch: st.stagingBranch });
      return [`the Hub staging branch ${st.stagingBranch}`];
    },
  };
}

async function releaseOptions(run: StepRun): Promise<HubReleaseOptions> {
  const s = run.settings;
  const tag = tagName(s);
  const message = await commitMessage(s, tag);
  return {
    endpoint: s.hub.endpoint,
    repoId: s.hub.repoId,
    token: await currentHubToken(s),
    fetch: run.remotes.hubFetch,
    revision: s.hub.revision,
    transport: s.hub.transport,
    manifest: run.manifest,
    prune: s.hub.prune,
    ...(run.published?.gitattributesBase !== undefined ? { gitattributesBase: run.published.gitattributesBase } : {}),
    summary: message.summary,
    ...(message.description ? { description: message.description } : {}),
    tag,
    createPr: s.hub.createPr,
    useXet: s.hub.useXet,
    private: s.hub.private,
    cwd: s.cwd,
    remote: s.hub.remote,
    ...(run.signal ? { signal: run.signal } : {}),
  };
}

/** The staged commit as users would get it: its tree held to the plan, every file downloaded and checked, the copy smoke-tested. */
async function proveStaged(run: StepRun, st: HubStepResult) {
  const s = run.settings;
  const problems = await hubProblems(run, { commit: st.commit, gitattributes: st.gitattributes });
  if (problems.length) throw new ProofError(problems.join("\n"));
  // What an earlier release of this repo proved by downloading it need not be downloaded again.
  const proven = await ProvenObjects.open(s.cwd, s.hub);
  const p = await proveHubDownload({
    endpoint: s.hub.endpoint,
    repoId: s.hub.repoId,
    revision: st.commit,
    ...(s.hub.token ? { token: s.hub.token } : {}),
    fetch: run.remotes.hubFetch,
    expected: toPublished(run.manifest),
    // The staged tree was just held to the manifest (hubProblems): small files proven before need no download.
    provenBefore: { objects: proven.objects, localCopy: (f) => run.manifest.find((e) => e.path === f.path && e.sha256 === f.sha256)?.source, treeChecked: true },
    carrySmoke: true,
    smoke: s.smoke,
    ...(run.signal ? { signal: run.signal } : {}),
    onProgress: run.say,
  });
  if (p.problems.length) throw new ProofError(p.problems.join("\n"));
  await proven.add(run.manifest);
  return p.proof!;
}

/** What is wrong on the Hub compared with the record: [] when it holds the release. */
export async function hubProblems(run: Pick<StepRun, "settings" | "remotes" | "manifest">, rec: { commit: string; tag?: string; gitattributes?: string }): Promise<string[]> {
  const s = run.settings;
  const t = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: requireHubToken(s), fetch: run.remotes.hubFetch };
  const problems: string[] = [];
  if (rec.tag) {
    const at = await getHubTag({ ...t, tag: rec.tag });
    if (!at) problems.push(`tag ${rec.tag} is not on ${t.repoId}`);
    else if (at !== rec.commit) problems.push(`tag ${rec.tag} of ${t.repoId} points at ${at.slice(0, 12)}, not at the release commit ${rec.commit.slice(0, 12)}`);
  }
  const v = await verifyHubRevision({ ...t, revision: rec.commit, manifest: run.manifest, ...(rec.gitattributes !== undefined ? { gitattributes: rec.gitattributes } : {}) });
  for (const m of v.mismatches) problems.push(`Hub ${m.path} at ${rec.commit.slice(0, 12)}: ${m.problem}`);
  return problems;
}

/**
 * The Hub commit names the source it was released from: `Release v1.2.0 (owner/name@abc1234)`,
 * and the GitHub address of that commit in the description. Without a known repository or
 * commit, just `Release v1.2.0`.
 */
export async function commitMessage(s: ReleaseSettings, tag: string): Promise<{ summary: string; description?: string }> {
  const repo = s.github.repository;
  const head = await gitAt(s.cwd).try(["rev-parse", "--verify", "HEAD"]);
  if (!repo || !head.ok) return { summary: `Release ${tag}` };
  const sha = head.out.trim();
  const name = `${repo.owner}/${repo.repo}`;
  return { summary: `Release ${tag} (${name}@${sha.slice(0, 7)})`, description: `Source: ${githubWebUrl(s.github.apiUrl)}/${name}/commit/${sha}` };
}

async function hubPreflight(ctx: ReadContext): Promise<CheckResult[]> {
  const s = ctx.settings;
  const target = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, fetch: ctx.remotes.hubFetch, ...(s.hub.token ? { token: s.hub.token } : {}) };
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
  const [{ checkHubRepo }, { checkHubWhoami }] = await Promise.all([import("../../hub/repo-check.js"), import("../../hub/whoami-check.js")]);
  const repo = await checkHubRepo({ ...target, revision: s.hub.revision, create: { private: s.hub.private } });
  const { repoExists: _r, head: _h, ...repoResult } = repo;
  const { user: _u, ...who } = await checkHubWhoami({ ...target, mustCreate: repo.repoExists === false, trustedPublishing: s.hub.tokenSource === "oidc" });
  results.push(who, repoResult);
  return results;
}

async function planHub(ctx: PlanContext): Promise<void> {
  const s = ctx.settings;
  const plan = ctx.plan;
  if (s.offline) return void (plan.hub = { skipped: "offline: the Hub was not contacted" });
  if (!s.hub.token) return void (plan.hub = { skipped: "no Hub token: set HF_TOKEN to see what would be uploaded" });
  const target = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: s.hub.token, fetch: ctx.remotes.hubFetch };
  const gitattributesBase = ctx.published?.gitattributesBase;
  const hubPlan = await planHubPublish({ ...target, revision: s.hub.revision, manifest: ctx.manifest, prune: s.hub.prune, ...(gitattributesBase !== undefined ? { gitattributesBase } : {}) });
  const tag = tagName(s);
  const recordedTag = ctx.recorded?.get("hub-tag", hubAddress(s))?.result.commit;
  const refs = hubPlan.repoExists ? await getHubRefs(target) : undefined;
  const tagPlan = s.hub.createPr ? undefined : planHubTag(tag, hubPlan, refs?.tags.find((t) => t.name === tag)?.targetCommit, recordedTag);
  const url = await gitAt(s.cwd).try(["remote", "get-url", s.hub.remote]);
  // The git transport: git itself must reach the repo with the token (scoped as the publish scopes it).
  const gitAccess =
    s.hub.transport === "git"
      ? await checkHubGitAccess({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: await currentHubToken(s), revision: s.hub.revision, repoExists: hubPlan.repoExists })
      : undefined;
  plan.hub = {
    ...hubPlan,
    remote: { name: s.hub.remote, action: url.ok ? "keep" : "add", url: hubRepoUrl(s.hub.endpoint, s.hub.repoId) },
    transport: s.hub.transport,
    ...(gitAccess ? { git: gitAccess } : {}),
    ...(tagPlan ? { tag: tagPlan } : {}),
    // A repo this release creates has no branch but main.
    staleStagingBranch: refs ? refs.branches.some((b) => b.name === stagingBranchName(tag)) : false,
  };
}

/** Where the plan found the release tag on the Hub, when it may stay there. */
function tagSeen(plan: ReleasePlan): string | undefined {
  const hub = plan.hub && !isSkipped(plan.hub) ? plan.hub : undefined;
  return hub?.tag?.action === "unchanged" ? hub.tag.commit : undefined;
}

/**
 * What the release will do with its tag on the Hub: a tag elsewhere is refused unless it already
 * marks the head this release leaves unchanged, or an earlier run of this release put it there.
 */
function planHubTag(name: string, plan: { noop: boolean; parentCommit: string | null }, existing: string | undefined, recordedCommit: string | undefined): HubTagPlan {
  if (!existing) return { name, action: "create" };
  const atHead = plan.noop && existing === plan.parentCommit;
  return { name, action: atHead || existing === recordedCommit ? "unchanged" : "conflict", commit: existing };
}

function hubRefusals(plan: ReleasePlan): CheckResult[] {
  const hub = plan.hub && !isSkipped(plan.hub) ? plan.hub : undefined;
  if (hub?.tag?.action !== "conflict") return [];
  return [
    {
      id: "release.hub-tag-conflict",
      title: "the release tag is not taken on the Hub",
      status: "fail",
      message: `tag ${hub.tag.name} already exists on ${hub.repoId} at ${hub.tag.commit!.slice(0, 12)}, not at the commit this release would tag: bump the version (a released tag is never moved), or delete that tag on the Hub if it was a mistake`,
    },
  ];
}

export { hubCardLookup };
