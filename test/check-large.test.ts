// A weights file large enough to be hashed on a worker thread, through the built CLI: the hash in
// the cache is the file's sha256, the fused scan names the NaN, and a rerun reads nothing.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WORKER_MIN_BYTES } from "../src/checkpoint/hash-pool.js";
import { copySample, parseReport, runCli } from "./helpers/cli.js";
import { stateDictPickle, torchZip } from "./helpers/torch-fixtures.js";

const scratch: string[] = [];
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

describe("check of a large weights file", () => {
  it("hashes it on a worker thread (the cache holds its sha256), finds the NaN in the same read, and reads nothing on a rerun", async () => {
    const ckpt = await copySample();
    const cache = await mkdtemp(path.join(os.tmpdir(), "azbert-large-cache-"));
    scratch.push(path.dirname(ckpt), cache);
    const numel = (WORKER_MIN_BYTES + (4 << 20)) / 4;
    const data = Buffer.alloc(numel * 4);
    for (let i = 0; i < numel; i++) data.writeFloatLE((i % 7) / 7, i * 4);
    const nanAt = numel - 3;
    data.writeFloatLE(NaN, nanAt * 4);
    const pkl = stateDictPickle([{ name: "big.weight", storageType: "FloatStorage", key: "0", storageNumel: numel, shape: [numel] }]);
    const bin = torchZip("archive", pkl, { "0": data });
    await writeFile(path.join(ckpt, "pytorch_model.bin"), bin);
    expect(bin.length).toBeGreaterThan(WORKER_MIN_BYTES);

    const env = { AZBERT_RELEASE_CACHE_DIR: cache };
    const first = await runCli(["check", "--offline", "--json", "--ckpt", ckpt], { env });
    const finite = parseReport(first.stdout).checks.find((c) => c.id === "weights.finite");
    expect(finite).toMatchObject({ status: "fail", message: expect.stringMatching(/big\.weight.*1 NaN.*first at element \d+/) });
    expect(finite!.message).toContain(String(nanAt));
    const cached = JSON.parse(await readFile(path.join(cache, "sha256-cache.json"), "utf8")) as Record<string, { sha256: string }>;
    expect(cached[path.join(ckpt, "pytorch_model.bin")]?.sha256).toBe(createHash("sha256").update(bin).digest("hex"));

    const again = await runCli(["check", "--offline", "--ckpt", ckpt], { env });
    expect(again.stdout).toMatch(/Manifest: \d+ files hashed \(sha256\), all from the cache/);
    expect(again.stdout).toMatch(/✖ weights\.finite: .*big\.weight/);
  });
});
