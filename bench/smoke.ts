// Benchmark: whole-process `smoke --device cpu` on the BERT-base-size checkpoint against a
// PyTorch CPU script doing the same work (bench/torch_fill_mask.py: torch.load of the same
// pytorch_model.bin, the same input ids, the reference BERT forward, top-5), side by side.
//
// usage: npx tsx bench/smoke.ts [--reps N] [--ckpt DIR] [--torch-threads N]
// Ours is `node bin/azbert-release.js smoke --device cpu --ckpt DIR --json` (run `npm run build`
// first). Each tool runs once as a warm-up (page cache), then N times,
// alternating; we report medians, the ratio ours/torch, and peak RSS (/usr/bin/time's maxrss).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBaseCheckpoint, PYTHON, repoRoot } from "./base-ckpt.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const reps = Number(opt("--reps") ?? 5);
const ckpt = path.resolve(opt("--ckpt") ?? ensureBaseCheckpoint());
const torchThreads = opt("--torch-threads");
const cacheDir = path.join(repoRoot, "bench", ".cache");
const TIME = "/usr/bin/time";
const haveTime = existsSync(TIME);

interface Sample {
  ms: number;
  rssMB: number | null;
  stdout: string;
}

function measure(cmd: string, args: string[]): Sample {
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync(TIME, ["-f", "__MAXRSS_KB=%M", cmd, ...args], { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 << 20 })
    : spawnSync(cmd, args, { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  const m = /__MAXRSS_KB=(\d+)/.exec(r.stderr ?? "");
  return { ms, rssMB: m ? Number(m[1]) / 1024 : null, stdout: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** Our side: the real CLI, whole process. The sample's expectations do not apply to random
 * BERT-base weights, so it runs with a config that names none. */
function oursCommand(): { label: string; cmd: string; args: string[] } {
  const cli = path.join(repoRoot, "bin", "azbert-release.js");
  mkdirSync(cacheDir, { recursive: true });
  const config = path.join(cacheDir, "bench.config.json");
  writeFileSync(config, JSON.stringify({ smoke: { device: "cpu", topK: 5 } }));
  return {
    label: "node bin/azbert-release.js smoke --device cpu --json",
    cmd: process.execPath,
    args: [cli, "smoke", "--config", config, "--device", "cpu", "--ckpt", ckpt, "--json"],
  };
}

interface Report {
  engine: string;
  cases: { input_ids: number[]; masks: { position: number; top: { id: number; score: number }[] }[] }[];
}

const ours = oursCommand();
process.stderr.write(`warm-up (page cache) ...\n`);
const first = measure(ours.cmd, ours.args);
const report = JSON.parse(first.stdout) as Report;
const casesFile = path.join(cacheDir, "smoke-bench-cases.json");
mkdirSync(cacheDir, { recursive: true });
// the mask id as our tokenizer gave it (the id at the first mask position)
const firstCase = report.cases.find((c) => c.masks.length);
const maskId = firstCase ? firstCase.input_ids[firstCase.masks[0]?.position ?? 0] : undefined;
if (maskId === undefined) throw new Error("no masked case in our report");
writeFileSync(casesFile, JSON.stringify({ mask_id: maskId, cases: report.cases.map((c) => c.input_ids) }));
const torchArgs = [path.join(repoRoot, "bench", "torch_fill_mask.py"), ckpt, casesFile, ...(torchThreads ? ["--threads", torchThreads] : [])];
const torchFirst = measure(PYTHON, torchArgs);
const torchOut = JSON.parse(torchFirst.stdout) as { torch: string; threads: number; cases: Report["cases"]; ms: Record<string, number> };

// same work: the same top-5 at every mask
let same = 0;
let total = 0;
report.cases.forEach((c, i) => c.masks.forEach((m, j) => {
  total++;
  const t = torchOut.cases[i]?.masks[j];
  if (t && t.position === m.position && t.top.map((x) => x.id).join() === m.top.map((x) => x.id).join()) same++;
}));

const oursS: Sample[] = [];
const torchS: Sample[] = [];
for (let i = 0; i < reps; i++) {
  const pair = i % 2 ? ["torch", "ours"] : ["ours", "torch"];
  for (const who of pair) {
    if (who === "ours") oursS.push(measure(ours.cmd, ours.args));
    else torchS.push(measure(PYTHON, torchArgs));
  }
  process.stderr.write(`rep ${i + 1}/${reps}: ours ${oursS.at(-1)?.ms.toFixed(0)} ms, torch ${torchS.at(-1)?.ms.toFixed(0)} ms\n`);
}

const mo = median(oursS.map((s) => s.ms));
const mt = median(torchS.map((s) => s.ms));
const rss = (xs: Sample[]): string => {
  const v = xs.map((s) => s.rssMB).filter((x): x is number => x !== null);
  return v.length ? `${Math.max(...v).toFixed(0)} MB` : "n/a (no /usr/bin/time)";
};
const lines = [
  `checkpoint: ${ckpt} (${report.cases.length} widget cases)`,
  `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
  `ours:  ${ours.label}`,
  `       engine: ${report.engine}`,
  `torch: ${PYTHON} bench/torch_fill_mask.py (torch ${torchOut.torch}, ${torchOut.threads} thread(s))`,
  `same top-5 ids at ${same}/${total} masks`,
  `reps: ${reps} each, alternating, after one warm-up each`,
  `ours  median ${mo.toFixed(0)} ms  [${oursS.map((s) => s.ms.toFixed(0)).join(", ")}]  peak RSS ${rss(oursS)}`,
  `torch median ${mt.toFixed(0)} ms  [${torchS.map((s) => s.ms.toFixed(0)).join(", ")}]  peak RSS ${rss(torchS)}`,
  `ratio ours/torch: ${(mo / mt).toFixed(2)}`,
];
process.stdout.write(lines.join("\n") + "\n");
