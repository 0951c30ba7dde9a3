// The report shapes of docs/cli-contract.md: what `--json` prints and what every
// check returns. Kept free of any UI so checks stay pure functions.

export type CheckStatus = "pass" | "fail" | "warn" | "skip";

export interface CheckResult {
  /** Stable dotted id, e.g. `weights.pickle`, `files.required`. */
  id: string;
  /** What is verified, phrased as the passing statement. */
  title: string;
  status: CheckStatus;
  /** For fail/warn/skip: names the file and the problem in words a user can act on. */
  message?: string;
}

export interface CheckReport {
  ok: boolean;
  checks: CheckResult[];
}

export function isOk(checks: readonly CheckResult[]): boolean {
  return !checks.some((c) => c.status === "fail");
}

/**
 * An expected failure: reported as a message and an exit code, never as a stack trace. Each
 * module converts what it catches into a subclass at its boundary and keeps the original as
 * `cause` (for debugging; its text is redacted by the module that wraps it).
 */
export class UserError extends Error {
  constructor(
    message: string,
    /** 1: a check or step failed; 2: usage or configuration error. */
    readonly exitCode: 1 | 2 = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A command line or configuration the program cannot act on: exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}
