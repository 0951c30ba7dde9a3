// Runs the built CLI the way users and CI do: a separate process, real exit code, real streams.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { cp, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const sampleCkpt = path.join(repoRoot, "ckpt");
export const binPath = path.join(repoRoot, "bin", "azbert-release.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Tests keep their sha256 cache to themselves, away from the user's ~/.cache. */
const testCacheDir = mkdtempSync(path.join(os.tmpdir(), "azbert-test-cache-"));

export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, CI: "true", NO_COLOR: "1", AZBERT_RELEASE_CACHE_DIR: testCacheDir, ...opts.env },
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
