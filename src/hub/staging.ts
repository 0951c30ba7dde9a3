// A Hub release in two moves, so that nobody sees it before it is proven. `stageHubRelease`
// commits the release on a branch of its own (or opens a pull request), on top of the head the
// plan was made against: main is not touched, and a repo the release creates stays private.
// After the proof, `revealHubRelease` makes the same commit on main (every LFS object is already
// in storage: nothing is uploaded again), holds its tree to the staged tree file for file, tags
// it, makes a created repo public if the config says so, and removes the staging branch.
// `withdrawHubRelease` removes the staging branch of a release that did not pass.
import { createRepo } from "@huggingface/hub";
import type { ManifestEntry } from "../checkpoint/types.js";
import { createHubBranch, deleteHubBranch, setHubRepoVisibility } from "./branch.js";
import { errorStatus, HubPublishError, toHubUserError } from "./errors.js";
import { publishHubApi, type CommitReuse } from "./publish-api.js";
export type { CommitReuse } from "./publish-api.js";
import { publishHubGit } from "./publish-git.js";
import { computeHubPlan } from "./plan.js";
import { tagHubRevision } from "./tag.js";
import { getRevisionHead, listRemoteTree } from "./tree.js";
import type { HubPlan, HubProgress, PublishResult, RemoteFile, TagResult } from "./types.js";

export interface HubReleaseOptions {
  endpoint: string;
  repoId: string;
  token: string;
  fetch: typeof fetch;
  /** The branch users get (usually main). */
  revision: string;
  transport: "api" | "git";
  manifest: readonly ManifestEntry[];
  prune: boolean;
  gitattributesBase?: string;
  summary: string;
  description?: string;
  /** The release tag. */
  tag: string;
  /** Publish as a Hub pull request (never tagged: merge it, then tag it). */
  createPr: boolean;
  useXet: boolean;
  /** The repo's visibility once released (a repo the release creates stays private until then). */
  private: boolean;
  /** The plan the user saw: staging refuses when the branch moved since. */
  plan?: Pick<HubPlan, "repoId" | "revision" | "parentCommit" | "repoExists">;
  /** false: the refs the plan read hold no staging branch of this release, so none is removed first. */
  staleStagingBranch?: boolean;
  /** git transport: the project's work tree and its Hub remote. */
  cwd: string;
  remote: string;
  signal?: AbortSignal;
  onProgress?: HubProgress;
}

/** What was staged: enough to prove it, reveal it or withdraw it in a later run. */
export interface StagedHubRelease {
  transport: "api" | "git";
  /** The commit to prove: on the staging branch, the pull request's, or (nothing to change) the branch head. */
  commit: string;
  /** The head of `revision` the staged commit sits on. */
  parentCommit: string;
  /** The staging branch (absent when nothing changed, or for a pull request). */
  branch?: string;
  pullRequestUrl?: string;
  /** Nothing to change: the head already holds these files. */
  noop: boolean;
  uploaded: string[];
  deduplicated: string[];
  deleted: string[];
  gitattributes: string;
  /** The release created the repo (private): revealing makes it public unless hub.private. */
  createdRepo: boolean;
  /** Where the release tag pointed when the plan read the refs: at `commit`, nothing is tagged again. */
  tagAt?: string;
  /** Within the run that staged it: what it knows of the staged commit, so the reveal asks nothing again (never recorded). */
  reuse?: CommitReuse;
}

export interface RevealedHubRelease {
  /** The commit on `revision` that holds the release, tagged. */
  commit: string;
  url: string;
  tag: TagResult;
}

/** The branch a release of `tag` is staged on: named for it, so that a person who sees it knows what it is. */
export function stagingBranchName(tag: string): string {
  return `azbert-release-staging-${tag.replace(/[^A-Za-z0-9._-]/g, "-")}`;
}

function target(o: HubReleaseOptions) {
  return { endpoint: o.endpoint, repoId: o.repoId, token: o.token, fetch: o.fetch };
}

function publishOptions(o: HubReleaseOptions, revision: string) {
  return {
    ...target(o),
    revision,
    manifest: o.manifest,
    prune: o.prune,
    summary: o.summary,
    ...(o.description ? { description: o.description } : {}),
    ...(o.gitattributesBase !== undefined ? { gitattributesBase: o.gitattributesBase } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
}

/** One commit in the transport's way on `branch` (api) or pushed there (git), from `revision`'s head. */
function commitOn(o: HubReleaseOptions, branch: string, plan?: HubReleaseOptions["plan"], tag?: string, reuse?: CommitReuse): Promise<PublishResult & { reuse?: CommitReuse }> {
  const planned = plan ? { plan } : {};
  if (o.transport === "git") {
    const description = o.description ? `${o.summary}\n\n${o.description}` : o.summary;
    return publishHubGit({
      ...publishOptions(o, o.revision),
      summary: description,
      cwd: o.cwd,
      remote: o.remote,
      fetch: o.fetch,
      ...(branch !== o.revision ? { pushBranch: branch } : {}),
      ...(tag ? { tag } : {}),
      ...planned,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }
  // The api commits to `branch` itself: the plan holds that branch to the head it was made against.
  const onBranch = plan ? { plan: { ...plan, revision: branch } } : {};
  return publishHubApi({ ...publishOptions(o, branch), useXet: o.useXet, ...(tag ? { tag } : {}), ...onBranch, ...(reuse && !o.useXet ? { reuse } : {}), ...(o.signal ? { abortSignal: o.signal } : {}) });
}

function stagedFrom(o: HubReleaseOptions, p: PublishResult, parentCommit: string, createdRepo: boolean, extra: Partial<StagedHubRelease>): StagedHubRelease {
  return {
    transport: o.transport,
    commit: p.commit,
    parentCommit,
    noop: p.status === "unchanged",
    uploaded: p.uploaded,
    deduplicated: p.deduplicated,
    deleted: p.deleted,
    gitattributes: p.plan.gitattributes,
    createdRepo,
    ...extra,
  };
}

export async function stageHubRelease(o: HubReleaseOptions): Promise<StagedHubRelease> {
  const t = target(o);
  const ctx = { action: `stage the release on ${o.repoId}`, repoId: o.repoId, endpoint: o.endpoint, token: o.token };
  let head = await getRevisionHead({ ...t, revision: o.revision }).catch((err: unknown) => {
    throw toHubUserError(err, ctx);
  });
  let createdRepo = false;
  if (!head.repoExists) {
    // Created private: an empty public repo would be the first thing users see of a release.
    await createRepo({ repo: { type: "model", name: o.repoId }, visibility: "private", hubUrl: o.endpoint, fetch: o.fetch, accessToken: o.token }).catch((err: unknown) => {
      if (errorStatus(err) !== 409) throw toHubUserError(err, ctx);
    });
    createdRepo = true;
    head = await getRevisionHead({ ...t, revision: o.revision }).catch((err: unknown) => {
      throw toHubUserError(err, ctx);
    });
  }
  if (!head.commit) throw new HubPublishError(`branch ${o.revision} does not exist on ${o.repoId}; create it on the Hub first`);
  if (o.plan?.repoExists && o.plan.parentCommit && o.plan.parentCommit !== head.commit) {
    throw new HubPublishError(
      `${o.repoId}@${o.revision} moved since the plan was made (planned on ${o.plan.parentCommit.slice(0, 12)}, now ${head.commit.slice(0, 12)}): someone else pushed. Nothing was committed; run the release again to plan it anew`,
      412,
    );
  }
  const parentCommit = head.commit;

  if (o.createPr) {
    const p = await publishHubApi({ ...publishOptions(o, o.revision), createPr: true, useXet: o.useXet, ...(o.signal ? { abortSignal: o.signal } : {}) });
    return stagedFrom(o, p, parentCommit, createdRepo, p.pullRequestUrl ? { pullRequestUrl: p.pullRequestUrl } : {});
  }

  const plan = await computeHubPlan({ ...t, revision: o.revision, manifest: o.manifest, prune: o.prune, ...(o.gitattributesBase !== undefined ? { gitattributesBase: o.gitattributesBase } : {}) }).catch(
    (err: unknown) => {
      throw toHubUserError(err, ctx);
    },
  );
  // A private repo holding nothing but the Hub's first commit is one an earlier run of a release
  // created and left unreleased: it is made public with the release, as if created now.
  if (!createdRepo && head.private && plan.remote.every((f) => f.path === ".gitattributes")) createdRepo = true;
  if (plan.plan.noop) {
    return { transport: o.transport, commit: parentCommit, parentCommit, noop: true, uploaded: [], deduplicated: [], deleted: [], gitattributes: plan.plan.gitattributes, createdRepo };
  }
  const branch = stagingBranchName(o.tag);
  // A staging branch an interrupted run left holds nothing anyone relies on: start it again.
  if (o.staleStagingBranch !== false) await deleteHubBranch({ ...t, branch });
  if (o.transport === "api") await createHubBranch({ ...t, branch, startingPoint: parentCommit });
  // The new branch starts at the head this plan was computed on: the plan holds for it.
  const p = await commitOn(o, branch, { repoId: o.repoId, revision: o.revision, parentCommit, repoExists: true }, undefined, { plan });
  return stagedFrom(o, p, parentCommit, createdRepo, { branch, ...(p.reuse ? { reuse: p.reuse } : {}) });
}

/** The same commit on main, proven equal to the staged one, tagged; then the repo is made public and the staging branch removed. */
export async function revealHubRelease(o: HubReleaseOptions, staged: StagedHubRelease): Promise<RevealedHubRelease> {
  const t = target(o);
  if (staged.pullRequestUrl) throw new HubPublishError(`${o.repoId} was published as a pull request (${staged.pullRequestUrl}): merge it, then tag it`);
  let commit = staged.commit;
  let url = `${o.endpoint}/${o.repoId}/commit/${commit}`;
  let tag: TagResult;
  if (staged.noop) {
    // Already tagged there (a rerun with nothing to change): the re-verification reads the tag again.
    tag = staged.tagAt === commit ? { tag: o.tag, status: "unchanged", commit } : await tagHubRevision({ ...t, tag: o.tag, commit, message: o.summary });
  } else if (staged.reuse && o.transport === "api") {
    // Staged in this very run: the same commit on the head it was planned on (the Hub refuses it,
    // 412, if the branch moved meanwhile), with nothing asked again.
    const p = await commitOn(o, o.revision, { repoId: o.repoId, revision: o.revision, parentCommit: staged.parentCommit, repoExists: true }, undefined, staged.reuse);
    ({ commit, url } = p);
    await requireSameTree(o, staged.commit, commit);
    tag = await tagHubRevision({ ...t, tag: o.tag, commit, message: o.summary });
  } else {
    const head = await getRevisionHead({ ...t, revision: o.revision }).catch((err: unknown) => {
      throw toHubUserError(err, { action: `read ${o.repoId}@${o.revision}`, repoId: o.repoId, endpoint: o.endpoint, token: o.token });
    });
    if (head.commit && head.commit !== staged.parentCommit && (await treeDifference(o, staged.commit, head.commit)).length === 0) {
      // An earlier run made the release commit and stopped before recording it: tag that one.
      commit = head.commit;
      url = `${o.endpoint}/${o.repoId}/commit/${commit}`;
      tag = await tagHubRevision({ ...t, tag: o.tag, commit, message: o.summary });
    } else {
      const p = await commitOn(o, o.revision, { repoId: o.repoId, revision: o.revision, parentCommit: staged.parentCommit, repoExists: true });
      commit = p.commit;
      url = p.url;
      await requireSameTree(o, staged.commit, commit);
      tag = await tagHubRevision({ ...t, tag: o.tag, commit, message: o.summary });
    }
  }
  if (staged.createdRepo && !o.private) await setHubRepoVisibility({ ...t, private: false });
  if (staged.branch) await deleteHubBranch({ ...t, branch: staged.branch });
  return { commit, url, tag };
}

/** The released commit serves what the proven one served, or nothing is tagged. */
async function requireSameTree(o: HubReleaseOptions, proven: string, released: string): Promise<void> {
  const differ = await treeDifference(o, proven, released);
  if (differ.length) {
    throw new HubPublishError(`the commit ${released.slice(0, 12)} on ${o.repoId}@${o.revision} does not hold the proven tree of ${proven.slice(0, 12)} (${differ.join(", ")}): it was not tagged`);
  }
}

/** A release that did not pass leaves nothing users could see: its staging branch is removed. */
export async function withdrawHubRelease(o: HubReleaseOptions, staged: Pick<StagedHubRelease, "branch">): Promise<void> {
  if (staged.branch) await deleteHubBranch({ ...target(o), branch: staged.branch });
}

/** Paths whose blob or LFS object differs between two commits: [] when the released commit serves what the proven one served. */
async function treeDifference(o: HubReleaseOptions, proven: string, released: string): Promise<string[]> {
  const list = (rev: string) =>
    listRemoteTree({ ...target(o), revision: rev }).catch((err: unknown) => {
      throw toHubUserError(err, { action: `list ${o.repoId}@${rev.slice(0, 12)}`, repoId: o.repoId, endpoint: o.endpoint, token: o.token });
    });
  const [a, b] = await Promise.all([list(proven), list(released)]);
  const key = (f: RemoteFile) => `${f.path}\0${f.oid}\0${f.lfs?.oid ?? ""}`;
  const inA = new Set(a.map(key));
  const inB = new Set(b.map(key));
  return [...new Set([...a.filter((f) => !inB.has(key(f))), ...b.filter((f) => !inA.has(key(f)))].map((f) => f.path))].sort();
}
