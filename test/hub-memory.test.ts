// Publishing never holds a whole weights file in memory: a 1 GiB (sparse, so cheap) weights file
// is published by a child process whose peak resident memory must stay far below the file's
// size, for both transports. Buffering the file anywhere (a library hash over arrayBuffer(), a
// request body read whole, a body kept for a retry or a redirect) shows up as >1 GiB here.
import { execFile } from "node:child_process";
import { mkdtemp, rm, truncate } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiskBlob } from "../src/hub/index.js";
import { copySample } from "./helpers/cli.js";
import { isolateGit, startHubServer, type HubServer } from "./hub-server/index.js";

isolateGit(); // every git this file starts: no user or system config, a fixed identity

const run = promisify(execFile);
const TOKEN = "hf_memoryTestTokenMMMMMMMMMMMMMMMM";
const GiB = 1024 ** 3;
/** Far below the file, far above what node itself needs: whole-file buffering cannot hide under it. */
const RSS_LIMIT = 320 * 1024 ** 2;
let hub: HubServer;
let ckpt: string;

beforeAll(async () => {
  hub = await startHubServer({ tokens: { [TOKEN]: { user: "mem", role: "write" } } });
  ckpt = await copySample();
  await truncate(path.join(ckpt, "pytorch_model.bin"), GiB); // sparse: no disk blocks, reads as zeros
});
afterAll(async () => {
  await hub?.stop();
  if (ckpt) await rm(path.dirname(ckpt), { recursive: true, force: true });
});

describe("publishing streams weights from disk", () => {
  it.each(["api", "git"])("a 1 GiB weights file through the %s transport: peak RSS of the publishing process stays under 320 MB", { timeout: 240_000 }, async (transport) => {
    const repoId = `mem/sparse-${transport}`;
    const child = await run(process.execPath, ["--import", "tsx", path.join(__dirname, "hub-publish-child.ts"), transport, hub.url, repoId, ckpt], {
      env: { ...process.env, HF_TOKEN: TOKEN },
      maxBuffer: 1 << 20,
    });
    const report = JSON.parse(child.stdout) as { status: string; peakRss: number };
    expect(report.status).toBe("done");
    expect(await hub.store.hasObject(repoId, (await hub.store.tree(repoId, (await hub.store.branchHead(repoId, "main"))!, { recursive: true })).find((e) => e.path === "pytorch_model.bin")!.lfs!.oid, GiB)).toBe(true);
    expect(report.peakRss).toBeLessThan(RSS_LIMIT);
    expect(hub.storageAuthorizations).toEqual([]);
    await rm(hub.repoDir(repoId), { recursive: true, force: true }); // a GiB of zeros: not kept
  });

  it("a file-backed Blob refuses to be read whole beyond 16 MiB: only stream() serves a weights file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "disk-blob-"));
    try {
      const file = path.join(dir, "w.bin");
      await run("truncate", ["-s", String(64 * 1024 ** 2), file]);
      const blob = await DiskBlob.fromFile(file);
      await expect(blob.arrayBuffer()).rejects.toThrow(/refusing to read 67108864 bytes into memory at once; it must be streamed/);
      let n = 0;
      for await (const chunk of blob.slice(1000, 5_000_000).stream()) n += (chunk as Uint8Array).length;
      expect(n).toBe(4_999_000);
      expect((await blob.slice(0, 10).arrayBuffer()).byteLength).toBe(10);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
