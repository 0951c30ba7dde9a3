// The one place a remote step meets the journal: a step recorded for this destination is
// reported `skipped` with what it produced before; otherwise it runs, and what it produced is
// recorded before the next step starts.
import type { Destination } from "./destinations.js";
import type { Journal } from "./journal.js";
import type { StepId, StepOutcome, StepReportOf } from "./report.js";

export async function journaled<K extends StepId>(
  journal: Journal,
  step: K,
  destination: Destination,
  run: () => Promise<StepOutcome<K>>,
): Promise<StepReportOf<K>> {
  const done = journal.get(step, destination);
  if (done) return { id: step, status: "skipped", message: `done in an earlier run (${done.at})`, ...done.result };
  const r = await run();
  await journal.record(step, destination, r.result);
  return { id: step, status: r.status, ...r.result };
}
