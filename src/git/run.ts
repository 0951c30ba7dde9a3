// Thin wrapper over simple-git: every call takes its cwd, and every message that may carry a
// remote URL goes through redaction (URLs can embed credentials: https://x:TOKEN@host/...).
import { simpleGit, type SimpleGit } from "simple-git";
import { redact } from "../util/redact.js";

export function gitAt(cwd: string): SimpleGit {
  return simpleGit({
    baseDir: cwd,
    trimmed: false,
    // simple-git only fails a task that wrote to stderr; `rev-parse -q`, `merge-base
    // --is-ancestor` and `check-ref-format` answer with the exit code alone.
    errors(error, result) {
      if (error) return error;
      if (result.exitCode === 0) return undefined;
      const text = Buffer.concat(result.stdErr).toString("utf8").trim();
      return Buffer.from(text || `git exited with code ${result.exitCode}`);
    },
  });
}

/** `https://user:secret@host/x` → `https://***@host/x`, then the usual token redaction. */
export function redactGitText(text: string): string {
  return redact(text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@"));
}

export type GitResult = { ok: true; out: string } | { ok: false; err: string };

/** Runs git; never throws for a non-zero exit (returns the redacted stderr instead). */
export async function tryGit(cwd: string, args: string[]): Promise<GitResult> {
  try {
    return { ok: true, out: await gitAt(cwd).raw(args) };
  } catch (err) {
    return { ok: false, err: redactGitText(String((err as Error).message ?? err)).trim() };
  }
}

export async function gitOut(cwd: string, args: string[]): Promise<string> {
  const r = await tryGit(cwd, args);
  if (!r.ok) throw new Error(`git ${args[0]} failed: ${r.err}`);
  return r.out.trim();
}

export const short = (sha: string): string => sha.slice(0, 7);

/** "a.ts, b.ts and 3 more" */
export function listSome(items: readonly string[], max = 5): string {
  const head = items.slice(0, max).join(", ");
  return items.length > max ? `${head} and ${items.length - max} more` : head;
}
