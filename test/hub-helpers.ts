// Helpers for the Hub tests: the manifest of a checkpoint folder as the release makes it
// (src/checkpoint: discovery, flattening, hash cache), a scratch copy of the sample checkpoint,
// and a git-lfs clone for byte checks.
import { createHash } from "node:crypto";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { discoverCheckpoint } from "../src/checkpoint/discover.js";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { buildManifest as manifestOf } from "../src/checkpoint/manifest.js";
import type { ManifestEntry } from "../src/checkpoint/types.js";
import { git } from "./hub-server/git.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const SAMPLE_CKPT = path.join(REPO_ROOT, "test", "fixtures", "azbert-tiny");

/** The manifest the release would publish for `dir` (a fresh, in-memory hash cache: every file is read). */
export async function buildManifest(dir: string): Promise<ManifestEntry[]> {
  const cache = new HashCache(null);
  const found = await discoverCheckpoint(dir, (f) => cache.sha256(f.source));
  const errors = found.problems.filter((p) => p.severity === "error");
  if (errors.length) throw new Error(`${dir}: ${errors.map((e) => e.message).join("; ")}`);
  return manifestOf(found.files, { cache });
}

const scratch = new Set<string>();

/** A temp copy of a checkpoint to modify; removed by cleanupScratch() (call it in afterAll). */
export async function scratchCopy(src: string = SAMPLE_CKPT): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ckpt-"));
  scratch.add(dir);
  await cp(src, dir, { recursive: true });
  return dir;
}

export async function cleanupScratch(): Promise<void> {
  await Promise.all([...scratch].map((d) => rm(d, { recursive: true, force: true })));
  scratch.clear();
}

/** git-lfs filter config passed through the environment (no global `git lfs install` needed). */
export function lfsEnv(): NodeJS.ProcessEnv {
  const pairs: Array<[string, string]> = [
    ["filter.lfs.process", "git-lfs filter-process"],
    ["filter.lfs.smudge", "git-lfs smudge -- %f"],
    ["filter.lfs.clean", "git-lfs clean -- %f"],
    ["filter.lfs.required", "true"],
  ];
  const env: NodeJS.ProcessEnv = { GIT_CONFIG_COUNT: String(pairs.length) };
  pairs.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

/** `git clone` (with LFS smudge) of a bare repo at `ref`; returns the work tree. */
export async function cloneWithLfs(bareDir: string, ref = "main"): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hub-clone-"));
  await git(["clone", "-q", "--branch", ref, `file://${bareDir}`, dir], { env: lfsEnv() });
  return dir;
}

/** Assert-friendly: map of path → sha256 for every file of a work tree (excluding .git). */
export async function treeHashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === ".git") continue;
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p, r);
      else out[r] = createHash("sha256").update(await readFile(p)).digest("hex");
    }
  };
  await walk(dir, "");
  return out;
}

export function manifestHashes(manifest: readonly ManifestEntry[]): Record<string, string> {
  return Object.fromEntries(manifest.map((e) => [e.path, e.sha256]));
}
