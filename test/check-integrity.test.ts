// The CLI on checkpoints that used to pass the checklist while users got something else: NaN
// weights (check and smoke), names that forge lines, FIFOs. Exit code 1, a message naming the
// file, nothing raw on the terminal, nothing written.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { buildCorpus } from "./corpus/build.js";
import { copySample, parseReport, runCli } from "./helpers/cli.js";

const BOUND_MS = 10_000;
/** Control characters other than the line breaks the output is made of. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

async function nanCheckpoint(): Promise<string> {
  const c = (await buildCorpus()).find((x) => x.id === "torch/nan-weight")!;
  const dir = await copySample();
  await writeFile(path.join(dir, "pytorch_model.bin"), c.files["pytorch_model.bin"]!);
  return dir;
}

describe("non-finite weights", () => {
  it("check fails weights.finite naming the file and tensor; a warm rerun reads nothing and says the same", async () => {
    const dir = await nanCheckpoint();
    const cache = await mkdtemp(path.join(os.tmpdir(), "azbert-cache-"));
    const env = { AZBERT_RELEASE_CACHE_DIR: cache };
    const cold = await runCli(["check", "--offline", "--json", "--ckpt", dir], { env });
    expect(cold.code).toBe(1);
    const finite = parseReport(cold.stdout).checks.find((c) => c.id === "weights.finite");
    expect(finite).toMatchObject({ status: "fail" });
    expect(finite!.message).toMatch(/^pytorch_model\.bin: bert\.embeddings\.word_embeddings\.weight \(float32\) holds 1 NaN values \(first at element 5\)/);

    const warm = await runCli(["check", "--offline", "--ckpt", dir], { env });
    expect(warm.code).toBe(1);
    expect(warm.stdout).toMatch(/Manifest: 8 files hashed \(sha256\), all from the cache/);
    expect(warm.stdout).toMatch(/weights\.finite: pytorch_model\.bin: bert\.embeddings\.word_embeddings\.weight \(float32\) holds 1 NaN values/);
  });

  it("smoke fails on NaN logits even with no expectations configured", async () => {
    const dir = await nanCheckpoint();
    const cwd = await mkdtemp(path.join(os.tmpdir(), "azbert-noconfig-")); // no release.config.json: no expectations
    const r = await runCli(["smoke", "--device", "cpu", "--json", "--ckpt", dir], { cwd });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; cases: { status: string; reason?: string; expect: unknown[] }[] };
    expect(report.ok).toBe(false);
    expect(report.cases.length).toBeGreaterThan(0);
    for (const c of report.cases) {
      expect(c.expect).toEqual([]);
      expect(c).toMatchObject({ status: "fail", reason: expect.stringMatching(/logits at token \d+ hold NaN or Inf/) });
    }
  });
});

describe("file names that could forge lines or escape sequences", () => {
  it("are refused by check, printed escaped, and pack writes nothing", async () => {
    const dir = await copySample();
    const names = ["notes\n0123456789abcdef  ckpt.tar.gz", "tab\there.txt", "title\u001b]0;pwned\u0007.txt", "clear\u001b[2J.txt"];
    for (const n of names) await writeFile(path.join(dir, n), "x");
    await mkdir(path.join(dir, "run\rdir"));
    await writeFile(path.join(dir, "run\rdir", "log.txt"), "x");

    const json = await runCli(["check", "--offline", "--json", "--ckpt", dir]);
    expect(json.code).toBe(1);
    const layout = parseReport(json.stdout).checks.find((c) => c.id === "files.layout")!;
    expect(layout.status).toBe("fail");
    expect(layout.message).toContain("notes\\n0123456789abcdef  ckpt.tar.gz: the name holds a line break (\\n)");
    expect(layout.message).toContain("tab\\there.txt: the name holds a tab (\\t)");
    expect(layout.message).toContain("title\\x1b]0;pwned\\x07.txt: the name holds an escape character (\\x1b)");
    expect(layout.message).toContain("run\\rdir: the name holds a line break (\\r)");
    for (const n of [...names, "run\rdir"]) expect(json.stdout + json.stderr).not.toContain(n);

    const plain = await runCli(["check", "--offline", "--ckpt", dir]);
    expect(plain.code).toBe(1);
    expect(plain.stdout + plain.stderr).not.toMatch(RAW_CONTROL);

    const out = await mkdtemp(path.join(os.tmpdir(), "azbert-pack-"));
    const pack = await runCli(["pack", "--out", out, "--ckpt", dir]);
    expect(pack.code).toBe(1);
    expect(await readdir(out)).toEqual([]);
    expect(pack.stdout + pack.stderr).not.toMatch(RAW_CONTROL);
  });
});

describe("FIFOs in the checkpoint", () => {
  it("check and smoke end fast with the FIFO named instead of blocking on it", async () => {
    for (const name of ["pytorch_model.bin", "tokenizer.json"]) {
      const dir = await copySample();
      await rm(path.join(dir, name));
      execFileSync("mkfifo", [path.join(dir, name)]);

      let t0 = performance.now();
      const check = await runCli(["check", "--offline", "--json", "--ckpt", dir]);
      expect(performance.now() - t0).toBeLessThan(BOUND_MS);
      expect(check.code).toBe(1);
      expect(parseReport(check.stdout).checks.find((c) => c.id === "files.layout")?.message).toContain(`${name}: is a FIFO (named pipe), not a regular file`);

      t0 = performance.now();
      const smoke = await runCli(["smoke", "--device", "cpu", "--ckpt", dir]);
      expect(performance.now() - t0).toBeLessThan(BOUND_MS);
      expect(smoke.code).toBe(1);
      expect(smoke.stderr + smoke.stdout).toContain(`${name}: is a FIFO (named pipe), not a regular file; smoke reads only regular files`);
      expect(smoke.stderr).not.toMatch(/at .*\.js:\d+/);
    }
  });
});

describe("JSON as transformers reads it, through the CLI", () => {
  it("1e400 in config.json fails json.finite naming the field", async () => {
    const dir = await copySample();
    const file = path.join(dir, "config.json");
    await writeFile(file, (await readFile(file, "utf8")).replace('"layer_norm_eps": 1e-12', '"layer_norm_eps": 1e400'));
    const r = await runCli(["check", "--offline", "--json", "--ckpt", dir]);
    expect(r.code).toBe(1);
    expect(parseReport(r.stdout).checks.find((c) => c.id === "json.finite")).toMatchObject({
      status: "fail",
      message: "config.json: /layer_norm_eps is 1e400, which Python's json reads as infinity (the literal overflows a double): no setting works with it, and strict JSON readers refuse the file",
    });
  });
});
