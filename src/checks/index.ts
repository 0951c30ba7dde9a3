// The checkpoint checklist, in the order a user reads it. Each check is a pure function of the
// loaded checkpoint.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import type { CheckResult } from "../report.js";
import { fail } from "./helpers.js";
import { checkLayout, checkRequiredFiles, checkUnexpectedFiles } from "./files.js";
import { checkGitConfig } from "./git-config.js";
import { checkJsonFinite, checkJsonParses, checkJsonSchemas, checkNoLocalPaths } from "./json.js";
import { checkModelCardFrontMatter, checkPipelineTag, checkWidgetExamples } from "./model-card.js";
import { checkAttentionHeads, checkSpecialTokens, checkVocabularySizes } from "./tokenizer.js";
import { checkTensorDtype, checkTensorShapes, checkWeightsAgree, checkWeightsFinite, checkWeightsIndex, checkWeightsReadable } from "./weights.js";

export interface CheckGroup {
  title: string;
  run: (ckpt: LoadedCheckpoint) => CheckResult[];
  /** "manifest": the group reads what hashing the manifest found (weights.finite), so it runs after it. */
  after?: "manifest";
}

type Check = (ckpt: LoadedCheckpoint) => CheckResult | CheckResult[];

/** A group whose checks run one by one: a check that throws fails alone, the others still run. */
function group(title: string, checks: Check[], after?: "manifest"): CheckGroup {
  return {
    title,
    ...(after ? { after } : {}),
    run: (c) =>
      checks.flatMap((check) => {
        try {
          return check(c);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          return [fail("check.error", `${title}: every check completed`, [`${check.name} stopped: ${why}`])];
        }
      }),
  };
}

export const CHECKPOINT_CHECKS: CheckGroup[] = [
  group("Checkpoint files", [checkRequiredFiles, checkLayout, checkUnexpectedFiles, checkGitConfig]),
  group("JSON files", [checkJsonParses, checkJsonFinite, checkJsonSchemas, checkNoLocalPaths]),
  group("Tokenizer", [checkVocabularySizes, checkSpecialTokens, checkAttentionHeads]),
  group("Weights", [checkWeightsReadable, checkWeightsIndex, checkTensorShapes, checkTensorDtype]),
  group("Model card", [checkModelCardFrontMatter, checkPipelineTag, checkWidgetExamples]),
  group("Weight values", [checkWeightsFinite, checkWeightsAgree], "manifest"),
];
