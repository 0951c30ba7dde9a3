// What is in the folder: required files present, nothing clashing, escaping or unexpected.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import { REQUIRED_FILES, WEIGHT_FILES } from "../checkpoint/discover.js";
import { WEIGHTS_INDEX_FILES } from "../checkpoint/weight-sets.js";
import type { CheckResult } from "../report.js";
import { fail, pass, warn } from "./helpers.js";

export function checkRequiredFiles(ckpt: LoadedCheckpoint): CheckResult {
  const id = "files.required";
  const title = "required files are present";
  const have = new Set(ckpt.files.map((f) => f.repoPath));
  const missing: string[] = REQUIRED_FILES.filter((f) => !have.has(f)).map((f) => `${f} is missing from ${ckpt.root}`);
  if (![...WEIGHT_FILES, ...WEIGHTS_INDEX_FILES].some((f) => have.has(f))) {
    missing.push(`no weights: neither pytorch_model.bin nor model.safetensors (nor a sharded index) is in ${ckpt.root}`);
  }
  return missing.length ? fail(id, title, missing) : pass(id, title);
}

export function checkLayout(ckpt: LoadedCheckpoint): CheckResult {
  const id = "files.layout";
  const title = "files flatten to unique repo paths, no link escapes the folder";
  const errors = ckpt.problems.filter((p) => p.severity === "error" && p.code !== "large-unknown").map((p) => p.message);
  return errors.length ? fail(id, title, errors) : pass(id, title, `${ckpt.files.length} files`);
}

export function checkUnexpectedFiles(ckpt: LoadedCheckpoint): CheckResult {
  const id = "files.unexpected";
  const title = "no unexpected files would be published";
  const large = ckpt.problems.filter((p) => p.code === "large-unknown").map((p) => p.message);
  if (large.length) return fail(id, title, large);
  const small = ckpt.problems.filter((p) => p.code === "unknown-file").map((p) => p.message);
  return small.length ? warn(id, title, small) : pass(id, title);
}
