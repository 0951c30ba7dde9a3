// The git transport: the old `git push hgf tmp:main`, done safely. A temporary clone outside
// the user's work tree (no branch switching there), LFS pointers written from the manifest's
// sha256 (no re-hash), one commit, `git lfs push` + a push WITHOUT force, then the tag.
import { spawn } from "node:child_process";
import { copyFile, link, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ManifestEntry } from "../checkpoint/types.js";
import { HubPublishError, redactHub, stripUrlCredentials } from "./errors.js";
import { RELEASE_LFS_PATTERNS } from "./gitattributes.js";
import { buildPlan, type DesiredFile } from "./plan.js";
import { hubRepoUrl, remoteMatchesRepo } from "./remote-check.js";
import type { HubPlan, HubProgress, PublishResult, RemoteFile, TagResult } from "./types.js";

export interface PublishGitOptions {
  /** The project's git work tree (where the remote is configured). Never modified. */
  cwd: string;
  /** Remote name (usually `hgf`). */
  remote: string;
  /** Use this URL instead of the remote's (e.g. `file:///…/repo.git`). */
  remoteUrl?: string;
  endpoint: string;
  repoId: string;
  /** For https remotes: sent as an `http.extraHeader` through the environment, never on a command line. */
  token?: string;
  revision?: string;
  manifest: readonly ManifestEntry[];
  tag?: string;
  summary?: string;
  prune?: boolean;
  /** Overwrite the remote branch even if it moved. Loud: `onWarning` is told. Default false. */
  force?: boolean;
  /** The plan shown to the user: refuse if the remote moved since. */
  plan?: HubPlan;
  onProgress?: HubProgress;
  onWarning?: (message: string) => void;
  /** Where to make the temporary clone (default: the OS temp dir). */
  tmpDir?: string;
}

interface GitEnvOptions {
  token?: string;
  https: boolean;
}

/** Environment for every git call: LFS filters, no prompts, credentials via GIT_CONFIG_* (not argv). */
export function gitTransportEnv(opts: GitEnvOptions, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const pairs: Array<[string, string]> = [
    ["filter.lfs.process", "git-lfs filter-process"],
    ["filter.lfs.smudge", "git-lfs smudge -- %f"],
    ["filter.lfs.clean", "git-lfs clean -- %f"],
    ["filter.lfs.required", "true"],
    ["lfs.locksverify", "false"],
    ["advice.detachedHead", "false"],
  ];
  if (opts.https && opts.token) {
    const basic = Buffer.from(`hf_user:${opts.token}`).toString("base64");
    pairs.push(["http.extraHeader", `Authorization: Basic ${basic}`]);
    pairs.push(["credential.helper", ""]);
  }
  const start = Number(base.GIT_CONFIG_COUNT ?? 0) || 0;
  const env: NodeJS.ProcessEnv = { ...base, GIT_TERMINAL_PROMPT: "0", GCM_INTERACTIVE: "never", GIT_LFS_SKIP_SMUDGE: "1", GIT_CONFIG_COUNT: String(start + pairs.length) };
  pairs.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${start + i}`] = k;
    env[`GIT_CONFIG_VALUE_${start + i}`] = v;
  });
  return env;
}

class Git {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly secrets: string[],
  ) {}

  run(args: string[], cwd?: string, okCodes: number[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn("git", args, { cwd, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", (e) => reject(new HubPublishError(`cannot run git: ${e.message}`)));
      child.on("close", (code) => {
        if (code === 0 || okCodes.includes(code ?? -1)) return resolve({ code: code ?? -1, stdout, stderr });
        const what = args.filter((a) => !a.includes("://")).slice(0, 3).join(" ");
        reject(new HubPublishError(redactHub(`git ${what} failed: ${stderr.trim().split("\n").slice(-6).join(" | ")}`, this.secrets)));
      });
    });
  }
}

async function remoteUrlOf(opts: PublishGitOptions, git: Git): Promise<string> {
  if (opts.remoteUrl) return opts.remoteUrl;
  const r = await git.run(["remote", "get-url", opts.remote], opts.cwd, [2, 128]);
  if (r.code !== 0) throw new HubPublishError(`git remote "${opts.remote}" is missing in ${opts.cwd}: add it with \`git remote add ${opts.remote} ${hubRepoUrl(opts.endpoint, opts.repoId)}\``);
  return r.stdout.trim();
}

function lfsPointer(oid: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}

/** Files at HEAD of a clone, LFS pointers resolved (what the Hub tree listing would say). */
async function cloneTree(git: Git, dir: string): Promise<RemoteFile[]> {
  const ls = await git.run(["ls-tree", "-r", "-l", "-z", "HEAD"], dir);
  const out: RemoteFile[] = [];
  for (const rec of ls.stdout.split("\0").filter(Boolean)) {
    const m = /^\d+ blob ([0-9a-f]{40})\s+(\d+)\t(.*)$/s.exec(rec);
    if (!m) continue;
    const [, oid, size, p] = m as unknown as [string, string, string, string];
    let lfs: RemoteFile["lfs"];
    if (Number(size) < 1024) {
      const text = (await git.run(["cat-file", "blob", oid], dir)).stdout;
      const ptr = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n?$/.exec(text);
      if (ptr) lfs = { oid: ptr[1]!, size: Number(ptr[2]) };
    }
    out.push({ path: p, oid, size: lfs ? lfs.size : Number(size), ...(lfs ? { lfs } : {}) });
  }
  return out;
}

/** Put the object where git-lfs looks for it: hard link when possible (no copy, no re-hash). */
async function stageLfsObject(gitDir: string, f: DesiredFile): Promise<void> {
  const dest = path.join(gitDir, "lfs", "objects", f.sha256.slice(0, 2), f.sha256.slice(2, 4), f.sha256);
  await mkdir(path.dirname(dest), { recursive: true });
  const src = f.source as string;
  if ((await stat(src)).size !== f.size) throw new HubPublishError(`${f.path}: the file changed on disk since the manifest was computed; re-run the checks`);
  try {
    await link(src, dest);
  } catch {
    await copyFile(src, dest);
  }
}

export async function publishHubGit(opts: PublishGitOptions): Promise<PublishResult> {
  const revision = opts.revision ?? "main";
  const emit = (e: Parameters<HubProgress>[0]): void => opts.onProgress?.(e);
  const probe = new Git(gitTransportEnv({ https: false }), [opts.token ?? ""]);
  const url = await remoteUrlOf(opts, probe);
  const https = /^https?:\/\//i.test(url);
  if (https && !remoteMatchesRepo(url, opts.endpoint, opts.repoId)) {
    throw new HubPublishError(`git remote "${opts.remote}" points at ${stripUrlCredentials(url)}, not ${hubRepoUrl(opts.endpoint, opts.repoId)}`);
  }
  const secrets = [opts.token ?? "", ...(opts.token ? [Buffer.from(`hf_user:${opts.token}`).toString("base64")] : [])];
  const git = new Git(gitTransportEnv({ https, token: opts.token }), secrets);
  const work = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), "azbert-hub-git-"));
  const dir = path.join(work, "repo");
  const summary = opts.summary ?? (opts.tag ? `Release ${opts.tag}` : "Release");
  try {
    emit({ phase: "preparing", hashedBytes: 0, uploadedBytes: 0, totalBytes: 0 });
    const cloned = await git.run(["clone", "-q", "--depth", "1", "--single-branch", "--branch", revision, url, dir], work, [128]);
    if (cloned.code !== 0) {
      throw new HubPublishError(redactHub(`cannot clone ${stripUrlCredentials(url)} (branch ${revision}): ${cloned.stderr.trim().split("\n").slice(-3).join(" | ")}`, secrets));
    }
    const gitDir = path.join(dir, ".git");
    const parent = (await git.run(["rev-parse", "HEAD"], dir)).stdout.trim();
    if (opts.plan && opts.plan.parentCommit && opts.plan.parentCommit !== parent) {
      throw new HubPublishError(`${opts.repoId}@${revision} moved since the plan was made (planned on ${opts.plan.parentCommit.slice(0, 12)}, now ${parent.slice(0, 12)}): re-run to re-plan`, 412);
    }
    const remote = await cloneTree(git, dir);
    const ga = remote.some((r) => r.path === ".gitattributes") ? (await git.run(["show", "HEAD:.gitattributes"], dir)).stdout : undefined;
    const { plan, desired } = await buildPlan({ repoId: opts.repoId, endpoint: opts.endpoint, revision, repoExists: true, parentCommit: parent, remote, remoteGitattributes: ga, manifest: opts.manifest, prune: opts.prune });
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
      for (const e of toSend) {
        const f = byPath.get(e.path)!;
        const dest = path.join(dir, ...f.path.split("/"));
        await mkdir(path.dirname(dest), { recursive: true });
        await rm(dest, { force: true });
        if (typeof f.source !== "string") await writeFile(dest, f.source.bytes);
        else if (f.storage === "lfs") {
          await stageLfsObject(gitDir, f);
          await writeFile(dest, lfsPointer(f.sha256, f.size));
        } else await copyFile(f.source, dest);
      }
      // `.gitattributes` is already the generated one; `git lfs track` confirms the release patterns.
      await git.run(["lfs", "track", ...RELEASE_LFS_PATTERNS], dir);
      await writeFile(path.join(dir, ".gitattributes"), plan.gitattributes); // keep it byte-identical to the plan
      if (deletes.length) await git.run(["rm", "-q", "--cached", "--ignore-unmatch", "--", ...deletes.map((d) => d.path)], dir);
      await git.run(["add", "--", ...toSend.map((e) => e.path)], dir);
      const ident = await git.run(["config", "user.email"], dir, [1]);
      const identArgs = ident.stdout.trim() ? [] : ["-c", "user.name=azbert-release", "-c", "user.email=azbert-release@users.noreply.huggingface.co"];
      emit({ phase: "committing", hashedBytes: 0, uploadedBytes: 0, totalBytes });
      await git.run([...identArgs, "commit", "-q", "--no-verify", "-m", summary], dir);
      commit = (await git.run(["rev-parse", "HEAD"], dir)).stdout.trim();
      // The pointer files must be what the Hub will see: check before anything leaves.
      const staged = await cloneTree(git, dir);
      for (const e of toSend) {
        const f = byPath.get(e.path)!;
        const s = staged.find((x) => x.path === e.path);
        if (f.storage === "lfs" && s?.lfs?.oid !== f.sha256) throw new HubPublishError(`${e.path}: the commit does not hold the expected LFS pointer; nothing was pushed`);
      }
      emit({ phase: "uploading", hashedBytes: 0, uploadedBytes: 0, totalBytes });
      await git.run(["lfs", "push", "origin", "HEAD"], dir);
      if (opts.force) opts.onWarning?.(`force-pushing ${opts.repoId}@${revision}: commits pushed by others since ${parent.slice(0, 12)} will be overwritten`);
      const pushArgs = opts.force ? ["push", "--porcelain", `--force-with-lease=refs/heads/${revision}:${parent}`, "origin", `HEAD:refs/heads/${revision}`] : ["push", "--porcelain", "origin", `HEAD:refs/heads/${revision}`];
      const pushed = await git.run(pushArgs, dir, [1]);
      if (pushed.code !== 0) {
        if (/rejected|non-fast-forward|stale info|fetch first/i.test(pushed.stdout + pushed.stderr)) {
          throw new HubPublishError(`the push to ${opts.repoId}@${revision} was rejected: the branch moved since ${parent.slice(0, 12)} (someone else pushed). Nothing was overwritten; re-run to re-plan`, 412);
        }
        throw new HubPublishError(redactHub(`git push to ${opts.repoId} failed: ${pushed.stderr.trim().split("\n").slice(-4).join(" | ")}`, secrets));
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
    await rm(work, { recursive: true, force: true });
  }
}

/** Commit the remote tag points at (peeled), or undefined. */
async function remoteTag(git: Git, dir: string, tag: string): Promise<string | undefined> {
  const ls = await git.run(["ls-remote", "--tags", "origin", `refs/tags/${tag}`, `refs/tags/${tag}^{}`], dir);
  const lines = ls.stdout.split("\n").filter(Boolean).map((l) => l.split("\t") as [string, string]);
  return lines.find(([, ref]) => ref.endsWith("^{}"))?.[0] ?? lines[0]?.[0];
}

async function pushTag(git: Git, dir: string, tag: string, commit: string, message: string, repoId: string): Promise<TagResult> {
  const peeled = await remoteTag(git, dir, tag);
  if (peeled) {
    if (peeled === commit) return { tag, status: "unchanged", commit };
    throw new HubPublishError(`tag ${tag} already exists on ${repoId} and points at ${peeled.slice(0, 12)}, not at the release commit ${commit.slice(0, 12)}: bump the version`, 409);
  }
  const ident = await git.run(["config", "user.email"], dir, [1]);
  const identArgs = ident.stdout.trim() ? [] : ["-c", "user.name=azbert-release", "-c", "user.email=azbert-release@users.noreply.huggingface.co"];
  await git.run([...identArgs, "tag", "-a", tag, "-m", message, commit], dir);
  await git.run(["push", "-q", "origin", `refs/tags/${tag}`], dir);
  return { tag, status: "created", commit };
}
