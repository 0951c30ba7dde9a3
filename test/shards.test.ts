// Sharded checkpoints (pytorch_model-0000N-of-0000M.bin + pytorch_model.bin.index.json, and the
// safetensors equivalent) through every stage: the index validated as transformers relies on it,
// shapes over the union of the shards, the CPU engine reading several files, pack and the Hub.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { loadCheckpoint } from "../src/checkpoint/load.js";
import { buildManifest } from "../src/checkpoint/manifest.js";
import { readSafetensors } from "../src/checkpoint/weights.js";
import { publishHubApi, createRetryFetch } from "../src/hub/index.js";
import { CpuEngine } from "../src/smoke/engine.js";
import { runSmoke } from "../src/smoke/main.js";
import { parseReport, runCli, type JsonCheck } from "./helpers/cli.js";
import { cloneWithLfs, treeHashes } from "./hub-helpers.js";
import { startHubServer, type HubServer } from "./hub-server/index.js";
import { removeShardedCopies, rewriteTorchShard, writeShardedSample, type ShardedCopy } from "./shard-fixtures.js";
import { referenceFile, sampleDir, type Reference } from "./smoke-helpers.js";

const reference = JSON.parse(readFileSync(referenceFile, "utf8")) as Reference;

async function check(dir: string) {
  const r = await runCli(["check", "--offline", "--json", "--ckpt", dir]);
  const report = parseReport(r.stdout);
  const failed = report.checks.filter((c) => c.status === "fail" && /^(files|json|schema|coherence|weights|card)\./.test(c.id));
  return { ...r, report, failed, byId: new Map(report.checks.map((c) => [c.id, c])) };
}

function expectFail(c: JsonCheck | undefined, ...fragments: RegExp[]) {
  expect(c?.status, JSON.stringify(c)).toBe("fail");
  for (const f of fragments) expect(c!.message).toMatch(f);
}

async function editIndex(copy: ShardedCopy, edit: (v: { metadata?: Record<string, unknown>; weight_map: Record<string, string> }) => void) {
  const v = JSON.parse(await readFile(copy.indexFile, "utf8")) as { metadata?: Record<string, unknown>; weight_map: Record<string, string> };
  edit(v);
  await writeFile(copy.indexFile, JSON.stringify(v));
}

afterAll(removeShardedCopies);

/** Logits of every reference case (mask by mask, concatenated). */
async function logits(engine: CpuEngine): Promise<Float32Array[]> {
  const { masks } = await engine.run(reference.cases.map((c) => c.input_ids), 5);
  return masks.flat().map((m) => m.logits);
}

describe("reading sharded weights", () => {
  it("indexes every shard through pytorch_model.bin.index.json: the union is the sample's tensors", async () => {
    const copy = await writeShardedSample({ count: 3 });
    const ckpt = await loadCheckpoint(copy.dir);
    const sample = await loadCheckpoint(sampleDir);
    const [set] = ckpt.weightSets;
    expect(set).toMatchObject({ format: "torch", path: "pytorch_model.bin.index.json", sharded: true, files: copy.shards, problems: [] });
    expect(ckpt.weights.map((w) => w.path)).toEqual(copy.shards);
    const shape = (ts: { name: string; shape: number[]; dtype: string }[]) => ts.map((t) => `${t.name} ${t.dtype} [${t.shape}]`).sort();
    expect(shape(set!.tensors!)).toEqual(shape(sample.weightSets[0]!.tensors!));
    // each tensor is read from the shard the index maps it to
    for (const t of set!.tensors!) expect(path.basename(t.source.file)).toBe(copy.weightMap[t.name]);
  });

  it("check passes on sharded .bin and on sharded safetensors, validating the index", async () => {
    for (const format of ["torch", "safetensors"] as const) {
      const copy = await writeShardedSample({ format, count: 2 });
      const r = await check(copy.dir);
      expect(r.failed, format).toEqual([]);
      const index = r.byId.get("weights.index");
      expect(index).toMatchObject({ status: "pass", message: expect.stringMatching(/^2 shards, 4[79] tensors$/) });
      expect(r.byId.get("weights.shapes")?.status).toMatch(/pass|warn/);
      const readable = r.byId.get(format === "torch" ? "weights.pickle" : "weights.safetensors");
      expect(readable?.status).toBe("pass");
      expect(readable?.message).toMatch(/^2 files, 4[79] tensors/);
    }
  });
});

describe("sharded .bin and sharded safetensors side by side", () => {
  it("weights.agree compares every tensor across the shards; one changed element fails, naming the tensor and both shard files", async () => {
    const copy = await writeShardedSample({ format: "torch", count: 3 });
    const st = await writeShardedSample({ format: "safetensors", count: 3, dir: copy.dir });
    const r = await check(copy.dir);
    expect(r.failed).toEqual([]);
    expect(r.byId.get("weights.agree")).toMatchObject({
      status: "pass",
      title: "pytorch_model.bin.index.json (3 shards) and model.safetensors.index.json (3 shards) hold the same tensors",
      message: expect.stringMatching(/^47 tensors, [\d.]+ KiB compared; 2 tied names in pytorch_model\.bin\.index\.json \(3 shards\)$/),
    });

    const name = "bert.encoder.layer.1.output.dense.weight";
    const shard = path.join(copy.dir, st.weightMap[name]!);
    const index = await readSafetensors(shard);
    const t = index.tensors.find((x) => x.name === name)!;
    const bytes = await readFile(shard);
    bytes.writeFloatLE(bytes.readFloatLE(t.dataOffset + 40) + 1, t.dataOffset + 40);
    await writeFile(shard, bytes);
    const bad = await check(copy.dir);
    const agree = bad.byId.get("weights.agree");
    expect(agree?.status).toBe("fail");
    expect(agree!.message).toContain(`tensor ${name} differs between ${copy.weightMap[name]} and ${st.weightMap[name]} (first at element 10)`);
  });
});

describe("a sharded index that disagrees with its shards fails check, naming the files", () => {
  let copy: ShardedCopy;
  beforeAll(async () => {
    copy = await writeShardedSample({ count: 3 });
  });
  const fresh = () => writeShardedSample({ count: 3 });

  it("a shard the index names is missing", async () => {
    const c = await fresh();
    await rm(path.join(c.dir, c.shards[1]!));
    const r = await check(c.dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.index"), new RegExp(`pytorch_model\\.bin\\.index\\.json: maps \\d+ tensor\\(s\\) to ${c.shards[1]!.replace(/\./g, "\\.")}, which is not in the checkpoint`));
  });

  it("a shard the index does not list (an orphan), its tensors unlisted", async () => {
    const c = await fresh();
    await editIndex(c, (v) => {
      for (const [k, f] of Object.entries(v.weight_map)) if (f === c.shards[2]) delete v.weight_map[k];
    });
    const r = await check(c.dir);
    expectFail(r.byId.get("weights.index"), new RegExp(`${c.shards[2]!.replace(/\./g, "\\.")}: a shard that pytorch_model\\.bin\\.index\\.json does not list; transformers would not load its tensors`));
  });

  it("a tensor mapped to the wrong shard, one mapped that no shard holds, one in two shards", async () => {
    const c = await fresh();
    const [name] = Object.entries(c.weightMap).find(([, f]) => f === c.shards[0])!;
    await editIndex(c, (v) => {
      v.weight_map[name] = c.shards[1]!;
      v.weight_map["bert.encoder.layer.9.output.dense.weight"] = c.shards[2]!;
    });
    let r = await check(c.dir);
    expectFail(
      r.byId.get("weights.index"),
      new RegExp(`maps tensor ${name.replace(/\./g, "\\.")} to ${c.shards[1]!.replace(/\./g, "\\.")}, but it is in ${c.shards[0]!.replace(/\./g, "\\.")}`),
      /maps tensor bert\.encoder\.layer\.9\.output\.dense\.weight to .*, which does not hold it/,
    );

    const d = await fresh();
    const inFirst = Object.keys(d.weightMap).filter((n) => d.weightMap[n] === d.shards[0]);
    const inSecond = Object.keys(d.weightMap).filter((n) => d.weightMap[n] === d.shards[1]);
    await rewriteTorchShard(d, d.shards[1]!, [...inSecond, inFirst.find((n) => n.endsWith("position_embeddings.weight"))!]);
    r = await check(d.dir);
    expectFail(r.byId.get("weights.index"), /tensor bert\.embeddings\.position_embeddings\.weight is in pytorch_model-00001-of-00003\.bin and pytorch_model-00002-of-00003\.bin/);
  });

  it("shards without their index, and an index that points outside the folder", async () => {
    const c = await fresh();
    await rm(c.indexFile);
    let r = await check(c.dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.index"), /shards without pytorch_model\.bin\.index\.json; transformers finds shards only through that index/);
    expectFail(r.byId.get("files.required"), /no weights/);

    await writeFile(c.indexFile, JSON.stringify({ weight_map: { "bert.pooler.dense.weight": "../pytorch_model-00001-of-00003.bin" } }));
    r = await check(c.dir);
    expectFail(r.byId.get("weights.index"), /weight_map names "\.\.\/pytorch_model-00001-of-00003\.bin", which is not a file name in the checkpoint folder/);
  });

  it("an index an attacker blew up (200k tensors over 100k missing files) ends fast with the named failure", async () => {
    const c = await fresh();
    await editIndex(c, (v) => {
      for (let i = 0; i < 200_000; i++) v.weight_map[`x.${i}`] = `pytorch_model-${String(i % 100_000).padStart(5, "0")}-of-99999.bin`;
    });
    const t0 = Date.now();
    const r = await check(c.dir);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expectFail(r.byId.get("weights.index"), /maps 2 tensor\(s\) to pytorch_model-00000-of-99999\.bin, which is not in the checkpoint/, /… and 99997 more files that are not in the checkpoint/);
  });

  it("metadata.total_size: not a number fails, a wrong count warns", async () => {
    await editIndex(copy, (v) => (v.metadata = { total_size: "big" }));
    expectFail((await check(copy.dir)).byId.get("weights.index"), /metadata\.total_size is "big", not a byte count/);
    await editIndex(copy, (v) => (v.metadata = { total_size: 12 }));
    const r = await check(copy.dir);
    expect(r.byId.get("weights.index")).toMatchObject({ status: "warn", message: expect.stringMatching(/metadata\.total_size is 12 bytes, but the shards hold \d+ bytes of tensors/) });
    expect(r.failed).toEqual([]);
  });

  it("shapes are checked over the union of the shards: a tensor no shard holds is missing", async () => {
    const c = await fresh();
    const inSecond = Object.keys(c.weightMap).filter((n) => c.weightMap[n] === c.shards[1]);
    const dropped = inSecond.find((n) => n.endsWith(".bias"))!;
    await rewriteTorchShard(c, c.shards[1]!, inSecond.filter((n) => n !== dropped));
    await editIndex(c, (v) => delete v.weight_map[dropped]);
    const r = await check(c.dir);
    expect(r.byId.get("weights.index")?.status).toBe("pass");
    expectFail(r.byId.get("weights.shapes"), new RegExp(`pytorch_model\\.bin\\.index\\.json: tensor ${dropped.replace(/\./g, "\\.")} is missing`));
  });
});

describe("the CPU engine on shards", () => {
  let torchShards: ShardedCopy;
  let stShards: ShardedCopy;
  beforeAll(async () => {
    torchShards = await writeShardedSample({ format: "torch", count: 3 });
    stShards = await writeShardedSample({ format: "safetensors", count: 2 });
  });

  it("reads the weights from several files and gives the single file's logits exactly", async () => {
    const single = await CpuEngine.load(sampleDir);
    const want = await logits(single);
    await single.dispose();
    // shards spread over the folders of a nested layout
    const spread = await writeShardedSample({ format: "torch", count: 3 });
    await mkdir(path.join(spread.dir, "a", "b"), { recursive: true });
    await rename(path.join(spread.dir, spread.shards[0]!), path.join(spread.dir, "a", spread.shards[0]!));
    await rename(path.join(spread.dir, spread.shards[2]!), path.join(spread.dir, "a", "b", spread.shards[2]!));
    const cases = [
      [torchShards.dir, /straight from 3 shards \(pytorch_model-00001-of-00003\.bin/],
      [stShards.dir, /straight from 2 shards \(model-00001-of-00002\.safetensors/],
      [spread.dir, /straight from 3 shards/],
    ] as const;
    for (const [dir, files] of cases) {
      const engine = await CpuEngine.load(dir);
      try {
        expect(engine.description).toMatch(files);
        const got = await logits(engine);
        expect(got.length).toBe(want.length);
        got.forEach((l, i) => expect(Buffer.from(l.buffer, l.byteOffset, l.byteLength).equals(Buffer.from(want[i]!.buffer, want[i]!.byteOffset, want[i]!.byteLength))).toBe(true));
      } finally {
        await engine.dispose();
      }
    }
  });

  it("steps of a few rows each, read from the shard that holds their tensor, give the reference top-5", async () => {
    const engine = await CpuEngine.load(torchShards.dir, { stepBytes: 8192 });
    try {
      const { masks } = await engine.run(reference.cases.map((c) => c.input_ids), 5);
      reference.cases.forEach((c, i) => expect(masks[i]?.map((m) => m.top.map((t) => t.id))).toEqual(c.masks.map((m) => m.top.map((t) => t.id))));
      expect(engine.stats.bytesRead).toBeGreaterThan(0);
    } finally {
      await engine.dispose();
    }
  });

  it("smoke passes the shipped expectations on shards; a broken index stops it with the check's message", async () => {
    const report = await runSmoke({ ckptDir: torchShards.dir, device: "cpu", expectations: path.join(sampleDir, "..", "smoke-expectations.json") });
    expect(report.ok).toBe(true);
    const bad = await writeShardedSample({ count: 2 });
    await rm(path.join(bad.dir, bad.shards[1]!));
    const r = await runCli(["smoke", "--device", "cpu", "--ckpt", bad.dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ weights\.index: pytorch_model\.bin\.index\.json: maps \d+ tensor\(s\) to pytorch_model-00002-of-00002\.bin, which is not in the checkpoint/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("pack and publish sharded checkpoints (file-agnostic)", () => {
  let hub: HubServer;
  const TOKEN = "hf_writeTokenAAAAAAAAAAAAAAAAAAAA";
  beforeAll(async () => {
    hub = await startHubServer({ tokens: { [TOKEN]: { user: "alice", role: "write" } } });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it("pack archives every shard and the index; GNU tar restores them", async () => {
    const copy = await writeShardedSample({ count: 3 });
    const out = path.join(copy.dir, "..", "out");
    const r = await runCli(["pack", "--json", "--ckpt", copy.dir, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const archive = (JSON.parse(r.stdout) as { archive: { path: string } }).archive.path;
    const names = execFileSync("tar", ["tzf", archive], { encoding: "utf8" }).trim().split("\n").map((l) => l.split("/").slice(1).join("/"));
    expect(names).toEqual(expect.arrayContaining([...copy.shards, "pytorch_model.bin.index.json"]));
    expect(names).not.toContain("pytorch_model.bin");
  });

  it("the Hub gets each shard as an LFS object and the index as a regular file, byte for byte", async () => {
    const copy = await writeShardedSample({ count: 3 });
    const ckpt = await loadCheckpoint(copy.dir);
    const manifest = await buildManifest(ckpt.files, { cache: new HashCache(null) });
    const repoId = "alice/azbert-sharded";
    const fetch = createRetryFetch({ maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 50 });
    const result = await publishHubApi({ endpoint: hub.url, repoId, token: TOKEN, fetch, manifest, tag: "v1.0.0", createRepo: true, private: true });
    expect(result.status).toBe("done");
    for (const s of copy.shards) expect(result.plan.entries.find((e) => e.path === s)?.storage).toBe("lfs");
    expect(result.plan.entries.find((e) => e.path === "pytorch_model.bin.index.json")?.storage).toBe("regular");
    const got = await treeHashes(await cloneWithLfs(hub.repoDir(repoId)));
    delete got[".gitattributes"];
    expect(got).toEqual(Object.fromEntries(manifest.map((e) => [e.path, e.sha256])));
  });
});

describe("rename keeps the index honest", () => {
  it("a shard renamed on disk: the index names a missing file and the renamed one is an orphan", async () => {
    const c = await writeShardedSample({ count: 2 });
    await rename(path.join(c.dir, c.shards[0]!), path.join(c.dir, "pytorch_model-00003-of-00003.bin"));
    const r = await check(c.dir);
    expectFail(r.byId.get("weights.index"), /to pytorch_model-00001-of-00002\.bin, which is not in the checkpoint/, /pytorch_model-00003-of-00003\.bin: a shard that pytorch_model\.bin\.index\.json does not list/);
  });
});
