// Remote step `verify`, and the checks it shares with the re-verification of an earlier
// release: what each destination holds is compared with what was recorded. The Hub: the tag
// resolves to the release commit and the tree there is the checkpoint; GitHub: the tag is the
// released commit and the release has our assets.
import { githubReleaseByTag, githubTagCommit, listReleaseAssets, remoteAssetSha256 } from "../../github/index.js";
import { getHubTag, verifyHubRevision } from "../../hub/index.js";
import type { PackResult } from "../../pack/index.js";
import { UserError } from "../../report.js";
import { githubDestination, hubDestination, type Destination } from "../destinations.js";
import { journaled } from "../journaled.js";
import type { StepReport, VerifyStepResult } from "../report.js";
import { tagName } from "../settings.js";
import { githubTarget, hubTarget, type StepRun } from "./run.js";

/** What landed differs from what was published: the destination is forgotten, so a rerun publishes again. */
export class VerifyError extends UserError {}

export interface HubRecord {
  commit: string;
  /** The Hub tag that must point at `commit` (absent for a pull request). */
  tag?: string;
  gitattributes?: string;
}

/** What is wrong on the Hub compared with the record: [] when it holds the release. */
export async function hubProblems(r: StepRun, rec: HubRecord): Promise<string[]> {
  const t = hubTarget(r);
  const problems: string[] = [];
  if (rec.tag) {
    const at = await getHubTag({ ...t, tag: rec.tag });
    if (!at) problems.push(`tag ${rec.tag} is not on ${t.repoId}`);
    else if (at !== rec.commit) problems.push(`tag ${rec.tag} of ${t.repoId} points at ${at.slice(0, 12)}, not at the release commit ${rec.commit.slice(0, 12)}`);
  }
  const v = await verifyHubRevision({ ...t, revision: rec.commit, manifest: r.manifest, ...(rec.gitattributes !== undefined ? { gitattributes: rec.gitattributes } : {}) });
  for (const m of v.mismatches) problems.push(`Hub ${m.path}: ${m.problem}`);
  return problems;
}

export interface GitHubRecord {
  commit: string;
  /** Assets that must be there (uploaded), with their size and, when known, their sha256. */
  assets: ReadonlyArray<{ name: string; size: number; sha256?: string }>;
}

/** What is wrong on GitHub compared with the record: [] when it holds the release. */
export async function githubProblems(r: StepRun, rec: GitHubRecord): Promise<{ problems: string[]; assets: string[] }> {
  const { client, owner, repo } = githubTarget(r);
  const tag = tagName(r.settings);
  const release = await githubReleaseByTag(client, owner, repo, tag);
  if (!release) return { problems: [`${owner}/${repo} has no GitHub Release ${tag}`], assets: [] };
  const problems: string[] = [];
  const at = await githubTagCommit(client, owner, repo, tag);
  if (!at) problems.push(`${owner}/${repo} has no tag ${tag}`);
  else if (at !== rec.commit) problems.push(`tag ${tag} of ${owner}/${repo} points at ${at.slice(0, 7)}, not at the released commit ${rec.commit.slice(0, 7)}`);
  const remote = await listReleaseAssets(client, owner, repo, release.id);
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

/** After publishing: every destination of this run holds exactly what was published. */
export async function verifyRelease(r: StepRun, pack: PackResult | undefined): Promise<StepReport> {
  const s = r.settings;
  const parts: StepReport[] = [];
  if (s.release.stages.has("hub")) {
    const dest = hubDestination(s);
    parts.push(
      await journaled(r.journal, "verify", dest, async () => {
        const hub = r.journal.get("hub", dest)?.result;
        if (!hub) throw new VerifyError("no Hub commit recorded: run the release again");
        const tag = hub.pullRequestUrl ? undefined : r.journal.get("hub-tag", dest)?.result.tag;
        const problems = await hubProblems(r, { commit: hub.commit, ...(tag ? { tag } : {}), gitattributes: hub.gitattributes });
        await failOn(r, dest, problems);
        return { status: "done", result: { hubFilesChecked: r.manifest.length } };
      }),
    );
  }
  if (s.release.stages.has("github") && pack) {
    const dest = githubDestination(s);
    parts.push(
      await journaled(r.journal, "verify", dest, async () => {
        const pushed = r.journal.get("git-push", dest)?.result;
        if (!pushed) throw new VerifyError("no git push recorded: run the release again");
        const { problems, assets } = await githubProblems(r, { commit: pushed.commit, assets: [{ name: pack.archive.name, size: pack.archive.size, sha256: pack.archive.sha256 }] });
        await failOn(r, dest, problems);
        return { status: "done", result: { releaseAssets: assets } };
      }),
    );
  }
  const merged: VerifyStepResult = Object.assign({}, ...parts.map(({ id: _id, status: _status, message: _message, ...result }) => result));
  const status = parts.length && parts.every((p) => p.status === "skipped") ? "skipped" : "done";
  return { id: "verify", status, ...merged };
}

async function failOn(r: StepRun, dest: Destination, problems: string[]): Promise<void> {
  if (!problems.length) return;
  await r.journal.forget(dest);
  throw new VerifyError(`${problems.join("\n")}\n(the journal no longer counts this destination as published: a rerun publishes it again)`);
}
