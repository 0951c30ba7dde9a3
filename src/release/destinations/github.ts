// The GitHub Release as a destination, made as immutable releases require: staged as a draft
// (invisible to users) holding the archive, SHA256SUMS and manifest.json, each held to GitHub's
// size and sha256 digest; proven by downloading the draft's assets and unpacking them verified;
// released by publishing the draft in one PATCH, after the tag is on GitHub. A published release
// of the tag is never given assets afterwards: identical assets make it up to date, others are a
// conflict found in the plan (an immutable one can never change: a new version is the way out).
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { renderReleaseNotes } from "../../github/notes.js";
import {
  compareAssets,
  deleteDraftRelease,
  findReleaseByTag,
  githubTagCommit,
  immutableReleasesOn,
  listReleaseAssets,
  publishDraftRelease,
  remoteAssetSha256,
  stageDraftRelease,
  type LocalAsset,
  type ReleaseTarget,
} from "../../github/release.js";
import { formatBytes } from "../../util/format-bytes.js";
import { ARCHIVE_MANIFEST, inCheckpointLayout, parseManifestJson, toPublished, type PublishedFile } from "../../pack/index.js";
import type { Manifest } from "../../checkpoint/types.js";
import { SIGNATURE_NAME } from "../../signing/format.js";
import { UserError, type CheckResult } from "../../report.js";
import type { Destination, GitHubAddress, PlanContext, ReadContext, StepRun } from "../destination.js";
import { isSkipped, type GitHubPlan, type ReleasePlan } from "../plan.js";
import { proveGitHubDownload } from "../proof.js";
import type { GitHubReleaseResult } from "../report.js";
import { tagLabel, tagName, type ReleaseSettings } from "../settings.js";
import { ProofError, VerifyError } from "../verify-error.js";
import { hubAddress } from "./hub.js";
import { originAddress } from "./origin.js";

/** GitHub refuses a release asset of 2 GiB or more. */
export const GITHUB_ASSET_LIMIT = 2 * 1024 ** 3;

export function githubAddress(s: ReleaseSettings): GitHubAddress {
  const r = s.github.repository;
  return { kind: "github", apiUrl: s.github.apiUrl, repository: r ? `${r.owner}/${r.repo}` : "(unknown repository)" };
}

/** The GitHub client and repository, or an error saying what to set. */
export function githubTarget(s: ReleaseSettings, run: Pick<StepRun, "remotes">): ReleaseTarget {
  if (!run.remotes.github) throw new UserError("no GITHUB_TOKEN: set it (contents: write) to create the GitHub Release");
  if (!s.github.repository) throw new UserError(s.github.repositoryError ?? "no GitHub repository");
  return { client: run.remotes.github, owner: s.github.repository.owner, repo: s.github.repository.repo };
}

export function githubDestination(s: ReleaseSettings): Destination {
  const address = githubAddress(s);
  const staged = (run: StepRun): GitHubReleaseResult => {
    const r = run.journal.get("github-release", address)?.result;
    if (!r) throw new VerifyError("no draft GitHub Release is recorded: run the release again");
    return r;
  };
  return {
    address,
    group: "GitHub",
    preflight: (ctx) => githubPreflight(ctx),
    plan: (ctx) => planGitHub(ctx),
    refusals: (plan) => githubRefusals(plan),
    stage: {
      step: "github-release",
      title: `Stage the GitHub Release ${tagLabel(s)} as a draft`,
      async run(run) {
        const t = githubTarget(s, run);
        const assets = await localAssets(run);
        const plan = run.plan.github && !isSkipped(run.plan.github) ? run.plan.github : undefined;
        if (plan?.release === "unchanged" && plan.releaseId !== undefined) {
          // Published earlier with these very assets: nothing to stage, nothing to publish.
          const remote = await listReleaseAssets(t.client, t.owner, t.repo, plan.releaseId);
          const found = await findReleaseByTag(t, tagName(s));
          return {
            status: "unchanged",
            result: {
              releaseId: plan.releaseId,
              url: found?.html_url ?? "",
              draft: "published",
              uploaded: [],
              unchanged: assets.map((a) => a.name),
              assets: assets.map((a) => ({ name: a.name, size: a.size, sha256: a.sha256, ...idOf(remote, a.name) })),
            },
          };
        }
        const d = await stageDraftRelease({
          ...t,
          tag: tagName(s),
          targetCommitish: s.github.branch,
          name: tagName(s),
          body: notes(run, undefined),
          assets,
          ...(s.github.retryDelayMs ? { retryDelayMs: s.github.retryDelayMs } : {}),
          log: run.say,
        });
        return {
          status: d.uploaded.length || d.draft === "created" ? "done" : "unchanged",
          result: { releaseId: d.releaseId, url: d.url, draft: d.draft, uploaded: d.uploaded, unchanged: d.unchanged, assets: d.assets.map((a) => ({ name: a.name, size: a.size, sha256: a.sha256, id: a.id })) },
        };
      },
      // A draft someone deleted since is staged again.
      async stillThere(run, rec) {
        const found = await findReleaseByTag(githubTarget(s, run), tagName(s));
        return found?.id === rec.releaseId;
      },
    },
    async prove(run) {
      const st = staged(run);
      const t = githubTarget(s, run);
      const archive = st.assets.find((a) => a.name === s.github.archive);
      if (!archive) throw new ProofError(`the GitHub Release ${tagName(s)} has no ${s.github.archive}`);
      const p = await proveGitHubDownload({
        client: t.client,
        ...(s.github.token ? { token: s.github.token } : {}),
        apiUrl: s.github.apiUrl,
        owner: t.owner,
        repo: t.repo,
        tag: tagName(s),
        archiveName: s.github.archive,
        archiveSha256: archive.sha256,
        // What the archive holds: the published files but manifest.json (it starts with its own) and model.sig.
        expected: toPublished(archived(run)),
        // The Hub's manifest.json lists these (model.sig is beside the archive, not in it).
        ...(run.published ? { hubFiles: toPublished(run.published.hub.filter((e) => e.path !== ARCHIVE_MANIFEST && e.path !== SIGNATURE_NAME)) } : {}),
        assetIds: Object.fromEntries(st.assets.filter((a) => a.id !== undefined).map((a) => [a.name, a.id!])),
        ...(run.signal ? { signal: run.signal } : {}),
        onProgress: run.say,
      });
      if (p.problems.length) throw new ProofError(p.problems.join("\n"));
      return { github: p.proof! };
    },
    release: {
      step: "github-publish",
      title: `Publish the GitHub Release ${tagLabel(s)}`,
      async run(run) {
        const st = staged(run);
        const t = githubTarget(s, run);
        if (st.draft === "published") return { status: "unchanged", result: { releaseId: st.releaseId, url: st.url, immutable: !!(await findReleaseByTag(t, tagName(s)))?.immutable } };
        const commit = run.journal.get("git-push", originAddress(s))?.result.commit ?? run.journal.get("git-tag", originAddress(s))?.result.commit;
        if (!commit) throw new UserError(`cannot publish the GitHub Release: the push of ${tagName(s)} to ${s.github.remote} is not recorded (push first)`);
        const hub = run.journal.get("hub-tag", hubAddress(s))?.result;
        const p = await publishDraftRelease({ ...t, releaseId: st.releaseId, tag: tagName(s), commit, name: tagName(s), body: notes(run, hub?.url) });
        return { status: "done", result: { releaseId: p.releaseId, url: p.url, immutable: p.immutable } };
      },
    },
    async reverify(run) {
      const st = run.journal.get("github-release", address)?.result;
      const pushed = run.journal.get("git-push", originAddress(s))?.result;
      if (!st) return { problems: ["no GitHub Release recorded"], result: {} };
      const r = await githubProblems(s, run, { ...(pushed ? { commit: pushed.commit } : {}), assets: st.assets });
      return { problems: r.problems, result: { releaseAssets: r.assets } };
    },
    async withdraw(run) {
      const st = run.journal.get("github-release", address)?.result;
      if (!st || st.draft === "published") return [];
      await deleteDraftRelease({ ...githubTarget(s, run), releaseId: st.releaseId });
      return [`the draft GitHub Release ${tagName(s)}`];
    },
  };
}

function idOf(remote: ReadonlyArray<{ name: string; id: number }>, name: string): { id?: number } {
  const a = remote.find((x) => x.name === name);
  return a ? { id: a.id } : {};
}

/** The release's notes: what was checked, smoke-tested and proven, and where the Hub release is. */
function notes(run: StepRun, hubCommitUrl: string | undefined): string {
  const s = run.settings;
  return renderReleaseNotes({
    ...(hubCommitUrl ? { hubCommitUrl } : {}),
    ...(s.release.stages.has("hub") ? { hubTag: tagName(s) } : {}),
    checks: run.checks,
    ...(run.smoke ? { smoke: run.smoke } : {}),
    archiveName: s.github.archive,
    ...(run.pack ? { topFolder: run.pack.topFolder } : {}),
    ...(s.github.attested && s.github.repository ? { attestedRepository: `${s.github.repository.owner}/${s.github.repository.repo}` } : {}),
  });
}

/** The files attached to the release, with their sizes and sha256 (the archive's from packing it). */
async function localAssets(run: Pick<StepRun, "settings" | "pack" | "published">): Promise<LocalAsset[]> {
  const s = run.settings;
  const pack = run.pack;
  if (!pack) throw new UserError(`nothing was packed: the GitHub Release needs ${s.github.archive}`);
  const small = async (file: string, name: string, contentType: string): Promise<LocalAsset> => {
    const bytes = await readFile(file);
    return { path: file, name, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), contentType };
  };
  return [
    { path: pack.archive.path, name: pack.archive.name, size: pack.archive.size, sha256: pack.archive.sha256, contentType: "application/gzip" },
    await small(pack.sha256sums, "SHA256SUMS", "text/plain"),
    await small(pack.manifestJson, ARCHIVE_MANIFEST, "application/json"),
    ...(run.published?.signature ? [await small(run.published.signature.path, "model.sig", "application/json")] : []),
  ];
}

/** The assets the plan can know: real sizes once packed; before that, the archive's size from its files (weights barely compress). */
function plannedAssets(ctx: PlanContext): { assets: GitHubPlan["assets"]; estimated: boolean } {
  const s = ctx.settings;
  if (ctx.pack) {
    return {
      assets: [
        { name: ctx.pack.archive.name, size: ctx.pack.archive.size },
        { name: "SHA256SUMS", size: 0 },
        { name: ARCHIVE_MANIFEST, size: 0 },
      ],
      estimated: false,
    };
  }
  const files = archived(ctx);
  return {
    assets: [
      { name: s.github.archive, size: files.reduce((a, e) => a + e.size, 0) },
      { name: "SHA256SUMS", size: 0 },
      { name: ARCHIVE_MANIFEST, size: 0 },
    ],
    estimated: true,
  };
}

async function planGitHub(ctx: PlanContext): Promise<void> {
  const s = ctx.settings;
  if (!s.github.repository) return void (ctx.plan.github = { skipped: s.github.repositoryError ?? "no GitHub repository" });
  if (s.offline) return void (ctx.plan.github = { skipped: "offline: GitHub was not contacted" });
  if (!ctx.remotes.github) return void (ctx.plan.github = { skipped: "no GITHUB_TOKEN: set it to see the release that would be made" });
  const t = githubTarget(s, ctx);
  const repository = `${t.owner}/${t.repo}`;
  const { assets, estimated } = plannedAssets(ctx);
  const tag = tagName(s);
  try {
    const [immutable, found] = await Promise.all([immutableReleasesOn(t), findReleaseByTag(t, tag)]);
    const base = { repository, assets, estimated, ...(immutable !== undefined ? { immutable } : {}) };
    if (!found) return void (ctx.plan.github = { ...base, release: "create" });
    if (found.draft) return void (ctx.plan.github = { ...base, release: "resume", releaseId: found.id });
    // Published: up to date only with the very assets this run would attach.
    const remote = await listReleaseAssets(t.client, t.owner, t.repo, found.id);
    const same = ctx.pack ? [...compareAssets(remote, await localAssets(ctx)).values()].every((x) => x === "same") : await sameManifest(ctx, found, remote);
    if (same) return void (ctx.plan.github = { ...base, release: "unchanged", releaseId: found.id, ...(found.immutable ? { immutable: true } : {}) });
    ctx.plan.github = {
      ...base,
      release: "conflict",
      releaseId: found.id,
      conflict: found.immutable
        ? `the GitHub Release ${tag} of ${repository} is published and immutable, with other assets than this release's: its assets and tag can never change. Bump the version to release these files`
        : `the GitHub Release ${tag} of ${repository} is already published with other assets than this release's: bump the version (or delete that release on GitHub if it was a mistake)`,
    };
  } catch (e) {
    ctx.plan.github = { skipped: `cannot read releases of ${repository}: ${(e as Error).message}` };
  }
}

/**
 * Before packing: a published release is this one when its manifest.json lists exactly the files
 * this run would pack (the archive is made from that list, byte for byte). The asset is small and
 * read bounded; an earlier run's journal says the same without a download.
 */
async function sameManifest(ctx: PlanContext, release: { id: number }, remote: ReadonlyArray<{ id: number; name: string; size: number; state: string }>): Promise<boolean> {
  const recorded = ctx.recorded?.get("github-release", githubAddress(ctx.settings));
  if (recorded?.result.releaseId === release.id && ctx.recorded?.get("github-publish", githubAddress(ctx.settings))) return true;
  const theirs = remote.find((a) => a.name === ARCHIVE_MANIFEST && a.state === "uploaded");
  if (!theirs || theirs.size > MANIFEST_ASSET_LIMIT) return false;
  const t = githubTarget(ctx.settings, ctx);
  const r = await t.client.request("GET /repos/{owner}/{repo}/releases/assets/{asset_id}", { owner: t.owner, repo: t.repo, asset_id: theirs.id, headers: { accept: "application/octet-stream" } });
  const bytes = Buffer.from(r.data as unknown as ArrayBuffer);
  if (bytes.length > MANIFEST_ASSET_LIMIT) return false;
  let files: PublishedFile[];
  try {
    files = parseManifestJson(bytes.toString("utf8"), `${ARCHIVE_MANIFEST} of the GitHub Release`).files;
  } catch {
    return false;
  }
  const mine = toPublished(archived(ctx));
  return JSON.stringify(files) === JSON.stringify(mine);
}

/** What the archive holds, in the checkpoint's own layout: the published files but manifest.json (it starts with its own). */
function archived(ctx: { published?: { archive: Manifest }; manifest: Manifest }): Manifest {
  return ctx.published?.archive ?? inCheckpointLayout(ctx.manifest.filter((e) => e.path !== ARCHIVE_MANIFEST));
}

/** A manifest.json is a line per file: one of this size lists a million files. */
const MANIFEST_ASSET_LIMIT = 64 * 1024 * 1024;

function assetTooLarge(name: string, size: number, estimated: boolean): CheckResult {
  return {
    id: "release.asset-size",
    title: "every release asset is under GitHub's 2 GiB limit",
    status: "fail",
    message: `${name} ${estimated ? "would be about" : "is"} ${formatBytes(size)}, and GitHub refuses release assets of 2 GiB or more: set weights.safetensors to "only" (the archive then holds one copy of the weights, not two), or publish the weights through the Hub only with \`--only hub\` (the GitHub Release is then not made)`,
  };
}

/**
 * Before packing (minutes for a large model): the archive's size from the files it will hold —
 * weights barely compress — against GitHub's limit. Undefined when it fits.
 */
export function archiveOverLimit(archiveName: string, files: ReadonlyArray<{ size: number }>): CheckResult | undefined {
  const bytes = files.reduce((a, f) => a + f.size, 0);
  return bytes >= GITHUB_ASSET_LIMIT ? assetTooLarge(archiveName, bytes, true) : undefined;
}

function githubRefusals(plan: ReleasePlan): CheckResult[] {
  const g = plan.github && !isSkipped(plan.github) ? plan.github : undefined;
  if (!g) return [];
  const out: CheckResult[] = [];
  if (g.release === "conflict") out.push({ id: "release.github-conflict", title: "the release tag is free on GitHub", status: "fail", message: g.conflict ?? "conflict" });
  const big = g.release === "unchanged" ? [] : g.assets.filter((a) => a.size >= GITHUB_ASSET_LIMIT);
  for (const a of big) out.push(assetTooLarge(a.name, a.size, g.estimated));
  return out;
}

async function githubPreflight(ctx: ReadContext): Promise<CheckResult[]> {
  const s = ctx.settings;
  const name = s.github.repository ? `${s.github.repository.owner}/${s.github.repository.repo}` : "the GitHub repository";
  const title = `the GitHub token may create releases in ${name}`;
  if (!s.github.repository) return [{ id: "github.access", title, status: "skip", message: s.github.repositoryError ?? "no GitHub repository" }];
  if (!s.github.token) return [{ id: "github.access", title, status: "skip", message: "no GITHUB_TOKEN: set it (contents: write) so the release can create the GitHub Release" }];
  // Offline there is no GitHub client (connectRemotes makes none): nothing to contact.
  if (s.offline) return [{ id: "github.access", title, status: "skip", message: "offline: GitHub not contacted" }];
  const { verifyGitHubAccess } = await import("../../github/checks.js");
  const access = await verifyGitHubAccess({ client: ctx.remotes.github, owner: s.github.repository.owner, repo: s.github.repository.repo });
  if (access.status !== "pass" || !ctx.remotes.github) return [access];
  const t = githubTarget(s, ctx);
  const tag = tagName(s);
  const tagTitle = `the release tag ${tag} can be used on GitHub`;
  let tagCheck: CheckResult;
  try {
    const [immutable, found] = await Promise.all([immutableReleasesOn(t), findReleaseByTag(t, tag)]);
    const locked = immutable ? " (immutable releases are on: once published, a release's assets and tag can never change)" : "";
    if (!found) tagCheck = { id: "github.release-tag", title: tagTitle, status: "pass", message: `no release ${tag} yet${locked}` };
    else if (found.draft) tagCheck = { id: "github.release-tag", title: tagTitle, status: "pass", message: `a draft of ${tag} (an unfinished release) will be completed${locked}` };
    else {
      tagCheck = {
        id: "github.release-tag",
        title: tagTitle,
        status: "warn",
        message: `${tag} is already published${found.immutable ? " and immutable" : ""}: the release passes only if its assets are this release's own (a rerun); other files need a new version`,
      };
    }
  } catch (e) {
    tagCheck = { id: "github.release-tag", title: tagTitle, status: "fail", message: (e as Error).message };
  }
  return [access, tagCheck];
}

/** What is wrong on GitHub compared with the record: [] when it holds the release. */
export async function githubProblems(
  s: ReleaseSettings,
  run: Pick<StepRun, "remotes">,
  rec: { commit?: string; assets: ReadonlyArray<{ name: string; size: number; sha256?: string }> },
): Promise<{ problems: string[]; assets: string[] }> {
  const t = githubTarget(s, run);
  const tag = tagName(s);
  const release = await findReleaseByTag(t, tag);
  if (!release) return { problems: [`${t.owner}/${t.repo} has no GitHub Release ${tag}`], assets: [] };
  const problems: string[] = [];
  if (release.draft) problems.push(`the GitHub Release ${tag} of ${t.owner}/${t.repo} is a draft, not published`);
  if (rec.commit) {
    const at = await githubTagCommit(t.client, t.owner, t.repo, tag);
    if (!at) problems.push(`${t.owner}/${t.repo} has no tag ${tag}`);
    else if (at !== rec.commit) problems.push(`tag ${tag} of ${t.owner}/${t.repo} points at ${at.slice(0, 7)}, not at the released commit ${rec.commit.slice(0, 7)}`);
  }
  const remote = await listReleaseAssets(t.client, t.owner, t.repo, release.id);
  for (const want of rec.assets) {
    const a = remote.find((x) => x.name === want.name);
    if (!a || a.state !== "uploaded") problems.push(`GitHub Release ${tag} has no ${want.name}${a ? ` (an upload that did not finish: ${a.state})` : ""}`);
    else if (a.size !== want.size) problems.push(`GitHub asset ${want.name} is ${a.size} bytes, not ${want.size}`);
    else {
      const sha = remoteAssetSha256(a);
      if (sha && want.sha256 && sha !== want.sha256) problems.push(`GitHub asset ${want.name} has sha256 ${sha}, not ${want.sha256}`);
    }
  }
  return { problems, assets: remote.map((a) => a.name) };
}
