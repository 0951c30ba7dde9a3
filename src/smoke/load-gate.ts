// The gate in front of every loader that is not the project's own reader: transformers unpickles
// pytorch_model.bin with torch.load (not a boundary on older stacks) and runs a repository's own
// code when config.json asks for it. Nothing reaches it unless the checklist's weights checks
// passed, and never a config that names code.
import { checkWeightsBeforeLoading } from "../checks/weights.js";
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import { UserError } from "../report.js";

/** Throws (exit 1) with the checklist's own messages when a weights check fails. */
export function assertWeightsPassChecks(ckpt: LoadedCheckpoint): void {
  const failed = checkWeightsBeforeLoading(ckpt).filter((c) => c.status === "fail");
  if (!failed.length) return;
  const lines = failed.map((c) => `  ✖ ${c.id}: ${c.message ?? c.title}`.replace(/\n/g, "\n      "));
  throw new UserError(`the weights fail the checklist, so no loader is given them:\n${lines.join("\n")}`, 1);
}

/** Files whose `auto_map` makes transformers import code from the repository. */
const CODE_MAPS = ["config.json", "tokenizer_config.json"];

/** Throws (exit 1) when config.json or tokenizer_config.json maps a class to the repository's code. */
export function assertNoRepositoryCode(ckpt: LoadedCheckpoint): void {
  for (const name of CODE_MAPS) {
    const v = ckpt.json.get(name)?.value;
    const autoMap = v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>).auto_map : undefined;
    if (autoMap === undefined || autoMap === null) continue;
    const targets = typeof autoMap === "object" ? Object.values(autoMap as Record<string, unknown>).flat().filter((x) => x !== null) : [autoMap];
    if (!targets.length) continue;
    throw new UserError(
      `${name}: auto_map points at code (${targets.map(String).slice(0, 3).join(", ")}); the smoke test loads models without running repository code (trust_remote_code=False), so remove auto_map or test that model another way`,
      1,
    );
  }
}
