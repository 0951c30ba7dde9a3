// The git transport: the old `git push hgf tmp:main`, done safely. The repo is created through
// the API when missing; then a temporary clone outside the user's work tree (no branch
// switching there), LFS pointers written from the manifest's sha256 (no re-hash), one commit,
// `git lfs push` + a push WITHOUT force, then the tag. Every git call goes through runHubGit(),
// with the Hub token scoped to the Hub's origin (hub-git.ts).
import { createRepo } from "@huggingface/hub";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ManifestEntry } from "../checkpoint/types.js";
import { registerSecret } from "../util/redact.js";
import { bindCredential } from "../util/credential-scope.js";
import { defaultHubFetch, errorStatus, HubPublishError, stripUrlCredentials, toHubUserError } from "./errors.js";
import { readRegularFile } from "./file-blob.js";
import { assertUnchangedSinceManifest } from "./file-guard.js";
import { RELEASE_LFS_PATTERNS } from "./gitattributes.js";
import { hubGitEnv, hubGitUrl, lastLines, runHubGit, type HubGitResult } from "./hub-git.js";
import { buildPlan, type DesiredFile } from "./plan.js";
import { hubRepoUrl, remoteMatchesRepo } from "./remote-check.js";
import { getRevisionHead } from "./tree.js";
import { forgetHubReads } from "./read-memo.js";
import type { PlannedHead } from "./publish-api.js";
import type { HubProgress, PublishResult, RemoteFile, TagResult } from "./types.js";

export interface PublishGitOptions {
  /** The project's git work tree (where the remote is configured). Never modified. */
  cwd: string;
  /** Remote name (usually `hgf`). */
  remote: string;
  /** Use this URL instead of the remote's (e.g. `file:///…/repo.git`). */
  remoteUrl?: string;
  endpoint: string;
  repoId: string;
  /** Given to git only for the Hub's own origin, through a credential helper (never in a URL or argv). */
  token?: string;
  revision?: string;
  manifest: readonly ManifestEntry[];
  tag?: string;
  summary?: string;
  prune?: boolean;
  /** The `.gitattributes` the published one starts from (the checkpoint's own), instead of the remote's. */
  gitattributesBase?: string;
  /** Overwrite the remote branch even if it moved. Loud: `onWarning` is told. Default false. */
  force?: boolean;
  /** Create the repo through the API when it does not exist (visibility from `private`). Default: refuse. */
  createRepo?: boolean;
  private?: boolean;
  /** For the API calls (repo check and creation). Default: createRetryFetch(). */
  fetch?: typeof fetch;
  /** The plan shown to the user: refuse if the remote moved since. */
  plan?: PlannedHead;
  /** Push the commit to this branch instead of `revision` (a staging branch, created by the push). */
  pushBranch?: string;
  onProgress?: HubProgress;
  onWarning?: (message: string) => void;
  /** Where to make the temporary clone (default: the OS temp dir). */
  tmpDir?: string;
  /** Base environment of the git processes (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Ctrl-C: kills the running git and starts no other; the temporary clone is still removed. */
  signal?: AbortSignal;
}

/** Who a machine commit is by when the user's git config names nobody. */
const FALLBACK_IDENTITY = { name: "azbert-release", email: "azbert-release@users.noreply.huggingface.co" };

/**
 * The URL to clone and push: for an http(s) remote, the Hub's own URL for the repo (the
 * remote must point at it; credentials written into the remote URL are never used);
 * anything else (ssh, file) as configured.
 */
export async function hubCloneUrl(
  opts: Pick<PublishGitOptions, "cwd" | "remote" | "remoteUrl" | "endpoint" | "repoId" | "env"> & { missingRemote?: "refuse" | "hub-url" },
): Promise<string> {
  let url = opts.remoteUrl;
  if (!url) {
    const r = await runHubGit(["remote", "get-url", opts.remote], { cwd: opts.cwd, env: hubGitEnv({ endpoint: opts.endpoint, base: opts.env }), okCodes: [2, 128] });
    if (r.code !== 0 && opts.missingRemote === "hub-url") return hubGitUrl(opts.endpoint, opts.repoId);
    if (r.code !== 0) {
      throw new HubPublishError(`git remote "${opts.remote}" is missing in ${opts.cwd}: add it with \`git remote add ${opts.remote} ${hubRepoUrl(opts.endpoint, opts.repoId)}\``);
    }
    url = r.stdout.trim();
  }
  if (!/^https?:\/\//i.test(url)) return url;
  if (!remoteMatchesRepo(url, opts.endpoint, opts.repoId)) {
    throw new HubPublishError(`git remote "${opts.remote}" points at ${stripUrlCredentials(url)}, not ${hubRepoUrl(opts.endpoint, opts.repoId)}`);
  }
  return hubGitUrl(opts.endpoint, opts.repoId);
}

function lfsPointer(oid: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}

/** Files at HEAD of a clone, LFS pointers resolved (what the Hub tree listing would say). */
async function cloneTree(git: Git, dir: string): Promise<RemoteFile[]> {
  const ls = await git(["ls-tree", "-r", "-l", "-z", "HEAD"], dir);
  const out: RemoteFile[] = [];
  for (const rec of ls.stdout.split("\0").filter(Boolean)) {
    const m = /^\d+ blob ([0-9a-f]{40})\s+(\d+)\t(.*)$/s.exec(rec);
    if (!m) continue;
    const [, oid, size, p] = m as unknown as [string, string, string, string];
    let lfs: RemoteFile["lfs"];
    if (Number(size) < 1024) {
      const text = (await git(["cat-file", "blob", oid], dir)).stdout;
      const ptr = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n?$/.exec(text);
      if (ptr) lfs = { oid: ptr[1]!, size: Number(ptr[2]) };
    }
    out.push({ path: p, oid, size: lfs ? lfs.size : Number(size), ...(lfs ? { lfs } : {}) });
  }
  return out;
}

/**
 * Put the object where git-lfs looks for it: a symlink to the checkpoint file (no copy, no
 * re-hash; unlike a hard link it leaves the file's ctime, which the hash cache keys on, alone).
 */
async function stageLfsObject(gitDir: string, f: DesiredFile): Promise<void> {
  const dest = path.join(gitDir, "lfs", "objects", f.sha256.slice(0, 2), f.sha256.slice(2, 4), f.sha256);
  await mkdir(path.dirname(dest), { recursive: true });
  await symlink(path.resolve(f.source as string), dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err; // two paths with the same bytes: one object
  });
}

type Git = (args: string[], cwd?: string, okCodes?: number[]) => Promise<HubGitResult>;

/** Create the repo through the API when it does not exist: git cannot clone or push to a missing repo. */
async function ensureRepoExists(opts: PublishGitOptions): Promise<void> {
  if (!opts.token) return;
  const f = opts.fetch ?? defaultHubFetch();
  const ctx = { action: `create ${opts.repoId}`, repoId: opts.repoId, endpoint: opts.endpoint, token: opts.token };
  try {
    const head = await getRevisionHead({ endpoint: opts.endpoint, repoId: opts.repoId, token: opts.token, fetch: f, revision: opts.revision ?? "main" });
    if (head.repoExists) return;
    if (!opts.createRepo) throw new HubPublishError(`${opts.repoId} does not exist on ${opts.endpoint}; enable repo creation in the config or create it on the Hub`);
    await createRepo({ repo: { type: "model", name: opts.repoId }, visibility: opts.private ? "private" : "public", hubUrl: opts.endpoint, fetch: f, accessToken: opts.token }).catch((err: unknown) => {
      if (errorStatus(err) !== 409) throw err; // created meanwhile: fine
    });
  } catch (err) {
    throw toHubUserError(err, ctx);
  }
}

export async function publishHubGit(opts: PublishGitOptions): Promise<PublishResult> {
  registerSecret(opts.token);
  bindCredential(opts.token, [opts.endpoint]);
  const revision = opts.revision ?? "main";
  const emit = (e: Parameters<HubProgress>[0]): void => opts.onProgress?.(e);
  const url = await hubCloneUrl(opts);
  const env = hubGitEnv({ endpoint: opts.endpoint, token: opts.token, base: opts.env });
  const git: Git = (args, cwd, okCodes) => runHubGit(args, { env, cwd, okCodes, ...(opts.signal ? { signal: opts.signal } : {}) });
  const work = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), "azbert-hub-git-"));
  const dir = path.join(work, "repo");
  const summary = opts.summary ?? (opts.tag ? `Release ${opts.tag}` : "Release");
  try {
    emit({ phase: "preparing", hashedBytes: 0, uploadedBytes: 0, totalBytes: 0 });
    await ensureRepoExists(opts);
    const cloned = await git(["clone", "-q", "--depth", "1", "--single-branch", "--branch", revision, url, dir], work, [128]);
    if (cloned.code !== 0) {
      throw new HubPublishError(`cannot clone ${stripUrlCredentials(url)} (branch ${revision}): ${lastLines(cloned.stderr, 3)}`);
    }
    const gitDir = path.join(dir, ".git");
    const parent = (await git(["rev-parse", "HEAD"], dir)).stdout.trim();
    if (opts.plan && opts.plan.parentCommit && opts.plan.parentCommit !== parent) {
      throw new HubPublishError(`${opts.repoId}@${revision} moved since the plan was made (planned on ${opts.plan.parentCommit.slice(0, 12)}, now ${parent.slice(0, 12)}): re-run to re-plan`, 412);
    }
    const remote = await cloneTree(git, dir);
    const ga = opts.gitattributesBase === undefined && remote.some((r) => r.path === ".gitattributes") ? (await git(["show", "HEAD:.gitattributes"], dir)).stdout : undefined;
    const { plan, desired } = await buildPlan({
      repoId: opts.repoId,
      endpoint: opts.endpoint,
      revision,
      repoExists: true,
      parentCommit: parent,
      remote,
      remoteGitattributes: ga,
      manifest: opts.manifest,
      prune: opts.prune,
      ...(opts.gitattributesBase !== undefined ? { gitattributesBase: opts.gitattributesBase } : {}),
    });
    const byPath = new Map(desired.map((d) => [d.path, d]));
    const toSend = plan.entries.filter((e) => e.action === "add" || e.action === "update");
    const deletes = plan.entries.filter((e) => e.action === "delete");
    const totalBytes = toSend.reduce((s, e) => s + e.size, 0);

    if (opts.tag) {
      const existing = await remoteTag(git, dir, opts.tag);
      if (existing && (!plan.noop || existing !== parent)) {
        throw new HubPublishError(`tag ${opts.tag} already exists on ${opts.repoId} and points at ${existing.slice(0, 12)}: bump the version. Nothing was pushed`, 409);
      }
    }
    let commit = parent;
    let status: PublishResult["status"] = "unchanged";
    if (!plan.noop) {
      // The bytes git-lfs will send are the files on disk: they must still be the ones the manifest hashed.
      await assertUnchangedSinceManifest(opts.manifest, new Set(toSend.map((e) => e.path)));
      for (const e of toSend) {
        const f = byPath.get(e.path)!;
        const dest = path.join(dir, ...f.path.split("/"));
        await mkdir(path.dirname(dest), { recursive: true });
        await rm(dest, { force: true });
        if (typeof f.source !== "string") await writeFile(dest, f.source.bytes);
        else if (f.storage === "lfs") {
          await stageLfsObject(gitDir, f);
          await writeFile(dest, lfsPointer(f.sha256, f.size));
        } else await writeFile(dest, await readRegularFile(f));
      }
      // `.gitattributes` is already the generated one; `git lfs track` confirms the release patterns.
      await git(["lfs", "track", ...RELEASE_LFS_PATTERNS], dir);
      await writeFile(path.join(dir, ".gitattributes"), plan.gitattributes); // keep it byte-identical to the plan
      if (deletes.length) await git(["rm", "-q", "--cached", "--ignore-unmatch", "--", ...deletes.map((d) => d.path)], dir);
      await git(["add", "--", ...toSend.map((e) => e.path)], dir);
      const ident = await identityArgs(git, dir);
      emit({ phase: "committing", hashedBytes: 0, uploadedBytes: 0, totalBytes });
      await git([...ident, "commit", "-q", "--no-verify", "-m", summary], dir);
      commit = (await git(["rev-parse", "HEAD"], dir)).stdout.trim();
      // The pointer files must be what the Hub will see: check before anything leaves.
      const staged = await cloneTree(git, dir);
      for (const e of toSend) {
        const f = byPath.get(e.path)!;
        const s = staged.find((x) => x.path === e.path);
        if (f.storage === "lfs" && s?.lfs?.oid !== f.sha256) throw new HubPublishError(`${e.path}: the commit does not hold the expected LFS pointer; nothing was pushed`);
      }
      emit({ phase: "uploading", hashedBytes: 0, uploadedBytes: 0, totalBytes });
      const lfsPushed = await git(["lfs", "push", "origin", "HEAD"], dir, [1, 2]);
      if (lfsPushed.code !== 0) {
        throw new HubPublishError(`git-lfs could not upload the LFS files of ${opts.repoId} (${lastLines(lfsPushed.stderr, 2)}): the token must be allowed to write to the repo. Nothing was pushed`);
      }
      const target = opts.pushBranch ?? revision;
      if (opts.force && !opts.pushBranch) opts.onWarning?.(`force-pushing ${opts.repoId}@${revision}: commits pushed by others since ${parent.slice(0, 12)} will be overwritten`);
      const pushArgs =
        opts.force && !opts.pushBranch
          ? ["push", "--porcelain", "--no-verify", `--force-with-lease=refs/heads/${revision}:${parent}`, "origin", `HEAD:refs/heads/${revision}`]
          : ["push", "--porcelain", "--no-verify", "origin", `HEAD:refs/heads/${target}`];
      const pushed = await git(pushArgs, dir, [1]);
      if (pushed.code !== 0) {
        if (/rejected|non-fast-forward|stale info|fetch first/i.test(pushed.stdout + pushed.stderr)) {
          throw new HubPublishError(`the push to ${opts.repoId}@${target} was rejected: the branch moved since ${parent.slice(0, 12)} (someone else pushed). Nothing was overwritten; re-run to re-plan`, 412);
        }
        throw new HubPublishError(`git push to ${opts.repoId} failed: ${lastLines(pushed.stderr, 4)}`);
      }
      status = "done";
      emit({ phase: "uploading", hashedBytes: 0, uploadedBytes: totalBytes, totalBytes });
    }

    let tag: TagResult | undefined;
    if (opts.tag) {
      emit({ phase: "tagging", hashedBytes: 0, uploadedBytes: totalBytes, totalBytes });
      tag = await pushTag(git, dir, opts.tag, commit, summary, opts.repoId);
    }
    emit({ phase: "done", hashedBytes: 0, uploadedBytes: totalBytes, totalBytes });
    return {
      transport: "git",
      status,
      commit,
      url: `${hubRepoUrl(opts.endpoint, opts.repoId)}/commit/${commit}`,
      uploaded: status === "done" ? toSend.map((e) => e.path) : [],
      deduplicated: [],
      deleted: status === "done" ? deletes.map((d) => d.path) : [],
      ...(tag ? { tag } : {}),
      plan,
    };
  } finally {
    // git wrote to the repo around the HTTP layer: what was read of it before may be stale.
    forgetHubReads(opts.fetch, opts.repoId);
    await rm(work, { recursive: true, force: true });
  }
}

/** The user's identity when git has one, else a fixed machine identity (never a failed commit). */
async function identityArgs(git: Git, dir: string): Promise<string[]> {
  const name = (await git(["config", "user.name"], dir, [1])).stdout.trim();
  const email = (await git(["config", "user.email"], dir, [1])).stdout.trim();
  return [...(name ? [] : ["-c", `user.name=${FALLBACK_IDENTITY.name}`]), ...(email ? [] : ["-c", `user.email=${FALLBACK_IDENTITY.email}`])];
}

/** Commit the remote tag points at (peeled), or undefined. */
async function remoteTag(git: Git, dir: string, tag: string): Promise<string | undefined> {
  const ls = await git(["ls-remote", "--tags", "origin", `refs/tags/${tag}`, `refs/tags/${tag}^{}`], dir);
  const lines = ls.stdout.split("\n").filter(Boolean).map((l) => l.split("\t") as [string, string]);
  return lines.find(([, ref]) => ref.endsWith("^{}"))?.[0] ?? lines[0]?.[0];
}

async function pushTag(git: Git, dir: string, tag: string, commit: string, message: string, repoId: string): Promise<TagResult> {
  const peeled = await remoteTag(git, dir, tag);
  if (peeled) {
    if (peeled === commit) return { tag, status: "unchanged", commit };
    throw new HubPublishError(`tag ${tag} already exists on ${repoId} and points at ${peeled.slice(0, 12)}, not at the release commit ${commit.slice(0, 12)}: bump the version`, 409);
  }
  await git([...(await identityArgs(git, dir)), "tag", "-a", tag, "-m", message, commit], dir);
  await git(["push", "-q", "--no-verify", "origin", `refs/tags/${tag}`], dir);
  return { tag, status: "created", commit };
}
