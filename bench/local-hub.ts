// The local Hub for the publish benchmarks (bench/publish.ts, bench/scale.ts), in its own process
// (a benchmark that waits on a child with spawnSync must not host the server it talks to), and a
// whole `azbert-release release --yes --only hub` run against it, timed, with its peak RSS.
//
// Run as a script (`--serve`), this file is the server process.
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hermeticGitEnv } from "../test/hub-server/git.js";
import { startHubServer } from "../test/hub-server/index.js";
import { repoRoot } from "./base-ckpt.js";
import { arg } from "./args.js";

export const TOKEN = "hf_benchTokenBBBBBBBBBBBBBBBBBBBBBB";
const self = fileURLToPath(import.meta.url);
const bin = path.join(repoRoot, "bin", "azbert-release.js");

// ---- the server process ----
async function serve(): Promise<void> {
  const chunk = arg("--chunk-size");
  const hub = await startHubServer({ tokens: { [TOKEN]: { user: "bench", role: "write" } }, dataDir: arg("--data"), ...(chunk ? { multipartChunkSize: Number(chunk) } : {}) });
  process.on("message", (m: { type: string; repoId: string; oid: string; size: number; id: number; from?: number }) => {
    if (m.type === "plainPutUrl") process.send!({ id: m.id, url: hub.plainPutUrl(m.repoId, m.oid, m.size) });
    if (m.type === "createRepo") void hub.createRepo(m.repoId).then(() => process.send!({ id: m.id }));
    // Requests logged from index `from` on (a benchmark counts what one client run asked).
    if (m.type === "requestsSince") {
      const since = hub.requests.slice(Number(m.from ?? 0));
      process.send!({ id: m.id, next: hub.requests.length, hub: since.filter((r) => r.origin === "hub").length, storage: since.filter((r) => r.origin === "storage").length });
    }
    if (m.type === "storageAuthorizations") process.send!({ id: m.id, count: hub.storageAuthorizations.length });
    // Time the storage host spent receiving the LFS PUTs of a repo (its own clock: client start-up excluded).
    if (m.type === "putSeconds") {
      // From the first PUT's arrival to the last one's answer: parallel PUTs (shards) overlap.
      const puts = hub.requests.filter((r) => r.origin === "storage" && r.method === "PUT" && r.path.includes(`/${m.repoId}/`));
      const span = puts.length ? Math.max(...puts.map((r) => r.at + r.ms)) - Math.min(...puts.map((r) => r.at)) : 0;
      process.send!({ id: m.id, seconds: span / 1000 });
    }
    if (m.type === "stop") void hub.stop().then(() => process.exit(0));
  });
  process.send!({ ready: hub.url });
}

// ---- the benchmark side ----
export interface LocalHub {
  url: string;
  ask<T>(msg: Record<string, unknown>): Promise<T>;
  /** Removes the repos stored so far (keeps the disk free between rounds). */
  clear(): void;
  stop(): Promise<void>;
}

export async function startLocalHub(opts: { chunkSize?: string } = {}): Promise<LocalHub> {
  const data = mkdtempSync(path.join(os.tmpdir(), "hub-bench-"));
  const child: ChildProcess = fork(self, ["--serve", "--data", data, ...(opts.chunkSize ? ["--chunk-size", opts.chunkSize] : [])], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const url = await new Promise<string>((resolve) => child.once("message", (m: { ready: string }) => resolve(m.ready)));
  const ask = <T>(msg: Record<string, unknown>): Promise<T> => {
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
  };
  return {
    url,
    ask,
    clear: () => rmSync(path.join(data, "bench"), { recursive: true, force: true }),
    stop: async () => {
      child.send({ type: "stop" });
      await new Promise((r) => child.once("exit", r));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/**
 * Resident memory of `pid` and its descendants (Linux /proc), in bytes: their sum now, and the
 * largest high-water mark (VmHWM: a process's peak so far) among them.
 */
function treeRss(pid: number): { sum: number; largestPeak: number } {
  let total = 0;
  let largestPeak = 0;
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
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const rss = /VmRSS:\s+(\d+) kB/.exec(status);
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (rss) total += Number(rss[1]) * 1024;
      if (hwm) largestPeak = Math.max(largestPeak, Number(hwm[1]) * 1024);
    } catch {
      // gone meanwhile
    }
    stack.push(...(children.get(p) ?? []));
  }
  return { sum: total, largestPeak };
}

/** A project that releases `ckpt` to `repoId` with `transport`. */
function makeProject(ckpt: string, repoId: string, transport: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "publish-bench-proj-"));
  const env = hermeticGitEnv();
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "bench", version: "0.0.1", private: true }));
  // The checkpoint's own bytes only (no model.safetensors written beside them): the floor sends the same bytes.
  writeFileSync(path.join(dir, "release.config.json"), JSON.stringify({ checkpoint: ckpt, hub: { repoId, transport }, weights: { safetensors: "off" } }));
  execFileSync("git", ["init", "-q", dir], { env });
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-qm", "bench"], { cwd: dir, env });
  return dir;
}

export interface ReleaseRun {
  /** The whole process. */
  seconds: number;
  /** The whole process but the proof from what the Hub serves (verify.download: bench/proof.ts measures it). */
  publishSeconds: number;
  /** verify.download alone (its step's wall time, from the report). */
  proofSeconds: number;
  /** User + system CPU of the release and the processes it waited for (git, git-lfs), from /usr/bin/time. */
  cpuSeconds: number;
  /** Peak RSS of its largest process (/usr/bin/time's %M, as `time -v` reports it). */
  peakRss: number;
  /** Peak RSS of the process tree (node + git + git-lfs), sampled. */
  peakTreeRss: number;
  /**
   * Peak RSS of the largest process up to the proof step (VmHWM when it starts): the publish
   * itself. The proof then smoke-tests the downloaded copy, and inference holds the weights.
   */
  publishPeakRss: number;
}

/**
 * One whole `release --yes --only hub` process with a fresh hash cache: wall time, CPU time, peak
 * RSS of its largest process and of its tree. `localOnly`: the same command's local part alone
 * (`--dry-run --offline`: start-up, checklist, hashing), to tell what the Hub stage itself takes.
 */
export async function releaseToHub(url: string, ckpt: string, repoId: string, transport: string, localOnly = false): Promise<ReleaseRun> {
  const project = makeProject(ckpt, repoId, transport);
  const cache = mkdtempSync(path.join(os.tmpdir(), "publish-bench-cache-"));
  const timeFile = path.join(cache, "time.txt");
  const env = { ...hermeticGitEnv(), HF_TOKEN: TOKEN, HF_ENDPOINT: url, AZBERT_RELEASE_CACHE_DIR: cache, CI: "true", NO_COLOR: "1" };
  const useTime = existsSync("/usr/bin/time");
  const argv = [bin, "release", ...(localOnly ? ["--dry-run", "--offline"] : ["--yes"]), "--only", "hub", "--json"];
  const t0 = performance.now();
  const child = useTime ? spawn("/usr/bin/time", ["-f", "%M %U %S", "-o", timeFile, process.execPath, ...argv], { cwd: project, env }) : spawn(process.execPath, argv, { cwd: project, env });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  let peakTreeRss = 0;
  let publishPeakRss = 0;
  let proofStarted = false;
  const sample = (): void => {
    const t = treeRss(child.pid!);
    peakTreeRss = Math.max(peakTreeRss, t.sum);
    if (!proofStarted) publishPeakRss = Math.max(publishPeakRss, t.largestPeak);
  };
  // Plain progress prints a task once it is done: "Verify what landed" is the step before the proof.
  child.stderr!.on("data", () => {
    if (proofStarted || !stderr.includes("Verify what landed")) return;
    sample();
    proofStarted = true;
  });
  const sampler = setInterval(sample, 20);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  try {
    if (code !== 0) throw new Error(`release --only hub (${transport}) failed (${code}): ${stderr.slice(-2000)}${stdout.slice(-2000)}`);
    const reported = (JSON.parse(stdout) as { steps?: Array<{ id: string; status: string; ms?: number }> }).steps ?? [];
    const steps = reported.map((s) => `${s.id}:${s.status}`);
    if (!localOnly && steps.join(",") !== "hub:done,hub-tag:done,verify:done,verify.download:done") throw new Error(`unexpected steps ${steps.join(",")}`);
    const proofSeconds = (reported.find((s) => s.id === "verify.download")?.ms ?? 0) / 1000;
    const [rssKb, user, sys] = useTime ? readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number) : [NaN, NaN, NaN];
    const peakRss = useTime ? rssKb! * 1024 : peakTreeRss;
    return { seconds, publishSeconds: seconds - proofSeconds, proofSeconds, cpuSeconds: user! + sys!, peakRss, peakTreeRss, publishPeakRss: proofStarted ? publishPeakRss : peakRss };
  } finally {
    rmSync(project, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
}

if (process.argv.includes("--serve")) void serve();
