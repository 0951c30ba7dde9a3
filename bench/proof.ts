// Benchmark: the proof from what the Hub serves (verify.download) for the BERT-base-size
// checkpoint over loopback, against its floor in the same invocation:
//   floor = `curl -sSfL` of every published file from the same resolve/<tag>/ URLs (following the
//           redirect to the storage host) + `openssl dgst -sha256` of the downloaded files
//   proof = the release's verify.download step on the Hub: download + sha256 of every file
//           (timed inside the step), then the gate and the CPU smoke test of the copy
// The release (`release --yes --only hub`, default weights.safetensors "add": pytorch_model.bin and
// model.safetensors are both published, so both are downloaded) runs once to publish; the whole
// `verify --tag` command (a fresh process: start-up, download, smoke) is then timed N times, with
// its peak RSS (/usr/bin/time %M). The local Hub runs in this process; the CLI in its own.
//
//   npx tsx bench/proof.ts [--ckpt DIR] [--reps N] [--json]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startHubServer } from "../test/hub-server/index.js";
import { hermeticGitEnv } from "../test/hub-server/git.js";
import { ensureBaseCheckpoint, repoRoot } from "./base-ckpt.js";
import { arg, median } from "./args.js";

const TOKEN = "hf_benchProofTokenPPPPPPPPPPPPPPPPPP";
const REPO = "bench/azbert-base";
const TAG = "v0.0.1";
const bin = path.join(repoRoot, "bin", "azbert-release.js");

/** Runs a command without blocking this process (the local Hub answers from here). */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ ms: number; stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ ms: performance.now() - t0, stdout, stderr, code: code ?? -1 }));
  });
}

interface HubProofReport {
  files: number;
  bytes: number;
  downloadMs: number;
  smokeMs: number;
  ms: number;
  smoke: { ok: boolean; passed: number; cases: number; engine: string };
}

async function main(): Promise<void> {
  const ckpt = path.resolve(arg("--ckpt") ?? ensureBaseCheckpoint());
  const reps = Number(arg("--reps") ?? 3);
  const scratch = mkdtempSync(path.join(os.tmpdir(), "proof-bench-"));
  const hub = await startHubServer({ tokens: { [TOKEN]: { user: "bench", role: "write" } }, dataDir: path.join(scratch, "hub") });
  try {
    const project = path.join(scratch, "project");
    mkdirSync(project);
    const gitEnv = hermeticGitEnv();
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "bench", version: TAG.slice(1), private: true }));
    writeFileSync(path.join(project, "release.config.json"), JSON.stringify({ checkpoint: ckpt, hub: { repoId: REPO }, github: { outDir: path.join(scratch, "out") }, smoke: { device: "cpu" } }));
    execFileSync("git", ["init", "-q", project], { env: gitEnv });
    execFileSync("git", ["add", "-A"], { cwd: project, env: gitEnv });
    execFileSync("git", ["commit", "-qm", "bench"], { cwd: project, env: gitEnv });
    const env = { ...gitEnv, HF_TOKEN: TOKEN, HF_ENDPOINT: hub.url, AZBERT_RELEASE_CACHE_DIR: path.join(scratch, "cache"), CI: "true", NO_COLOR: "1" };

    const release = await run(process.execPath, [bin, "release", "--yes", "--only", "hub", "--json"], { cwd: project, env });
    if (release.code !== 0) throw new Error(`release failed (${release.code}):\n${release.stderr.slice(-3000)}`);
    const steps = (JSON.parse(release.stdout) as { steps: Array<{ id: string; hub?: HubProofReport }> }).steps;
    const inRelease = steps.find((s) => s.id === "verify.download")!.hub!;

    // The floor: the same files from the same URLs, with curl and openssl.
    const published = (JSON.parse(await (await fetch(`${hub.url}/${REPO}/resolve/${TAG}/manifest.json`)).text()) as { files: Array<{ path: string }> }).files.map((f) => f.path);
    const files = [...published, "manifest.json"];
    const floor = async () => {
      const dir = mkdtempSync(path.join(scratch, "curl-"));
      const t0 = performance.now();
      for (const f of files) {
        const r = await run("curl", ["-sSfL", "-o", path.join(dir, f), `${hub.url}/${REPO}/resolve/${TAG}/${f}`]);
        if (r.code !== 0) throw new Error(`curl ${f}: ${r.stderr}`);
      }
      const t1 = performance.now();
      await run("openssl", ["dgst", "-sha256", "-r", ...files.map((f) => path.join(dir, f))]);
      const t2 = performance.now();
      rmSync(dir, { recursive: true, force: true });
      return { curlMs: t1 - t0, hashMs: t2 - t1, ms: t2 - t0 };
    };

    const haveTime = existsSync("/usr/bin/time");
    const verify = async () => {
      const timeFile = path.join(scratch, "verify.time");
      const argv = [bin, "verify", "--tag", TAG, "--json"];
      const r = haveTime ? await run("/usr/bin/time", ["-f", "%M", "-o", timeFile, process.execPath, ...argv], { cwd: project, env }) : await run(process.execPath, argv, { cwd: project, env });
      if (r.code !== 0) throw new Error(`verify failed (${r.code}):\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
      const doc = JSON.parse(r.stdout) as { hub: HubProofReport };
      return { ms: r.ms, hub: doc.hub, peakRssMB: haveTime ? Number(readFileSync(timeFile, "utf8").trim().split("\n").at(-1)) / 1024 : NaN };
    };

    await floor(); // warm-up (page cache of the Hub's store)
    const floors: Awaited<ReturnType<typeof floor>>[] = [];
    const verifies: Awaited<ReturnType<typeof verify>>[] = [];
    for (let i = 0; i < reps; i++) {
      verifies.push(await verify());
      floors.push(await floor());
    }
    const proofDownload = median(verifies.map((v) => v.hub.downloadMs));
    const floorMs = median(floors.map((f) => f.ms));
    const result = {
      checkpoint: ckpt,
      files: inRelease.files,
      bytes: inRelease.bytes,
      reps,
      releaseProofMs: inRelease.ms,
      releaseProofDownloadMs: inRelease.downloadMs,
      releaseProofSmokeMs: inRelease.smokeMs,
      verifyDownloadMedianMs: Math.round(proofDownload),
      verifySmokeMedianMs: Math.round(median(verifies.map((v) => v.hub.smokeMs))),
      verifyProofMedianMs: Math.round(median(verifies.map((v) => v.hub.ms))),
      verifyWholeProcessMedianMs: Math.round(median(verifies.map((v) => v.ms))),
      verifyPeakRssMB: Math.round(Math.max(...verifies.map((v) => v.peakRssMB))),
      floorMedianMs: Math.round(floorMs),
      floorCurlMedianMs: Math.round(median(floors.map((f) => f.curlMs))),
      floorHashMedianMs: Math.round(median(floors.map((f) => f.hashMs))),
      downloadRatio: Number((proofDownload / floorMs).toFixed(2)),
      smoke: `${inRelease.smoke.passed}/${inRelease.smoke.cases}`,
      storageAuthorizations: hub.storageAuthorizations.length,
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(1))),
    };
    if (process.argv.includes("--json")) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
    process.stdout.write(
      [
        `proof from what the Hub serves, ${path.basename(ckpt)}: ${result.files} files (${mb(result.bytes)}: pytorch_model.bin and model.safetensors) over loopback, ${reps} runs, medians`,
        `  in the release (verify.download): ${result.releaseProofMs} ms = download + sha256 ${result.releaseProofDownloadMs} ms + gate and CPU smoke ${result.releaseProofSmokeMs} ms (${result.smoke} cases)`,
        `  verify --tag, whole process: ${result.verifyWholeProcessMedianMs} ms (proof ${result.verifyProofMedianMs} ms: download + sha256 ${result.verifyDownloadMedianMs} ms, smoke ${result.verifySmokeMedianMs} ms), peak RSS ${result.verifyPeakRssMB} MB`,
        `  floor, curl -L of the same URLs + openssl sha256: ${result.floorMedianMs} ms (curl ${result.floorCurlMedianMs} ms, openssl ${result.floorHashMedianMs} ms)`,
        `  download + sha256 ours/floor: ${result.downloadRatio}x; Authorization headers seen by storage: ${result.storageAuthorizations}; load average ${result.loadAverage.join(" ")}`,
        "",
      ].join("\n"),
    );
  } finally {
    await hub.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
