// Smoke cases, expectations and report formatting.
import { mkdtemp, rm, writeFile, copyFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint } from "../src/checkpoint/load.js";
import { UserError } from "../src/report.js";
import { resolveBertTensors, parseBertConfig } from "../src/smoke/bert-graph.js";
import { loadCasesFile, parseTestTxt, widgetCases } from "../src/smoke/cases.js";
import { CpuEngine } from "../src/smoke/engine.js";
import { checkExpectation, loadExpectations, parseExpectations } from "../src/smoke/expectations.js";
import { formatSmokeReport, runSmoke } from "../src/smoke/main.js";
import { sampleDir, repoRoot } from "./smoke-helpers.js";

const expectationsFile = path.join(repoRoot, "test", "fixtures", "smoke-expectations.json");
// approach0/azbert's test.txt, the old format
const OLD_TEST_TXT = [
  "0\tShe needs to [MASK] that [MASK] gets only ten minutes.",
  "8\tDetermine the [MASK] of [imath]f(x) = x + \\sqrt{ 4 - x^2}[/imath] without [MASK]",
  "4,12\tSolve [imath]y''-4y'+4y=xe^x[/imath]",
  "4\t[imath]f(x, y)[/imath]",
  "2\t[imath]x + x = 2x[/imath]",
  "10,11\tWith Euler's [MASK], it [MASK] to [imath]\\int_0^\\infty \\frac{1+x^2}{1+x}dx[/imath]",
  "6,12\tProof by [MASK] that [imath]n!>3n[/imath] [MASK] [imath]n>6[/imath]",
  "2,5\tthe goal of life is happiness",
  "",
].join("\n");

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "azbert-smoke-cases-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("cases", () => {
  it("reads the model card's widget examples by default", async () => {
    const cases = await widgetCases(await loadCheckpoint(sampleDir));
    expect(cases.map((c) => c.text)).toEqual([
      "$f$ $($ $x$ [MASK] $y$ $)$",
      "$x$ [MASK] $x$ $equal$ $2$ $x$",
      "Proof by [MASK] that $n$ $fact$ $gt$ $3$ $n$ for $n$ $gt$ $6$",
      "Proof by induction that $n$ [MASK] $gt$ $3$ $n$ for $n$ $gt$ $6$",
      "The goal of life is [MASK].",
    ]);
    expect(cases[2]?.source).toBe("README.md widget 3");
  });

  it("parses the old test.txt format: masks 1-based word positions, marks [imath] lines for pya0", () => {
    const cases = parseTestTxt(OLD_TEST_TXT, "/x/test.txt");
    expect(cases).toHaveLength(8);
    expect(cases[0]).toEqual({ text: "She needs to [MASK] that [MASK] gets only ten minutes.", source: "test.txt:1" });
    expect(cases[1]).toMatchObject({ preprocess: "pya0", maskWords: [8], source: "test.txt:2" });
    expect(cases[2]).toMatchObject({ preprocess: "pya0", maskWords: [4, 12] });
    expect(cases[7]).toEqual({ text: "the [MASK] of life [MASK] happiness", source: "test.txt:8", maskWords: [2, 5] });
  });

  it("names the file and line of a malformed test.txt line", () => {
    expect(() => parseTestTxt("0\tok [MASK]\nno tab here\n", "/x/test.txt")).toThrow(/test\.txt:2: .*no tab/);
    expect(() => parseTestTxt("a,b\tSentence [MASK]\n", "/x/test.txt")).toThrow(/test\.txt:1: the first column/);
    expect(() => parseTestTxt("9\ttoo short\n", "/x/test.txt")).toThrow(/test\.txt:1: word position 9 is past the end/);
    expect(() => parseTestTxt("\n\n", "/x/test.txt")).toThrow(UserError);
  });

  it("reads JSON case lists and reports a missing cases file as a UserError naming it", async () => {
    const f = path.join(tmp, "cases.json");
    await writeFile(f, JSON.stringify(["a [MASK] b", { text: "c [MASK]" }]));
    expect((await loadCasesFile(f)).map((c) => c.text)).toEqual(["a [MASK] b", "c [MASK]"]);
    await expect(loadCasesFile(path.join(tmp, "nope.txt"))).rejects.toThrow(/nope\.txt: cannot read the cases file \(no such file\)/);
    await writeFile(f, "{");
    await expect(loadCasesFile(f)).rejects.toThrow(/cases\.json: not valid JSON/);
  });

  it("a checkpoint without README.md has no default cases: a clear error", async () => {
    await expect(widgetCases(await loadCheckpoint(tmp))).rejects.toThrow(/README\.md: no model card, .*set "modelCard" in the config/);
  });

  it("runs a test.txt on the CPU engine: [imath] lines are reported skip with the pya0 reason, never dropped", async () => {
    const f = path.join(tmp, "test.txt");
    await writeFile(f, OLD_TEST_TXT);
    const report = await runSmoke({ ckptDir: sampleDir, casesFile: f, device: "cpu" });
    expect(report.cases).toHaveLength(8);
    const skipped = report.cases.filter((c) => c.status === "skip");
    expect(skipped).toHaveLength(6);
    for (const s of skipped) expect(s.reason).toMatch(/pya0/);
    expect(report.cases[0]?.masks).toHaveLength(2);
    expect(report.cases[0]?.masks[0]?.top[0]?.token).toBe("know");
    expect(report.ok).toBe(true);
    const human = formatSmokeReport(report, { color: false });
    expect(human).toMatch(/SKIP .*\[imath\]/);
    expect(human).toMatch(/MASK\[1\] @/);
  });
});

describe("expectations", () => {
  it("the shipped smoke-expectations.json is valid and the sample passes it", async () => {
    const exp = await loadExpectations(expectationsFile);
    expect([...exp.cases.values()].flat()).toEqual(["$,$", "$+$", "induction", "$fact$", "happiness"]);
    const seen: string[] = [];
    const report = await runSmoke({ ckptDir: sampleDir, expectations: expectationsFile, device: "cpu", onCase: (c) => seen.push(c.status) });
    expect(report.ok).toBe(true);
    expect(seen).toEqual(["pass", "pass", "pass", "pass", "pass"]);
    expect(report.device).toBe("cpu");
    expect(report.cases[2]).toMatchObject({ expect: ["induction"], status: "pass", input_ids: [101, 258, 179, 103, 283, 322, 348, 344, 332, 322, 202, 322, 344, 334, 102] });
    expect(report.cases[2]?.masks[0]?.top[0]).toMatchObject({ token: "induction", id: 218 });
    expect(report.unmatchedExpectations).toBeUndefined();
    // --json shape of the contract
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(expect.arrayContaining(["ok", "device", "engine", "cases"]));
  });

  it("a failed expectation fails the case and the smoke; stale keys are listed", async () => {
    const f = path.join(tmp, "exp.json");
    await writeFile(f, JSON.stringify({
      cases: {
        "The goal of life is [MASK].": ["money"],
        "$x$ [MASK] $x$ $equal$ $2$ $x$": [["$+$", "$times$"]],
        "Not a case [MASK]": ["x"],
      },
    }));
    const report = await runSmoke({ ckptDir: sampleDir, expectations: f, device: "cpu", topK: 3 });
    expect(report.ok).toBe(false);
    const goal = report.cases.find((c) => c.text.startsWith("The goal"));
    expect(goal?.status).toBe("fail");
    expect(goal?.reason).toMatch(/"money" not in the top-3 \(happiness, knowledge, love\)/);
    expect(report.cases[1]?.status).toBe("pass");
    expect(report.cases[1]?.masks[0]?.top).toHaveLength(3);
    expect(report.unmatchedExpectations).toEqual(["Not a case [MASK]"]);
    expect(formatSmokeReport(report, { color: false })).toMatch(/FAILED: 5 case\(s\): 4 pass, 1 fail/);
  });

  it("schema errors name the file", async () => {
    expect(() => parseExpectations({ cases: { a: "induction" } }, "exp.json")).toThrow(/exp\.json: \/cases\/a/);
    expect(() => parseExpectations({ tokens: {} }, "exp.json")).toThrow(/exp\.json: .*"cases"/);
    await expect(loadExpectations(path.join(tmp, "missing.json"))).rejects.toThrow(/missing\.json: cannot read the smoke expectations/);
  });

  it("checks per-mask and any-mask expectations within k", () => {
    const masks = [
      { position: 1, top: [{ token: "a", id: 1, score: 0.5 }, { token: "b", id: 2, score: 0.2 }] },
      { position: 3, top: [{ token: "c", id: 3, score: 0.5 }, { token: "d", id: 4, score: 0.2 }] },
    ];
    expect(checkExpectation(["a", "d"], masks, 2)).toEqual([]);
    expect(checkExpectation(["d"], masks, 1)).toHaveLength(1);
    expect(checkExpectation([["a"], ["d"]], masks, 2)).toEqual([]);
    expect(checkExpectation([["c"], ["d"]], masks, 2)[0]).toMatch(/mask 1: "c" not in the top-2/);
    expect(checkExpectation([["a"], ["c"], ["x"]], masks, 2)[0]).toMatch(/expects 3 masks, the case has 2/);
  });
});

describe("report formatting", () => {
  const report = {
    ok: true, device: "cpu" as const, engine: "e", topK: 2,
    cases: [{ text: "Proof by [MASK].", input_ids: [1], masks: [{ position: 3, top: [{ token: "induction", id: 9, score: 0.93 }] }], expect: ["induction"], status: "pass" as const, ms: 12 }],
  };
  it("highlights the mask, lists top-k with scores and time, no ANSI without color", () => {
    const s = formatSmokeReport(report, { color: false });
    expect(s).toContain("PASS Proof by »[MASK]«.");
    expect(s).toContain("induction 0.9300 ✓");
    expect(s).toContain("12 ms");
    expect(s).not.toMatch(/\x1b\[/);
  });
  it("uses ANSI colors when asked", () => {
    expect(formatSmokeReport(report, { color: true })).toContain("\x1b[92m[MASK]\x1b[0m");
  });
});

describe("errors users can cause", () => {
  it("missing checkpoint folder, bad --top-k, unknown weights layout", async () => {
    await expect(runSmoke({ ckptDir: path.join(tmp, "none"), device: "cpu" })).rejects.toThrow(/no such checkpoint folder/);
    await expect(runSmoke({ ckptDir: sampleDir, device: "cpu", topK: 0 })).rejects.toThrow(/--top-k/);
    const cfg = parseBertConfig({ hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 256, vocab_size: 362, max_position_embeddings: 128 }, "config.json");
    const index = { format: "safetensors" as const, file: "/x/model.safetensors", metadata: {}, tensors: [
      { name: "roberta.embeddings.word_embeddings.weight", dtype: "float32" as const, shape: [362, 64], stride: [64, 1], storageKey: "a", storageOffset: 0, dataOffset: 0, byteLength: 4 * 362 * 64 },
    ] };
    expect(() => resolveBertTensors(index, cfg)).toThrow(/model\.safetensors: unknown weights layout: no bert\.embeddings/);
    const headless = { ...index, tensors: [{ ...index.tensors[0]!, name: "bert.embeddings.word_embeddings.weight" }] };
    expect(() => resolveBertTensors(headless, cfg)).toThrow(/missing \d+ tensor\(s\)/);
  });

  it("a token id past config.json's vocab_size (a tokenizer larger than the model) is a clear error, not a read past the embeddings", async () => {
    const engine = await CpuEngine.load(sampleDir);
    try {
      const run = engine.run([[101, 361, 103, 102], [101, 362, 103, 102]], 5);
      await expect(run).rejects.toThrow(UserError);
      await expect(run).rejects.toThrow("the tokenizer gave token id 362, but config.json `vocab_size` is 362: the tokenizer and the model disagree");
    } finally {
      await engine.dispose();
    }
  });

  it("a checkpoint without tokenizer.json or with a model_type the engine does not run", async () => {
    const dir = await mkdtemp(path.join(tmp, "ck-"));
    for (const f of await readdir(sampleDir)) if (f !== "tokenizer.json") await copyFile(path.join(sampleDir, f), path.join(dir, f));
    await expect(CpuEngine.load(dir)).rejects.toThrow(/no tokenizer\.json in the checkpoint/);
    expect(() => parseBertConfig({ model_type: "roberta" }, "config.json")).toThrow(/runs BERT only/);
  });
});
