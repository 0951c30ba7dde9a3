// Downloads from a hostile server end fast with a named failure, and neither the disk nor the
// memory fills. The manifest says the file has 578,110 bytes (the sample's pytorch_model.bin);
// the server sends an endless body, an endless error body, one byte at a time, a gzip bomb, a
// Content-Length that lies in either direction. Each download runs in a child process, as the
// proof does (Hub: resolve/<tag>/<file>; GitHub: the release asset through the API), with its
// peak resident memory read from /proc and its TMPDIR measured from outside while it runs.
import { execFile } from "node:child_process";
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SIZE = 578_110;
const GH_TOKEN = "ghp_hostileServerTestToken0123456789AB";
/** Far below what the inputs reached unbounded (6.5 GB RSS, 5.2 GB on disk), far above what node itself needs. */
const RSS_LIMIT = 320 * 1024 ** 2;
/** The layer's timeouts, lowered so that a slow server fails within a test (the defaults: 120 s, 120 s, 120 s, 64 KiB/s). */
const TIMEOUTS = { headersMs: 5_000, idleMs: 1_500, graceMs: 1_000, minBytesPerSecond: 16 * 1024 };
/** Generous: each case ends in well under a second or two of its timeouts. */
const BOUND_MS = 30_000;

type Mode = "endless" | "endless-error" | "drip" | "gzip-bomb" | "announces-more" | "announces-less" | "ends-early";
let mode: Mode = "endless";
let server: http.Server;
let base: string;
const scratch = mkdtempSync(path.join(os.tmpdir(), "azbert-hostile-"));
const chunk = Buffer.alloc(64 * 1024, 0x41);
/** 16 MiB of zeros as one gzip member (16 KiB): 128 of them inflate to 2 GiB. */
const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });

/** Writes `next()` as fast as the client reads, until it stops or goes away. */
function pour(res: http.ServerResponse, next: () => Buffer | undefined): void {
  let open = true;
  res.on("close", () => (open = false));
  const go = (): void => {
    while (open) {
      const b = next();
      if (!b) return void res.end();
      if (!res.write(b)) return void res.once("drain", go);
    }
  };
  go();
}

function hostile(res: http.ServerResponse): void {
  const bin = { "content-type": "application/octet-stream" };
  switch (mode) {
    case "endless":
      res.writeHead(200, bin);
      return pour(res, () => chunk);
    case "endless-error":
      res.writeHead(404, { "content-type": "text/plain" });
      return pour(res, () => chunk);
    case "drip": {
      res.writeHead(200, { ...bin, "content-length": String(SIZE) });
      const t = setInterval(() => res.write("A"), 100);
      res.on("close", () => clearInterval(t));
      return;
    }
    case "gzip-bomb": {
      res.writeHead(200, { ...bin, "content-encoding": "gzip" });
      let n = 0;
      return pour(res, () => (n++ < 128 ? member : undefined));
    }
    case "announces-more":
      res.writeHead(200, { ...bin, "content-length": String(10 * 1024 ** 3) });
      return pour(res, () => chunk);
    case "announces-less":
      res.writeHead(200, { ...bin, "content-length": "100" });
      return void res.end(Buffer.alloc(100));
    case "ends-early":
      res.writeHead(200, { ...bin, "content-length": String(SIZE) });
      res.write(Buffer.alloc(SIZE / 2));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
  }
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const json = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (u.pathname === "/repos/o/r/releases/tags/v1.0.0") return json({ id: 1, tag_name: "v1.0.0", upload_url: `${base}/uploads{?name,label}` });
    if (u.pathname === "/repos/o/r/releases/1/assets") return json([{ id: 7, name: "ckpt.tar.gz", label: null, size: SIZE, state: "uploaded", browser_download_url: `${base}/x` }]);
    if (u.pathname === "/repos/o/r/releases/assets/7" || u.pathname === "/h/r/resolve/v1.0.0/pytorch_model.bin") return hostile(res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  rmSync(scratch, { recursive: true, force: true });
});

/** Bytes under `dir`, tsx's compile cache (which the child's TMPDIR also holds) aside. */
function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith("tsx-")) continue;
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? bytesUnder(p) : lstatSync(p).size;
  }
  return n;
}

interface Outcome {
  ok: boolean;
  error?: string;
  peakRss: number;
  /** The most the child's TMPDIR held while it ran, and what it holds after. */
  peakDisk: number;
  diskAfter: number;
  ms: number;
}

/** One download in a child process, its TMPDIR polled from here while it runs. */
function download(kind: "hub" | "github"): Promise<Outcome> {
  const tmp = mkdtempSync(path.join(scratch, `${kind}-`));
  const dest = path.join(tmp, "copy", kind === "hub" ? "pytorch_model.bin" : "ckpt.tar.gz");
  const args =
    kind === "hub"
      ? [base, "h/r", "v1.0.0", "pytorch_model.bin", String(SIZE), dest]
      : [base, "o/r", "v1.0.0", "ckpt.tar.gz", "-", dest];
  const started = performance.now();
  let peakDisk = 0;
  const poll = setInterval(() => (peakDisk = Math.max(peakDisk, bytesUnder(tmp))), 20);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(__dirname, "hub-download-hostile-child.ts"), kind, ...args],
      { env: { ...process.env, TMPDIR: tmp, GITHUB_TOKEN: GH_TOKEN, HTTP_TIMEOUTS: JSON.stringify(TIMEOUTS) }, timeout: BOUND_MS * 2, maxBuffer: 1 << 20 },
      (err, stdout) => {
        clearInterval(poll);
        peakDisk = Math.max(peakDisk, bytesUnder(tmp));
        if (err) return reject(err);
        resolve({ ...(JSON.parse(stdout) as { ok: boolean; error?: string; peakRss: number }), peakDisk, diskAfter: bytesUnder(tmp), ms: performance.now() - started });
      },
    );
  });
}

const hubWhere = String.raw`downloading pytorch_model\.bin from http://127\.0\.0\.1:\d+/h/r/resolve/v1\.0\.0/pytorch_model\.bin: http://127\.0\.0\.1:\d+/h/r/resolve/v1\.0\.0/pytorch_model\.bin: `;
const ghWhere = String.raw`GitHub: downloading ckpt\.tar\.gz of the release v1\.0\.0: http://127\.0\.0\.1:\d+/repos/o/r/releases/assets/7: `;

const cases: Array<[Mode, string, number]> = [
  // [mode, what the failure says, the most the disk may hold meanwhile]
  ["endless", String.raw`the server sent more than the 578110 bytes expected`, SIZE + chunk.length],
  ["drip", String.raw`\d+ of 578110 bytes in [\d.]+ s, slower than 16384 bytes/s: the server sends too slowly`, SIZE],
  ["gzip-bomb", String.raw`the server sent a gzip-encoded body where the file's own bytes were expected \(identity was asked for\)`, 0],
  ["announces-more", String.raw`the server announces 10737418240 bytes \(Content-Length\), 578110 expected`, 0],
  ["announces-less", String.raw`the server announces 100 bytes \(Content-Length\), 578110 expected`, 0],
  ["ends-early", String.raw`the connection broke after 289055 of 578110 bytes \(.+\)`, SIZE],
];

describe.each(["hub", "github"] as const)("a hostile server, %s download of a 578,110-byte file", (kind) => {
  it.each(cases)("%s: ends fast with a named failure; memory and disk stay bounded, nothing is left", { timeout: BOUND_MS * 3 }, async (m, says, diskLimit) => {
    mode = m;
    const r = await download(kind);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(new RegExp(`^${kind === "hub" ? hubWhere : ghWhere}${says}$`));
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(r.peakRss).toBeLessThan(RSS_LIMIT);
    expect(r.peakDisk).toBeLessThanOrEqual(diskLimit);
    expect(r.diskAfter).toBe(0);
  });

  it("endless-error: an error answer that never ends is read a few KiB at most and named", { timeout: BOUND_MS * 3 }, async () => {
    mode = "endless-error";
    const r = await download(kind);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(kind === "hub" ? /^downloading pytorch_model\.bin from http:\/\/127\.0\.0\.1:\d+\/h\/r\/resolve\/v1\.0\.0\/pytorch_model\.bin: h\/r has no pytorch_model\.bin at v1\.0\.0$/ : new RegExp(`^${ghWhere.slice(0, -2)} answered 404: A{200}$`));
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(r.peakRss).toBeLessThan(RSS_LIMIT);
    expect(r.peakDisk).toBe(0);
  });
});
