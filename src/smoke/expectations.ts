// Smoke expectations: per case text, tokens that must appear in the top-k
// (schemas/smoke-expectations.schema.json).
import { printable } from "../util/printable.js";
import { readFile } from "node:fs/promises";
import { UserError } from "../report.js";
import { validateAgainst } from "../util/schemas.js";
import type { SmokeMask } from "./report.js";

export type Expectation = string[] | string[][];

export interface Expectations {
  file: string;
  topK?: number;
  cases: Map<string, Expectation>;
}

export const EXPECTATIONS_SCHEMA = "smoke-expectations.schema.json";

export function parseExpectations(value: unknown, file: string): Expectations {
  const problems = validateAgainst(EXPECTATIONS_SCHEMA, value, file);
  if (problems.length) throw new UserError(problems.join("\n"), 2);
  const v = value as { topK?: number; cases: Record<string, Expectation> };
  return { file, ...(v.topK ? { topK: v.topK } : {}), cases: new Map(Object.entries(v.cases)) };
}

export async function loadExpectations(file: string): Promise<Expectations> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${printable(file)}: cannot read the smoke expectations (${code === "ENOENT" ? "no such file" : (e as Error).message})`, 2);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${printable(file)}: not valid JSON (${(e as Error).message})`, 2);
  }
  return parseExpectations(value, file);
}

/** Normalizes a case text for lookup: the exact text, else with whitespace collapsed. */
function loose(text: string): string {
  return text.trim().replace(/\s+/g, " ");
}

export function expectationFor(exp: Expectations | undefined, text: string): Expectation | undefined {
  if (!exp) return undefined;
  const exact = exp.cases.get(text);
  if (exact) return exact;
  const want = loose(text);
  for (const [k, v] of exp.cases) if (loose(k) === want) return v;
  return undefined;
}

/** Keys of the file that no case used. */
export function unmatchedKeys(exp: Expectations | undefined, texts: readonly string[]): string[] {
  if (!exp) return [];
  const seen = new Set(texts.map(loose));
  return [...exp.cases.keys()].filter((k) => !seen.has(loose(k)));
}

/**
 * Checks an expectation against a case's masks (top lists already cut to k). Returns the
 * problems in words (empty: passed).
 */
export function checkExpectation(expect: Expectation, masks: readonly SmokeMask[], k: number): string[] {
  if (!expect.length) return [];
  const topOf = (m: SmokeMask | undefined): string[] => (m ? m.top.slice(0, k).map((t) => t.token) : []);
  if (Array.isArray(expect[0])) {
    const perMask = expect as string[][];
    const problems: string[] = [];
    if (perMask.length > masks.length) {
      problems.push(`expects ${perMask.length} masks, the case has ${masks.length}`);
    }
    perMask.forEach((want, i) => {
      const got = topOf(masks[i]);
      const missing = want.filter((t) => !got.includes(t));
      if (masks[i] && missing.length) {
        problems.push(`mask ${i + 1}: ${missing.map((t) => JSON.stringify(t)).join(", ")} not in the top-${k} (${got.join(", ")})`);
      }
    });
    return problems;
  }
  const union = new Set(masks.flatMap((m) => topOf(m)));
  const missing = (expect as string[]).filter((t) => !union.has(t));
  if (!missing.length) return [];
  const got = masks.map((m) => topOf(m).join(", ")).join(" | ");
  return [`${missing.map((t) => JSON.stringify(t)).join(", ")} not in the top-${k} (${got || "no mask"})`];
}
