// The checkpoints the benchmarks use, generated once by the project's own scripts
// (tools/make_base_size_ckpt.py, tools/make_sharded_ckpt.py; PyTorch from Debian: apt-get install
// -y python3-torch libopenblas0-pthread) and cached under bench/.cache/.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * A module of the build (`npm run build`) rather than its TypeScript source: what the CLI runs.
 * Hashing and verified writes start worker threads; from the sources each would first load tsx.
 * Use: `await built<typeof import("../src/x.js")>("x.js")`.
 */
export async function built<T>(module: string): Promise<T> {
  const file = path.join(repoRoot, "dist", module);
  if (!existsSync(file)) throw new Error(`${path.relative(repoRoot, file)} is missing: run \`npm run build\` first (the benchmarks run the built modules)`);
  return (await import(file)) as T;
}
export const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";

export function ensureBaseCheckpoint(): string {
  const dir = path.join(repoRoot, "bench", ".cache", "azbert-base");
  if (existsSync(path.join(dir, "pytorch_model.bin"))) return dir;
  process.stderr.write(`generating a BERT-base-size checkpoint in ${dir} (about 440 MB)...\n`);
  execFileSync(PYTHON, [path.join(repoRoot, "tools", "make_base_size_ckpt.py"), dir, "--from", path.join(repoRoot, "test", "fixtures", "azbert-tiny")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return dir;
}

/** A BERT-large-size checkpoint (about 1.34 GB) in three pytorch_model.bin shards plus the index (tools/make_sharded_ckpt.py). */
export function ensureShardedCheckpoint(): string {
  const dir = path.join(repoRoot, "bench", ".cache", "azbert-large-sharded");
  if (existsSync(path.join(dir, "pytorch_model.bin.index.json"))) return dir;
  process.stderr.write(`generating a BERT-large-size sharded checkpoint in ${dir} (about 1.3 GB)...\n`);
  execFileSync(PYTHON, [path.join(repoRoot, "tools", "make_sharded_ckpt.py"), dir, "--from", path.join(repoRoot, "test", "fixtures", "azbert-tiny")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return dir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(process.argv[2] === "sharded" ? ensureShardedCheckpoint() : ensureBaseCheckpoint());
}
