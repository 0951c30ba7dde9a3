// The remote steps of a release, each idempotent and recorded in the journal when it finishes.
// A rerun skips what the journal says is done, and the steps themselves compare before they
// write, so nothing is duplicated: no second Hub commit, tag, push or release.
import path from "node:path";
import type { Manifest } from "../checkpoint/types.js";
import { ensureReleaseTag, pushRelease } from "../git/index.js";
import { publishGitHubRelease, remoteAssetSha256, renderReleaseNotes, type SmokeSummary } from "../github/index.js";
import {
  ensureHubRemote,
  publishHubApi,
  publishHubGit,
  tagHubRevision,
  verifyHubRevision,
  type HubPlan,
  type HubProgress,
} from "../hub/index.js";
import type { PackResult } from "../pack/index.js";
import { UserError, type CheckResult } from "../report.js";
import type { Journal, StepId } from "./journal.js";
import { tagName, type ReleaseSettings } from "./settings.js";

export interface StepReport {
  id: StepId;
  status: "done" | "skipped" | "unchanged" | "failed";
  message?: string;
  [key: string]: unknown;
}

export interface StepInput {
  settings: ReleaseSettings;
  journal: Journal;
  manifest: Manifest;
  prune: boolean;
  createPr: boolean;
  force: boolean;
  /** Results a step produced for a later step in this same run (the Hub tag made with the commit). */
  carried: Partial<Record<StepId, StepReport>>;
}

function requireHubToken(s: ReleaseSettings): string {
  if (!s.hub.token) throw new UserError("no Hub token: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), or run `huggingface-cli login`");
  return s.hub.token;
}

/** Journal entry reused on a rerun: the step is reported `skipped` with what it produced before. */
function fromJournal(journal: Journal, id: StepId): StepReport | undefined {
  const e = journal.get(id);
  return e ? { id, status: "skipped", message: `done in an earlier run (${e.at})`, ...e.result } : undefined;
}

export async function publishToHub(i: StepInput, plan: HubPlan | undefined, onProgress?: HubProgress): Promise<StepReport> {
  const done = fromJournal(i.journal, "hub");
  if (done) return done;
  const s = i.settings;
  const token = requireHubToken(s);
  await ensureHubRemote({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId });
  const tag = tagName(s);
  // Passing the tag lets the publisher refuse before committing when the tag is taken elsewhere.
  const common = {
    endpoint: s.hub.endpoint,
    repoId: s.hub.repoId,
    token,
    revision: s.hub.revision,
    manifest: i.manifest,
    prune: i.prune,
    summary: `Release ${tag}`,
    ...(i.createPr ? {} : { tag }),
    onProgress,
  };
  const r =
    s.hub.transport === "git"
      ? await publishHubGit({ ...common, cwd: s.cwd, remote: s.hub.remote, tag, force: i.force, fetch: s.hub.fetch, createRepo: true, private: s.config.hub.private, ...(plan ? { plan } : {}) })
      : await publishHubApi({
          ...common,
          fetch: s.hub.fetch,
          createRepo: true,
          private: s.config.hub.private,
          createPr: i.createPr,
          useXet: s.config.hub.useXet,
          ...(plan ? { plan } : {}),
        });
  const result = {
    commit: r.commit,
    url: r.url,
    transport: r.transport,
    uploaded: r.uploaded,
    deduplicated: r.deduplicated,
    deleted: r.deleted,
    ...(r.pullRequestUrl ? { pullRequestUrl: r.pullRequestUrl } : {}),
    gitattributes: r.plan.gitattributes,
  };
  await i.journal.record("hub", result);
  if (r.tag) {
    await i.journal.record("hub-tag", { tag: r.tag.tag, commit: r.tag.commit });
    i.carried["hub-tag"] = { id: "hub-tag", status: r.tag.status === "created" ? "done" : "unchanged", tag: r.tag.tag, commit: r.tag.commit };
  }
  return { id: "hub", status: r.status === "unchanged" ? "unchanged" : "done", ...result };
}

export async function tagOnHub(i: StepInput): Promise<StepReport> {
  const made = i.carried["hub-tag"];
  if (made) return made;
  const done = fromJournal(i.journal, "hub-tag");
  if (done) return done;
  const s = i.settings;
  const hub = i.journal.get("hub");
  if (!hub) throw new UserError("cannot tag on the Hub: the Hub commit is not known (publish first)");
  if (hub.result.pullRequestUrl) return { id: "hub-tag", status: "skipped", message: "published as a pull request: tag it once it is merged" };
  const r = await tagHubRevision({ endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: requireHubToken(s), fetch: s.hub.fetch, tag: tagName(s), commit: String(hub.result.commit), message: `Release ${tagName(s)}` });
  await i.journal.record("hub-tag", { tag: r.tag, commit: r.commit });
  return { id: "hub-tag", status: r.status === "created" ? "done" : "unchanged", tag: r.tag, commit: r.commit };
}

export async function pushToGitHub(i: StepInput): Promise<StepReport> {
  const done = fromJournal(i.journal, "git-push");
  if (done) return done;
  const s = i.settings;
  const tag = tagName(s);
  const t = await ensureReleaseTag({ cwd: s.cwd, tag, message: `Release ${tag}` });
  const r = await pushRelease({ cwd: s.cwd, remote: s.config.github.remote, branch: s.config.github.branch, tag });
  const result = { remote: r.remote, commit: r.commit, branch: r.branch.status, tag: r.tag.status, tagCreated: t.created };
  await i.journal.record("git-push", result);
  const changed = r.branch.status === "pushed" || r.tag.status === "pushed";
  return { id: "git-push", status: changed ? "done" : "unchanged", ...result };
}

export async function createGitHubRelease(i: StepInput, pack: PackResult, checks: readonly CheckResult[], smoke?: SmokeSummary): Promise<StepReport> {
  const done = fromJournal(i.journal, "github-release");
  if (done) return done;
  const s = i.settings;
  if (!s.github.client) throw new UserError("no GITHUB_TOKEN: set it (contents: write) to create the GitHub Release");
  if (!s.github.repo) throw new UserError(s.github.repoError ?? "no GitHub repository");
  const hub = i.journal.get("hub")?.result;
  const tag = tagName(s);
  const body = renderReleaseNotes({
    ...(hub?.url ? { hubCommitUrl: String(hub.url) } : {}),
    hubTag: tag,
    checks,
    ...(smoke ? { smoke } : {}),
    archiveName: pack.archive.name,
    topFolder: pack.topFolder,
  });
  const r = await publishGitHubRelease({
    client: s.github.client,
    owner: s.github.repo.owner,
    repo: s.github.repo.repo,
    tag,
    name: tag,
    body,
    ...(s.github.retryDelayMs ? { retryDelayMs: s.github.retryDelayMs } : {}),
    assets: [
      { path: pack.archive.path, name: pack.archive.name, sha256: pack.archive.sha256, contentType: "application/gzip" },
      { path: path.join(path.dirname(pack.archive.path), "SHA256SUMS"), name: "SHA256SUMS", contentType: "text/plain" },
    ],
  });
  const result = { releaseId: r.releaseId, url: r.htmlUrl, uploaded: r.uploaded, unchanged: r.unchanged, assets: r.assets.map((a) => ({ name: a.name, size: a.size, sha256: a.sha256 })) };
  await i.journal.record("github-release", result);
  return { id: "github-release", status: r.release === "unchanged" && r.uploaded.length === 0 ? "unchanged" : "done", ...result };
}

/** After publishing: the Hub holds exactly our bytes at the release commit, and the release has our archive. */
export async function verifyRelease(i: StepInput, opts: { hub: boolean; github: boolean; pack?: PackResult }): Promise<StepReport> {
  const s = i.settings;
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  if (opts.hub) {
    const hub = i.journal.get("hub")?.result;
    if (!hub?.commit) problems.push("no Hub commit recorded");
    else {
      const v = await verifyHubRevision({
        endpoint: s.hub.endpoint,
        repoId: s.hub.repoId,
        token: requireHubToken(s),
        fetch: s.hub.fetch,
        revision: String(hub.commit),
        manifest: i.manifest,
        ...(typeof hub.gitattributes === "string" ? { gitattributes: hub.gitattributes } : {}),
      });
      out.hubFilesChecked = v.checked;
      for (const m of v.mismatches) problems.push(`Hub ${m.path}: ${m.problem}`);
    }
  }
  if (opts.github && opts.pack && s.github.client && s.github.repo) {
    const { owner, repo } = s.github.repo;
    const r = await s.github.client.request("GET /repos/{owner}/{repo}/releases/tags/{tag}", { owner, repo, tag: tagName(s) });
    const assets = (r.data as { assets: Array<{ name: string; size: number; digest?: string | null; label?: string | null }> }).assets;
    const a = assets.find((x) => x.name === opts.pack!.archive.name);
    if (!a) problems.push(`GitHub release ${tagName(s)} has no ${opts.pack.archive.name}`);
    else {
      const sha = remoteAssetSha256({ digest: a.digest ?? undefined, label: a.label ?? undefined } as never);
      if (a.size !== opts.pack.archive.size || (sha && sha !== opts.pack.archive.sha256)) problems.push(`GitHub asset ${a.name} differs from the local archive`);
    }
    out.releaseAssets = assets.map((x) => x.name);
  }
  if (problems.length) return { id: "verify", status: "failed", message: problems.join("\n"), ...out };
  await i.journal.record("verify", out);
  return { id: "verify", status: "done", ...out };
}
