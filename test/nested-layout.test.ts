// The original azbert layout (ckpt/math-tokenizer/ with the tokenizer files, ckpt/2-2-0/encoder.ckpt/
// with config.json and pytorch_model.bin), end to end through the CLI: check, smoke and pack read
// one inventory (flat, as the Hub gets it; the archive keeps the layout), and smoke takes its widget cases from the config's modelCard, not from a stale
// README.md inside the checkpoint.
import { execFileSync } from "node:child_process";
import { copyFile, cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseModelCard, widgetTexts } from "../src/checkpoint/model-card.js";
import { parseReport, runCli } from "./helpers/cli.js";
import { repoRoot, sampleDir } from "./smoke-helpers.js";

let project = "";
const TOKENIZER = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"];
const STALE = "---\nlicense: mit\npipeline_tag: fill-mask\nwidget:\n- text: \"an old [MASK] example\"\n---\n# old card\n";

beforeAll(async () => {
  project = await mkdtemp(path.join(os.tmpdir(), "azbert-nested-"));
  const ckpt = path.join(project, "ckpt");
  await cp(sampleDir, ckpt, { recursive: true });
  await mkdir(path.join(ckpt, "math-tokenizer"));
  await mkdir(path.join(ckpt, "2-2-0", "encoder.ckpt"), { recursive: true });
  for (const f of TOKENIZER) await rename(path.join(ckpt, f), path.join(ckpt, "math-tokenizer", f));
  for (const f of ["config.json", "pytorch_model.bin"]) await rename(path.join(ckpt, f), path.join(ckpt, "2-2-0", "encoder.ckpt", f));
  // An identical copy of the vocabulary beside the encoder: one vocab.txt on the Hub, both in the archive.
  await copyFile(path.join(ckpt, "math-tokenizer", "vocab.txt"), path.join(ckpt, "2-2-0", "encoder.ckpt", "vocab.txt"));
  // The card lives in the repository (mirrored to the Hub), and a stale one was left in the checkpoint.
  await mkdir(path.join(project, "docs"));
  await rename(path.join(ckpt, "README.md"), path.join(project, "docs", "model-card.md"));
  await writeFile(path.join(ckpt, "2-2-0", "README.md"), STALE);
  await copyFile(path.join(repoRoot, "test", "fixtures", "smoke-expectations.json"), path.join(project, "smoke-expectations.json"));
  await writeFile(
    path.join(project, "release.config.json"),
    JSON.stringify({ checkpoint: "ckpt", modelCard: "docs/model-card.md", github: { outDir: "out" }, smoke: { device: "cpu", expectations: "smoke-expectations.json" } }),
  );
});
afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli([...args, "--config", path.join(project, "release.config.json")], { cwd: project });

describe("the nested azbert layout through the CLI", () => {
  it("check: every checkpoint check passes on the flattened files, the config's card included", async () => {
    const r = await cli(["check", "--offline", "--json"]);
    const report = parseReport(r.stdout);
    const failed = report.checks.filter((c) => c.status === "fail" && /^(files|json|schema|coherence|weights|card)\./.test(c.id));
    expect(failed).toEqual([]);
    expect(report.checks.find((c) => c.id === "weights.pickle")).toMatchObject({ status: "pass", title: "pytorch_model.bin loads without code execution" });
    expect(report.checks.find((c) => c.id === "card.widget")?.status).toBe("pass");
  });

  it("smoke: runs on the nested files with the config card's widget examples and passes the expectations", async () => {
    const r = await cli(["smoke", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; device: string; cases: { text: string; source?: string; status: string }[] };
    const card = parseModelCard(await readFile(path.join(project, "docs", "model-card.md"), "utf8"));
    expect(report.cases.map((c) => c.text)).toEqual(widgetTexts(card));
    expect(report.cases.map((c) => c.text)).not.toContain("an old [MASK] example");
    expect(report.cases[0]?.source).toBe("model-card.md widget 1");
    expect(report.cases.every((c) => c.status === "pass")).toBe(true);
    expect(report).toMatchObject({ ok: true, device: "cpu" });
  });

  it("pack: the archive keeps the checkpoint's layout, identical copies included, the config's card as README.md at its top", async () => {
    const r = await cli(["pack", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const archive = (JSON.parse(r.stdout) as { archive: { path: string } }).archive.path;
    expect(path.dirname(archive)).toBe(path.join(project, "out"));
    const inCkpt = [...TOKENIZER.map((f) => `math-tokenizer/${f}`), "2-2-0/encoder.ckpt/config.json", "2-2-0/encoder.ckpt/pytorch_model.bin", "2-2-0/encoder.ckpt/vocab.txt"];
    const names = execFileSync("tar", ["tzf", archive], { encoding: "utf8" }).trim().split("\n").filter((l) => !l.endsWith("/") && l !== "manifest.json").map((l) => l.split("/").slice(1).join("/")).sort();
    // The stale card inside the checkpoint is not packed: the config's card is the card.
    expect(names).toEqual(["README.md", ...inCkpt].sort());
    const readme = execFileSync("tar", ["xzOf", archive, "--wildcards", "*/README.md"], { encoding: "utf8" });
    expect(readme).toBe(await readFile(path.join(project, "docs", "model-card.md"), "utf8"));

    // The usage the docs give restores the checkpoint as it was, byte for byte.
    const restored = path.join(project, "restored");
    await mkdir(restored);
    execFileSync("tar", ["xzf", archive, "-C", restored, "--strip-components=1"]);
    for (const f of inCkpt) expect((await readFile(path.join(restored, f))).equals(await readFile(path.join(project, "ckpt", f))), f).toBe(true);
    // SHA256SUMS names the files where the archive holds them.
    const sums = await readFile(path.join(project, "out", "SHA256SUMS"), "utf8");
    expect(sums).toContain("  ckpt/2-2-0/encoder.ckpt/vocab.txt\n");
    expect(sums).toContain("  ckpt/math-tokenizer/vocab.txt\n");

    // `unpack` verifies and restores the same layout.
    const unpacked = path.join(project, "unpacked");
    const u = await cli(["unpack", archive, "--out", unpacked, "--json"]);
    expect(u.code, u.stdout + u.stderr).toBe(0);
    for (const f of inCkpt) expect((await readFile(path.join(unpacked, f))).equals(await readFile(path.join(project, "ckpt", f))), f).toBe(true);
  });
});
