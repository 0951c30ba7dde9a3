// Publishing at wire speed, in the same invocation as its floor:
//   floor   = `openssl dgst -sha256` of the checkpoint's files (hash each byte once)
//           + a plain `curl -T` PUT of the same bytes to the same local Hub's storage (send once)
//   publish = the whole `azbert-release release --yes --only hub` process (checks, hashing with a
//             fresh hash cache, plan, upload, commit, tag, verify), for each transport
// and reports floor/publish (target ≥ 0.8) and the publish's peak RSS (target ≤ 250 MB): the
// largest process of the release (/usr/bin/time's %M, as `time -v` reports it) and, sampled, the
// whole process tree (node + git + git-lfs). To show where time goes, each round also times the
// command's local stages alone (start-up, checklist, hashing) and reports curl's PUT against the
// Hub stage (publish minus local stages). The local Hub runs in its own process.
//
//   npx tsx bench/publish.ts [--ckpt DIR] [--rounds N] [--transport api|git|both] [--chunk-size BYTES]
//
// --ckpt defaults to the BERT-base-size checkpoint (bench/.cache, generated once); any checkpoint
// folder works (a sharded one, for instance).
import { execFileSync, fork, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { discoverCheckpoint } from "../src/checkpoint/discover.js";
import { startHubServer } from "../test/hub-server/index.js";
import { hermeticGitEnv } from "../test/hub-server/git.js";
import { ensureBaseCheckpoint, repoRoot } from "./base-ckpt.js";

const TOKEN = "hf_benchTokenBBBBBBBBBBBBBBBBBBBBBB";
const self = fileURLToPath(import.meta.url);
const bin = path.join(repoRoot, "bin", "azbert-release.js");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

// ---- child: the local Hub ----
async function serve(): Promise<void> {
  const chunk = arg("--chunk-size");
  const hub = await startHubServer({ tokens: { [TOKEN]: { user: "bench", role: "write" } }, dataDir: arg("--data"), ...(chunk ? { multipartChunkSize: Number(chunk) } : {}) });
  process.on("message", (m: { type: string; repoId: string; oid: string; size: number; id: number }) => {
    if (m.type === "plainPutUrl") process.send!({ id: m.id, url: hub.plainPutUrl(m.repoId, m.oid, m.size) });
    if (m.type === "createRepo") void hub.createRepo(m.repoId).then(() => process.send!({ id: m.id }));
    if (m.type === "storageAuthorizations") process.send!({ id: m.id, count: hub.storageAuthorizations.length });
    // Time the storage host spent receiving the LFS PUTs of a repo (its own clock: client start-up excluded).
    if (m.type === "putSeconds") process.send!({ id: m.id, seconds: hub.requests.filter((r) => r.origin === "storage" && r.method === "PUT" && r.path.includes(`/${m.repoId}/`)).reduce((a, r) => a + r.ms, 0) / 1000 });
    if (m.type === "stop") void hub.stop().then(() => process.exit(0));
  });
  process.send!({ ready: hub.url });
}

// ---- parent: the benchmark ----
function ask<T>(child: ChildProcess, msg: Record<string, unknown>): Promise<T> {
  const id = Math.random();
  return new Promise((resolve) => {
    const on = (m: { id?: number }): void => {
      if (m.id === id) {
        child.off("message", on);
        resolve(m as T);
      }
    };
    child.on("message", on);
    child.send({ ...msg, id });
  });
}

interface Timed {
  seconds: number;
}

/** The floor: hash once with openssl, send once with curl (the same bytes to the same storage path). */
async function floor(child: ChildProcess, repoId: string, files: Array<{ source: string; size: number }>): Promise<Timed & { hashS: number; putS: number }> {
  await ask(child, { type: "createRepo", repoId });
  const t0 = performance.now();
  const out = execFileSync("openssl", ["dgst", "-sha256", "-r", ...files.map((f) => f.source)], { encoding: "utf8", maxBuffer: 1 << 20 });
  const hashS = (performance.now() - t0) / 1000;
  const oids = out.trim().split("\n").map((l) => l.split(" ")[0]!);
  const t1 = performance.now();
  for (let i = 0; i < files.length; i++) {
    const { url } = await ask<{ url: string }>(child, { type: "plainPutUrl", repoId, oid: oids[i], size: files[i]!.size });
    execFileSync("curl", ["-sS", "-f", "-o", "/dev/null", "-T", files[i]!.source, url]);
  }
  const putS = (performance.now() - t1) / 1000;
  return { seconds: hashS + putS, hashS, putS };
}

/** Sum of the resident memory of `pid` and its descendants (Linux /proc), in bytes. */
function treeRss(pid: number): number {
  let total = 0;
  const children = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // gone meanwhile
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** A project that releases `ckpt` to `repoId` with `transport`. */
function makeProject(ckpt: string, repoId: string, transport: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "publish-bench-proj-"));
  const env = hermeticGitEnv();
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "bench", version: "0.0.1", private: true }));
  writeFileSync(path.join(dir, "release.config.json"), JSON.stringify({ checkpoint: ckpt, hub: { repoId, transport } }));
  execFileSync("git", ["init", "-q", dir], { env });
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-qm", "bench"], { cwd: dir, env });
  return dir;
}

/**
 * One whole `release --yes --only hub` process: wall time, peak RSS of its largest process and of
 * its tree. `localOnly`: the same command's local part alone (`--dry-run --offline`: start-up,
 * checklist, hashing with a fresh cache), to tell what the Hub stage itself takes.
 */
async function release(url: string, ckpt: string, repoId: string, transport: string, localOnly = false): Promise<Timed & { peakRss: number; peakTreeRss: number }> {
  const project = makeProject(ckpt, repoId, transport);
  const cache = mkdtempSync(path.join(os.tmpdir(), "publish-bench-cache-"));
  const timeFile = path.join(cache, "time.txt");
  const env = { ...hermeticGitEnv(), HF_TOKEN: TOKEN, HF_ENDPOINT: url, AZBERT_RELEASE_CACHE_DIR: cache, CI: "true", NO_COLOR: "1" };
  const useTime = existsSync("/usr/bin/time");
  const argv = [bin, "release", ...(localOnly ? ["--dry-run", "--offline"] : ["--yes"]), "--only", "hub", "--json"];
  const t0 = performance.now();
  const child = useTime ? spawn("/usr/bin/time", ["-f", "%M", "-o", timeFile, process.execPath, ...argv], { cwd: project, env }) : spawn(process.execPath, argv, { cwd: project, env });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  let peakTreeRss = 0;
  const sampler = setInterval(() => (peakTreeRss = Math.max(peakTreeRss, treeRss(child.pid!))), 20);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  try {
    if (code !== 0) throw new Error(`release --only hub (${transport}) failed (${code}): ${stderr.slice(-2000)}${stdout.slice(-2000)}`);
    const steps = ((JSON.parse(stdout) as { steps?: Array<{ id: string; status: string }> }).steps ?? []).map((s) => `${s.id}:${s.status}`);
    if (!localOnly && steps.join(",") !== "hub:done,hub-tag:done,verify:done") throw new Error(`unexpected steps ${steps.join(",")}`);
    const peakRss = useTime ? Number(readFileSync(timeFile, "utf8").trim().split("\n").pop()) * 1024 : peakTreeRss;
    return { seconds, peakRss, peakTreeRss };
  } finally {
    rmSync(project, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MB = 1e6;

async function main(): Promise<void> {
  const rounds = Number(arg("--rounds") ?? 3);
  const ckpt = path.resolve(arg("--ckpt") ?? ensureBaseCheckpoint());
  const which = arg("--transport") ?? "both";
  const transports = which === "both" ? ["api", "git"] : [which];
  if (!existsSync(bin.replace("bin/azbert-release.js", "dist/cli.js"))) throw new Error("run `npm run build` first: the benchmark runs the built CLI");
  const found = await discoverCheckpoint(ckpt, async (f) => f.source);
  const files = found.files.map((f) => ({ source: f.source, size: statSync(f.source).size }));
  const bytes = files.reduce((s, f) => s + f.size, 0);

  const data = mkdtempSync(path.join(os.tmpdir(), "hub-bench-"));
  const child = fork(self, ["--serve", "--data", data, ...(arg("--chunk-size") ? ["--chunk-size", arg("--chunk-size")!] : [])], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const url = await new Promise<string>((resolve) => child.once("message", (m: { ready: string }) => resolve(m.ready)));
  const floors: number[] = [];
  const puts: number[] = [];
  const locals: number[] = [];
  const storagePuts: Record<string, number[]> = { curl: [] };
  const runs: Record<string, Array<{ seconds: number; peakRss: number; peakTreeRss: number }>> = Object.fromEntries(transports.map((t) => [t, []]));
  try {
    for (let r = 1; r <= rounds; r++) {
      const f = await floor(child, `bench/floor-${r}`, files);
      floors.push(f.seconds);
      puts.push(f.putS);
      storagePuts.curl!.push((await ask<{ seconds: number }>(child, { type: "putSeconds", repoId: `bench/floor-${r}` })).seconds);
      const local = await release(url, ckpt, `bench/local-${r}`, "api", true);
      locals.push(local.seconds);
      const line = [`round ${r}: floor ${f.seconds.toFixed(2)} s (openssl ${f.hashS.toFixed(2)} + curl ${f.putS.toFixed(2)}, storage-timed ${storagePuts.curl!.at(-1)!.toFixed(2)}); local stages ${local.seconds.toFixed(2)} s`];
      for (const t of transports) {
        const p = await release(url, ckpt, `bench/${t}-${r}`, t);
        runs[t]!.push(p);
        (storagePuts[t] ??= []).push((await ask<{ seconds: number }>(child, { type: "putSeconds", repoId: `bench/${t}-${r}` })).seconds);
        line.push(`${t} ${p.seconds.toFixed(2)} s (floor/publish ${(f.seconds / p.seconds).toFixed(2)}, Hub stage ${(p.seconds - local.seconds).toFixed(2)} s, storage-timed PUT ${storagePuts[t]!.at(-1)!.toFixed(2)} s, peak RSS ${(p.peakRss / MB).toFixed(0)} MB, tree ${(p.peakTreeRss / MB).toFixed(0)} MB)`);
      }
      process.stderr.write(`${line.join("; ")}\n`);
      spawnSync("rm", ["-rf", path.join(data, "bench")]); // keep the disk free between rounds
    }
    const leaked = (await ask<{ count: number }>(child, { type: "storageAuthorizations" })).count;
    const report = {
      checkpoint: ckpt,
      files: files.length,
      bytes,
      rounds,
      floor: {
        medianSeconds: +median(floors).toFixed(3),
        bestSeconds: +Math.min(...floors).toFixed(3),
        curlPutMedianSeconds: +median(puts).toFixed(3),
        curlStoragePutMedianSeconds: +median(storagePuts.curl!).toFixed(3),
      },
      // start-up, checklist and hashing (fresh cache) of the same command, without the Hub stage
      localStagesMedianSeconds: +median(locals).toFixed(3),
      transports: Object.fromEntries(
        transports.map((t) => {
          const rs = runs[t]!;
          const ratios = rs.map((p, i) => floors[i]! / p.seconds);
          // the send alone: curl's PUT against what the Hub stage adds to the local stages
          const sendRatios = rs.map((p, i) => puts[i]! / Math.max(0.001, p.seconds - locals[i]!));
          return [
            t,
            {
              medianSeconds: +median(rs.map((p) => p.seconds)).toFixed(3),
              MBps: +(bytes / MB / median(rs.map((p) => p.seconds))).toFixed(1),
              floorOverPublish: { median: +median(ratios).toFixed(3), min: +Math.min(...ratios).toFixed(3), max: +Math.max(...ratios).toFixed(3) },
              curlPutOverHubStage: { median: +median(sendRatios).toFixed(3), min: +Math.min(...sendRatios).toFixed(3), max: +Math.max(...sendRatios).toFixed(3) },
              // the LFS PUTs alone, timed by the storage host: ours (git-lfs's for git) vs curl's
              storagePutMedianSeconds: +median(storagePuts[t]!).toFixed(3),
              peakRssMB: +(Math.max(...rs.map((p) => p.peakRss)) / MB).toFixed(1),
              peakTreeRssMB: +(Math.max(...rs.map((p) => p.peakTreeRss)) / MB).toFixed(1),
            },
          ];
        }),
      ),
      targets: { floorOverPublish: 0.8, peakRssMB: 250 },
      storageAuthorizations: leaked,
      cpus: os.cpus().length,
      node: process.version,
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    child.send({ type: "stop" });
    await new Promise((r) => child.once("exit", r));
    rmSync(data, { recursive: true, force: true });
  }
}

if (process.argv.includes("--serve")) void serve();
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
