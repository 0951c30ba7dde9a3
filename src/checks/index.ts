// The checkpoint checklist, in the order a user reads it. Each check is a pure function of the
// loaded checkpoint.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import type { CheckResult } from "../report.js";
import { checkLayout, checkRequiredFiles, checkUnexpectedFiles } from "./files.js";
import { checkJsonParses, checkJsonSchemas, checkNoLocalPaths } from "./json.js";
import { checkModelCardFrontMatter, checkPipelineTag, checkWidgetExamples } from "./model-card.js";
import { checkAttentionHeads, checkSpecialTokens, checkVocabularySizes } from "./tokenizer.js";
import { checkTensorDtype, checkTensorShapes, checkWeightsIndex, checkWeightsReadable } from "./weights.js";

export interface CheckGroup {
  title: string;
  run: (ckpt: LoadedCheckpoint) => CheckResult[];
}

export const CHECKPOINT_CHECKS: CheckGroup[] = [
  { title: "Checkpoint files", run: (c) => [checkRequiredFiles(c), checkLayout(c), checkUnexpectedFiles(c)] },
  { title: "JSON files", run: (c) => [checkJsonParses(c), ...checkJsonSchemas(c), checkNoLocalPaths(c)] },
  { title: "Tokenizer", run: (c) => [checkVocabularySizes(c), checkSpecialTokens(c), checkAttentionHeads(c)] },
  { title: "Weights", run: (c) => [...checkWeightsReadable(c), ...checkWeightsIndex(c), checkTensorShapes(c), checkTensorDtype(c)] },
  { title: "Model card", run: (c) => [checkModelCardFrontMatter(c), checkPipelineTag(c), checkWidgetExamples(c)] },
];

export function runCheckpointChecks(ckpt: LoadedCheckpoint): CheckResult[] {
  return CHECKPOINT_CHECKS.flatMap((g) => g.run(ckpt));
}
