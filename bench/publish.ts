// Publishing at wire speed, in the same invocation as its floor:
//   floor   = `openssl dgst -sha256` of the checkpoint's files (hash each byte once)
//           + a plain `curl -T` PUT of the same bytes to the same local Hub's storage (send once)
//   publish = the whole `azbert-release release --yes --only hub` process (checks, hashing with a
//             fresh hash cache, plan, upload, commit, tag, verify), for each transport, without its
//             last step, the proof from what the Hub serves (verify.download downloads every byte
//             again; bench/proof.ts measures it against its own floor): the step's wall time, from
//             the report, is taken off. The release publishes the checkpoint's bytes only
//             (weights.safetensors "off"), the bytes the floor sends.
// and reports floor/publish (target ≥ 0.8), the same ratio in CPU time (user + system of the
// processes, the Hub's own excluded on both sides: steadier on a shared machine), and the
// publish's peak RSS (target ≤ 250 MB; the sharded checkpoint's within 10% of the single file's):
// the largest process of the release up to the proof step (its VmHWM when the step starts: the
// proof's smoke test of the downloaded copy holds the weights for inference, as `smoke` does),
// the whole command's (/usr/bin/time's %M, as `time -v` reports it) and, sampled,
// the whole process tree (node + git + git-lfs). To show where time goes, each round also times
// the command's local stages alone (start-up, checklist, hashing) and reports curl's PUT against
// the Hub stage (publish minus local stages). The local Hub runs in its own process.
//
//   npx tsx bench/publish.ts [--ckpt DIR] [--rounds N] [--transport api|git|both] [--chunk-size BYTES] [--json]
//
// Default: the BERT-base-size checkpoint (442 MB, one file) and the BERT-large-size sharded one
// (1.35 GB, three shards), both generated once into bench/.cache; --ckpt takes any folder.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { discoverCheckpoint } from "../src/checkpoint/discover.js";
import { ensureBaseCheckpoint, ensureShardedCheckpoint, repoRoot } from "./base-ckpt.js";
import { releaseToHub, startLocalHub, type LocalHub, type ReleaseRun } from "./local-hub.js";
import { arg } from "./args.js";

/** `cmd args` under /usr/bin/time: wall seconds and CPU seconds (user + system). */
function timed(cmd: string, args: string[]): { seconds: number; cpuSeconds: number; stdout: string } {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "publish-bench-time-"));
  const out = path.join(scratch, "time.txt");
  try {
    const t0 = performance.now();
    const stdout = execFileSync("/usr/bin/time", ["-f", "%U %S", "-o", out, cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 20 });
    const seconds = (performance.now() - t0) / 1000;
    const [user, sys] = readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
    return { seconds, cpuSeconds: user! + sys!, stdout };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface Floor {
  seconds: number;
  cpuSeconds: number;
  hashS: number;
  putS: number;
}

/** The floor: hash once with openssl, send once with curl (the same bytes to the same storage path). */
async function floor(hub: LocalHub, repoId: string, files: Array<{ source: string; size: number }>): Promise<Floor> {
  await hub.ask({ type: "createRepo", repoId });
  const hash = timed("openssl", ["dgst", "-sha256", "-r", ...files.map((f) => f.source)]);
  const oids = hash.stdout.trim().split("\n").map((l) => l.split(" ")[0]!);
  let putS = 0;
  let putCpu = 0;
  for (let i = 0; i < files.length; i++) {
    const { url } = await hub.ask<{ url: string }>({ type: "plainPutUrl", repoId, oid: oids[i], size: files[i]!.size });
    const put = timed("curl", ["-sS", "-f", "-o", "/dev/null", "-T", files[i]!.source, url]);
    putS += put.seconds;
    putCpu += put.cpuSeconds;
  }
  return { seconds: hash.seconds + putS, cpuSeconds: hash.cpuSeconds + putCpu, hashS: hash.seconds, putS };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MB = 1e6;

async function benchCheckpoint(hub: LocalHub, label: string, ckpt: string, transports: string[], rounds: number) {
  const found = await discoverCheckpoint(ckpt, async (f) => f.source);
  const files = found.files.map((f) => ({ source: f.source, size: statSync(f.source).size }));
  const bytes = files.reduce((s, f) => s + f.size, 0);
  const floors: Floor[] = [];
  const locals: number[] = [];
  const storagePuts: Record<string, number[]> = { curl: [] };
  const runs: Record<string, ReleaseRun[]> = Object.fromEntries(transports.map((t) => [t, []]));
  // Repo names unique per checkpoint: the Hub's request log outlives hub.clear(), and the storage
  // timing is read from it by repo.
  const repo = (what: string, r: number) => `bench/${path.basename(ckpt)}-${what}-${r}`;
  for (let r = 1; r <= rounds; r++) {
    const f = await floor(hub, repo("floor", r), files);
    floors.push(f);
    storagePuts.curl!.push((await hub.ask<{ seconds: number }>({ type: "putSeconds", repoId: repo("floor", r) })).seconds);
    const local = await releaseToHub(hub.url, ckpt, repo("local", r), "api", true);
    locals.push(local.seconds);
    const line = [`${label} round ${r}: floor ${f.seconds.toFixed(2)} s (openssl ${f.hashS.toFixed(2)} + curl ${f.putS.toFixed(2)}, storage-timed ${storagePuts.curl!.at(-1)!.toFixed(2)}); local stages ${local.seconds.toFixed(2)} s`];
    for (const t of transports) {
      const p = await releaseToHub(hub.url, ckpt, repo(t, r), t);
      runs[t]!.push(p);
      (storagePuts[t] ??= []).push((await hub.ask<{ seconds: number }>({ type: "putSeconds", repoId: repo(t, r) })).seconds);
      line.push(`${t} ${p.publishSeconds.toFixed(2)} s + proof ${p.proofSeconds.toFixed(2)} s (floor/publish ${(f.seconds / p.publishSeconds).toFixed(2)}, CPU with the proof ${(f.cpuSeconds / p.cpuSeconds).toFixed(2)}, Hub stage ${(p.publishSeconds - local.seconds).toFixed(2)} s, storage-timed PUTs ${storagePuts[t]!.at(-1)!.toFixed(2)} s, peak RSS ${(p.publishPeakRss / MB).toFixed(0)} MB (with the proof ${(p.peakRss / MB).toFixed(0)} MB), tree ${(p.peakTreeRss / MB).toFixed(0)} MB)`);
    }
    process.stderr.write(`${line.join("; ")}\n`);
    hub.clear();
  }
  return {
    label,
    checkpoint: ckpt,
    files: files.length,
    bytes,
    rounds,
    floor: {
      medianSeconds: +median(floors.map((f) => f.seconds)).toFixed(3),
      cpuMedianSeconds: +median(floors.map((f) => f.cpuSeconds)).toFixed(3),
      opensslMedianSeconds: +median(floors.map((f) => f.hashS)).toFixed(3),
      curlPutMedianSeconds: +median(floors.map((f) => f.putS)).toFixed(3),
      curlStoragePutMedianSeconds: +median(storagePuts.curl!).toFixed(3),
    },
    // start-up, checklist and hashing (fresh cache) of the same command, without the Hub stage
    localStagesMedianSeconds: +median(locals).toFixed(3),
    transports: Object.fromEntries(
      transports.map((t) => {
        const rs = runs[t]!;
        const ratios = rs.map((p, i) => floors[i]!.seconds / p.publishSeconds);
        const cpuRatios = rs.map((p, i) => floors[i]!.cpuSeconds / p.cpuSeconds);
        // the send alone: curl's PUT against what the Hub stage adds to the local stages
        const sendRatios = rs.map((p, i) => floors[i]!.putS / Math.max(0.001, p.publishSeconds - locals[i]!));
        return [
          t,
          {
            medianSeconds: +median(rs.map((p) => p.publishSeconds)).toFixed(3),
            secondsPerGB: +(median(rs.map((p) => p.publishSeconds)) / (bytes / 1e9)).toFixed(3),
            proofMedianSeconds: +median(rs.map((p) => p.proofSeconds)).toFixed(3),
            wholeReleaseMedianSeconds: +median(rs.map((p) => p.seconds)).toFixed(3),
            cpuMedianSeconds: +median(rs.map((p) => p.cpuSeconds)).toFixed(3),
            floorOverPublish: { median: +median(ratios).toFixed(3), min: +Math.min(...ratios).toFixed(3), max: +Math.max(...ratios).toFixed(3) },
            floorOverPublishCpu: +median(cpuRatios).toFixed(3),
            curlPutOverHubStage: { median: +median(sendRatios).toFixed(3), min: +Math.min(...sendRatios).toFixed(3), max: +Math.max(...sendRatios).toFixed(3) },
            // the LFS PUTs alone, timed by the storage host: ours (git-lfs's for git) vs curl's
            storagePutMedianSeconds: +median(storagePuts[t]!).toFixed(3),
            // up to the proof step; then the proof's smoke of the downloaded copy holds the weights for inference
            peakRssMB: +(Math.max(...rs.map((p) => p.publishPeakRss)) / MB).toFixed(1),
            wholeReleasePeakRssMB: +(Math.max(...rs.map((p) => p.peakRss)) / MB).toFixed(1),
            peakTreeRssMB: +(Math.max(...rs.map((p) => p.peakTreeRss)) / MB).toFixed(1),
          },
        ];
      }),
    ),
  };
}

async function main(): Promise<void> {
  const rounds = Number(arg("--rounds") ?? 3);
  const which = arg("--transport") ?? "both";
  const transports = which === "both" ? ["api", "git"] : [which];
  if (!existsSync(path.join(repoRoot, "dist", "cli.js"))) throw new Error("run `npm run build` first: the benchmark runs the built CLI");
  if (!existsSync("/usr/bin/time")) throw new Error("bench/publish.ts needs /usr/bin/time (apt-get install -y time)");
  const given = arg("--ckpt");
  const checkpoints: Array<[string, string]> = given
    ? [[path.basename(given), path.resolve(given)]]
    : [
        ["base 442 MB (1 file)", ensureBaseCheckpoint()],
        ["large sharded (3 shards + index)", ensureShardedCheckpoint()],
      ];
  const hub = await startLocalHub(arg("--chunk-size") ? { chunkSize: arg("--chunk-size")! } : {});
  try {
    const results = [];
    for (const [label, ckpt] of checkpoints) results.push(await benchCheckpoint(hub, label, ckpt, transports, rounds));
    const leaked = (await hub.ask<{ count: number }>({ type: "storageAuthorizations" })).count;
    const report = { results, targets: { floorOverPublish: 0.8, peakRssMB: 250, shardedPeakRssRatio: 1.1 }, storageAuthorizations: leaked, cpus: os.cpus().length, loadAverage: os.loadavg(), node: process.version };
    if (process.argv.includes("--json")) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    const lines = [`\npublish vs floor (openssl dgst -sha256 + curl -T), whole process, medians of ${rounds}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`];
    for (const r of results) {
      lines.push(`  ${r.label}: ${(r.bytes / 1e6).toFixed(0)} MB, floor ${r.floor.medianSeconds} s (CPU ${r.floor.cpuMedianSeconds} s), local stages ${r.localStagesMedianSeconds} s`);
      for (const [t, x] of Object.entries(r.transports)) {
        lines.push(
          `    ${t.padEnd(3)} ${x.medianSeconds} s (${x.secondsPerGB} s/GB; + proof ${x.proofMedianSeconds} s): floor/publish ${x.floorOverPublish.median} (${x.floorOverPublish.min}–${x.floorOverPublish.max}; target >= 0.8) ${x.floorOverPublish.median >= 0.8 ? "OK" : "MISSED"}, in CPU time ${x.floorOverPublishCpu} (the process's CPU includes the proof's download and smoke); peak RSS ${x.peakRssMB} MB up to the proof (target <= 250) ${x.peakRssMB <= 250 ? "OK" : "MISSED"}, with the proof's smoke ${x.wholeReleasePeakRssMB} MB (tree ${x.peakTreeRssMB} MB); storage-timed PUTs (first arrival to last answer) ${x.storagePutMedianSeconds} s vs curl ${r.floor.curlStoragePutMedianSeconds} s`,
        );
      }
    }
    if (results.length === 2) {
      for (const t of transports) {
        const a = results[0]!.transports[t]!.peakRssMB;
        const b = results[1]!.transports[t]!.peakRssMB;
        lines.push(`  ${t} peak RSS sharded/single ${(b / a).toFixed(2)} (target <= 1.10) ${b / a <= 1.1 ? "OK" : "MISSED"}`);
      }
    }
    lines.push(`  storage requests that carried an Authorization header: ${leaked}`);
    console.log(lines.join("\n"));
  } finally {
    await hub.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
