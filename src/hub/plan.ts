// The dry-run view: what a publish would add, update, delete or leave, against the remote tree.
import type { ManifestEntry } from "../checkpoint/types.js";
import { buildGitattributes, isLfsEntry, lfsPatterns, matchesLfsPattern, HUB_DEFAULT_LFS_PATTERNS, RELEASE_LFS_PATTERNS } from "./gitattributes.js";
import { authHeaders, getRevisionHead, gitBlobSha1, gitBlobSha1OfBytes, httpError, listRemoteTree, sha256OfBytes } from "./tree.js";
import { defaultHubFetch } from "./errors.js";
import type { HubPlan, HubTarget, PlanEntry, RemoteFile } from "./types.js";
import { readFile } from "node:fs/promises";

export interface PlanOptions extends HubTarget {
  /** Branch to publish to (default `main`). */
  revision?: string;
  manifest: readonly ManifestEntry[];
  /** Delete remote files that are not in the manifest (default false). */
  prune?: boolean;
  /** The `.gitattributes` the published one starts from (the checkpoint's own), instead of the remote's. */
  gitattributesBase?: string;
}

/** One desired file: a manifest entry, or generated content (`.gitattributes`). */
export interface DesiredFile {
  path: string;
  size: number;
  sha256: string;
  storage: "lfs" | "regular";
  /** File on disk, or the bytes for generated content. */
  source: string | { bytes: Uint8Array };
}

export interface DetailedPlan {
  plan: HubPlan;
  desired: DesiredFile[];
  remote: RemoteFile[];
}

/** Compute the plan against the Hub (API), plus what publish needs to carry it out. */
export async function computeHubPlan(opts: PlanOptions): Promise<DetailedPlan> {
  const revision = opts.revision ?? "main";
  checkManifest(opts.manifest);
  const head = await getRevisionHead({ ...opts, revision });
  const remote = head.commit ? await listRemoteTree({ ...opts, revision: head.commit }) : [];
  const needRemoteGa = opts.gitattributesBase === undefined && !opts.manifest.some((e) => e.path === ".gitattributes") && remote.some((r) => r.path === ".gitattributes");
  const remoteGitattributes = head.commit && needRemoteGa ? await fetchText(opts, head.commit, ".gitattributes") : undefined;
  return buildPlan({
    repoId: opts.repoId,
    endpoint: opts.endpoint,
    revision,
    repoExists: head.repoExists,
    parentCommit: head.commit,
    remote,
    remoteGitattributes,
    manifest: opts.manifest,
    prune: opts.prune,
    ...(opts.gitattributesBase !== undefined ? { gitattributesBase: opts.gitattributesBase } : {}),
  });
}

export interface PlanInput {
  repoId: string;
  endpoint: string;
  revision: string;
  repoExists: boolean;
  parentCommit: string | null;
  /** Files at parentCommit. */
  remote: RemoteFile[];
  /** Content of the remote `.gitattributes`, when there is one. */
  remoteGitattributes?: string;
  manifest: readonly ManifestEntry[];
  prune?: boolean;
  /** The `.gitattributes` the published one starts from, instead of the manifest's or the remote's. */
  gitattributesBase?: string;
}

/** The plan from a remote tree already in hand (the API lists it; the git transport reads its clone). */
export async function buildPlan(input: PlanInput): Promise<DetailedPlan> {
  checkManifest(input.manifest);
  const { remote, revision } = input;
  const opts = { repoId: input.repoId, endpoint: input.endpoint, prune: input.prune };
  const head = { repoExists: input.repoExists, commit: input.parentCommit };
  const remoteByPath = new Map(remote.map((r) => [r.path, r]));
  const local = input.manifest.filter((e) => e.path !== ".gitattributes");
  const own = input.manifest.find((e) => e.path === ".gitattributes");
  const base = input.gitattributesBase ?? (own ? await readFile(own.source, "utf8") : input.remoteGitattributes);
  const patterns = [...lfsPatterns(base ?? HUB_DEFAULT_LFS_PATTERNS.map((p) => `${p} filter=lfs`).join("\n")), ...RELEASE_LFS_PATTERNS];

  const desired: DesiredFile[] = [];
  for (const e of local) {
    const lfs = await isLfsEntry(e, patterns);
    desired.push({ path: e.path, size: e.size, sha256: e.sha256, storage: lfs ? "lfs" : "regular", source: e.source });
  }
  const uncovered = desired.filter((d) => d.storage === "lfs" && !matchesLfsPattern(d.path, patterns)).map((d) => d.path);
  const gitattributes = buildGitattributes(base, uncovered);
  const gaBytes = new TextEncoder().encode(gitattributes);
  desired.push({ path: ".gitattributes", size: gaBytes.length, sha256: sha256OfBytes(gaBytes), storage: "regular", source: { bytes: gaBytes } });
  desired.sort((a, b) => a.path.localeCompare(b.path));

  const entries: PlanEntry[] = [];
  for (const d of desired) {
    const r = remoteByPath.get(d.path);
    const common = { path: d.path, size: d.size, storage: d.storage, sha256: d.sha256 };
    if (!r) {
      entries.push({ ...common, action: "add" });
      continue;
    }
    const reason = await differs(d, r);
    entries.push(reason ? { ...common, action: "update", remoteSize: r.size, reason } : { ...common, action: "unchanged", remoteSize: r.size });
  }
  const desiredPaths = new Set(desired.map((d) => d.path));
  for (const r of remote) {
    if (desiredPaths.has(r.path)) continue;
    const storage = r.lfs ? "lfs" : "regular";
    entries.push(
      opts.prune
        ? { path: r.path, action: "delete", size: r.size, storage, remoteSize: r.size }
        : { path: r.path, action: "unchanged", size: r.size, storage, remoteSize: r.size, kept: true },
    );
  }
  entries.sort((a, b) => a.path.localeCompare(b.path));

  const count = (a: PlanEntry["action"]): number => entries.filter((e) => e.action === a).length;
  const summary = {
    add: count("add"),
    update: count("update"),
    delete: count("delete"),
    unchanged: entries.filter((e) => e.action === "unchanged" && !e.kept).length,
    kept: entries.filter((e) => e.kept).length,
    bytesToSend: entries.filter((e) => e.action === "add" || e.action === "update").reduce((s, e) => s + e.size, 0),
  };
  const plan: HubPlan = {
    repoId: opts.repoId,
    endpoint: opts.endpoint,
    revision,
    repoExists: head.repoExists,
    parentCommit: head.commit,
    prune: !!opts.prune,
    entries,
    gitattributes,
    summary,
    noop: summary.add + summary.update + summary.delete === 0,
  };
  return { plan, desired, remote };
}

/**
 * The dry-run plan: add / update / delete / unchanged per file (sizes, LFS or regular), the
 * generated `.gitattributes`, and the parent commit it was computed against. Serializable.
 */
export async function planHubPublish(opts: PlanOptions): Promise<HubPlan> {
  return (await computeHubPlan(opts)).plan;
}

/** Why the remote file is not the desired one, or undefined when it is. */
async function differs(d: DesiredFile, r: RemoteFile): Promise<string | undefined> {
  if (d.storage === "lfs") {
    if (!r.lfs) return "stored as a regular file remotely, LFS locally";
    if (r.lfs.oid !== d.sha256) return `sha256 differs (remote ${r.lfs.oid.slice(0, 12)}…)`;
    if (r.lfs.size !== d.size) return `size differs (remote ${r.lfs.size})`;
    return undefined;
  }
  if (r.lfs) return "stored with LFS remotely, regular locally";
  if (r.size !== d.size) return `size differs (remote ${r.size})`;
  const oid = typeof d.source === "string" ? await gitBlobSha1(d.source, d.size) : gitBlobSha1OfBytes(d.source.bytes);
  return oid === r.oid ? undefined : `content differs (git blob ${r.oid.slice(0, 12)}… remote, ${oid.slice(0, 12)}… local)`;
}

function checkManifest(manifest: readonly ManifestEntry[]): void {
  const seen = new Set<string>();
  for (const e of manifest) {
    if (!e.path || e.path.startsWith("/") || e.path.split("/").some((s) => s === "" || s === ".." || s === "." || s === ".git")) {
      throw new Error(`manifest: invalid repo path "${e.path}"`);
    }
    if (seen.has(e.path)) throw new Error(`manifest: "${e.path}" appears twice (two checkpoint files flatten to the same name)`);
    seen.add(e.path);
    if (!/^[0-9a-f]{64}$/.test(e.sha256)) throw new Error(`manifest: "${e.path}" has no valid sha256`);
  }
}

async function fetchText(t: HubTarget, commit: string, p: string): Promise<string> {
  const f = t.fetch ?? defaultHubFetch();
  const url = `${t.endpoint}/${t.repoId}/resolve/${commit}/${p.split("/").map(encodeURIComponent).join("/")}`;
  const res = await f(url, { headers: authHeaders(t.token) });
  if (!res.ok) throw await httpError(res, `download ${p}`);
  return res.text();
}
