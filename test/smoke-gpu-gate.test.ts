// The GPU path never hands a pickle to Python: a stand-in interpreter that answers --probe with a
// GPU and records every other start (its arguments and a dereferenced copy of the folder it was
// given) shows that a checkpoint failing the weights checks never starts it, and that the sample
// starts it on a folder of safetensors with no .bin. The runner's own refusals run on a real Python.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { proveSafetensors } from "../src/checkpoint/safetensors-writer.js";
import { readWeights } from "../src/checkpoint/weights.js";
import { copySample, runCli } from "./helpers/cli.js";
import { PickleWriter, torchZip } from "./helpers/torch-fixtures.js";
import { removeShardedCopies, writeShardedSample } from "./shard-fixtures.js";
import { referenceFile, repoRoot, sampleDir, type Reference } from "./smoke-helpers.js";

const reference = JSON.parse(readFileSync(referenceFile, "utf8")) as Reference;
const PROBE_GPU = { python: "3.11", torch: "2.5.0", transformers: "4.46.0", cuda: true, gpu: "Stand-in GPU", pya0: false, missing: [] };
const TOKENIZER_AND_CONFIG = ["added_tokens.json", "config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"];

let tmp = "";
let standIn = "";
let n = 0;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "azbert-gpu-gate-"));
  // What a GPU run of the widget cases prints (the torch reference).
  const run = {
    device: "cuda", torch: "2.5.0", transformers: "4.46.0", gpu: "Stand-in GPU", engine: "stand-in",
    cases: reference.cases.slice(0, 5).map((c) => ({ text: c.text, input_ids: c.input_ids, masks: c.masks.map((m) => ({ position: m.position, top: m.top })), ms: 1 })),
  };
  await writeFile(path.join(tmp, "probe.json"), JSON.stringify(PROBE_GPU));
  await writeFile(path.join(tmp, "run.json"), JSON.stringify(run));
  standIn = path.join(tmp, "python");
  await writeFile(
    standIn,
    `#!/bin/sh
if [ "$2" = "--probe" ]; then cat "${tmp}/probe.json"; exit 0; fi
log="$STANDIN_LOG"
echo "START $*" >> "$log"
ck=""
prev=""
for a in "$@"; do
  if [ "$prev" = "--ckpt" ]; then ck="$a"; fi
  prev="$a"
done
cp -rL "$ck" "$log.folder"
cat "${tmp}/run.json"
`,
  );
  await chmod(standIn, 0o755);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
  await removeShardedCopies();
});

/** Runs `smoke` with the stand-in; returns the result, the recorded starts and the folder copy. */
async function smokeWithStandIn(ckpt: string, extra: string[] = []) {
  const log = path.join(tmp, `starts-${++n}.log`);
  const r = await runCli(["smoke", "--device", "cuda", "--python", standIn, "--ckpt", ckpt, ...extra], { env: { STANDIN_LOG: log } });
  const starts = existsSync(log) ? (await readFile(log, "utf8")).trim().split("\n") : [];
  return { ...r, starts, folder: `${log}.folder` };
}

async function maliciousCheckpoint(): Promise<{ dir: string; marker: string }> {
  const dir = await copySample();
  const marker = path.join(dir, "..", "pwned");
  const pkl = new PickleWriter().proto(2).global("posix", "system").mark().str(`touch ${marker}`).tuple().reduce().stop().bytes();
  await writeFile(path.join(dir, "pytorch_model.bin"), torchZip("archive", pkl, {}));
  return { dir, marker };
}

describe("smoke --device cuda: the interpreter is started only on what passed the weights checks", () => {
  it("a malicious pickle: exit 1 with the message check gives; the stand-in is never started", async () => {
    const { dir, marker } = await maliciousCheckpoint();
    const check = await runCli(["check", "--offline", "--json", "--ckpt", dir]);
    const checkMessage = (JSON.parse(check.stdout) as { checks: { id: string; message?: string }[] }).checks.find((c) => c.id === "weights.pickle")?.message;
    expect(checkMessage).toBe("pytorch_model.bin: pickle imports posix.system, which is not a tensor type");

    for (const device of ["cuda", "auto"]) {
      const r = await smokeWithStandIn(dir, ["--device", device]);
      expect(r.code, device).toBe(1);
      expect(r.stderr).toContain(`✖ weights.pickle: ${checkMessage}`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.starts).toEqual([]);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it("the sample: started once, on a folder of safetensors and the tokenizer files, with no .bin", async () => {
    const r = await smokeWithStandIn(sampleDir, ["--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.starts).toHaveLength(1);
    const folderArg = /--ckpt (\S+)/.exec(r.starts[0]!)![1]!;
    expect(folderArg.startsWith(sampleDir)).toBe(false);
    expect(existsSync(folderArg)).toBe(false); // removed after the run
    expect((await readdir(r.folder)).sort()).toEqual([...TOKENIZER_AND_CONFIG, "model.safetensors"].sort());
    // the weights it got are the sample's, written by our reader
    await expect(proveSafetensors(await readWeights(path.join(sampleDir, "pytorch_model.bin")), path.join(r.folder, "model.safetensors"))).resolves.toMatchObject({ tensors: 47, aliases: 2 });
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, device: "cuda" });
  });

  it("the nested azbert layout is flattened into the runner's folder", async () => {
    const dir = await copySample();
    await mkdir(path.join(dir, "math-tokenizer"));
    await mkdir(path.join(dir, "2-2-0", "encoder.ckpt"), { recursive: true });
    for (const f of ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]) await rename(path.join(dir, f), path.join(dir, "math-tokenizer", f));
    for (const f of ["config.json", "pytorch_model.bin"]) await rename(path.join(dir, f), path.join(dir, "2-2-0", "encoder.ckpt", f));
    const r = await smokeWithStandIn(dir);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(r.folder)).sort()).toEqual([...TOKENIZER_AND_CONFIG, "model.safetensors"].sort());
  });

  it("sharded weights: the checkpoint's safetensors shards are linked, .bin shards converted; never a .bin", async () => {
    const st = await writeShardedSample({ format: "safetensors", count: 2 });
    let r = await smokeWithStandIn(st.dir);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(r.folder)).sort()).toEqual([...TOKENIZER_AND_CONFIG, ...st.shards, "model.safetensors.index.json"].sort());

    const bin = await writeShardedSample({ format: "torch", count: 3 });
    r = await smokeWithStandIn(bin.dir);
    expect(r.code, r.stderr).toBe(0);
    const files = await readdir(r.folder);
    expect(files.filter((f) => f.endsWith(".bin"))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(["model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"]));
  });

  it("a config.json whose auto_map points at code is refused before the interpreter starts", async () => {
    const dir = await copySample();
    const cfg = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    cfg.auto_map = { AutoModelForMaskedLM: "modeling_evil.EvilBert" };
    await writeFile(path.join(dir, "config.json"), JSON.stringify(cfg));
    const r = await smokeWithStandIn(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json: auto_map points at code \(modeling_evil\.EvilBert\)/);
    expect(r.starts).toEqual([]);
  });
});

function pythonAvailable(): string | undefined {
  for (const p of ["/usr/bin/python3", "python3"]) {
    if (spawnSync(p, ["-c", "pass"]).status === 0) return p;
  }
  return undefined;
}
const python = pythonAvailable();

describe.skipIf(!python)("python/smoke_runner.py refuses an unsafe folder before importing anything", () => {
  const runner = path.join(repoRoot, "python", "smoke_runner.py");
  const run = (folder: string) => {
    const cases = path.join(tmp, "cases.json");
    execFileSync("sh", ["-c", `echo '{"cases": [{"text": "a [MASK]"}]}' > ${cases}`]);
    const r = spawnSync(python!, [runner, "--ckpt", folder, "--cases", cases, "--device", "cpu"], { encoding: "utf8" });
    return { code: r.status, doc: JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { error?: string } };
  };

  it("a folder holding pytorch_model.bin, and a config with auto_map", async () => {
    let r = run(sampleDir);
    expect(r.code).toBe(2);
    expect(r.doc.error).toMatch(/holds pickle files \(pytorch_model\.bin\); this runner loads safetensors only/);

    const dir = await mkdtemp(path.join(tmp, "st-"));
    await writeFile(path.join(dir, "model.safetensors"), "");
    await writeFile(path.join(dir, "config.json"), JSON.stringify({ model_type: "bert", auto_map: { AutoModel: "modeling_x.X" } }));
    r = run(dir);
    expect(r.code).toBe(2);
    expect(r.doc.error).toMatch(/config\.json: auto_map points at code/);
  });
});
