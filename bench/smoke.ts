// Benchmark: whole-process `smoke --device cpu` on the BERT-base-size checkpoint against the
// current engine (BENCH_BASELINE_CLI, when set) and a PyTorch CPU script doing the same work
// (bench/torch_fill_mask.py), side by side: medians of rotating runs after a warm-up each, time,
// CPU time and peak RSS, and the ratios (bench/smoke-compare.ts).
//
// usage: npx tsx bench/smoke.ts [--reps N] [--ckpt DIR] [--torch-threads N] [--json]
// Ours is `node bin/azbert-release.js smoke --device cpu --ckpt DIR --json` (run `npm run build` first).
import os from "node:os";
import path from "node:path";
import { ensureBaseCheckpoint } from "./base-ckpt.js";
import { compareSmoke, formatComparison, type ToolResult } from "./smoke-compare.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const reps = Number(opt("--reps") ?? 5);
const ckpt = path.resolve(opt("--ckpt") ?? ensureBaseCheckpoint());
const torchThreads = opt("--torch-threads");
const c = compareSmoke(ckpt, { reps, ...(torchThreads ? { torchThreads } : {}) });
if (argv.includes("--json")) {
  const strip = <T extends ToolResult>(r: T) => ({ ...r, runs: r.runs.map(({ ms, cpuMs, rssMB }) => ({ ms, cpuMs, rssMB })) });
  process.stdout.write(`${JSON.stringify({ ...c, ours: strip(c.ours), ...(c.baseline ? { baseline: strip(c.baseline) } : {}), torch: strip(c.torch) }, null, 2)}\n`);
} else {
  process.stdout.write(
    [`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`, `reps: ${reps} each, rotating, after one warm-up each`, ...formatComparison(c)].join("\n") + "\n",
  );
}
