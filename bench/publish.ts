// Publish-stage throughput: publishHubApi of a BERT-base-size checkpoint to the local Hub vs a
// plain HTTP PUT of the same bytes to the same server (same storage path: hash + write), in
// the same run. The manifest is hashed before (as the release does), and that hashing
// throughput is reported separately. The server runs in a child process (its own core).
//
//   npx tsx bench/publish.ts [--rounds N] [--chunk-size BYTES]
import { fork, type ChildProcess } from "node:child_process";
import { openAsBlob } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRetryFetch, publishHubApi, verifyHubRevision } from "../src/hub/index.js";
import type { ManifestEntry } from "../src/checkpoint/types.js";
import { buildManifest } from "../test/hub-helpers.js";
import { startHubServer } from "../test/hub-server/index.js";
import { ensureBaseCheckpoint } from "./base-ckpt.js";

const TOKEN = "hf_benchTokenBBBBBBBBBBBBBBBBBBBBBB";
const self = fileURLToPath(import.meta.url);

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
    if (m.type === "stop") void hub.stop().then(() => process.exit(0));
  });
  process.send!({ ready: hub.url });
}

// ---- parent: the benchmark ----
function ask(child: ChildProcess, msg: Record<string, unknown>): Promise<string> {
  const id = Math.random();
  return new Promise((resolve) => {
    const on = (m: { id?: number; url?: string }): void => {
      if (m.id === id) {
        child.off("message", on);
        resolve(m.url!);
      }
    };
    child.on("message", on);
    child.send({ ...msg, id });
  });
}

async function plainPut(child: ChildProcess, repoId: string, manifest: ManifestEntry[]): Promise<number> {
  const t0 = performance.now();
  for (const e of manifest) {
    const url = await ask(child, { type: "plainPutUrl", repoId, oid: e.sha256, size: e.size });
    const res = await fetch(url, { method: "PUT", body: await openAsBlob(e.source) });
    if (!res.ok) throw new Error(`plain PUT failed: ${res.status}`);
    await res.arrayBuffer();
  }
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const rounds = Number(arg("--rounds") ?? 2);
  const dir = ensureBaseCheckpoint();
  const t0 = performance.now();
  const manifest = await buildManifest(dir);
  const hashS = (performance.now() - t0) / 1000;
  const bytes = manifest.reduce((s, e) => s + e.size, 0);
  const mb = bytes / 1e6;

  const data = await mkdtemp(path.join(os.tmpdir(), "hub-bench-"));
  const child = fork(self, ["--serve", "--data", data, ...(arg("--chunk-size") ? ["--chunk-size", arg("--chunk-size")!] : [])], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const url = await new Promise<string>((resolve) => child.once("message", (m: { ready: string }) => resolve(m.ready)));
  const results: Array<{ round: number; plainS: number; publishS: number }> = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      const plainS = await plainPut(child, `bench/plain-${r}`, manifest);
      const t1 = performance.now();
      const phases: Record<string, number> = {};
      let phase = "";
      let phaseStart = t1;
      const res = await publishHubApi({
        endpoint: url,
        repoId: `bench/azbert-base-${r}`,
        token: TOKEN,
        manifest,
        tag: "v0.0.0",
        createRepo: true,
        fetch: createRetryFetch(),
        onProgress: (e) => {
          if (e.phase === phase) return;
          const now = performance.now();
          if (phase) phases[phase] = (phases[phase] ?? 0) + (now - phaseStart) / 1000;
          phase = e.phase;
          phaseStart = now;
        },
      });
      const publishS = (performance.now() - t1) / 1000;
      const v = await verifyHubRevision({ endpoint: url, repoId: `bench/azbert-base-${r}`, token: TOKEN, revision: res.commit, manifest });
      if (!v.ok) throw new Error(`verify failed: ${JSON.stringify(v.mismatches)}`);
      results.push({ round: r, plainS, publishS });
      const breakdown = Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
      process.stderr.write(`round ${r}: plain PUT ${plainS.toFixed(2)} s (${(mb / plainS).toFixed(0)} MB/s), publish ${publishS.toFixed(2)} s (${(mb / publishS).toFixed(0)} MB/s) [${breakdown}]\n`);
    }
    // a no-op re-publish: plan + tree listing only
    const t2 = performance.now();
    const noop = await publishHubApi({ endpoint: url, repoId: `bench/azbert-base-1`, token: TOKEN, manifest, tag: "v0.0.0" });
    const noopS = (performance.now() - t2) / 1000;
    const bestPlain = Math.min(...results.map((r) => r.plainS));
    const bestPublish = Math.min(...results.map((r) => r.publishS));
    const report = {
      checkpoint: dir,
      files: manifest.length,
      bytes,
      hashing: { seconds: +hashS.toFixed(3), MBps: +(mb / hashS).toFixed(1) },
      plainPut: { bestSeconds: +bestPlain.toFixed(3), MBps: +(mb / bestPlain).toFixed(1) },
      publish: { bestSeconds: +bestPublish.toFixed(3), MBps: +(mb / bestPublish).toFixed(1) },
      ratio: +(bestPlain / bestPublish).toFixed(3),
      target: 0.8,
      noopRepublish: { seconds: +noopS.toFixed(3), status: noop.status },
      rounds: results,
      cpus: os.cpus().length,
      node: process.version,
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    child.send({ type: "stop" });
    await new Promise((r) => child.once("exit", r));
    await rm(data, { recursive: true, force: true });
  }
}

if (process.argv.includes("--serve")) void serve();
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
