// Benchmark: the checklist at the speed of the disk. Whole-process `check --offline`, cold (a fresh
// sha256 cache: every byte hashed, and scanned for NaN/Inf) against `openssl dgst -sha256` of the
// same files, and warm (everything cached: a rerun reads no weights), with peak RSS; on the
// BERT-base-size checkpoint (442 MB, one file) and the BERT-large-size sharded one (1.35 GB,
// three shards). Alternating, a warm-up each (page cache), medians. CPU time (user + system of
// the process and the git processes it waits for) is reported beside wall time: on a shared
// machine it moves less with the load.
//
//   npx tsx bench/check.ts [--reps N] [--json]
// Targets: cold <= 1.3x openssl, warm <= 0.25 s, peak RSS <= 150 MB.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBaseCheckpoint, ensureShardedCheckpoint, repoRoot } from "./base-ckpt.js";

const argv = process.argv.slice(2);
const reps = Number(argv[argv.indexOf("--reps") + 1] || 7);
const cli = path.join(repoRoot, "bin", "azbert-release.js");

interface Run {
  seconds: number;
  cpuSeconds: number;
  rssMB: number;
}

/** `cmd args` under /usr/bin/time, from the repository root (a git work tree: the git checks run too). */
function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "__TIME=%M %U %S", cmd, ...args], { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, CI: "true", ...env } });
  const seconds = (performance.now() - t0) / 1000;
  const m = /__TIME=(\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (!m) throw new Error(`${cmd} ${args.join(" ")}: no timing (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  if (cmd === process.execPath) {
    // The checkpoint's checks must pass (the git checks may fail on a development branch).
    const report = JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; message?: string }> };
    const bad = report.checks.filter((c) => c.status === "fail" && !c.id.startsWith("git."));
    if (bad.length) throw new Error(`check failed: ${JSON.stringify(bad)}`);
  } else if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { seconds, cpuSeconds: Number(m[2]) + Number(m[3]), rssMB: Number(m[1]) / 1024 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function files(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

function benchCheckpoint(label: string, ckpt: string) {
  const check = (cacheDir: string) => measure(process.execPath, [cli, "check", "--offline", "--json", "--ckpt", ckpt], { AZBERT_RELEASE_CACHE_DIR: cacheDir });
  const cold = () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), "azbert-bench-cache-"));
    try {
      return check(cache);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  };
  const warmCache = mkdtempSync(path.join(os.tmpdir(), "azbert-bench-cache-"));
  const openssl = () => measure("openssl", ["dgst", "-sha256", ...files(ckpt)]);
  try {
    cold();
    openssl();
    check(warmCache); // fills the cache the warm runs read
    const runs = { cold: [] as Run[], warm: [] as Run[], openssl: [] as Run[] };
    for (let i = 0; i < reps; i++) {
      runs.cold.push(cold());
      runs.openssl.push(openssl());
      runs.warm.push(check(warmCache));
    }
    const m = (rs: Run[], k: keyof Run) => +median(rs.map((r) => r[k])).toFixed(3);
    const bytes = files(ckpt).reduce((s, f) => s + statSync(f).size, 0);
    return {
      label,
      checkpoint: ckpt,
      megabytes: +(bytes / 1e6).toFixed(0),
      cold: { seconds: m(runs.cold, "seconds"), cpuSeconds: m(runs.cold, "cpuSeconds"), peakRssMB: +Math.max(...runs.cold.map((r) => r.rssMB)).toFixed(0) },
      warm: { seconds: m(runs.warm, "seconds"), cpuSeconds: m(runs.warm, "cpuSeconds"), peakRssMB: +Math.max(...runs.warm.map((r) => r.rssMB)).toFixed(0) },
      openssl: { seconds: m(runs.openssl, "seconds"), cpuSeconds: m(runs.openssl, "cpuSeconds") },
      coldOverOpenssl: +(median(runs.cold.map((r) => r.seconds)) / median(runs.openssl.map((r) => r.seconds))).toFixed(2),
      coldOverOpensslCpu: +(median(runs.cold.map((r) => r.cpuSeconds)) / median(runs.openssl.map((r) => r.cpuSeconds))).toFixed(2),
    };
  } finally {
    rmSync(warmCache, { recursive: true, force: true });
  }
}

if (!existsSync("/usr/bin/time")) throw new Error("bench/check.ts needs /usr/bin/time (apt-get install -y time)");
if (!existsSync(path.join(repoRoot, "dist", "cli.js"))) throw new Error("run `npm run build` first: the benchmark runs the built CLI");
const results = [benchCheckpoint("base 442 MB (1 file)", ensureBaseCheckpoint()), benchCheckpoint("large sharded (3 shards + index)", ensureShardedCheckpoint())];
if (argv.includes("--json")) {
  process.stdout.write(`${JSON.stringify({ reps, results, loadAverage: os.loadavg(), cpus: os.cpus().length }, null, 2)}\n`);
} else {
  const ok = (b: boolean) => (b ? "OK" : "MISSED");
  const lines = [`\ncheck --offline, whole process, medians of ${reps}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}, ${os.cpus().length} CPUs`];
  for (const r of results) {
    lines.push(
      `  ${r.label}: cold ${r.cold.seconds} s vs openssl dgst -sha256 ${r.openssl.seconds} s: ratio ${r.coldOverOpenssl}x (target <= 1.3x) ${ok(r.coldOverOpenssl <= 1.3)}; in CPU time ${r.cold.cpuSeconds} s vs ${r.openssl.cpuSeconds} s (${r.coldOverOpensslCpu}x)`,
      `    warm rerun ${r.warm.seconds} s (target <= 0.25 s) ${ok(r.warm.seconds <= 0.25)}, CPU ${r.warm.cpuSeconds} s; peak RSS cold ${r.cold.peakRssMB} MB, warm ${r.warm.peakRssMB} MB (target <= 150 MB) ${ok(Math.max(r.cold.peakRssMB, r.warm.peakRssMB) <= 150)}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
