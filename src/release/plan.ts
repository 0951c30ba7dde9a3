// The publish plan: what each remote step would do, computed without changing anything. It is
// the dry run's output and what the user confirms before a real release.
import { formatBytes } from "../checkpoint/discover.js";
import { displayPath } from "../util/display-path.js";
import type { Manifest } from "../checkpoint/types.js";
import { gitAt, remoteTagCommit, type Git } from "../git/index.js";
import { githubReleaseByTag } from "../github/index.js";
import { checkHubGitAccess, getHubTag, hubRepoUrl, planHubPublish, type GitAccess, type HubPlan } from "../hub/index.js";
import { githubDestination, hubDestination } from "./destinations.js";
import type { RecordedSteps } from "./journal.js";
import type { SafetensorsOutcome } from "./published.js";
import type { Remotes } from "./remotes.js";
import { tagName, type ReleaseSettings } from "./settings.js";

export interface Skipped {
  skipped: string;
}

/**
 * The release tag on the Hub: `create` it on the release commit, `unchanged` (already on the
 * commit the release leaves as head, or recorded by an earlier run), or `conflict`: taken by
 * another commit, which the Hub step would refuse. Absent for a pull request (tagged once merged).
 */
export interface HubTagPlan {
  name: string;
  action: "create" | "unchanged" | "conflict";
  /** Where the tag points now, when it exists. */
  commit?: string;
}

export interface ReleasePlan {
  tag: string;
  /** model.safetensors written from pytorch_model.bin (or planned, in a dry run), and what of the weights is published. */
  safetensors?: SafetensorsOutcome;
  hub?: (HubPlan & { remote: { name: string; action: "add" | "keep"; url: string }; transport: "api" | "git"; git?: GitAccess; tag?: HubTagPlan }) | Skipped;
  git?: { remote: string; refs: Array<{ ref: string; from: string | null; to: string; action: "push" | "unchanged" | "conflict" }> } | Skipped;
  /** `unchanged`: an earlier run made this release with these bytes and it is still there. */
  github?: { repository: string; release: "create" | "update" | "unchanged"; releaseId?: number; assets: string[] } | Skipped;
  pack?: { archive: string; files: number; bytes: number };
  /** verify.download: what is downloaded after publishing, and checked. */
  proof?: ProofPlan;
}

export interface ProofPlan {
  hub?: { url: string; files: number; bytes: number; smoke: string };
  github?: { assets: string[] };
}

export function isSkipped(x: unknown): x is Skipped {
  return typeof x === "object" && x !== null && "skipped" in x;
}

async function out(git: Git, args: string[]): Promise<string | undefined> {
  const r = await git.try(args);
  return r.ok ? r.out.trim() : undefined;
}

export async function planHub(s: ReleaseSettings, remotes: Remotes, manifest: Manifest, recorded?: RecordedSteps): Promise<NonNullable<ReleasePlan["hub"]>> {
  if (s.offline) return { skipped: "offline: the Hub was not contacted" };
  if (!s.hub.token) return { skipped: "no Hub token: set HF_TOKEN to see what would be uploaded" };
  const target = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: s.hub.token, fetch: remotes.hubFetch };
  const plan = await planHubPublish({ ...target, revision: s.hub.revision, manifest, prune: s.hub.prune });
  const tag = s.hub.createPr ? undefined : await planHubTag(tagName(s), plan, plan.repoExists ? await getHubTag({ ...target, tag: tagName(s) }) : undefined, recorded?.get("hub-tag", hubDestination(s))?.result.commit);
  const url = await out(gitAt(s.cwd), ["remote", "get-url", s.hub.remote]);
  // The git transport: git itself must reach the repo with the token (scoped as the publish scopes it).
  const gitAccess =
    s.hub.transport === "git"
      ? await checkHubGitAccess({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: s.hub.token, revision: s.hub.revision, repoExists: plan.repoExists })
      : undefined;
  return {
    ...plan,
    remote: { name: s.hub.remote, action: url === undefined ? "add" : "keep", url: hubRepoUrl(s.hub.endpoint, s.hub.repoId) },
    transport: s.hub.transport,
    ...(gitAccess ? { git: gitAccess } : {}),
    ...(tag ? { tag } : {}),
  };
}

/**
 * What the Hub step will do with the release tag, decided as it decides: a tag elsewhere is
 * refused unless it already marks the head this release leaves unchanged, or an earlier run of
 * this release put it there (the branch may have moved on since).
 */
function planHubTag(name: string, plan: HubPlan, existing: string | undefined, recordedCommit: string | undefined): HubTagPlan {
  if (!existing) return { name, action: "create" };
  const atHead = plan.noop && existing === plan.parentCommit;
  return { name, action: atHead || existing === recordedCommit ? "unchanged" : "conflict", commit: existing };
}

export async function planGit(s: ReleaseSettings): Promise<NonNullable<ReleasePlan["git"]>> {
  const remote = s.github.remote;
  if (s.offline) return { skipped: `offline: ${remote} was not contacted` };
  const git = gitAt(s.cwd);
  const head = await out(git, ["rev-parse", "HEAD"]);
  if (!head) return { skipped: "not a git work tree with a commit" };
  const branch = s.github.branch;
  const lsBranch = await out(git, ["ls-remote", "--heads", remote, `refs/heads/${branch}`]);
  if (lsBranch === undefined) return { skipped: `cannot reach remote ${remote}` };
  const remoteHead = lsBranch.split(/\s+/)[0] || null;
  const contains = remoteHead !== null && (remoteHead === head || (await out(git, ["merge-base", "--is-ancestor", head, remoteHead])) !== undefined);
  const tag = tagName(s);
  const t = await remoteTagCommit(git, remote, tag);
  const remoteTag = t.ok ? (t.commit ?? null) : null;
  return {
    remote,
    refs: [
      { ref: `refs/heads/${branch}`, from: remoteHead, to: head, action: contains ? "unchanged" : "push" },
      { ref: `refs/tags/${tag}`, from: remoteTag, to: head, action: remoteTag === head ? "unchanged" : remoteTag ? "conflict" : "push" },
    ],
  };
}

export async function planGitHub(s: ReleaseSettings, remotes: Remotes, assets: string[], recorded?: RecordedSteps): Promise<NonNullable<ReleasePlan["github"]>> {
  if (!s.github.repository) return { skipped: s.github.repositoryError ?? "no GitHub repository" };
  if (s.offline) return { skipped: "offline: GitHub was not contacted" };
  if (!remotes.github) return { skipped: "no GITHUB_TOKEN: set it to see the release that would be made" };
  const { owner, repo } = s.github.repository;
  const repository = `${owner}/${repo}`;
  try {
    const r = await githubReleaseByTag(remotes.github, owner, repo, tagName(s));
    if (!r) return { repository, release: "create", assets };
    // Made and verified by an earlier run with these bytes, and still there: nothing to update.
    const done = recorded?.get("github-release", githubDestination(s))?.result.releaseId === r.id && !!recorded.get("verify", githubDestination(s));
    return { repository, release: done ? "unchanged" : "update", releaseId: r.id, assets };
  } catch (e) {
    return { skipped: `cannot read releases of ${repository}: ${(e as Error).message}` };
  }
}

/** What verify.download will download after publishing. */
export function planProof(s: ReleaseSettings, published: Manifest): ProofPlan {
  const stages = s.release.stages;
  const device = s.smoke.device === "cpu" ? "the CPU engine" : "the CPU engine, and the GPU runner loading it from the Hub when a GPU is there";
  return {
    ...(stages.has("hub") && !s.hub.createPr
      ? { hub: { url: `${hubRepoUrl(s.hub.endpoint, s.hub.repoId)}/resolve/${tagName(s)}/`, files: published.length, bytes: published.reduce((a, e) => a + e.size, 0), smoke: device } }
      : {}),
    ...(stages.has("github") ? { github: { assets: [s.github.archive, "SHA256SUMS"] } } : {}),
  };
}

/** One line on the safetensors of the release. */
export function safetensorsLine(o: SafetensorsOutcome): string {
  const list = (fs: SafetensorsOutcome["files"]) => fs.map((f) => `${f.path} (${formatBytes(f.size)})`).join(", ");
  const where = o.outDir ? ` in ${displayPath(o.outDir)}` : "";
  const publish = o.dropped.length ? `published instead of ${o.dropped.join(", ")} (weights.safetensors: only)` : "published beside it";
  switch (o.action) {
    case "written": {
      const logits = o.proof && "identical" in o.proof.logits ? `, CPU engine logits identical on ${o.proof.logits.masks} masks` : "";
      return `Wrote ${list(o.files)}${where} from ${o.from}: ${o.proof?.tensorsCompared ?? 0} tensors read back byte-identical${logits}; ${publish}`;
    }
    case "planned":
      return `Would write ${list(o.files)}${where} from ${o.from} and prove it equal; ${publish}`;
    case "own":
      return `The checkpoint's own ${o.from} is published${o.dropped.length ? `, without ${o.dropped.join(", ")} (weights.safetensors: only)` : ""}`;
    case "off":
      return "weights.safetensors is off: the weights are published as they are";
    case "none":
      return "No pytorch_model.bin to write safetensors from";
  }
}

/** The plan as a person reads it. */
export function renderPlan(plan: ReleasePlan): string {
  const out: string[] = [`Release plan for ${plan.tag}`];
  if (plan.safetensors) out.push("", `Safetensors: ${safetensorsLine(plan.safetensors)}`);
  if (plan.pack) out.push("", `Pack: ${plan.pack.archive} from ${plan.pack.files} files (${formatBytes(plan.pack.bytes)}), with SHA256SUMS and manifest.json`);
  if (plan.hub) {
    out.push("", "Hugging Face Hub:");
    if (isSkipped(plan.hub)) out.push(`  skipped: ${plan.hub.skipped}`);
    else {
      const h = plan.hub;
      if (h.remote.action === "add") out.push(`  would add git remote ${h.remote.name} → ${h.remote.url}`);
      if (h.git) out.push(`  ${gitAccessLine(h.git, h.remote.name)}`);
      out.push(`  ${h.repoExists ? "" : "would create the repo, then "}commit to ${h.repoId}@${h.revision}${h.parentCommit ? ` on top of ${h.parentCommit.slice(0, 12)}` : ""}`);
      const rows = h.entries.map((e) => [e.action + (e.kept ? " (kept: --prune deletes)" : ""), e.path, formatBytes(e.size), e.storage]);
      out.push(...table(["action", "path", "size", "storage"], rows).map((l) => `  ${l}`));
      const sm = h.summary;
      out.push(`  ${sm.add} add, ${sm.update} update, ${sm.delete} delete, ${sm.unchanged} unchanged; ${formatBytes(sm.bytesToSend)} to send${h.noop ? " — nothing to change, no commit" : ""}`);
      out.push(`  ${hubTagLine(h.tag, h.repoId)}`);
    }
  }
  if (plan.git) {
    out.push("", "GitHub (git):");
    if (isSkipped(plan.git)) out.push(`  skipped: ${plan.git.skipped}`);
    else for (const r of plan.git.refs) out.push(`  ${r.action === "push" ? "would push" : r.action === "conflict" ? "CONFLICT:" : "unchanged:"} ${r.ref} ${r.from ? r.from.slice(0, 7) : "(new)"} → ${r.to.slice(0, 7)} on ${plan.git.remote}`);
  }
  if (plan.github) {
    out.push("", "GitHub Release:");
    if (isSkipped(plan.github)) out.push(`  skipped: ${plan.github.skipped}`);
    else if (plan.github.release === "unchanged") out.push(`  release up to date: ${plan.tag} of ${plan.github.repository} was made by an earlier run with these files`);
    else out.push(`  would ${plan.github.release} the release ${plan.tag} of ${plan.github.repository} with ${plan.github.assets.join(", ")}`);
  }
  const proof = plan.proof;
  if (proof?.hub || proof?.github) {
    out.push("", "Then prove what users download (verify.download):");
    if (proof.hub) {
      const h = proof.hub;
      out.push(`  download the ${h.files} files (${formatBytes(h.bytes)}) from ${h.url}…, each sha256 against the manifest, and smoke-test the copy with ${h.smoke}`);
    }
    if (proof.github) out.push(`  download ${proof.github.assets.join(" and ")} from the GitHub Release and unpack them with the verified unpacker`);
  }
  return out.join("\n");
}

function hubTagLine(t: HubTagPlan | undefined, repoId: string): string {
  if (!t) return "published as a pull request: no tag until it is merged";
  if (t.action === "create") return `would tag the commit ${t.name}`;
  if (t.action === "unchanged") return `already tagged: ${t.name} → ${t.commit!.slice(0, 12)}`;
  return `CONFLICT: tag ${t.name} already exists on ${repoId} at ${t.commit!.slice(0, 12)}, not at the commit this release would tag: the Hub step refuses to move it`;
}

function gitAccessLine(g: GitAccess, remote: string): string {
  if (g.status === "will-create") return `git transport: ${g.url} does not exist yet: it would be created through the API, then cloned with git`;
  const head = g.head ? `branch head ${g.head.slice(0, 12)}` : "the branch does not exist yet";
  return `git transport: git ls-remote of ${remote} (${g.url}) answered (${head}); the Hub token is offered to ${g.credentialOrigin} only`;
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), ...rows.map(line)];
}
