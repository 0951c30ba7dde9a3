import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { scanPlanFor } from "../../../src/checkpoint/finite-scan.js";
import { HashCache } from "../../../src/checkpoint/hash-cache.js";
import { buildManifest } from "../../../src/checkpoint/manifest.js";

async function tmp() {
  return mkdtemp(path.join(os.tmpdir(), "azbert-manifest-"));
}

describe("manifest and hash cache", () => {
  it("hashes every file, sorted by repo path", async () => {
    const dir = await tmp();
    await writeFile(path.join(dir, "b.txt"), "bee");
    await writeFile(path.join(dir, "a.txt"), "a");
    const files = await Promise.all(["b.txt", "a.txt"].map(async (n) => ({ repoPath: n, source: path.join(dir, n), size: (await stat(path.join(dir, n))).size })));
    const m = await buildManifest(files, { cache: new HashCache(path.join(dir, "cache.json")) });
    expect(m.map((e) => e.path)).toEqual(["a.txt", "b.txt"]);
    expect(m[1]!.sha256).toBe(createHash("sha256").update("bee").digest("hex"));
  });

  it("does not hash an unchanged file twice, across processes, and re-hashes a changed one", async () => {
    const dir = await tmp();
    const f = path.join(dir, "w.bin");
    await writeFile(f, "weights-v1");
    const mtime = 1_700_000_000; // whole seconds: restorable exactly, to the nanosecond
    await utimes(f, mtime, mtime);
    const cacheFile = path.join(dir, "cache.json");
    const files = async () => [{ repoPath: "w.bin", source: f, size: (await stat(f)).size }];

    const first = new HashCache(cacheFile);
    await buildManifest(await files(), { cache: first });
    expect(first.hashedFiles).toBe(1);

    const second = new HashCache(cacheFile); // a new process reads the saved cache
    const m2 = await buildManifest(await files(), { cache: second });
    expect(second.hashedFiles).toBe(0);
    expect(m2[0]!.sha256).toBe(createHash("sha256").update("weights-v1").digest("hex"));

    // Same size, new content, mtime restored: ctime still changes, as in git's index. Rewrite
    // until the file system shows a new ctime (a coarse clock may need more than one write).
    const before = await stat(f, { bigint: true });
    do {
      await writeFile(f, "weights-v2");
      await utimes(f, mtime, mtime);
    } while ((await stat(f, { bigint: true })).ctimeNs === before.ctimeNs);
    const after = await stat(f, { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
    const third = new HashCache(cacheFile);
    const m3 = await buildManifest(await files(), { cache: third });
    expect(third.hashedFiles).toBe(1);
    expect(m3[0]!.sha256).toBe(createHash("sha256").update("weights-v2").digest("hex"));
  });
});

describe("hash cache housekeeping", () => {
  it("forgets files that no longer exist when it saves", async () => {
    const dir = await tmp();
    const cacheFile = path.join(dir, "cache.json");
    const gone = path.join(dir, "gone.bin");
    const kept = path.join(dir, "kept.bin");
    await writeFile(gone, "x");
    await writeFile(kept, "y");
    const c = new HashCache(cacheFile);
    await c.sha256(gone);
    await c.sha256(kept);
    await c.save();
    await rm(gone);
    await writeFile(kept, "yy");
    const c2 = new HashCache(cacheFile);
    await c2.sha256(kept);
    await c2.save();
    expect(Object.keys(JSON.parse(await readFile(cacheFile, "utf8")) as object)).toEqual([kept]);
  });
});

describe("hashing on worker threads", () => {
  it("gives every file's sha256 and scan as the calling thread does, several files at once, and names a file it cannot read", async () => {
    const dir = await tmp();
    const names = ["a.bin", "b.bin", "c.bin", "small.txt"];
    const sizes = [3 * (1 << 20) + 7, 1 << 20, 2 * (1 << 20) + 1, 5];
    const files = [];
    for (const [i, name] of names.entries()) {
      const data = Buffer.alloc(sizes[i]!, i + 1);
      if (name === "b.bin") data.writeFloatLE(Number.POSITIVE_INFINITY, 4096);
      await writeFile(path.join(dir, name), data);
      files.push({ repoPath: name, source: path.join(dir, name), size: data.length });
    }
    const b = files[1]!.source;
    const plans = new Map([[b, scanPlanFor({ format: "torch", file: b, metadata: {}, tensors: [{ name: "w", dtype: "float32", shape: [1 << 18], stride: [1], storageKey: "0", storageOffset: 0, dataOffset: 0, byteLength: 1 << 20 }] })]]);
    const scans: Record<string, unknown> = {};
    let progressed = 0;
    const opts = { plans, onScan: (f: { repoPath: string }, s: unknown) => (scans[f.repoPath] = s), onProgress: (p: { totalBytes: number }) => (progressed = p.totalBytes) };
    const onWorkers = await buildManifest(files, { ...opts, cache: new HashCache(null), workers: { workers: 2, minWorkerBytes: 1024 } });
    const viaWorkers = { ...scans };
    const here = await buildManifest(files, { ...opts, cache: new HashCache(null), workers: { minWorkerBytes: Number.MAX_SAFE_INTEGER } });
    expect(onWorkers).toEqual(here);
    expect(viaWorkers).toEqual(scans);
    expect(progressed).toBe(sizes.reduce((s, n) => s + n, 0));
    for (const e of onWorkers) expect(e.sha256, e.path).toBe(createHash("sha256").update(await readFile(path.join(dir, e.path))).digest("hex"));
    expect(viaWorkers["b.bin"]).toMatchObject({ nonFinite: [{ inf: 1, nan: 0, first: 1024 }] });

    // A FIFO passes the stat but not the worker's open: the error comes back with its code.
    execFileSync("mkfifo", [path.join(dir, "pipe.bin")]);
    const withPipe = [...files, { repoPath: "pipe.bin", source: path.join(dir, "pipe.bin"), size: 0 }];
    await expect(buildManifest(withPipe, { cache: new HashCache(null), workers: { minWorkerBytes: 0 } })).rejects.toMatchObject({ code: "ENOTREG" });
  });
});
