// The CPU engine run on two weights sets of one checkpoint (pytorch_model.bin and the safetensors
// written from it): the same inputs must give bit-identical logits.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import { loadWeightsSet, type WeightsSet } from "../checkpoint/weight-sets.js";
import { UserError } from "../report.js";
import { widgetCases } from "./cases.js";
import { CpuEngine } from "./engine.js";
import { loadTokenizer } from "./tokenizer.js";

export interface LogitsComparison {
  /** Masked positions compared (logits over the whole vocabulary at each). */
  masks: number;
  /** Largest |a - b| over every logit; 0 when identical. */
  maxAbsDiff: number;
  /** Every logit has the same bits in both runs. */
  identical: boolean;
}

/** Inputs when the checkpoint has no widget examples: any text works, the two runs must agree. */
const FALLBACK_TEXT = "Proof by [MASK] that the sum of two even numbers is [MASK].";

export async function compareLogits(ckpt: LoadedCheckpoint, a: WeightsSet, b: WeightsSet): Promise<LogitsComparison> {
  const tokenizer = await loadTokenizer(ckpt);
  const texts = await widgetCases(ckpt).then((cs) => cs.map((c) => c.text), () => [FALLBACK_TEXT.replaceAll("[MASK]", tokenizer.maskToken)]);
  const sequences = texts.map((t) => tokenizer.encode(t).ids);
  const run = async (set: WeightsSet) => {
    const engine = await CpuEngine.load(ckpt, { weightsSet: set, tokenizer });
    try {
      return (await engine.run(sequences, 1)).masks.flat().map((m) => m.logits);
    } finally {
      await engine.dispose();
    }
  };
  const x = await run(a);
  const y = await run(b);
  let maxAbsDiff = 0;
  let identical = x.length === y.length;
  x.forEach((row, i) => {
    const other = y[i];
    if (!other || other.length !== row.length) {
      identical = false;
      maxAbsDiff = Infinity;
      return;
    }
    if (!Buffer.from(row.buffer, row.byteOffset, row.byteLength).equals(Buffer.from(other.buffer, other.byteOffset, other.byteLength))) identical = false;
    for (let k = 0; k < row.length; k++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(row[k]! - other[k]!));
  });
  return { masks: x.length, maxAbsDiff, identical };
}

/**
 * The logits part of a conversion's proof: the CPU engine on the source set and on the written
 * files. A model the engine does not run (another architecture) is skipped with the reason: the
 * byte proof then stands alone.
 */
export async function proveSameLogits(ckpt: LoadedCheckpoint, source: WeightsSet, writtenFiles: readonly string[]): Promise<LogitsComparison | { skipped: string }> {
  const written = await loadWeightsSet([...writtenFiles]);
  try {
    return await compareLogits(ckpt, source, written!);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { skipped: e.message.split("\n")[0]! };
  }
}
