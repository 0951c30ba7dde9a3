// A download of what the Hub serves, as the proof makes it: a 512 MiB LFS file of a private repo
// (sparse, so cheap) is downloaded by a child process through resolve/<tag>/<path>; the token
// reaches the Hub origin only (storage would refuse it, and records it), the bytes are hashed
// as they are written, and the process's peak resident memory stays far below the file's size.
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolateGit, startHubServer, type HubServer } from "./hub-server/index.js";

isolateGit();

const run = promisify(execFile);
const TOKEN = "hf_downloadTestTokenDDDDDDDDDDDDDDDD";
const REPO = "dl/private-weights";
/** Larger than the RSS bound: a download that held it in memory could not pass. */
const SIZE = 512 * 1024 ** 2;
/** The same bound as publishing's: far below the file, far above what node itself needs. */
const RSS_LIMIT = 320 * 1024 ** 2;
let hub: HubServer;
let dir: string;
let oid: string;

beforeAll(async () => {
  hub = await startHubServer({ tokens: { [TOKEN]: { user: "dl", role: "write" } } });
  dir = await mkdtemp(path.join(os.tmpdir(), "hub-download-"));
  const weights = path.join(dir, "weights.bin");
  await writeFile(weights, "");
  await truncate(weights, SIZE); // sparse: no disk blocks, reads as zeros
  oid = (await run("openssl", ["dgst", "-sha256", "-r", weights])).stdout.split(" ")[0]!;
  await hub.createRepo(REPO, { private: true });
  await hub.store.putObject(REPO, oid, SIZE, createReadStream(weights));
  const { commitOid } = await hub.store.commit(REPO, "main", { summary: "weights" }, [{ kind: "lfsFile", path: "pytorch_model.bin", oid, size: SIZE }]);
  await hub.store.createTag(REPO, "v1.0.0", commitOid);
}, 120_000);
afterAll(async () => {
  await hub?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("downloading what the Hub serves", () => {
  it("a 512 MiB LFS file of a private repo: right sha256, token to the Hub origin only, peak RSS under 320 MB", { timeout: 240_000 }, async () => {
    const dest = path.join(dir, "copy", "pytorch_model.bin");
    const mark = hub.requests.length;
    const child = await run(process.execPath, ["--import", "tsx", path.join(__dirname, "hub-download-child.ts"), hub.url, REPO, "v1.0.0", "pytorch_model.bin", dest], {
      env: { ...process.env, HF_TOKEN: TOKEN },
      maxBuffer: 1 << 20,
    });
    const got = JSON.parse(child.stdout) as { size: number; sha256: string; hops: string[]; peakRss: number };
    expect([got.size, got.sha256]).toEqual([SIZE, oid]);
    expect((await stat(dest)).size).toBe(SIZE);
    expect(got.hops).toEqual([hub.url, hub.storageUrl]);
    const seen = hub.requests.slice(mark).map((e) => `${e.origin} ${e.method} ${e.status} ${e.authorization ? "token" : "no token"}`);
    expect(seen).toEqual(["hub GET 302 token", "storage GET 200 no token"]);
    expect(hub.storageAuthorizations).toEqual([]);
    expect(got.peakRss).toBeLessThan(RSS_LIMIT);
    await rm(dest);
  });

  it("without the token, a private repo's file is refused with the reason; a missing file is named", async () => {
    const { downloadHubFile } = await import("../src/hub/index.js");
    const target = { endpoint: hub.url, repoId: REPO, revision: "v1.0.0", fetch: globalThis.fetch, dest: path.join(dir, "never", "x") };
    await expect(downloadHubFile({ ...target, path: "pytorch_model.bin" })).rejects.toThrow(/dl\/private-weights refused the download \(401\): a private repo needs HF_TOKEN with read access/);
    await expect(downloadHubFile({ ...target, token: TOKEN, path: "config.json" })).rejects.toThrow(/dl\/private-weights has no config\.json at v1\.0\.0/);
  });
});
