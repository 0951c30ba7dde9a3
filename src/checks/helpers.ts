import { printable } from "../util/printable.js";
import type { CheckResult } from "../report.js";

// Messages quote names, keys and tokens from the checkpoint: each is made printable here, so no
// line break or escape sequence from a file reaches a terminal, a log or the --json report raw.
export const pass = (id: string, title: string, message?: string): CheckResult => ({ id, title, status: "pass", ...(message ? { message: printable(message) } : {}) });
export const fail = (id: string, title: string, problems: readonly string[]): CheckResult => ({ id, title, status: "fail", message: listProblems(problems) });
export const warn = (id: string, title: string, problems: readonly string[]): CheckResult => ({ id, title, status: "warn", message: listProblems(problems) });
export const skip = (id: string, title: string, why: string): CheckResult => ({ id, title, status: "skip", message: printable(why) });

/** At most a screenful: a checkpoint with 400 bad tensors needs the first few and a count. One line each. */
export function listProblems(problems: readonly string[], max = 8): string {
  const shown = problems.slice(0, max).map(printable).join("\n");
  return problems.length > max ? `${shown}\n… and ${problems.length - max} more` : shown;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A special token is written as "[MASK]" or {"content": "[MASK]", ...}. */
export function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isRecord(v) && typeof v.content === "string") return v.content;
  return undefined;
}
