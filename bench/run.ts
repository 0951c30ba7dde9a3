// `npm run bench`: every benchmark, each against its baseline in the same invocation.
// usage: npm run bench [-- check smoke pack publish manifest convert scale proof hf-compare]   (default: all)
// Needs the BERT-base-size checkpoint (generated once into bench/.cache by
// tools/make_base_size_ckpt.py: apt-get install -y python3-torch libopenblas0-pthread).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ensureBaseCheckpoint, repoRoot } from "./base-ckpt.js";

const all = ["check", "smoke", "pack", "publish", "manifest", "convert", "scale", "proof", "hf-compare"];
const chosen = process.argv.slice(2).filter((a) => all.includes(a));
ensureBaseCheckpoint();
let failed = 0;
for (const name of chosen.length ? chosen : all) {
  process.stdout.write(`\n=== bench/${name}.ts ===\n`);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "bench", `${name}.ts`)], { cwd: repoRoot, stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
