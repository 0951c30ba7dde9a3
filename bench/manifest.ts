// Benchmark: the cost of the non-finite scan fused into manifest hashing (weights.finite), on the
// BERT-base-size checkpoint. Cold manifest hashing (no sha256 cache) with the scan vs without it,
// alternating in one process, medians, reported as a ratio; `openssl dgst -sha256` over the same
// files as the reference a fast hash reaches. The page cache is warm for all of them (a first
// untimed read), so the ratio is CPU cost, not disk. Process CPU time is reported beside wall time:
// on a shared machine it moves less with the load.
//
//   npx tsx bench/manifest.ts [--reps N] [--json]
import { spawnSync } from "node:child_process";
import { built, ensureBaseCheckpoint } from "./base-ckpt.js";

const { HashCache } = await built<typeof import("../src/checkpoint/hash-cache.js")>("checkpoint/hash-cache.js");
const { loadCheckpoint } = await built<typeof import("../src/checkpoint/load.js")>("checkpoint/load.js");
const { buildManifest, hashCheckpoint } = await built<typeof import("../src/checkpoint/manifest.js")>("checkpoint/manifest.js");
const { simdKernelAvailable } = await built<typeof import("../src/checkpoint/finite-scan.js")>("checkpoint/finite-scan.js");

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(argv: string[]): Promise<void> {
  const repsIdx = argv.indexOf("--reps");
  const reps = repsIdx >= 0 ? Number(argv[repsIdx + 1]) : 7;
  const json = argv.includes("--json");
  const dir = ensureBaseCheckpoint();
  const ckpt = await loadCheckpoint(dir, { cache: new HashCache(null) });
  const files = ckpt.files;
  const bytes = files.reduce((n, f) => n + f.size, 0);

  const timed = async <T>(run: () => Promise<T>) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const manifest = await run();
    const cpu = process.cpuUsage(c0);
    return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, manifest };
  };
  const plain = () => timed(() => buildManifest(files, { cache: new HashCache(null) }));
  const fused = () => timed(() => hashCheckpoint(ckpt, { cache: new HashCache(null) }));
  const openssl = () => {
    const t0 = performance.now();
    const r = spawnSync("openssl", ["dgst", "-sha256", ...files.map((f) => f.source)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    return performance.now() - t0;
  };

  await plain(); // warm the page cache and the JIT
  await fused();
  const plainMs: number[] = [];
  const fusedMs: number[] = [];
  const plainCpu: number[] = [];
  const fusedCpu: number[] = [];
  const opensslMs: number[] = [];
  let same = true;
  for (let i = 0; i < reps; i++) {
    const a = await plain();
    const b = await fused();
    opensslMs.push(openssl());
    plainMs.push(a.ms);
    fusedMs.push(b.ms);
    plainCpu.push(a.cpuMs);
    fusedCpu.push(b.cpuMs);
    same &&= JSON.stringify(a.manifest) === JSON.stringify(b.manifest);
  }
  const scan = ckpt.finite?.get("pytorch_model.bin");
  const result = {
    checkpoint: { files: files.length, megabytes: +(bytes / 1e6).toFixed(1), floatMegabytes: +((scan?.floatBytes ?? 0) / 1e6).toFixed(1) },
    reps,
    simdKernel: simdKernelAvailable(),
    hashOnly: { medianS: +(median(plainMs) / 1000).toFixed(3), cpuS: +(median(plainCpu) / 1000).toFixed(3), mbPerS: Math.round(bytes / 1e3 / median(plainMs)) },
    hashAndScan: { medianS: +(median(fusedMs) / 1000).toFixed(3), cpuS: +(median(fusedCpu) / 1000).toFixed(3), mbPerS: Math.round(bytes / 1e3 / median(fusedMs)) },
    scanCostRatio: +(median(fusedMs) / median(plainMs)).toFixed(3),
    scanCpuRatio: +(median(fusedCpu) / median(plainCpu)).toFixed(3),
    opensslSha256: { medianS: +(median(opensslMs) / 1000).toFixed(3) },
    hashAndScanVsOpenssl: +(median(fusedMs) / median(opensslMs)).toFixed(3),
    sameManifest: same,
    nonFiniteFound: scan?.nonFinite.length ?? null,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  console.log(`\nmanifest hashing, cold cache — ${files.length} files, ${result.checkpoint.megabytes} MB (${result.checkpoint.floatMegabytes} MB of float tensors), median of ${reps}`);
  console.log(`hash only            ${result.hashOnly.medianS.toFixed(3)} s  ${result.hashOnly.mbPerS} MB/s  (CPU ${result.hashOnly.cpuS.toFixed(3)} s)`);
  console.log(
    `hash + NaN/Inf scan  ${result.hashAndScan.medianS.toFixed(3)} s  ${result.hashAndScan.mbPerS} MB/s  (CPU ${result.hashAndScan.cpuS.toFixed(3)} s)   time ×${result.scanCostRatio}, CPU ×${result.scanCpuRatio} (scan kernel: ${result.simdKernel ? "WebAssembly SIMD" : "plain JS"})`,
  );
  console.log(`openssl dgst -sha256 ${result.opensslSha256.medianS.toFixed(3)} s   hash + scan ×${result.hashAndScanVsOpenssl} of it`);
  console.log(`same manifest both ways: ${result.sameManifest}; non-finite ranges found: ${result.nonFiniteFound}`);
}

await main(process.argv.slice(2));
