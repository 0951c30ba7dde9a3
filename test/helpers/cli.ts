// Runs the built CLI the way users and CI do: a separate process, real exit code, real streams,
// in a fixture project (never the developer's checkout) with HOME pinned to an empty folder.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cp, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TEST_GIT_IDENTITY } from "./git-identity.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The bundled sample as a test fixture: the tests never read ckpt/, which is the user's slot. */
export const sampleCkpt = path.join(repoRoot, "test", "fixtures", "azbert-tiny");
export const binPath = path.join(repoRoot, "bin", "azbert-release.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Tests keep their sha256 cache to themselves, away from the user's ~/.cache. */
const testCacheDir = mkdtempSync(path.join(os.tmpdir(), "azbert-test-cache-"));
/** An empty HOME: no token file, no git config of the user's. */
const testHome = mkdtempSync(path.join(os.tmpdir(), "azbert-test-home-"));
const scratch = [testCacheDir, testHome];
process.once("exit", () => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

let project: string | undefined;
/**
 * A project as a user has it: a git clone on `main`, clean and pushed to a bare `origin`, with
 * package.json 0.1.0 and a release.config.json (the checkpoint is passed with --ckpt). The
 * checklist's git items pass there, so a CLI test's outcome is its checkpoint's.
 */
export function fixtureProject(): string {
  if (project) return project;
  const root = mkdtempSync(path.join(os.tmpdir(), "azbert-project-"));
  scratch.push(root);
  const work = path.join(root, "work");
  const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, stdio: "ignore", env: { ...process.env, ...TEST_GIT_IDENTITY } });
  git(root, "init", "-q", "--bare", "-b", "main", "origin.git");
  git(root, "init", "-q", "-b", "main", "work");
  writeFileSync(path.join(work, "package.json"), `${JSON.stringify({ name: "fixture", version: "0.1.0", private: true }, null, 2)}\n`);
  writeFileSync(path.join(work, "release.config.json"), `${JSON.stringify({ checkpoint: "ckpt", hub: { repoId: "azbert/fixture" } }, null, 2)}\n`);
  writeFileSync(path.join(work, ".gitignore"), "ckpt/\nout/\n");
  git(work, "add", "-A");
  git(work, "commit", "-qm", "fixture project");
  git(work, "remote", "add", "origin", path.join(root, "origin.git"));
  git(work, "push", "-q", "-u", "origin", "main");
  project = work;
  return work;
}

export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: opts.cwd ?? fixtureProject(),
      env: { ...process.env, HOME: testHome, CI: "true", NO_COLOR: "1", AZBERT_RELEASE_CACHE_DIR: testCacheDir, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

/** A writable copy of the bundled sample checkpoint in a fresh temp folder. */
export async function copySample(name = "ckpt"): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-test-"));
  scratch.push(dir);
  const dest = path.join(dir, name);
  await cp(sampleCkpt, dest, { recursive: true });
  return dest;
}

export interface JsonCheck {
  id: string;
  title: string;
  status: "pass" | "fail" | "warn" | "skip";
  message?: string;
}

export function parseReport(stdout: string): { ok: boolean; checks: JsonCheck[] } {
  return JSON.parse(stdout) as { ok: boolean; checks: JsonCheck[] };
}
