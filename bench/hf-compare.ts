// Benchmark: our whole release against the field's own client, huggingface_hub (upload_folder +
// create_tag, LFS mode: HF_HUB_DISABLE_XET=1), on the same local Hub (bench/local-hub.ts, in its
// own process), the same checkpoint and the same files:
//   ours = `azbert-release release --yes --only hub --json` with weights.safetensors "off" (the
//          checkpoint's own files, as hf uploads them), its proof included unless said otherwise
//   hf   = bench/hf_upload.py: create_repo (cold), upload_folder of a folder holding the files our
//          release published (the checkpoint's files, the card and manifest.json as ours sent
//          them), create_tag
// Scenarios, alternating ours / hf, each a fresh process (medians of --reps rounds):
//   cold          a fresh repo, a fresh hash cache
//   cold − proof  ours: the cold run less its proof step (verify.download's ms from --json)
//   README-only   the README changed, a new version: ours the whole release, proof included; hf
//                 upload_folder again + create_tag
//   no-op         nothing changed: ours `release --yes` again; hf upload_folder again
// With peak RSS of each process (/usr/bin/time %M), the Hub requests each run made (the local
// Hub's log), and the load average. `--sharded` adds one cold release of the 1.35 GB sharded
// checkpoint (tools/make_sharded_ckpt.py) for its peak RSS.
//
//   npx tsx bench/hf-compare.ts [--ckpt DIR] [--reps N] [--python PY] [--sharded] [--json] [--profile DIR]
// PY: a Python with huggingface_hub (default $HF_PYTHON, else a venv made once in bench/.cache by
// ../shared/tools/real-clients-venv.sh).
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { hermeticGitEnv } from "../test/hub-server/git.js";
import { ensureBaseCheckpoint, ensureShardedCheckpoint, repoRoot } from "./base-ckpt.js";
import { startLocalHub, TOKEN, type LocalHub } from "./local-hub.js";
import { arg, median } from "./args.js";

const bin = path.join(repoRoot, "bin", "azbert-release.js");
const hfScript = path.join(repoRoot, "bench", "hf_upload.py");

/** A Python with huggingface_hub: given, or a venv made once by the shared script. */
function hfPython(): string {
  const given = arg("--python") ?? process.env.HF_PYTHON;
  if (given) return given;
  const dir = path.join(repoRoot, "bench", ".cache", "hf-venv");
  const script = [path.resolve(repoRoot, "..", "shared", "tools", "real-clients-venv.sh"), "/work/shared/tools/real-clients-venv.sh"].find((f) => existsSync(f));
  if (!script) throw new Error("no Python given (--python or HF_PYTHON) and no ../shared/tools/real-clients-venv.sh to make one");
  return execFileSync("bash", [script, dir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1)!;
}

interface Run {
  ms: number;
  peakRssMB: number;
  hubRequests: number;
  storageRequests: number;
  stdout: string;
}

/** One process under /usr/bin/time (peak RSS), and the requests the local Hub logged meanwhile. */
async function timed(hub: LocalHub, cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const timeFile = path.join(os.tmpdir(), `hf-compare-${process.pid}.time`);
  const before = await hub.ask<{ next: number }>({ type: "requestsSince", from: 0 });
  const t0 = performance.now();
  const child = spawn("/usr/bin/time", ["-f", "%M", "-o", timeFile, cmd, ...args], { cwd, env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(" ")} failed (${code}):\n${stderr.slice(-3000)}${stdout.slice(-2000)}`);
  const after = await hub.ask<{ hub: number; storage: number }>({ type: "requestsSince", from: before.next });
  const peakRssMB = Number(readFileSync(timeFile, "utf8").trim().split("\n").at(-1)) / 1024;
  rmSync(timeFile, { force: true });
  return { ms, peakRssMB, hubRequests: after.hub, storageRequests: after.storage, stdout };
}

/** The checkpoint's files as hard links (no copy of the weights), the README a file of its own so it can change. */
function hardlinkedCheckpoint(ckpt: string, dir: string): string {
  execFileSync("cp", ["-al", ckpt, dir]);
  for (const own of ["README.md"]) {
    const f = path.join(dir, own);
    if (!existsSync(f)) continue;
    const text = readFileSync(f);
    rmSync(f);
    writeFileSync(f, text);
  }
  return dir;
}

interface Ours {
  project: string;
  ckpt: string;
  env: NodeJS.ProcessEnv;
  repoId: string;
}

function oursProject(scratch: string, ckpt: string, name: string, hubUrl: string): Ours {
  const project = path.join(scratch, `${name}-project`);
  const own = hardlinkedCheckpoint(ckpt, path.join(scratch, `${name}-ckpt`));
  const gitEnv = hermeticGitEnv();
  const repoId = `bench/${name}`;
  mkdirSync(project);
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "bench", version: "1.0.0", private: true }));
  writeFileSync(path.join(project, "release.config.json"), JSON.stringify({ checkpoint: own, hub: { repoId, transport: "api" }, weights: { safetensors: "off" }, smoke: { device: "cpu" } }));
  execFileSync("git", ["init", "-q", project], { env: gitEnv });
  execFileSync("git", ["add", "-A"], { cwd: project, env: gitEnv });
  execFileSync("git", ["commit", "-qm", "bench"], { cwd: project, env: gitEnv });
  const env = { ...gitEnv, HF_TOKEN: TOKEN, HF_ENDPOINT: hubUrl, AZBERT_RELEASE_CACHE_DIR: path.join(scratch, `${name}-cache`), CI: "true", NO_COLOR: "1" };
  return { project, ckpt: own, env, repoId };
}

/** A new version with a changed README, committed: what a README-only re-release starts from. */
function bumpReadme(o: Ours, version: string, line: string): void {
  appendFileSync(path.join(o.ckpt, "README.md"), line);
  writeFileSync(path.join(o.project, "package.json"), JSON.stringify({ name: "bench", version, private: true }));
  execFileSync("git", ["commit", "-qam", version], { cwd: o.project, env: o.env });
}

interface OursRun extends Run {
  proofMs: number;
  outcome: string;
  /** Wall ms of each remote step, and "local" for the rest of the process (start, checks, smoke, plan). */
  stepsMs: Record<string, number>;
}

async function releaseOurs(hub: LocalHub, o: Ours): Promise<OursRun> {
  // --profile DIR: a V8 CPU profile of each of our runs, to see where the time goes.
  const profile = arg("--profile");
  const node = profile ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(profile)] : [];
  const r = await timed(hub, process.execPath, [...node, bin, "release", "--yes", "--only", "hub", "--json"], o.project, o.env);
  const report = JSON.parse(r.stdout) as { outcome: string; steps: Array<{ id: string; ms?: number }> };
  const stepsMs: Record<string, number> = {};
  for (const st of report.steps) if (st.ms !== undefined) stepsMs[st.id] = (stepsMs[st.id] ?? 0) + st.ms;
  stepsMs.local = r.ms - Object.values(stepsMs).reduce((a, b) => a + b, 0);
  return { ...r, proofMs: report.steps.find((s) => s.id === "verify.download")?.ms ?? 0, outcome: report.outcome, stepsMs };
}

/** Each step's median wall time over the runs (a step a run did not make counts as 0 there). */
function stepMedians(runs: OursRun[], m: (xs: number[]) => number): Record<string, number> {
  const ids = [...new Set(runs.flatMap((r) => Object.keys(r.stepsMs)))];
  return Object.fromEntries(ids.map((id) => [id, m(runs.map((r) => r.stepsMs[id] ?? 0))]));
}

async function download(url: string, file: string): Promise<void> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
}

async function main(): Promise<void> {
  const ckpt = path.resolve(arg("--ckpt") ?? ensureBaseCheckpoint());
  const reps = Number(arg("--reps") ?? 3);
  const python = hfPython();
  const scratch = mkdtempSync(path.join(os.tmpdir(), "hf-compare-"));
  const hub = await startLocalHub();
  const hfEnv = { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, HF_HUB_DISABLE_XET: "1", HF_HUB_DISABLE_TELEMETRY: "1", HF_HUB_DISABLE_PROGRESS_BARS: "1", HF_HOME: path.join(scratch, "hf-home") };
  const rows: Record<string, { ours: OursRun[]; hf: Run[] }> = { cold: { ours: [], hf: [] }, readme: { ours: [], hf: [] }, noop: { ours: [], hf: [] } };
  let published: string[] = [];
  try {
    for (let i = 1; i <= reps; i++) {
      // ours: cold, README-only, no-op
      const o = oursProject(scratch, ckpt, `ours-${i}`, hub.url);
      rows.cold!.ours.push(await releaseOurs(hub, o));
      // The files ours published, as it published them: the hf side uploads the same.
      const hfDir = hardlinkedCheckpoint(ckpt, path.join(scratch, `hf-${i}-folder`));
      const listed = (await (await fetch(`${hub.url}/api/models/${o.repoId}/tree/main?recursive=true`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as Array<{ path: string; type: string }>;
      published = listed.filter((e) => e.type === "file" && e.path !== ".gitattributes").map((e) => e.path).sort();
      for (const f of ["README.md", "manifest.json"]) if (published.includes(f)) await download(`${hub.url}/${o.repoId}/resolve/main/${f}`, path.join(hfDir, f));
      const missing = published.filter((f) => !existsSync(path.join(hfDir, f)));
      if (missing.length) throw new Error(`ours published files the hf folder lacks: ${missing.join(", ")}`);
      bumpReadme(o, "1.0.1", `\nA corrected sentence (${i}).\n`);
      rows.readme!.ours.push(await releaseOurs(hub, o));
      rows.noop!.ours.push(await releaseOurs(hub, o));

      // hf: the same three
      const repo = `bench/hf-${i}`;
      rows.cold!.hf.push(await timed(hub, python, [hfScript, "cold", repo, hfDir, "v1.0.0"], scratch, hfEnv));
      appendFileSync(path.join(hfDir, "README.md"), `\nA corrected sentence (${i}).\n`);
      rows.readme!.hf.push(await timed(hub, python, [hfScript, "again", repo, hfDir, "v1.0.1"], scratch, hfEnv));
      rows.noop!.hf.push(await timed(hub, python, [hfScript, "again", repo, hfDir, "-"], scratch, hfEnv));
      hub.clear();
      for (const d of [o.project, o.ckpt, hfDir]) rmSync(d, { recursive: true, force: true });
    }
    const outcomes = rows.noop!.ours.map((r) => r.outcome);
    if (outcomes.some((x) => x !== "already-released")) throw new Error(`the no-op rerun was not a no-op: ${outcomes.join(", ")}`);

    let sharded: { ms: number; peakRssMB: number; bytes: number } | undefined;
    if (process.argv.includes("--sharded")) {
      const big = ensureShardedCheckpoint();
      const o = oursProject(scratch, big, "ours-sharded", hub.url);
      const r = await releaseOurs(hub, o);
      sharded = { ms: r.ms, peakRssMB: r.peakRssMB, bytes: Number(execFileSync("du", ["-sbL", big], { encoding: "utf8" }).split("\t")[0]) };
      hub.clear();
    }

    const m = (xs: number[]) => Math.round(median(xs));
    const scen = (key: string, label: string, oursMs: (r: OursRun) => number) => {
      const r = rows[key]!;
      const ours = m(r.ours.map(oursMs));
      const hf = m(r.hf.map((x) => x.ms));
      return {
        scenario: label,
        oursMs: ours,
        hfMs: hf,
        ratio: Number((ours / hf).toFixed(2)),
        oursPeakRssMB: Math.round(Math.max(...r.ours.map((x) => x.peakRssMB))),
        hfPeakRssMB: Math.round(Math.max(...r.hf.map((x) => x.peakRssMB))),
        oursHubRequests: m(r.ours.map((x) => x.hubRequests)),
        hfHubRequests: m(r.hf.map((x) => x.hubRequests)),
        oursStorageRequests: m(r.ours.map((x) => x.storageRequests)),
        hfStorageRequests: m(r.hf.map((x) => x.storageRequests)),
      };
    };
    const table = [
      scen("cold", "cold (fresh repo)", (r) => r.ms),
      scen("cold", "cold without our proof", (r) => r.ms - r.proofMs),
      scen("readme", "README-only re-release (ours: proof included)", (r) => r.ms),
      scen("noop", "no-op (nothing changed)", (r) => r.ms),
    ];
    const bytes = Number(execFileSync("du", ["-sbL", ckpt], { encoding: "utf8" }).split("\t")[0]);
    const result = {
      checkpoint: ckpt,
      checkpointBytes: bytes,
      files: published,
      reps,
      python,
      table,
      oursProofMedianMs: { cold: m(rows.cold!.ours.map((r) => r.proofMs)), readme: m(rows.readme!.ours.map((r) => r.proofMs)) },
      oursStepsMedianMs: Object.fromEntries(Object.keys(rows).map((k) => [k, stepMedians(rows[k]!.ours, m)])),
      ...(sharded ? { sharded } : {}),
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    };
    if (process.argv.includes("--json")) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const pad = (s: string | number, n: number) => String(s).padEnd(n);
    const lines = [
      `ours (release --yes --only hub, weights.safetensors off) vs huggingface_hub (upload_folder + create_tag, LFS), ${path.basename(ckpt)} (${(bytes / 1e6).toFixed(0)} MB), ${published.length} files, local Hub, medians of ${reps} alternating runs`,
      `${pad("scenario", 48)}${pad("ours ms", 10)}${pad("hf ms", 10)}${pad("ours/hf", 9)}${pad("RSS MB ours/hf", 16)}requests ours/hf (Hub + storage)`,
      ...table.map((t) => `${pad(t.scenario, 48)}${pad(t.oursMs, 10)}${pad(t.hfMs, 10)}${pad(`${t.ratio}x`, 9)}${pad(`${t.oursPeakRssMB}/${t.hfPeakRssMB}`, 16)}${t.oursHubRequests}+${t.oursStorageRequests} / ${t.hfHubRequests}+${t.hfStorageRequests}`),
      `our proof (verify.download): cold ${result.oursProofMedianMs.cold} ms, README-only ${result.oursProofMedianMs.readme} ms`,
      ...Object.entries(result.oursStepsMedianMs).map(([k, v]) => `ours ${k}, median ms by step: ${Object.entries(v).map(([id, ms]) => `${id} ${ms}`).join(", ")}`),
      ...(sharded ? [`sharded ${(sharded.bytes / 1e9).toFixed(2)} GB, one cold release: ${Math.round(sharded.ms)} ms, peak RSS ${Math.round(sharded.peakRssMB)} MB`] : []),
      `load average ${result.loadAverage.join(" ")}`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  } finally {
    await hub.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
