// A passing CPU smoke test of exactly these files, cases and settings, by this build of the
// engine, is kept: a release rerun in which nothing the model loads changed (a new card text, a
// new version number) carries it over instead of running the model again. The engine is
// deterministic on the same bytes, so the result would be the same. Only passes are kept; the GPU
// path (whose result depends on the Python environment) and the `smoke` command always run.
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../util/atomic-write.js";
import type { SmokeReport } from "./report.js";

export interface SmokeMemo {
  /** The folder the kept results live in (beside the hash cache). */
  dir: string;
  /** Every file of the checkpoint the model loads from, with its sha256 (the card is left out: the cases stand for it). */
  files: ReadonlyArray<{ path: string; sha256: string }>;
}

let build: string | undefined;
/** This build of the toolkit: the code files beside this one (a bundle's chunks, or the sources), by name, size and time. */
function buildIdentity(): string {
  if (build) return build;
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const h = createHash("sha256");
  for (const name of readdirSync(dir).sort()) {
    if (!/\.(js|ts|mjs)$/.test(name)) continue;
    const st = statSync(path.join(dir, name));
    h.update(`${name}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return (build = h.digest("hex"));
}

/** The key of one smoke test: what it ran on, what it ran, and how. */
export function smokeMemoKey(memo: SmokeMemo, what: unknown): string {
  const files = [...memo.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((f) => [f.path, f.sha256]);
  return createHash("sha256").update(JSON.stringify({ version: 1, build: buildIdentity(), files, what })).digest("hex");
}

const memoFile = (memo: SmokeMemo, key: string) => path.join(memo.dir, `smoke-${key}.json`);

/** The passing report kept under `key`, or undefined (none, unreadable, or not a pass). */
export async function keptSmoke(memo: SmokeMemo, key: string): Promise<SmokeReport | undefined> {
  try {
    const report = JSON.parse(await readFile(memoFile(memo, key), "utf8")) as SmokeReport;
    return report.ok === true && report.device === "cpu" && Array.isArray(report.cases) && report.cases.length > 0 ? report : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps a passing report; a cache that cannot be written only costs the next run its smoke test. */
export async function keepSmoke(memo: SmokeMemo, key: string, report: SmokeReport): Promise<void> {
  if (!report.ok || report.device !== "cpu") return;
  await writeFileAtomic(memoFile(memo, key), `${JSON.stringify(report)}\n`).catch(() => undefined);
}
