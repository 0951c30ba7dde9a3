import type { CheckResult } from "../report.js";

export const pass = (id: string, title: string, message?: string): CheckResult => ({ id, title, status: "pass", ...(message ? { message } : {}) });
export const fail = (id: string, title: string, problems: readonly string[]): CheckResult => ({ id, title, status: "fail", message: listProblems(problems) });
export const warn = (id: string, title: string, problems: readonly string[]): CheckResult => ({ id, title, status: "warn", message: listProblems(problems) });
export const skip = (id: string, title: string, why: string): CheckResult => ({ id, title, status: "skip", message: why });

/** At most a screenful: a checkpoint with 400 bad tensors needs the first few and a count. */
export function listProblems(problems: readonly string[], max = 8): string {
  const shown = problems.slice(0, max).join("\n");
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
