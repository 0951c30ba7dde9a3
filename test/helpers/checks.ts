// Every checkpoint check, in the order the checklist runs them, on a loaded checkpoint (no release around it).
import { CHECKPOINT_CHECKS } from "../../src/checks/index.js";
import type { LoadedCheckpoint } from "../../src/checkpoint/load.js";
import type { CheckResult } from "../../src/report.js";

export function runCheckpointChecks(ckpt: LoadedCheckpoint): CheckResult[] {
  return CHECKPOINT_CHECKS.flatMap((g) => g.run(ckpt));
}
