// The CPU engine against torch's reference outputs for the sample (the oracle), whatever the size
// of its steps, and on rewritten copies of the sample: safetensors F32/F16, shuffled weights.
import { readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuEngine } from "../src/smoke/engine.js";
import { runSmoke } from "../src/smoke/main.js";
import { referenceFile, sampleDir, shuffleTransform, writeSafetensorsCopy, type Reference } from "./smoke-helpers.js";

const reference = JSON.parse(readFileSync(referenceFile, "utf8")) as Reference;
const expectationsFile = new URL("./fixtures/smoke-expectations.json", import.meta.url).pathname;

async function checkFidelity(engine: CpuEngine): Promise<void> {
  const seqs = reference.cases.map((c) => engine.tokenizer.encode(c.text).ids);
  reference.cases.forEach((c, i) => expect(seqs[i], c.text).toEqual(c.input_ids));
  const { masks } = await engine.run(seqs, 5);
  reference.cases.forEach((c, i) => {
    const got = masks[i] ?? [];
    expect(got.map((m) => m.position), c.text).toEqual(c.masks.map((m) => m.position));
    c.masks.forEach((want, j) => {
      const m = got[j];
      if (!m) throw new Error(`no mask ${j} for ${c.text}`);
      expect(m.top.map((t) => t.id), c.text).toEqual(want.top.map((t) => t.id));
      expect(m.top.map((t) => t.token), c.text).toEqual(want.top.map((t) => t.token));
      want.top.forEach((t, k) => expect(Math.abs((m.top[k]?.score ?? NaN) - t.score), `${c.text} score ${k}`).toBeLessThanOrEqual(1e-4));
      want.logits_head.forEach((l, k) => expect(Math.abs((m.logits[k] ?? NaN) - l), `${c.text} logit ${k}`).toBeLessThanOrEqual(1e-4));
    });
  });
}

describe("CPU engine fidelity (torch reference outputs)", () => {
  it("matches every reference case: ids, top-5 ids, scores and logits within 1e-4 (weights mapped from pytorch_model.bin)", async () => {
    const engine = await CpuEngine.load(sampleDir);
    try {
      expect(engine.description).toMatch(/straight from pytorch_model\.bin/);
      expect(engine.tokenizer.maskId).toBe(103);
      await checkFidelity(engine);
    } finally {
      await engine.dispose();
    }
  });

  it("reads a Hub-cache style checkpoint whose weights are a symlink into ../blobs without falling back", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "azbert-smoke-link-"));
    try {
      await mkdir(path.join(root, "blobs"));
      await mkdir(path.join(root, "snapshot"));
      await copyFile(path.join(sampleDir, "pytorch_model.bin"), path.join(root, "blobs", "0123abcd"));
      for (const f of await readdir(sampleDir)) {
        if (f !== "pytorch_model.bin") await symlink(path.join(sampleDir, f), path.join(root, "snapshot", f));
      }
      await symlink(path.join("..", "blobs", "0123abcd"), path.join(root, "snapshot", "pytorch_model.bin"));
      const engine = await CpuEngine.load(path.join(root, "snapshot"));
      try {
        expect(engine.description).toMatch(/straight from pytorch_model\.bin/);
        await checkFidelity(engine);
      } finally {
        await engine.dispose();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("matches when every step is tiny (a few rows of each matrix, one head, the vocabulary in many chunks), with the same logits", async () => {
    const whole = await CpuEngine.load(sampleDir);
    const tiny = await CpuEngine.load(sampleDir, { stepBytes: 4096 });
    try {
      const seqs = reference.cases.map((c) => c.input_ids);
      const want = (await whole.run(seqs, 5)).masks.flat();
      const wholeSteps = whole.stats.steps;
      await checkFidelity(tiny);
      // 64-wide rows in 4 KiB: 15 rows of a matrix a step, one head a step, 25 vocabulary chunks
      expect(tiny.stats.steps).toBeGreaterThan(5 * wholeSteps);
      const got = (await tiny.run(seqs, 5)).masks.flat();
      got.forEach((m, i) => m.logits.forEach((v, k) => expect(Math.abs(v - want[i]!.logits[k]!), `mask ${i} logit ${k}`).toBeLessThanOrEqual(1e-6)));
      expect(tiny.stats.bytesRead).toBe(whole.stats.bytesRead);
    } finally {
      await whole.dispose();
      await tiny.dispose();
    }
  });

  it("packs several cases into one row without changing results (same as one case per run)", async () => {
    const engine = await CpuEngine.load(sampleDir);
    try {
      const seqs = reference.cases.map((c) => c.input_ids);
      const together = await engine.run(seqs, 5);
      for (let i = 0; i < seqs.length; i++) {
        const alone = await engine.run([seqs[i] ?? []], 5);
        const a = alone.masks[0]?.[0];
        const b = together.masks[i]?.[0];
        expect(b?.top.map((t) => t.id)).toEqual(a?.top.map((t) => t.id));
        a?.logits.forEach((v, k) => expect(Math.abs(v - (b?.logits[k] ?? NaN))).toBeLessThan(1e-4));
      }
    } finally {
      await engine.dispose();
    }
  });
});

describe("CPU engine runs", () => {
  it("two runs started at once give what each gives alone (they take turns with the engine's buffer)", async () => {
    const engine = await CpuEngine.load(sampleDir, { stepBytes: 4096 });
    try {
      const first = reference.cases.slice(0, 3).map((c) => c.input_ids);
      const second = reference.cases.slice(3).map((c) => c.input_ids);
      const [a, b] = await Promise.all([engine.run(first, 5), engine.run(second, 5)]);
      const aloneA = await engine.run(first, 5);
      const aloneB = await engine.run(second, 5);
      const logits = (r: typeof a) => r.masks.flat().map((m) => Array.from(m.logits));
      expect(logits(a)).toEqual(logits(aloneA));
      expect(logits(b)).toEqual(logits(aloneB));
    } finally {
      await engine.dispose();
    }
  });
});

describe("CPU engine on rewritten copies of the sample (safetensors)", () => {
  const dirs: string[] = [];
  let f32Dir = "";
  let f16Dir = "";
  let shuffledDir = "";
  beforeAll(async () => {
    f32Dir = await writeSafetensorsCopy({ dtype: "F32" });
    f16Dir = await writeSafetensorsCopy({ dtype: "F16" });
    shuffledDir = await writeSafetensorsCopy({ dtype: "F32", transform: shuffleTransform(7) });
    dirs.push(f32Dir, f16Dir, shuffledDir);
  });
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("an F32 safetensors copy gives the reference results", async () => {
    const engine = await CpuEngine.load(f32Dir);
    try {
      expect(engine.description).toMatch(/model\.safetensors/);
      await checkFidelity(engine);
    } finally {
      await engine.dispose();
    }
  });

  it("an F16 safetensors copy keeps every top-1", async () => {
    const engine = await CpuEngine.load(f16Dir);
    try {
      expect(engine.description).toMatch(/float16 -> float32/);
      const { masks } = await engine.run(reference.cases.map((c) => c.input_ids), 5);
      reference.cases.forEach((c, i) => {
        expect(masks[i]?.map((m) => m.top[0]?.id), c.text).toEqual(c.masks.map((m) => m.top[0]?.id));
      });
    } finally {
      await engine.dispose();
    }
  });

  it("a model with shuffled weights fails the shipped expectations", async () => {
    const report = await runSmoke({ ckptDir: shuffledDir, expectations: expectationsFile, device: "cpu" });
    expect(report.ok).toBe(false);
    expect(report.cases.filter((c) => c.status === "fail").length).toBeGreaterThanOrEqual(4);
    const failed = report.cases.find((c) => c.status === "fail");
    expect(failed?.reason).toMatch(/not in the top-5/);
  });
});
