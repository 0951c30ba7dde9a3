// The BERT-base-size checkpoint every benchmark uses, generated once by the project's own
// script (tools/make_base_size_ckpt.py, PyTorch from Debian: apt-get install -y python3-torch
// libopenblas0-pthread) and cached under bench/.cache/.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";

export function ensureBaseCheckpoint(): string {
  const dir = path.join(repoRoot, "bench", ".cache", "azbert-base");
  if (existsSync(path.join(dir, "pytorch_model.bin"))) return dir;
  process.stderr.write(`generating a BERT-base-size checkpoint in ${dir} (about 440 MB)...\n`);
  execFileSync(PYTHON, [path.join(repoRoot, "tools", "make_base_size_ckpt.py"), dir, "--from", path.join(repoRoot, "ckpt")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return dir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(ensureBaseCheckpoint());
}
