// The folder the Python runner loads: the config and tokenizer files (links to the checkpoint's,
// flattened as `check` sees them) and safetensors weights, so transformers never unpickles
// anything: the checkpoint's own safetensors when it has readable ones, else safetensors written
// from pytorch_model.bin by the project's reader (writeSafetensors).
import { mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { checkpointSource, type LoadedCheckpoint } from "../checkpoint/load.js";
import { writeSafetensors } from "../checkpoint/safetensors-writer.js";
import { assertNoRepositoryCode, assertWeightsPassChecks } from "./load-gate.js";

/** Everything transformers reads for a BERT fill-mask besides the weights (all JSON or text). */
export const RUNNER_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt"];

export interface RunnerFolder {
  dir: string;
  /** The weights files in it. */
  weights: string[];
  /** true: written from pytorch_model.bin; false: links to the checkpoint's safetensors. */
  converted: boolean;
  remove(): Promise<void>;
}

/** Gates the checkpoint (exit 1 with the checklist's message), then builds the folder in a temp dir. */
export async function prepareRunnerFolder(ckpt: LoadedCheckpoint): Promise<RunnerFolder> {
  assertWeightsPassChecks(ckpt);
  assertNoRepositoryCode(ckpt);
  const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-runner-"));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    for (const name of RUNNER_FILES) {
      const source = checkpointSource(ckpt, name);
      if (source) await symlink(source, path.join(dir, name));
    }
    const safetensors = ckpt.weightSets.find((s) => s.format === "safetensors" && s.tensors);
    if (safetensors) {
      const names = safetensors.sharded ? [safetensors.path, ...safetensors.files] : safetensors.files;
      for (const name of names) await symlink(checkpointSource(ckpt, name)!, path.join(dir, name));
      return { dir, weights: safetensors.files, converted: false, remove };
    }
    const written = await writeSafetensors(ckpt, dir);
    return { dir, weights: written.files.map((f) => path.basename(f.path)).filter((f) => f.endsWith(".safetensors")), converted: true, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}
