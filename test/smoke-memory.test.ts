// The CPU engine's memory does not grow with the model. The built CLI smoke-tests a checkpoint
// whose float32 weights take 2.4 GB (a sparse model.safetensors: no disk blocks, it reads as
// zeros; the configuration of a large-vocabulary model: 250,002 words of width 2048) and the
// process's peak resident memory, as the kernel counts it, stays far below the weights: an engine
// that held them (or one layer group too many, or the whole vocabulary matrix) shows up here.
import { copyFile, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBertConfig, requiredTensors, expectedShape } from "../src/smoke/bert-graph.js";
import { runCli } from "./helpers/cli.js";
import { sampleDir, repoRoot } from "./smoke-helpers.js";

const MB = 1024 ** 2;
/** Far below the weights, far above what node, onnxruntime and the engine's step buffer need. */
const RSS_LIMIT = 600 * MB;
const preload = pathToFileURL(path.join(repoRoot, "test", "helpers", "peak-rss-at-exit.mjs")).href;

let dir = "";
let weightsBytes = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "azbert-big-sparse-"));
  for (const f of await readdir(sampleDir)) if (!/\.(bin|safetensors)$|^config\.json$/.test(f)) await copyFile(path.join(sampleDir, f), path.join(dir, f));
  const config = {
    ...(JSON.parse(await readFile(path.join(sampleDir, "config.json"), "utf8")) as Record<string, unknown>),
    vocab_size: 250_002,
    hidden_size: 2048,
    num_attention_heads: 16,
    intermediate_size: 8192,
    num_hidden_layers: 2,
    max_position_embeddings: 514,
  };
  await writeFile(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  // every tensor the forward reads, the decoder tied to the word embeddings (not stored)
  const cfg = parseBertConfig(config, "config.json");
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const canonical of requiredTensors(cfg)) {
    if (canonical === "cls.predictions.decoder.weight") continue;
    const shape = expectedShape(cfg, canonical).map((d) => d.size);
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[canonical.startsWith("cls.") ? canonical : `bert.${canonical}`] = { dtype: "F32", shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  weightsBytes = at;
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const fh = await open(path.join(dir, "model.safetensors"), "w");
  try {
    await fh.write(Buffer.concat([head, Buffer.from(json)]));
    await fh.truncate(8 + json.length + at);
  } finally {
    await fh.close();
  }
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("smoke --device cpu memory", () => {
  it.skipIf(process.platform !== "linux")("a 2.4 GB model is smoke-tested with a peak RSS under 600 MB", { timeout: 300_000 }, async () => {
    expect(weightsBytes).toBeGreaterThan(2.3e9);
    const peakFile = path.join(dir, "..", `${path.basename(dir)}.peak`);
    try {
      const r = await runCli(["smoke", "--device", "cpu", "--json", "--ckpt", dir], {
        env: { NODE_OPTIONS: `--import=${preload}`, AZBERT_PEAK_RSS_FILE: peakFile },
      });
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { ok: boolean; engine: string; cases: { masks: { top: { score: number }[] }[] }[] };
      expect(report.ok).toBe(true);
      // all-zero weights: every word equally likely at every mask
      expect(report.cases[0]?.masks[0]?.top[0]?.score).toBeCloseTo(1 / 250_002, 9);
      const peak = Number(await readFile(peakFile, "utf8"));
      expect(peak).toBeGreaterThan(50 * MB);
      expect(peak, `peak RSS ${(peak / MB).toFixed(0)} MB`).toBeLessThan(RSS_LIMIT);
    } finally {
      await rm(peakFile, { force: true });
    }
  });
});
