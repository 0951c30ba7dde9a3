// Thin promise wrapper around the git CLI for the local Hub's bare repositories.
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

export function git(args: string[], opts: GitRunOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd: opts.cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", ...opts.env },
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
