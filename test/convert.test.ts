// safetensors written from pytorch_model.bin by the project's reader: every tensor but exact
// aliases (recorded with torch: test/fixtures/*.safetensors-reference.json, made by
// tools/record_safetensors_reference.py), proven byte for byte, sharded → sharded, the CPU engine's
// logits identical on both, and the `convert` command.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint } from "../src/checkpoint/load.js";
import { digestSafetensors, proveSafetensors, torchWeightsSet, writeSafetensors } from "../src/checkpoint/safetensors-writer.js";
import { SAFETENSORS_DTYPES } from "../src/checkpoint/safetensors.js";
import { DTYPE_SIZE } from "../src/checkpoint/tensor-data.js";
import { loadWeightsSet } from "../src/checkpoint/weight-sets.js";
import { loadTensorRaw, readSafetensors, readWeights } from "../src/checkpoint/weights.js";
import { compareLogits } from "../src/smoke/same-logits.js";
import { copySample, runCli } from "./helpers/cli.js";
import { stateDictPickle, torchZip } from "./helpers/torch-fixtures.js";
import { removeShardedCopies, writeShardedSample } from "./shard-fixtures.js";
import { repoRoot, sampleDir } from "./smoke-helpers.js";

interface Recorded {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; sha256: string }>;
}
const recorded = (name: string) => JSON.parse(readFileSync(path.join(repoRoot, "test", "fixtures", name), "utf8")) as Recorded;
const ST_NAME = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k]));

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "azbert-convert-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
  await removeShardedCopies();
});

/** A folder holding only `bin` as pytorch_model.bin. */
async function binOnly(bin: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, "bin-"));
  if (typeof bin === "string") await copyFile(bin, path.join(dir, "pytorch_model.bin"));
  else await writeFile(path.join(dir, "pytorch_model.bin"), bin);
  return dir;
}

/** What our safetensors reader reads back, in the recorded form. */
async function readBack(file: string): Promise<Recorded> {
  const index = await readSafetensors(file);
  const tensors: Recorded["tensors"] = {};
  for (const t of index.tensors) {
    const bytes = await loadTensorRaw(index, t.name);
    tensors[t.name] = { dtype: ST_NAME[t.dtype]!, shape: t.shape, sha256: createHash("sha256").update(bytes).digest("hex") };
  }
  return { metadata: index.metadata, tensors };
}

describe("writeSafetensors: every tensor but exact aliases, from our own reader", () => {
  it.each([
    ["the sample (BertForPreTraining: decoder tied to the embeddings, bias tied)", path.join(sampleDir, "pytorch_model.bin"), "azbert-tiny.safetensors-reference.json"],
    ["torch's float16 fixture (aliases, an offset view, a transposed tensor, every dtype, a scalar, an empty tensor)", path.join(repoRoot, "test", "fixtures", "torch-f16-tied.bin"), "torch-f16-tied.safetensors-reference.json"],
  ])("%s", async (_what, bin, reference) => {
    const out = await mkdtemp(path.join(tmp, "out-"));
    const ckpt = await loadCheckpoint(await binOnly(bin));
    const result = await writeSafetensors(ckpt, out);
    const want = recorded(reference);
    expect(result.files.map((f) => path.basename(f.path))).toEqual(["model.safetensors"]);
    expect(await readdir(out)).toEqual(["model.safetensors"]);
    const got = await readBack(path.join(out, "model.safetensors"));
    expect(got.metadata).toEqual(want.metadata);
    expect(got.tensors).toEqual(want.tensors);
    const { format: _format, ...aliases } = want.metadata;
    expect(result.aliases).toEqual(aliases);
    expect(result.proof).toMatchObject({ tensorsCompared: Object.keys(want.tensors).length, aliasesChecked: Object.keys(aliases).length });
    expect(result.proof.sizeRatio).toBeLessThanOrEqual(1.01);
    // the data section is laid out as safetensors does: each tensor aligned to its element size
    const index = await readSafetensors(path.join(out, "model.safetensors"));
    for (const t of index.tensors) expect(t.dataOffset % DTYPE_SIZE[t.dtype], t.name).toBe(0);
  });

  it("the sample converted gives bit-identical CPU engine logits and is not larger than the .bin", async () => {
    const ckpt = await loadCheckpoint(sampleDir);
    const out = await mkdtemp(path.join(tmp, "out-"));
    const result = await writeSafetensors(ckpt, out);
    expect(result.proof.writtenBytes).toBe((await stat(path.join(out, "model.safetensors"))).size);
    expect(result.proof.sourceBytes).toBe((await stat(path.join(sampleDir, "pytorch_model.bin"))).size);
    const written = await loadWeightsSet(result.files.map((f) => f.path));
    const cmp = await compareLogits(ckpt, torchWeightsSet(ckpt), written!);
    expect(cmp).toMatchObject({ masks: 5, maxAbsDiff: 0, identical: true });
  });

  it("sharded .bin → sharded safetensors with model.safetensors.index.json that check accepts; same logits", async () => {
    const copy = await writeShardedSample({ count: 3 });
    const ckpt = await loadCheckpoint(copy.dir);
    const out = await mkdtemp(path.join(tmp, "sharded-"));
    // a single-file conversion left there earlier would shadow the shards: it goes
    await writeFile(path.join(out, "model.safetensors"), "stale");
    const result = await writeSafetensors(ckpt, out);
    expect((await readdir(out)).sort()).toEqual(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"]);
    const names = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"];
    expect(result.files.map((f) => path.basename(f.path))).toEqual(names);
    const index = JSON.parse(await readFile(path.join(out, "model.safetensors.index.json"), "utf8")) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const sample = recorded("azbert-tiny.safetensors-reference.json");
    expect(Object.keys(index.weight_map).sort()).toEqual(Object.keys(sample.tensors).sort());
    expect(index.metadata.total_size).toBe(result.proof.bytesCompared);
    expect(result.proof.tensorsCompared).toBe(47);
    // every tensor is in the shard converted from the .bin shard that held it
    for (const [name, file] of Object.entries(index.weight_map)) expect(file.replace(/^model-/, "pytorch_model-").replace(/\.safetensors$/, ".bin")).toBe(copy.weightMap[name]);

    // as a checkpoint: the sample's other files plus the converted weights pass the checklist
    const converted = await copySample();
    await rm(path.join(converted, "pytorch_model.bin"));
    for (const n of names) await copyFile(path.join(out, n), path.join(converted, n));
    const r = await runCli(["check", "--offline", "--json", "--ckpt", converted]);
    const checks = (JSON.parse(r.stdout) as { checks: { id: string; status: string }[] }).checks;
    expect(checks.filter((c) => c.status === "fail" && /^weights|^files/.test(c.id))).toEqual([]);
    expect(checks.find((c) => c.id === "weights.index")?.status).toBe("pass");

    const cmp = await compareLogits(ckpt, torchWeightsSet(ckpt), (await loadWeightsSet(result.files.map((f) => f.path)))!);
    expect(cmp.identical).toBe(true);
  });
});

describe("digestSafetensors: what a dry run plans is what the release writes", () => {
  it.each([["the sample", 0], ["the sample in 3 shards", 3]])("%s: same names, sizes and sha256 as the files writeSafetensors writes", async (_what, shards) => {
    const dir = shards ? (await writeShardedSample({ count: shards })).dir : sampleDir;
    const ckpt = await loadCheckpoint(dir);
    const planned = await digestSafetensors(ckpt);
    const out = await mkdtemp(path.join(tmp, "digest-"));
    const written = await writeSafetensors(ckpt, out, { sha256: true });
    const onDisk = await Promise.all(written.files.map(async (f) => ({ name: path.basename(f.path), size: f.size, sha256: createHash("sha256").update(await readFile(f.path)).digest("hex") })));
    expect(written.files.map((f) => f.sha256)).toEqual(onDisk.map((f) => f.sha256));
    expect(planned.files.map(({ name, size, sha256 }) => ({ name, size, sha256 }))).toEqual(onDisk);
    expect(planned.aliases).toEqual(written.aliases);
    expect(await readdir(dir)).not.toContain("model.safetensors");
  });
});

describe("writeSafetensors writes every view that is not an exact alias, and refuses what it cannot write faithfully", () => {
  const floats = (n: number) => new Uint8Array(new Float32Array(Array.from({ length: n }, (_, i) => i + 0.5)).buffer);

  it("overlapping views of one storage, neither an exact alias of the other: each written as its own elements", async () => {
    const pkl = stateDictPickle([
      { name: "a", storageType: "FloatStorage", key: "0", storageNumel: 8, shape: [6] },
      { name: "b", storageType: "FloatStorage", key: "0", storageNumel: 8, offset: 2, shape: [6] },
    ]);
    const dir = await binOnly(torchZip("archive", pkl, { "0": floats(8) }));
    const out = await mkdtemp(path.join(tmp, "out-"));
    const result = await writeSafetensors(await loadCheckpoint(dir), out);
    expect(result.aliases).toEqual({});
    const index = await readSafetensors(result.files[0]!.path);
    expect(Array.from(new Float32Array((await loadTensorRaw(index, "a")).buffer))).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    expect(Array.from(new Float32Array((await loadTensorRaw(index, "b")).buffer))).toEqual([2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
  });

  it("token_type_embeddings saved as two rows of the word embeddings' storage is kept (only the tied decoder is dropped)", async () => {
    // The storage holds the word embeddings (4 x 2); the decoder is the same tensor; token types are rows 1..2.
    const pkl = stateDictPickle([
      { name: "bert.embeddings.word_embeddings.weight", storageType: "FloatStorage", key: "0", storageNumel: 8, shape: [4, 2] },
      { name: "bert.embeddings.token_type_embeddings.weight", storageType: "FloatStorage", key: "0", storageNumel: 8, offset: 2, shape: [2, 2] },
      { name: "cls.predictions.decoder.weight", storageType: "FloatStorage", key: "0", storageNumel: 8, shape: [4, 2] },
    ]);
    const dir = await binOnly(torchZip("archive", pkl, { "0": floats(8) }));
    const result = await writeSafetensors(await loadCheckpoint(dir), await mkdtemp(path.join(tmp, "out-")));
    expect(result.aliases).toEqual({ "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight" });
    const index = await readSafetensors(result.files[0]!.path);
    expect(index.tensors.map((t) => t.name).sort()).toEqual(["bert.embeddings.token_type_embeddings.weight", "bert.embeddings.word_embeddings.weight"]);
    expect(Array.from(new Float32Array((await loadTensorRaw(index, "bert.embeddings.token_type_embeddings.weight")).buffer))).toEqual([2.5, 3.5, 4.5, 5.5]);
    expect(result.proof).toMatchObject({ tensorsCompared: 2, aliasesChecked: 1 });
  });

  it("a stride-0 view that would expand 4 bytes into 200 MB: refused before anything is written or gathered", async () => {
    // torch.load accepts it (expand() saved as is); written out, every element would be stored.
    const pkl = stateDictPickle([{ name: "expanded", storageType: "FloatStorage", key: "0", storageNumel: 1, shape: [50_000_000], stride: [0] }]);
    const dir = await binOnly(torchZip("archive", pkl, { "0": floats(1) }));
    const out = await mkdtemp(path.join(tmp, "out-"));
    const started = performance.now();
    await expect(writeSafetensors(await loadCheckpoint(dir), out)).rejects.toThrow(/would hold 200000000 bytes of tensors, .*more than pytorch_model\.bin/);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await readdir(out)).toEqual([]);
  });

  it("a lone view of part of a storage is written as its own elements (like .clone())", async () => {
    const pkl = stateDictPickle([{ name: "tail", storageType: "FloatStorage", key: "0", storageNumel: 8, offset: 5, shape: [3] }]);
    const dir = await binOnly(torchZip("archive", pkl, { "0": floats(8) }));
    const out = await mkdtemp(path.join(tmp, "out-"));
    const result = await writeSafetensors(await loadCheckpoint(dir), out);
    const index = await readSafetensors(result.files[0]!.path);
    expect(Array.from(new Float32Array((await loadTensorRaw(index, "tail")).buffer))).toEqual([5.5, 6.5, 7.5]);
  });
});

describe("proveSafetensors catches a file that is not the .bin's weights", () => {
  it("a flipped byte, a dropped tensor, an alias recorded to the wrong name", async () => {
    const ckpt = await loadCheckpoint(sampleDir);
    const out = await mkdtemp(path.join(tmp, "prove-"));
    const file = (await writeSafetensors(ckpt, out)).files[0]!.path;
    const bin = await readWeights(path.join(sampleDir, "pytorch_model.bin"));
    await expect(proveSafetensors(bin, file)).resolves.toMatchObject({ tensors: 47, aliases: 2 });

    const index = await readSafetensors(file);
    const t = index.tensors.find((x) => x.name === "bert.encoder.layer.1.output.dense.weight")!;
    const flipped = path.join(out, "flipped.safetensors");
    await copyFile(file, flipped);
    const fh = await open(flipped, "r+");
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, t.dataOffset + 100);
    one[0] = one[0]! ^ 0x01;
    await fh.write(one, 0, 1, t.dataOffset + 100);
    await fh.close();
    await expect(proveSafetensors(bin, flipped)).rejects.toThrow(/flipped\.safetensors does not hold the weights of pytorch_model\.bin: the bytes of tensor bert\.encoder\.layer\.1\.output\.dense\.weight differ/);

    // rewrite the header: drop a tensor's entry / point an alias elsewhere (data kept tiled)
    const rewrite = async (target: string, edit: (h: Record<string, { data_offsets?: number[] } & Record<string, unknown>>) => void) => {
      const buf = await readFile(file);
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { data_offsets?: number[] } & Record<string, unknown>>;
      edit(header);
      let json = JSON.stringify(header);
      json += " ".repeat((8 - (json.length % 8)) % 8);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      await writeFile(target, Buffer.concat([len, Buffer.from(json), buf.subarray(8 + n)]));
    };
    const wrongAlias = path.join(out, "alias.safetensors");
    await rewrite(wrongAlias, (h) => ((h.__metadata__ as Record<string, unknown>)["cls.predictions.decoder.weight"] = "bert.pooler.dense.weight"));
    await expect(proveSafetensors(bin, wrongAlias)).rejects.toThrow(
      /tensor cls\.predictions\.decoder\.weight is missing: the bert\.pooler\.dense\.weight it is recorded as an alias of is not the same tensor/,
    );
    const renamed = path.join(out, "renamed.safetensors");
    await rewrite(renamed, (h) => {
      h["bert.pooler.dense.weightX"] = h["bert.pooler.dense.weight"]!;
      delete h["bert.pooler.dense.weight"];
    });
    await expect(proveSafetensors(bin, renamed)).rejects.toThrow(/it has tensor bert\.pooler\.dense\.weightX, which the \.bin does not/);
  });
});

describe("azbert-release convert", () => {
  it("writes into --out (never into the checkpoint), proves the result, and reports it as JSON", async () => {
    const dir = await copySample();
    const before = (await readdir(dir)).sort();
    const out = path.join(tmp, "cli-out");
    const r = await runCli(["convert", "--json", "--ckpt", dir, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; files: { path: string }[]; aliases: Record<string, string>; proof: { logits: { identical: boolean; masks: number }; sizeRatio: number } };
    expect(report.ok).toBe(true);
    expect(report.files.map((f) => f.path)).toEqual([path.join(out, "model.safetensors")]);
    expect(report.aliases).toEqual({ "cls.predictions.decoder.bias": "cls.predictions.bias", "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight" });
    expect(report.proof.logits).toMatchObject({ identical: true, masks: 5 });
    expect((await readdir(dir)).sort()).toEqual(before);

    const human = await runCli(["convert", "--ckpt", dir, "--out", out]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/47 tensors read back byte-identical to pytorch_model\.bin/);
    expect(human.stdout).toMatch(/CPU engine logits on 5 masks: identical/);
  });

  it("refuses an --out inside the checkpoint, and writing over the checkpoint's own safetensors", async () => {
    const dir = await copySample();
    let r = await runCli(["convert", "--ckpt", dir, "--out", path.join(dir, "converted")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is inside the checkpoint folder .*: the files would be published as part of the model/);
    // A link from elsewhere into the checkpoint is inside it too.
    await mkdir(path.join(dir, "sub"));
    const link = path.join(await mkdtemp(path.join(tmp, "link-")), "out");
    await symlink(path.join(dir, "sub"), link);
    r = await runCli(["convert", "--ckpt", dir, "--out", link]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is inside the checkpoint folder/);
    await rm(path.join(dir, "sub"), { recursive: true });
    r = await runCli(["convert", "--ckpt", dir, "--out", dir]);
    expect(r.code).toBe(0);
    expect(await readdir(dir)).toContain("model.safetensors");
    r = await runCli(["convert", "--ckpt", dir, "--out", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already has model\.safetensors; remove it or write the conversion elsewhere/);
  });

  it("a malicious pickle: exit 1 with the checklist's message, nothing written", async () => {
    const { PickleWriter } = await import("./helpers/torch-fixtures.js");
    const dir = await copySample();
    const pkl = new PickleWriter().proto(2).global("posix", "system").mark().str("touch /tmp/azbert-pwned").tuple().reduce().stop().bytes();
    await writeFile(path.join(dir, "pytorch_model.bin"), torchZip("archive", pkl, {}));
    const out = path.join(tmp, "never");
    await mkdir(out);
    const r = await runCli(["convert", "--ckpt", dir, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ weights\.pickle: pytorch_model\.bin: pickle imports posix\.system, which is not a tensor type/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await readdir(out)).toEqual([]);
  });
});
