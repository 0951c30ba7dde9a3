// The one way this program runs git (simple-git underneath). A runner is bound to a work tree
// and may carry extra environment, `-c key=value` config, secrets to redact and an AbortSignal;
// every message it returns or throws is redacted (remote URLs can embed credentials:
// https://x:TOKEN@host/...). git and git-lfs never write a credential to a trace: the trace
// variables (GIT_TRACE_CURL, GIT_TRACE_PACKET, GIT_CURL_VERBOSE, ...) are removed from their
// environment unless AZBERT_RELEASE_GIT_TRACE=1 asks for them, and GIT_TRACE_REDACT=1 is
// always set (with GIT_TRACE_CURL_NO_DATA=1: a body a server echoes is not traced either).
import { GitPluginError, simpleGit, type SimpleGitOptions } from "simple-git";
import { UserError } from "../report.js";
import { redact } from "../util/redact.js";
import { currentGitReads } from "./read-memo.js";

/** A git command failed (or could not start): the message names the command and git's own words. */
export class GitError extends UserError {
  constructor(
    message: string,
    /** git's stderr, redacted. */
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, 1, options);
  }
}

export interface GitRunnerOptions {
  /** Work tree (or bare repository) every call runs in. */
  cwd: string;
  /** Added to the process environment of every call (undefined removes a variable). */
  env?: Readonly<Record<string, string | undefined>>;
  /** `-c key=value` for every call. */
  config?: Readonly<Record<string, string>>;
  /** Strings never shown in a message: tokens, passwords. */
  secrets?: readonly string[];
  /** Kills a running git (and refuses to start one) once aborted. */
  signal?: AbortSignal;
}

export interface GitCallOptions {
  /** `-c key=value` for this call only (added after the runner's). */
  config?: Readonly<Record<string, string>>;
  env?: Readonly<Record<string, string | undefined>>;
}

export type GitResult = { ok: true; out: string } | { ok: false; err: string };

/** The redactor, for git's words (`https://user:secret@host/x` → `https://***@host/x`, tokens in any form). */
export function redactGitText(text: string, secrets: readonly string[] = []): string {
  return redact(text, secrets);
}

/** The environment variables through which git and git-lfs trace HTTP and protocol traffic (headers, bodies). */
const TRACE_VARIABLES = /^(GIT_TRACE|GIT_TRACE_[A-Z0-9_]+|GIT_TRACE2(_[A-Z0-9_]+)?|GIT_CURL_VERBOSE|GIT_TRANSFER_TRACE)$/;

/** Asks for git's traces (then still redacted by git: GIT_TRACE_REDACT=1). */
export const GIT_TRACE_OPT_IN = "AZBERT_RELEASE_GIT_TRACE";

/**
 * What every git process gets on top of `env` (the process's own, with any extra): no trace
 * variable unless GIT_TRACE_OPT_IN is 1, and git's own redaction of traces forced on.
 */
export function traceSafeEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  const keep = env[GIT_TRACE_OPT_IN] === "1";
  for (const k of Object.keys(out)) if (TRACE_VARIABLES.test(k) && k !== "GIT_TRACE_REDACT" && !keep) out[k] = undefined;
  out.GIT_TRACE_REDACT = "1";
  if (keep && out.GIT_TRACE_CURL) out.GIT_TRACE_CURL_NO_DATA = "1";
  return out;
}

/** What git reads from the environment anyway (editor, pager, ssh, askpass, config paths). */
const INHERITED_ENV_ALLOWED = {
  allowUnsafeEditor: true,
  allowUnsafePager: true,
  allowUnsafeSshCommand: true,
  allowUnsafeAskPass: true,
  allowUnsafeConfigPaths: true,
  allowUnsafeConfigEnvCount: true,
  allowUnsafeDiffExternal: true,
  allowUnsafeGitProxy: true,
  allowUnsafeTemplateDir: true,
} as const;

/** What this program configures itself: LFS filters, an origin-scoped credential helper, no hooks. */
const PROGRAM_CONFIG_ALLOWED = { allowUnsafeCredentialHelper: true, allowUnsafeFilter: true, allowUnsafeHooksPath: true } as const;

export class Git {
  constructor(readonly options: GitRunnerOptions) {}

  get cwd(): string {
    return this.options.cwd;
  }

  /** The same runner with more environment, config or secrets (e.g. a remote's credentials). */
  with(more: Omit<Partial<GitRunnerOptions>, "cwd"> & { cwd?: string }): Git {
    const o = this.options;
    return new Git({
      ...o,
      ...more,
      env: { ...o.env, ...more.env },
      config: { ...o.config, ...more.config },
      secrets: [...(o.secrets ?? []), ...(more.secrets ?? [])],
    });
  }

  redact(text: string): string {
    return redactGitText(text, this.options.secrets);
  }

  /** Runs git; never throws for a non-zero exit (returns the redacted stderr instead). */
  async try(args: readonly string[], call: GitCallOptions = {}): Promise<GitResult> {
    try {
      return { ok: true, out: await this.raw(args, call) };
    } catch (err) {
      return { ok: false, err: this.redact(String((err as Error).message ?? err)).trim() };
    }
  }

  /** Runs git and returns its trimmed stdout; a failure is a GitError naming the command. */
  async run(args: readonly string[], call: GitCallOptions = {}): Promise<string> {
    try {
      return (await this.raw(args, call)).trim();
    } catch (err) {
      const stderr = this.redact(String((err as Error).message ?? err)).trim();
      throw new GitError(`git ${args[0] ?? ""} failed in ${this.cwd}: ${stderr}`, stderr, { cause: this.scrub(err) });
    }
  }

  /**
   * Runs git and returns its exit code and both streams (stderr redacted) whatever the exit code:
   * for callers whose answer is the code itself (`ls-remote` of a missing repo, `push` refused).
   * Only a git that cannot start, or an aborted run, throws (a GitError).
   */
  async exec(args: readonly string[], call: GitCallOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    let code = 0;
    let stderr = "";
    try {
      const stdout = await this.raw(args, call, (result) => {
        code = result.exitCode;
        stderr = Buffer.concat(result.stdErr).toString("utf8");
      });
      return { code, stdout, stderr: this.redact(stderr) };
    } catch (err) {
      const text = this.redact(String((err as Error).message ?? err)).trim();
      throw new GitError(`git ${args[0] ?? ""} failed in ${this.cwd}: ${text}`, text, { cause: this.scrub(err) });
    }
  }

  private async raw(
    args: readonly string[],
    call: GitCallOptions,
    /** When given, a non-zero exit is reported here instead of failing the call. */
    onExit?: (result: { exitCode: number; stdErr: Buffer[] }) => void,
  ): Promise<string> {
    const config = { ...this.options.config, ...call.config };
    const extraEnv = { ...this.options.env, ...call.env };
    const options: Partial<SimpleGitOptions> = {
      baseDir: this.cwd,
      trimmed: false,
      config: Object.entries(config).map(([k, v]) => `${k}=${v}`),
      ...(this.options.signal ? { abort: this.options.signal } : {}),
      // simple-git vets an environment handed to it (it does not vet the inherited one) and
      // -c config. Ours is the user's own environment plus what this program adds, and the
      // config comes from this program, never from user input; arguments stay vetted.
      unsafe: {
        // The environment is always handed over (see traceSafeEnv): what the user's own holds is theirs.
        ...INHERITED_ENV_ALLOWED,
        // Config this program sets, as -c or as GIT_CONFIG_* in its environment (the Hub
        // transport's LFS filters and its origin-scoped credential helper), and the user's own
        // GIT_CONFIG_* that the environment hands over.
        ...PROGRAM_CONFIG_ALLOWED,
      },
      // simple-git only fails a task that wrote to stderr; `rev-parse -q`, `merge-base
      // --is-ancestor` and `check-ref-format` answer with the exit code alone.
      errors: (error, result) => {
        // exec(): git ran and exited (with any code): that is the answer, whatever simple-git
        // made of its stderr. A git that could not start, or a run that was aborted, still fails.
        const ran = Number.isInteger(result.exitCode) && result.exitCode >= 0 && result.exitCode < 256;
        if (onExit && ran && !(error instanceof GitPluginError) && !this.options.signal?.aborted) {
          onExit(result);
          return undefined;
        }
        if (error) return error;
        if (result.exitCode === 0) return undefined;
        const text = Buffer.concat(result.stdErr).toString("utf8").trim();
        return Buffer.from(text || `git exited with code ${result.exitCode}`);
      },
    };
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(traceSafeEnv({ ...process.env, ...extraEnv }))) if (v !== undefined) env[k] = v;
    const reads = currentGitReads();
    const run = () => simpleGit(options).env(env).raw([...args]);
    // An exit code read by the caller (exec) is its own question: only its writes are noted.
    return reads ? reads.ask(this.cwd, args, [config, extraEnv], run, { keep: !onExit }) : run();
  }

  /** The original error as a cause, with its text redacted like the message. */
  private scrub(err: unknown): unknown {
    if (!(err instanceof Error)) return err;
    err.message = this.redact(err.message);
    if (err.stack) err.stack = this.redact(err.stack);
    return err;
  }
}

/** A runner for `cwd` with nothing extra: what most checks need. */
export function gitAt(cwd: string, signal?: AbortSignal): Git {
  return new Git({ cwd, ...(signal ? { signal } : {}) });
}

/** Shorthands over `gitAt(cwd)` for the read-only checks. */
export function tryGit(cwd: string, args: readonly string[]): Promise<GitResult> {
  return gitAt(cwd).try(args);
}

export function gitOut(cwd: string, args: readonly string[]): Promise<string> {
  return gitAt(cwd).run(args);
}

export const short = (sha: string): string => sha.slice(0, 7);

/** "a.ts, b.ts and 3 more" */
export function listSome(items: readonly string[], max = 5): string {
  const head = items.slice(0, max).join(", ");
  return items.length > max ? `${head} and ${items.length - max} more` : head;
}
