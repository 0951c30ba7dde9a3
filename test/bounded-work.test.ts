// Pathological inputs end fast with a named failure of that file's check, and the rest of the
// checklist still runs. Each bound is generous (10 s); the inputs took minutes or never ended before.
import { execFileSync } from "node:child_process";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { runCheckpointChecks } from "./helpers/checks.js";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { loadCheckpoint, MAX_VOCAB_BYTES } from "../src/checkpoint/load.js";
import { hashCheckpoint } from "../src/checkpoint/manifest.js";
import { readWeights } from "../src/checkpoint/weights.js";
import type { CheckResult } from "../src/report.js";
import { copySample, runCli } from "./helpers/cli.js";
import { writeStoredZip } from "./helpers/torch-fixtures.js";

const BOUND_MS = 10_000;

async function checklist(dir: string): Promise<{ ms: number; byId: Map<string, CheckResult>; results: CheckResult[] }> {
  const t0 = performance.now();
  const cache = new HashCache(null);
  const ckpt = await loadCheckpoint(dir, { cache });
  await hashCheckpoint(ckpt, { cache });
  const results = runCheckpointChecks(ckpt);
  return { ms: performance.now() - t0, byId: new Map(results.map((r) => [r.id, r])), results };
}

function mkfifo(p: string): void {
  execFileSync("mkfifo", [p]);
}

describe("bounded work on pathological checkpoints", () => {
  it("a 200,000-token vocabulary is checked in linear time", async () => {
    const dir = await copySample();
    const tokens = Array.from({ length: 200_000 }, (_, i) => (i === 0 ? "[PAD]" : `tok${i}`));
    await writeFile(path.join(dir, "vocab.txt"), `${tokens.join("\n")}\n`);
    const tok = JSON.parse(await readFile(path.join(dir, "tokenizer.json"), "utf8")) as { model: { vocab: Record<string, number> }; added_tokens: unknown[] };
    tok.model.vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
    tok.added_tokens = [];
    await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(tok));
    await writeFile(path.join(dir, "added_tokens.json"), "{}");
    const r = await checklist(dir);
    expect(r.ms).toBeLessThan(BOUND_MS);
    // The files agree with each other; config.json's vocab_size is now too small: named, not hung.
    expect(r.byId.get("coherence.vocab")).toMatchObject({
      status: "fail",
      message: "config.json: vocab_size is 362, but vocab.txt (200000 lines) + added_tokens.json (0) = 200000: the tokenizer yields ids the model has no embedding for",
    });
  });

  it("num_hidden_layers = 1,000,000,000 in config.json: the missing layers are named in one line, nothing is enumerated", async () => {
    const dir = await copySample();
    const config = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    const held = config.num_hidden_layers as number;
    await writeFile(path.join(dir, "config.json"), JSON.stringify({ ...config, num_hidden_layers: 1_000_000_000 }));
    const r = await checklist(dir);
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(r.byId.get("weights.shapes")).toMatchObject({
      status: "fail",
      message: `pytorch_model.bin: encoder layers ${held}–999999999 are missing: config.json \`num_hidden_layers\` = 1000000000 implies encoder layers 0–999999999, the weights hold layers 0–${held - 1}`,
    });
    // smoke on its own (no checklist before it) says so too, at once.
    const smoke = await runCli(["smoke", "--device", "cpu", "--ckpt", dir]);
    expect(smoke.code).toBe(1);
    expect(smoke.stderr).toMatch(/pytorch_model\.bin: config\.json `num_hidden_layers` is 1000000000, but the file holds only \d+ tensors \(each encoder layer has 16\)/);
  });

  it("4,000 different files named notes.txt are grouped in linear time and reported in one line", async () => {
    const dir = await copySample();
    for (let i = 0; i < 4000; i++) {
      const sub = path.join(dir, "runs", `r${i}`);
      await mkdir(sub, { recursive: true });
      await writeFile(path.join(sub, "notes.txt"), `run ${i}\n`);
    }
    const r = await checklist(dir);
    expect(r.ms).toBeLessThan(BOUND_MS);
    const layout = r.byId.get("files.layout")!;
    expect(layout.status).toBe("fail");
    expect(layout.message).toMatch(/runs\/r0\/notes\.txt, runs\/r1\/notes\.txt, runs\/r10\/notes\.txt and 3997 more files would all be published as notes\.txt but differ/);
    expect(layout.message!.length).toBeLessThan(400);
  });

  it("JSON nested 100,000 levels fails that file's parse check; every other check still runs", async () => {
    const dir = await copySample();
    await writeFile(path.join(dir, "tokenizer_config.json"), `{"x": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    const r = await checklist(dir);
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(r.byId.get("json.parse")).toMatchObject({ status: "fail", message: expect.stringMatching(/^tokenizer_config\.json cannot be loaded by transformers: nested deeper than 480 levels/) });
    expect(r.byId.get("weights.pickle")?.status).toBe("pass");
    expect(r.byId.get("weights.finite")?.status).toBe("pass");
    expect(r.byId.get("card.widget")?.status).toBe("pass");
    expect(r.results.some((x) => x.id === "check.error")).toBe(false);
  });

  it("a 600 MB vocab.txt fails coherence.vocab naming it, without being read", async () => {
    const dir = await copySample();
    const fh = await open(path.join(dir, "vocab.txt"), "w");
    await fh.truncate(600 * 1024 * 1024); // sparse: nothing is written
    await fh.close();
    expect(600 * 1024 * 1024).toBeGreaterThan(MAX_VOCAB_BYTES);
    const r = await checklist(dir);
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(r.byId.get("coherence.vocab")).toMatchObject({ status: "fail", message: "vocab.txt is 600.0 MiB, far more than any WordPiece vocabulary (BERT's is 226 KiB); it was not read" });
    expect(r.byId.get("json.parse")?.status).toBe("pass");
    await rm(dir, { recursive: true, force: true });
  });

  it("FIFOs named pytorch_model.bin and tokenizer.json are never opened: named failures, no hang", async () => {
    const dir = await copySample();
    for (const name of ["pytorch_model.bin", "tokenizer.json"]) {
      await rm(path.join(dir, name));
      mkfifo(path.join(dir, name));
    }
    const r = await checklist(dir);
    expect(r.ms).toBeLessThan(BOUND_MS);
    const layout = r.byId.get("files.layout")!;
    expect(layout.status).toBe("fail");
    expect(layout.message).toContain("pytorch_model.bin: is a FIFO (named pipe), not a regular file");
    expect(layout.message).toContain("tokenizer.json: is a FIFO (named pipe), not a regular file");
    // The reader refuses one by itself too (a FIFO swapped in after the folder was listed).
    await expect(readWeights(path.join(dir, "pytorch_model.bin"))).rejects.toMatchObject({
      code: "unreadable",
      message: "pytorch_model.bin: cannot read: is a FIFO (named pipe), not a regular file: only regular files are read",
    });
  });

  it("the truncation explainer reads a bounded number of bytes however far the data descriptors are", async () => {
    const dir = await copySample();
    // 24 entries of 4 MiB each (sparse zeros), sizes only in data descriptors, the central directory cut off.
    const big = writeStoredZip(
      Array.from({ length: 24 }, (_, i) => ({ name: `archive/data/${i}`, size: 4 * 1024 * 1024 })),
      { align: 64, dataDescriptor: true },
    );
    const file = path.join(dir, "pytorch_model.bin");
    await writeFile(file, big.subarray(0, big.readUInt32LE(big.length - 6)));
    const t0 = performance.now();
    const err = await readWeights(file).catch((e: Error) => e);
    expect(performance.now() - t0).toBeLessThan(BOUND_MS);
    expect(err).toMatchObject({ code: "truncated", message: expect.stringMatching(/^pytorch_model\.bin: truncated: /) });
  });
});
