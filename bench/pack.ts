// Benchmark: packCheckpoint vs GNU `tar czf` (gzip -6 through a pipe) on the BERT-base-size
// checkpoint, same run, alternating, several repetitions, medians.
//
//   npx tsx bench/pack.ts [--reps N] [--json]
//
// Pack is measured from a precomputed manifest (hashing is a separate, cached stage), with
// and without packCheckpoint's on-the-fly re-verification of the source sha256
// (verifySources, on by default); and also including the hashing stage. Each of our runs is a
// child process so that its peak RSS is its own; GNU tar's peak RSS comes from /usr/bin/time.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Manifest } from "../src/checkpoint/types.js";
import { built, ensureBaseCheckpoint, repoRoot } from "./base-ckpt.js";

const self = fileURLToPath(import.meta.url);

/** The flat checkpoint's manifest, by the project's own (built) manifest code (no cache: every run hashes). */
async function hashManifest(dir: string): Promise<Manifest> {
  const { HashCache } = await built<typeof import("../src/checkpoint/hash-cache.js")>("checkpoint/hash-cache.js");
  const { buildManifest } = await built<typeof import("../src/checkpoint/manifest.js")>("checkpoint/manifest.js");
  const files = readdirSync(dir)
    .sort()
    .map((name) => ({ repoPath: name, source: path.join(dir, name), size: statSync(path.join(dir, name)).size }))
    .filter((f) => statSync(f.source).isFile());
  return buildManifest(files, { cache: new HashCache(null) });
}

interface ChildResult {
  ms: number;
  hashMs?: number;
  size: number;
  sha256: string;
  maxRssMB: number;
  /** User + system CPU time of the process (all threads): robust to other load on the machine. */
  cpuMs: number;
}

/**
 * This process's peak RSS. VmHWM, not getrusage's maxrss: Linux carries ru_maxrss across
 * execve, so a child forked from a big parent would report the parent's peak.
 */
function peakRssMB(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** Child mode: one pack, timed inside the process. */
async function child(args: string[]): Promise<void> {
  const [mode, manifestFile, outDir] = args as [string, string, string];
  const { packCheckpoint } = await built<typeof import("../src/pack/pack.js")>("pack/pack.js");
  await built("checkpoint/manifest.js"); // loaded before the clock starts, like packCheckpoint
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let manifest: Manifest;
  let hashMs: number | undefined;
  if (mode === "hash+pack") {
    manifest = await hashManifest(manifestFile);
    hashMs = performance.now() - t0;
  } else manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest;
  const t1 = mode === "hash+pack" ? t0 : performance.now();
  const cpu1 = mode === "hash+pack" ? cpu0 : process.cpuUsage();
  const r = await packCheckpoint({
    manifest,
    outDir,
    verifySources: mode !== "pack-noverify",
    ...(mode === "pack-deflate6" ? { strategy: "default" as const } : {}),
  });
  const res: ChildResult = {
    ms: performance.now() - t1,
    ...(hashMs !== undefined ? { hashMs } : {}),
    size: r.archive.size,
    sha256: r.archive.sha256,
    maxRssMB: peakRssMB(),
    cpuMs: ((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpu1)),
  };
  process.stdout.write(JSON.stringify(res) + "\n");
}

function runChild(mode: string, input: string, outDir: string): ChildResult {
  const r = spawnSync(process.execPath, [...process.execArgv, self, "--child", mode, input, outDir], { encoding: "utf8", cwd: repoRoot });
  if (r.status !== 0) throw new Error(`child ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as ChildResult;
}

function runGnu(dir: string, outFile: string): { ms: number; size: number; sha256: string; maxRssMB?: number; cpuMs?: number } {
  const hasTime = existsSync("/usr/bin/time");
  const cmd = hasTime ? "/usr/bin/time" : "tar";
  const args = [...(hasTime ? ["-f", "MAXRSS_KB=%M CPU_S=%U+%S", "tar"] : []), "czf", outFile, "-C", path.dirname(dir), path.basename(dir)];
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`GNU tar failed: ${r.stderr}`);
  const rss = /MAXRSS_KB=(\d+)/.exec(r.stderr);
  const cpu = /CPU_S=([\d.]+)\+([\d.]+)/.exec(r.stderr); // tar and the gzip it waits for
  const bytes = readFileSync(outFile);
  return { ms, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), ...(rss ? { maxRssMB: Number(rss[1]) / 1024 } : {}),
    ...(cpu ? { cpuMs: (Number(cpu[1]) + Number(cpu[2])) * 1000 } : {}),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const repsIdx = argv.indexOf("--reps");
  const reps = repsIdx >= 0 ? Number(argv[repsIdx + 1]) : 3;
  const json = argv.includes("--json");
  // The real folder: GNU tar would archive a symbolic link to it as just a link.
  const dir = realpathSync(ensureBaseCheckpoint());
  const work = mkdtempSync(path.join(tmpdir(), "azbert-bench-pack-"));
  const log = (m: string): void => void process.stderr.write(m + "\n");
  try {
    const th = performance.now();
    const manifest = await hashManifest(dir);
    const hashOnceMs = performance.now() - th;
    const manifestFile = path.join(work, "manifest.json");
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const inputBytes = manifest.reduce((s, e) => s + e.size, 0);
    log(`checkpoint ${dir}: ${manifest.length} files, ${(inputBytes / 1e6).toFixed(1)} MB; hashing stage ${(hashOnceMs / 1000).toFixed(2)} s`);

    const gnu: ReturnType<typeof runGnu>[] = [];
    const ours: Record<string, ChildResult[]> = { pack: [], "pack-noverify": [], "hash+pack": [] };
    for (let i = 0; i < reps; i++) {
      const g = runGnu(dir, path.join(work, "gnu.tar.gz"));
      rmSync(path.join(work, "gnu.tar.gz"));
      gnu.push(g);
      log(`rep ${i + 1}: GNU tar czf ${(g.ms / 1000).toFixed(2)} s, ${g.size} B`);
      for (const mode of Object.keys(ours)) {
        const out = path.join(work, `out-${mode}`);
        const r = runChild(mode, mode === "hash+pack" ? dir : manifestFile, out);
        rmSync(out, { recursive: true, force: true });
        ours[mode]!.push(r);
        log(`rep ${i + 1}: ${mode} ${(r.ms / 1000).toFixed(2)} s, ${r.size} B, peak RSS ${r.maxRssMB.toFixed(0)} MB`);
      }
    }
    // References, once: the default deflate strategy instead of Z_RLE (why Z_RLE), and the peak RSS
    // of packing the 0.6 MB sample checkpoint (memory does not grow with checkpoint size).
    const deflate6 = runChild("pack-deflate6", manifestFile, path.join(work, "out-deflate6"));
    rmSync(path.join(work, "out-deflate6"), { recursive: true, force: true });
    log(`reference: pack with the default deflate strategy (not Z_RLE) ${(deflate6.ms / 1000).toFixed(2)} s, ${deflate6.size} B`);
    const sampleManifest = path.join(work, "sample.json");
    writeFileSync(sampleManifest, JSON.stringify(await hashManifest(path.join(repoRoot, "test", "fixtures", "azbert-tiny"))));
    const sample = runChild("pack", sampleManifest, path.join(work, "out-sample"));
    log(`reference: pack of the sample checkpoint: peak RSS ${sample.maxRssMB.toFixed(0)} MB`);
    // Twice the bytes (every file archived twice, under a second folder): peak RSS must not grow.
    const doubledManifest = path.join(work, "doubled.json");
    writeFileSync(doubledManifest, JSON.stringify([...manifest, ...manifest.map((e) => ({ ...e, path: `again/${e.path}` }))]));
    const doubled = runChild("pack", doubledManifest, path.join(work, "out-doubled"));
    rmSync(path.join(work, "out-doubled"), { recursive: true, force: true });
    log(`reference: pack of twice the bytes: ${(doubled.ms / 1000).toFixed(2)} s, peak RSS ${doubled.maxRssMB.toFixed(0)} MB`);
    const gnuMs = median(gnu.map((g) => g.ms));
    const gnuCpuMs = gnu.every((g) => g.cpuMs !== undefined) ? median(gnu.map((g) => g.cpuMs!)) : undefined;
    const gnuSize = gnu[0]!.size;
    const rows = Object.entries(ours).map(([mode, rs]) => {
      const ms = median(rs.map((r) => r.ms));
      return {
        mode,
        medianS: +(ms / 1000).toFixed(3),
        ratioVsGnu: +(ms / gnuMs).toFixed(3),
        cpuS: +(median(rs.map((r) => r.cpuMs)) / 1000).toFixed(3),
        ...(gnuCpuMs ? { cpuRatioVsGnu: +(median(rs.map((r) => r.cpuMs)) / gnuCpuMs).toFixed(3) } : {}),
        size: rs[0]!.size,
        sizeVsGnu: +(rs[0]!.size / gnuSize).toFixed(5),
        peakRssMB: Math.round(Math.max(...rs.map((r) => r.maxRssMB))),
        identicalAcrossRuns: rs.every((r) => r.sha256 === rs[0]!.sha256),
        ...(rs[0]!.hashMs !== undefined ? { hashMedianS: +(median(rs.map((r) => r.hashMs!)) / 1000).toFixed(3) } : {}),
      };
    });
    const result = {
      checkpoint: { dir, files: manifest.length, bytes: inputBytes },
      reps,
      gnu: {
        medianS: +(gnuMs / 1000).toFixed(3),
        ...(gnuCpuMs ? { cpuS: +(gnuCpuMs / 1000).toFixed(3) } : {}),
        size: gnuSize,
        peakRssMB: gnu[0]!.maxRssMB !== undefined ? Math.round(Math.max(...gnu.map((g) => g.maxRssMB ?? 0))) : undefined,
        identicalAcrossRuns: gnu.every((g) => g.sha256 === gnu[0]!.sha256),
      },
      ours: rows,
      reference: {
        defaultStrategy: { s: +(deflate6.ms / 1000).toFixed(3), ratioVsGnu: +(deflate6.ms / gnuMs).toFixed(3), size: deflate6.size },
        samplePackPeakRssMB: Math.round(sample.maxRssMB),
        doubledPackPeakRssMB: Math.round(doubled.maxRssMB),
      },
      allOursIdentical: rows.every((r) => r.identicalAcrossRuns) && new Set(Object.values(ours).flatMap((rs) => rs.map((r) => r.sha256))).size === 1,
    };
    if (json) {
      process.stdout.write(JSON.stringify(result, null, 2) + "\n");
      return;
    }
    console.log(`\npack vs GNU tar czf — ${manifest.length} files, ${(inputBytes / 1e6).toFixed(1)} MB, median of ${reps}`);
    console.log(`GNU tar czf        ${result.gnu.medianS.toFixed(2)} s (cpu ${gnuCpuMs ? (gnuCpuMs / 1000).toFixed(2) : "?"} s)  ${gnuSize} B  peak RSS ${result.gnu.peakRssMB ?? "?"} MB (byte-identical runs: ${result.gnu.identicalAcrossRuns})`);
    for (const r of rows) {
      console.log(
        `${r.mode.padEnd(18)} ${r.medianS.toFixed(2)} s (cpu ${r.cpuS.toFixed(2)} s)  ${r.size} B  time ×${r.ratioVsGnu.toFixed(2)}  cpu ×${r.cpuRatioVsGnu?.toFixed(2) ?? "?"}  size ×${r.sizeVsGnu.toFixed(4)}  peak RSS ${r.peakRssMB} MB${"hashMedianS" in r ? ` (hashing ${r.hashMedianS} s of it)` : ""}`,
      );
    }
    console.log(
      `reference: default deflate strategy instead of Z_RLE: ${result.reference.defaultStrategy.s.toFixed(2)} s (×${result.reference.defaultStrategy.ratioVsGnu.toFixed(2)}), ${deflate6.size} B; peak RSS packing the 0.6 MB sample ${result.reference.samplePackPeakRssMB} MB, twice the bytes ${result.reference.doubledPackPeakRssMB} MB`,
    );
    console.log(`our archives byte-identical across every run and mode: ${result.allOursIdentical}`);
    console.log(`machine: ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")} (under other load, compare cpu ×)`);
    console.log("pack = precomputed manifest, re-verifying sha256 while packing (default); pack-noverify = verifySources:false; hash+pack = hashing stage included");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--child") await child(process.argv.slice(3));
else await main();
