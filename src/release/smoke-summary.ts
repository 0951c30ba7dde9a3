// The smoke results as the release notes show them (a case may mask several words).
import type { SmokeSummary } from "../github/notes.js";
import type { SmokeReport } from "../smoke/main.js";

export function smokeSummary(r: SmokeReport): SmokeSummary {
  return {
    ok: r.ok,
    device: r.device,
    engine: r.engine,
    cases: r.cases.map((c) => ({ text: c.text, status: c.status, expect: c.expect.flat(), masks: c.masks })),
  };
}
