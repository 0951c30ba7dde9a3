// Benchmark: writeSafetensors (pytorch_model.bin → model.safetensors, streamed, then read back and
// compared byte for byte) on the BERT-base-size checkpoint against `cp` of the same .bin to the
// same disk: the disk is the limit, so the target is at most 1.5× cp's time. Same run,
// alternating, a warm-up each (page cache), medians; ours timed inside a child process (tsx
// start-up excluded), peak RSS of both from /usr/bin/time (ours includes tsx's). The whole `convert` command (which also runs
// the CPU engine on both files to compare logits) is timed once for information.
//
//   npx tsx bench/convert.ts [--reps N] [--ckpt DIR] [--json]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadCheckpoint } from "../src/checkpoint/load.js";
import { torchWeightsSet } from "../src/checkpoint/safetensors-writer.js";
import { built, ensureBaseCheckpoint, repoRoot } from "./base-ckpt.js";
import { median } from "./args.js";

const self = fileURLToPath(import.meta.url);

/**
 * Child mode: one conversion, timed inside the process, with the built modules (`npm run build`):
 * what the CLI runs, worker threads included (from the TypeScript sources they would start tsx).
 */
async function child(ckptDir: string, outDir: string): Promise<void> {
  const { loadCheckpoint } = await built<typeof import("../src/checkpoint/load.js")>("checkpoint/load.js");
  const { writeSafetensors } = await built<typeof import("../src/checkpoint/safetensors-writer.js")>("checkpoint/safetensors-writer.js");
  const ckpt = await loadCheckpoint(ckptDir);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const r = await writeSafetensors(ckpt, outDir);
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, sizeRatio: r.proof.sizeRatio, bytes: r.proof.writtenBytes })}\n`);
}

function run(cmd: string, args: string[]): { ms: number; stdout: string; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--child") return child(argv[1]!, argv[2]!);
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const reps = Number(opt("--reps") ?? 5);
  const ckpt = path.resolve(opt("--ckpt") ?? ensureBaseCheckpoint());
  const ck = await loadCheckpoint(ckpt);
  const bins = torchWeightsSet(ck).files.map((f) => ck.files.find((x) => x.repoPath === f)!.source);
  const scratch = path.join(repoRoot, "bench", ".cache", "convert-out");
  mkdirSync(scratch, { recursive: true });
  const haveTime = existsSync("/usr/bin/time");

  const cp = () => {
    const dest = path.join(scratch, "cp");
    mkdirSync(dest, { recursive: true });
    const r = haveTime ? run("/usr/bin/time", ["-f", "__MAXRSS_KB=%M __CPU_S=%U+%S", "cp", ...bins, dest]) : run("cp", [...bins, dest]);
    rmSync(dest, { recursive: true, force: true });
    const m = /__MAXRSS_KB=(\d+)/.exec(r.stderr);
    const c = /__CPU_S=([\d.]+)\+([\d.]+)/.exec(r.stderr);
    return { ms: r.ms, maxRssMB: m ? Number(m[1]) / 1024 : NaN, cpuMs: c ? (Number(c[1]) + Number(c[2])) * 1000 : NaN };
  };
  const ours = () => {
    const out = path.join(scratch, "st");
    const child = [process.execPath, "--import", "tsx", self, "--child", ckpt, out];
    const r = haveTime ? run("/usr/bin/time", ["-f", "__MAXRSS_KB=%M", ...child]) : run(child[0]!, child.slice(1));
    rmSync(out, { recursive: true, force: true });
    const m = /__MAXRSS_KB=(\d+)/.exec(r.stderr);
    const doc = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { ms: number; cpuMs: number; sizeRatio: number; bytes: number };
    return { ...doc, maxRssMB: m ? Number(m[1]) / 1024 : NaN };
  };

  cp();
  ours();
  const cpRuns: ReturnType<typeof cp>[] = [];
  const ourRuns: ReturnType<typeof ours>[] = [];
  for (let i = 0; i < reps; i++) {
    ourRuns.push(ours());
    cpRuns.push(cp());
  }
  const cli = path.join(repoRoot, "bin", "azbert-release.js");
  const cliOut = path.join(scratch, "cli");
  const whole = run(process.execPath, [cli, "convert", "--ckpt", ckpt, "--out", cliOut, "--json"]);
  const wholeReport = JSON.parse(whole.stdout) as { ok: boolean; proof: { logits: unknown } };
  rmSync(cliOut, { recursive: true, force: true });

  const oursMs = median(ourRuns.map((r) => r.ms));
  const cpMs = median(cpRuns.map((r) => r.ms));
  const result = {
    checkpoint: ckpt,
    binBytes: bins.reduce((n, b) => n + statSync(b).size, 0),
    reps,
    oursMedianMs: Math.round(oursMs),
    cpMedianMs: Math.round(cpMs),
    ratio: Number((oursMs / cpMs).toFixed(2)),
    /** CPU time (user + system, all threads): the work done, less sensitive to other load than wall time. */
    oursCpuMs: Math.round(median(ourRuns.map((r) => r.cpuMs))),
    cpCpuMs: Math.round(median(cpRuns.map((r) => r.cpuMs))),
    target: 1.5,
    oursPeakRssMB: Math.round(Math.max(...ourRuns.map((r) => r.maxRssMB))),
    cpPeakRssMB: Math.round(Math.max(...cpRuns.map((r) => r.maxRssMB))),
    sizeRatio: Number(ourRuns[0]!.sizeRatio.toFixed(4)),
    wholeConvertCommandMs: Math.round(whole.ms),
    wholeConvertLogits: wholeReport.proof.logits,
  };
  if (argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    [
      `convert ${path.basename(ckpt)}: ${bins.map((b) => path.basename(b)).join(", ")} (${(result.binBytes / 1e6).toFixed(0)} MB) to safetensors, ${reps} runs each, medians`,
      `  writeSafetensors (write + read back + byte compare): ${result.oursMedianMs} ms, peak RSS ${result.oursPeakRssMB} MB`,
      `  cp of the .bin file(s):                               ${result.cpMedianMs} ms, peak RSS ${result.cpPeakRssMB} MB`,
      `  ratio ours/cp: ${result.ratio}x (target <= ${result.target}x) ${result.ratio <= result.target ? "OK" : "MISSED"}`,
      `  CPU time (user + system): ours ${result.oursCpuMs} ms, cp ${result.cpCpuMs} ms (${(result.oursCpuMs / result.cpCpuMs).toFixed(2)}x); load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`,
      `  model.safetensors is ${result.sizeRatio}x the .bin's size`,
      `  whole \`convert\` command (also runs the CPU engine on both files): ${result.wholeConvertCommandMs} ms, logits ${JSON.stringify(result.wholeConvertLogits)}`,
      "",
    ].join("\n"),
  );
}

await main();
