// Thin promise wrapper around the git CLI for the local Hub's bare repositories and the Hub tests.
import { spawn } from "node:child_process";

export interface GitRunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Exit codes that are not an error (e.g. 1 for `rev-parse --verify -q`). */
  okCodes?: number[];
}

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * The environment every test-side git runs with: no user or system config (a global
 * `commit.gpgsign`, hooks path or credential helper must not change what a test sees), a
 * fixed identity, no prompts.
 */
export function hermeticGitEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: "local-hub",
    GIT_AUTHOR_EMAIL: "hub@localhost",
    GIT_COMMITTER_NAME: "local-hub",
    GIT_COMMITTER_EMAIL: "hub@localhost",
  };
}

/**
 * Make every git this test process starts (the local Hub's, the helpers', and the code under
 * test's) hermetic: call it at the top of a test file (each file runs in its own process).
 */
export function isolateGit(): void {
  Object.assign(process.env, hermeticGitEnv({}));
}

export function git(args: string[], opts: GitRunOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd: opts.cwd,
      env: { ...hermeticGitEnv(), ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") };
      if (code === 0 || (code !== null && opts.okCodes?.includes(code))) resolve(result);
      else reject(new Error(`git ${args[0]} failed (${code}): ${result.stderr.trim()}`));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

export async function gitText(args: string[], opts: GitRunOptions = {}): Promise<string> {
  return (await git(args, opts)).stdout.toString("utf8").trim();
}
