// Benchmark: the stages at two sizes, whole process, to see that time grows with the bytes and
// memory does not: the BERT-base-size checkpoint (one 442 MB pytorch_model.bin) and a
// BERT-large-size one (about 1.34 GB in three pytorch_model-0000N-of-00003.bin shards plus
// pytorch_model.bin.index.json, tools/make_sharded_ckpt.py). For each: a cold `check --offline`
// (fresh sha256 cache), `smoke --device cpu` (beside the current engine at BENCH_BASELINE_CLI
// when set, and PyTorch: bench/smoke-compare.ts), `pack`, and `release --yes --only hub` to a
// local Hub (fresh hash cache, api and git transports). Reported: median time, time per GB, peak
// RSS (/usr/bin/time), and the sharded run's peak RSS as a ratio of the single file's (target
// <= 1.10 for every stage: memory flat with size).
//
//   npx tsx bench/scale.ts [--reps N] [--json] [--smoke-only]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBaseCheckpoint, ensureShardedCheckpoint, repoRoot } from "./base-ckpt.js";
import { releaseToHub, startLocalHub } from "./local-hub.js";
import { compareSmoke, formatComparison, type SmokeComparison } from "./smoke-compare.js";
import { median } from "./args.js";

const argv = process.argv.slice(2);
const reps = Number(argv[argv.indexOf("--reps") + 1] || 3);
const smokeOnly = argv.includes("--smoke-only");
const cli = path.join(repoRoot, "bin", "azbert-release.js");
const cacheDir = path.join(repoRoot, "bench", ".cache");
mkdirSync(cacheDir, { recursive: true });
const config = path.join(cacheDir, "bench.config.json");
// Random weights meet no expectations: the smoke runs the model card's widget cases only.
writeFileSync(config, JSON.stringify({ smoke: { device: "cpu", topK: 5 } }));

interface Run {
  ms: number;
  rssMB: number;
}

function measure(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "__MAXRSS_KB=%M", process.execPath, cli, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 64 << 20,
    env: { ...process.env, CI: "true", ...env },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const json = JSON.parse(r.stdout) as { ok?: boolean; checks?: { id: string; status: string; message?: string }[] };
  const bad = (json.checks ?? []).filter((c) => c.status === "fail" && /^(files|json|schema|coherence|weights|card)\./.test(c.id));
  if (bad.length || (args[0] !== "check" && r.status !== 0)) throw new Error(`${args.join(" ")} failed (exit ${r.status}): ${JSON.stringify(bad)}\n${r.stderr}`);
  const m = /__MAXRSS_KB=(\d+)/.exec(r.stderr);
  return { ms, rssMB: m ? Number(m[1]) / 1024 : NaN };
}

const bytesOf = (dir: string) => readdirSync(dir).reduce((s, f) => s + statSync(path.join(dir, f)).size, 0);

const hub = await startLocalHub();
let publishes = 0;
const publish = async (ckpt: string, transport: string): Promise<Run> => {
  const r = await releaseToHub(hub.url, ckpt, `bench/scale-${transport}-${++publishes}`, transport);
  hub.clear();
  // The publish without its proof step (bench/proof.ts measures that).
  return { ms: r.publishSeconds * 1000, rssMB: r.publishPeakRss / 2 ** 20 };
};

const stages: Record<string, (ckpt: string) => Run | Promise<Run>> = {
  "check --offline (cold)": (ckpt) => {
    const cache = mkdtempSync(path.join(os.tmpdir(), "azbert-bench-cache-"));
    try {
      return measure(["check", "--offline", "--json", "--config", config, "--ckpt", ckpt], { AZBERT_RELEASE_CACHE_DIR: cache });
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  },
  pack: (ckpt) => {
    const out = mkdtempSync(path.join(cacheDir, "scale-pack-"));
    try {
      return measure(["pack", "--json", "--config", config, "--ckpt", ckpt, "--out", out]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
  "publish (api)": (ckpt) => publish(ckpt, "api"),
  "publish (git)": (ckpt) => publish(ckpt, "git"),
};
const SMOKE = "smoke --device cpu";
/** Stages whose memory must not grow with the checkpoint. */
const FLAT = ["check --offline (cold)", SMOKE, "pack", "publish (api)", "publish (git)"];

if (!existsSync("/usr/bin/time")) throw new Error("bench/scale.ts needs /usr/bin/time (apt-get install -y time)");
const checkpoints = { "base 442 MB (1 file)": ensureBaseCheckpoint(), "large sharded (3 shards + index)": ensureShardedCheckpoint() };
const results: Record<string, Record<string, { ms: number; sPerGB: number; rssMB: number }>> = {};
const smoke: Record<string, SmokeComparison> = {};
try {
  for (const [label, ckpt] of Object.entries(checkpoints)) {
    const gb = bytesOf(ckpt) / 1e9;
    results[label] = {};
    const c = (smoke[label] = compareSmoke(ckpt, { reps }));
    results[label]![SMOKE] = { ms: Math.round(c.ours.ms), sPerGB: Number((c.ours.ms / 1000 / gb).toFixed(2)), rssMB: Math.round(c.ours.rssMB) };
    for (const [stage, run] of Object.entries(smokeOnly ? {} : stages)) {
      await run(ckpt); // warm-up: page cache
      const runs: Run[] = [];
      for (let i = 0; i < reps; i++) runs.push(await run(ckpt));
      const ms = median(runs.map((r) => r.ms));
      results[label]![stage] = { ms: Math.round(ms), sPerGB: Number((ms / 1000 / gb).toFixed(2)), rssMB: Math.round(Math.max(...runs.map((r) => r.rssMB))) };
    }
  }
} finally {
  await hub.stop();
}
if (argv.includes("--json")) {
  const brief = (r: { ms: number; cpuMs: number; rssMB: number }) => ({ ms: Math.round(r.ms), cpuMs: Math.round(r.cpuMs), rssMB: Math.round(r.rssMB) });
  const smokeJson = Object.fromEntries(
    Object.entries(smoke).map(([label, c]) => [label, { agreement: c.agreement, ours: brief(c.ours), ...(c.baseline ? { baseline: brief(c.baseline) } : {}), torch: brief(c.torch) }]),
  );
  process.stdout.write(`${JSON.stringify({ stages: results, smoke: smokeJson }, null, 2)}\n`);
} else {
  const [base, large] = Object.keys(results) as [string, string];
  process.stdout.write(`\nstages at two sizes, whole process, medians of ${reps}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}\n`);
  for (const stage of Object.keys(results[base]!)) {
    const a = results[base]![stage]!;
    const b = results[large]![stage]!;
    const ratio = b.rssMB / a.rssMB;
    const verdict = FLAT.includes(stage) ? ` (target <= 1.10) ${ratio <= 1.1 ? "OK" : "MISSED"}` : "";
    process.stdout.write(
      `${stage.padEnd(24)} ${base}: ${a.ms} ms (${a.sPerGB} s/GB), peak RSS ${a.rssMB} MB | ${large}: ${b.ms} ms (${b.sPerGB} s/GB), peak RSS ${b.rssMB} MB | RSS ratio ${ratio.toFixed(2)}${verdict}\n`,
    );
  }
  process.stdout.write(`\n${SMOKE}, ours beside the current engine and PyTorch (medians of ${reps}, rotating):\n`);
  for (const [label, c] of Object.entries(smoke)) {
    process.stdout.write(`${label}\n${formatComparison(c).join("\n")}\n`);
    if (c.baseline) {
      const slower = c.ours.ms / c.baseline.ms;
      process.stdout.write(`  time vs the current engine ${slower.toFixed(2)} (target <= 1.50) ${slower <= 1.5 ? "OK" : "MISSED"}\n`);
    }
  }
  const peak = smoke[base]!.ours.rssMB;
  process.stdout.write(`ours peak RSS at ${base}: ${peak.toFixed(0)} MB (target <= 350) ${peak <= 350 ? "OK" : "MISSED"}\n`);
}
