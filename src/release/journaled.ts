// The one place a remote step meets the journal: a step recorded for this destination is
// reported `skipped` with what it produced before; otherwise it runs, and what it produced is
// recorded before the next step starts.
import { destinationsOf, type Destination } from "./destinations.js";
import type { Journal, JournalEntry } from "./journal.js";
import { describeProof } from "./proof.js";
import type { StepId, StepOutcome, StepReport, StepReportOf, VerifyDownloadResult } from "./report.js";
import type { ReleaseSettings } from "./settings.js";

export async function journaled<K extends StepId>(
  journal: Journal,
  step: K,
  destination: Destination,
  run: () => Promise<StepOutcome<K>>,
): Promise<StepReportOf<K>> {
  const done = journal.get(step, destination);
  if (done) return skipped(step, [done]);
  const start = performance.now();
  const r = await run();
  await journal.record(step, destination, r.result);
  return { id: step, status: r.status, ...r.result, ms: Math.round(performance.now() - start) };
}

/** Every step the journal records for the destinations of this run, as `skipped` reports. */
export function recordedSteps(journal: Journal, s: ReleaseSettings): StepReport[] {
  const order: StepId[] = ["hub", "hub-tag", "git-push", "github-release", "verify", "verify.download"];
  const out: StepReport[] = [];
  for (const id of order) {
    const entries = destinationsOf(s).flatMap((d) => journal.get(id, d) ?? []);
    if (entries.length) out.push(skipped(id, entries) as StepReport);
  }
  return out;
}

function skipped<K extends StepId>(step: K, entries: ReadonlyArray<JournalEntry<K>>): StepReportOf<K> {
  const merged = Object.assign({}, ...entries.map((e) => e.result)) as StepReportOf<K>;
  // One destination's line would stand for both: the proof's line is made again from the merged parts.
  if (step === "verify.download") Object.assign(merged, { summary: describeProof(merged as Partial<VerifyDownloadResult>) });
  return { ...merged, id: step, status: "skipped", message: `done in an earlier run (${entries.map((e) => e.at).join(", ")})` };
}
