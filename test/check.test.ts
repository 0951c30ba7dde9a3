// The checklist over the real sample and over bad checkpoints derived from it: each problem a
// user can have fails with a message that names the file and the problem, exit code 1. The CLI
// runs in a fixture project (clean, on main, pushed) with an empty HOME, so every outcome is the
// checkpoint's: exact exit codes, no "passed or failed".
import { appendFile, mkdir, readFile, rename, rm, symlink, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { copySample, parseReport, runCli, type JsonCheck } from "./helpers/cli.js";
import { PickleWriter, safetensorsFile, torchZip } from "./helpers/torch-fixtures.js";
import { loadTensorRaw, readWeights } from "../src/checkpoint/weights.js";

const CHECKPOINT_IDS = /^(files|json|schema|coherence|weights|card)\./;

async function check(ckpt: string) {
  const r = await runCli(["check", "--offline", "--json", "--ckpt", ckpt]);
  const report = parseReport(r.stdout);
  const byId = new Map(report.checks.map((c) => [c.id, c]));
  const failed = report.checks.filter((c) => c.status === "fail" && CHECKPOINT_IDS.test(c.id));
  return { ...r, report, byId, failed };
}

function expectFail(c: JsonCheck | undefined, ...fragments: RegExp[]) {
  expect(c?.status, JSON.stringify(c)).toBe("fail");
  for (const f of fragments) expect(c!.message).toMatch(f);
}

async function editJson(file: string, edit: (v: Record<string, unknown>) => void) {
  const v = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  edit(v);
  await writeFile(file, JSON.stringify(v));
}

describe("check on the bundled sample", () => {
  it("passes every checkpoint check, and reports the weights it read", async () => {
    const r = await check(await copySample());
    expect(r.code, r.stdout).toBe(0);
    expect(r.report.ok).toBe(true);
    expect(r.report.checks.filter((c) => c.status === "fail")).toEqual([]);
    for (const id of ["files.required", "files.layout", "json.parse", "schema.config", "schema.tokenizer_config", "schema.tokenizer",
      "json.local-paths", "coherence.vocab", "coherence.special-tokens", "coherence.heads", "weights.pickle", "weights.shapes", "weights.dtype", "weights.finite", "json.finite",
      "card.front-matter", "card.pipeline", "card.widget"]) {
      expect(r.byId.get(id)?.status, id).toBe("pass");
    }
    expect(r.byId.get("coherence.vocab")?.message).toMatch(/362 tokens \(319 \+ 43 added\)/);
    expect(r.byId.get("weights.pickle")?.message).toMatch(/tensors in \d+ storages/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it("prints plain lines and a summary without --json", async () => {
    const r = await runCli(["check", "--offline", "--ckpt", await copySample()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^  ✔ required files are present$/m);
    expect(r.stdout).toMatch(/^  ✔ working tree is clean$/m);
    expect(r.stdout).toMatch(/^  - main is not behind origin\/main \(skipped: offline: origin\/main not fetched\)$/m);
    // A warning shows its rule and, below it, what was found: the two never contradict.
    expect(r.stdout).toContain('\n  ⚠ git remote "hgf" must point at the Hub repo https://huggingface.co/azbert/fixture\n      there is no remote "hgf" yet: the release will add it\n');
    // git-lfs passes, the missing hgf remote warns, 4 network items skip offline.
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("Checklist passed: 30 passed, 0 failed, 1 warnings, 4 skipped");
    expect(r.stderr).toBe("");
  });
});

describe("check on bad checkpoints", () => {
  it("a git-lfs pointer instead of the weights", async () => {
    const dir = await copySample();
    await writeFile(path.join(dir, "pytorch_model.bin"), "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a".repeat(64) + "\nsize 578110\n");
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.pickle"), /pytorch_model\.bin/, /git-lfs pointer/);
  });

  it("a pickle that imports os.system is refused without being run", async () => {
    const dir = await copySample();
    const marker = path.join(dir, "..", "pwned");
    const pkl = new PickleWriter().proto(2).global("posix", "system").mark().str(`touch ${marker}`).tuple().reduce().stop().bytes();
    await writeFile(path.join(dir, "pytorch_model.bin"), torchZip("archive", pkl, {}));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.pickle"), /^pytorch_model\.bin: pickle imports posix\.system, which is not a tensor type$/);
    await expect(readFile(marker)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("truncated weights", async () => {
    const dir = await copySample();
    await truncate(path.join(dir, "pytorch_model.bin"), 300_000);
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.pickle"), /pytorch_model\.bin/, /truncated|corrupt|central directory/i);
  });

  it("tokenizer_config.json with a tokenizer_file field", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "tokenizer_config.json"), (v) => (v.tokenizer_file = "/root/.cache/huggingface/transformers/abc.tokenizer.json"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("schema.tokenizer_config"), /tokenizer_config\.json: \/tokenizer_file must not be present/);
    expectFail(r.byId.get("json.local-paths"), /tokenizer_config\.json: \/tokenizer_file is "\/root\/\.cache/);
  });

  it("config vocab_size that disagrees with the tokenizer", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.vocab_size = 300));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("coherence.vocab"), /config\.json: vocab_size is 300, but vocab\.txt \(319 lines\) \+ added_tokens\.json \(43\) = 362/);
    expectFail(r.byId.get("weights.shapes"), /word_embeddings\.weight has shape \[362, 64\] but config\.json `vocab_size` = 300 implies \[300, 64\]/);
    // Padded embeddings are legitimate: only a warning about the vocabulary (the weights still disagree here).
    await editJson(path.join(dir, "config.json"), (v) => (v.vocab_size = 368));
    const padded = await check(dir);
    expect(padded.code).toBe(1); // the weights still have 362 rows
    expect(padded.byId.get("coherence.vocab")?.status).toBe("warn");
    expect(padded.byId.get("coherence.vocab")?.message).toMatch(/6 embedding rows are never used/);
  });

  it("a model.safetensors that disagrees with config.json fails even beside a good pytorch_model.bin", async () => {
    const dir = await copySample();
    await writeFile(path.join(dir, "model.safetensors"), safetensorsFile([{ name: "bert.embeddings.word_embeddings.weight", dtype: "F32", shape: [361, 64], data: new Uint8Array(361 * 64 * 4) }]));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.shapes"), /model\.safetensors: bert\.embeddings\.word_embeddings\.weight has shape \[361, 64\] but config\.json `vocab_size` = 362 implies \[362, 64\]/, /pytorch_model\.bin and model\.safetensors disagree/);
  });

  it("pytorch_model.bin and model.safetensors must hold the same tensors: two that differ fail weights.agree, naming each and both files", async () => {
    const dir = await copySample();
    const bin = await readWeights(path.join(dir, "pytorch_model.bin"));
    const ST: Record<string, string> = { float32: "F32", int64: "I64" };
    // Every tensor but the tied decoder weight (an exact alias of the word embeddings, as safetensors writers drop it).
    const tensors = [];
    for (const t of bin.tensors.filter((x) => x.name !== "cls.predictions.decoder.weight")) {
      tensors.push({ name: t.name, dtype: ST[t.dtype]!, shape: t.shape, data: Buffer.from(await loadTensorRaw(bin, t.name)) });
    }
    await writeFile(path.join(dir, "model.safetensors"), safetensorsFile(tensors, { format: "pt" }));
    const same = await check(dir);
    expect(same.code, JSON.stringify(same.failed)).toBe(0);
    expect(same.byId.get("weights.agree")).toMatchObject({ status: "pass", message: "48 tensors, 551.3 KiB compared; 1 tied name in pytorch_model.bin" });

    for (const [name, element] of [["bert.embeddings.LayerNorm.weight", 3], ["cls.predictions.bias", 0]] as const) {
      const t = tensors.find((x) => x.name === name)!;
      t.data = Buffer.from(t.data);
      t.data.writeFloatLE(0.5 + t.data.readFloatLE(element * 4), element * 4);
    }
    await writeFile(path.join(dir, "model.safetensors"), safetensorsFile(tensors, { format: "pt" }));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(
      r.byId.get("weights.agree"),
      /^pytorch_model\.bin and model\.safetensors hold different models \(2 differences\): publish one of them/m,
      /^tensor bert\.embeddings\.LayerNorm\.weight differs between pytorch_model\.bin and model\.safetensors \(first at element 3\)/m,
      /^tensor cls\.predictions\.bias differs between pytorch_model\.bin and model\.safetensors \(first at element 0\)/m,
    );
  });

  it("a BertForMaskedLM with the pre-training heads still in its weights only warns", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.architectures = ["BertForMaskedLM"]));
    const r = await check(dir);
    expect(r.code).toBe(0);
    expect(r.byId.get("weights.shapes")?.status).toBe("warn");
    expect(r.byId.get("weights.shapes")?.message).toMatch(/2 tensors that BertForMaskedLM does not use \(first: cls\.seq_relationship\.weight\)/);
  });

  it("a vocab.txt line more than tokenizer.json knows", async () => {
    const dir = await copySample();
    await appendFile(path.join(dir, "vocab.txt"), "extratoken\n");
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("coherence.vocab"), /added_tokens\.json/);
  });

  it("a missing required file", async () => {
    const dir = await copySample();
    await rm(path.join(dir, "special_tokens_map.json"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("files.required"), /special_tokens_map\.json is missing/);
  });

  it("no weights at all", async () => {
    const dir = await copySample();
    await rm(path.join(dir, "pytorch_model.bin"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("files.required"), /no weights: neither pytorch_model\.bin nor model\.safetensors/);
  });

  it("invalid JSON", async () => {
    const dir = await copySample();
    await writeFile(path.join(dir, "config.json"), '{"vocab_size": 362,');
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("json.parse"), /config\.json is not valid JSON/);
  });

  it("a config value of the wrong type names the JSON pointer", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.num_hidden_layers = "two"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("schema.config"), /config\.json: \/num_hidden_layers must be of type integer, not string/);
  });

  it("tensor shapes that do not match config.json", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.intermediate_size = 128));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.shapes"), /pytorch_model\.bin: bert\.encoder\.layer\.0\.intermediate\.dense\.weight has shape \[256, 64\] but config\.json `intermediate_size` = 128 implies \[128, 64\]/);
  });

  it("a missing layer", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.num_hidden_layers = 3));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.shapes"), /pytorch_model\.bin: encoder layer 2 is missing: config\.json `num_hidden_layers` = 3 implies encoder layers 0–2, the weights hold layers 0–1/);
    // One line for the layer, not one per tensor of it.
    expect(r.byId.get("weights.shapes")?.message).not.toMatch(/layer\.2\.attention\.self\.query\.weight is missing/);
  });

  it("an encoder layer more than num_hidden_layers only warns, naming the field (transformers ignores it)", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.num_hidden_layers = 1));
    const r = await check(dir);
    expect(r.byId.get("weights.shapes")).toMatchObject({
      status: "warn",
      message: expect.stringMatching(/pytorch_model\.bin: encoder layer 1 is not used: config\.json `num_hidden_layers` = 1 implies encoder layer 0; transformers will ignore it/),
    });
  });

  it("every dimension mismatch names the config.json field that implies it", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => {
      v.max_position_embeddings = 256;
      v.type_vocab_size = 3;
    });
    const r = await check(dir);
    expectFail(
      r.byId.get("weights.shapes"),
      /position_embeddings\.weight has shape \[\d+, 64\] but config\.json `max_position_embeddings` = 256 implies \[256, 64\]/,
      /token_type_embeddings\.weight has shape \[2, 64\] but config\.json `type_vocab_size` = 3 implies \[3, 64\]/,
    );
  });

  it("hidden_size not divisible by the heads", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.num_attention_heads = 5));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("coherence.heads"), /hidden_size 64 is not divisible by num_attention_heads 5/);
  });

  it("torch_dtype that the tensors do not have", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "config.json"), (v) => (v.torch_dtype = "float16"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("weights.dtype"), /declares torch_dtype float16 but \d+ tensors are float32/);
  });

  it("a mask token that is not in the vocabulary", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "special_tokens_map.json"), (v) => (v.mask_token = "<mask>"));
    await editJson(path.join(dir, "tokenizer_config.json"), (v) => (v.mask_token = "<mask>"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("coherence.special-tokens"), /special_tokens_map\.json: mask_token "<mask>" is not in the vocabulary/);
    expectFail(r.byId.get("card.widget"), /has no <mask> token/);
  });

  it("special tokens that disagree between files", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "tokenizer_config.json"), (v) => (v.cls_token = "[SEP]"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("coherence.special-tokens"), /tokenizer_config\.json: cls_token is "\[SEP\]" but special_tokens_map\.json says "\[CLS\]"/);
  });

  it("a local path leaked into a JSON file", async () => {
    const dir = await copySample();
    await editJson(path.join(dir, "tokenizer_config.json"), (v) => (v.name_or_path = "/home/wei/azbert/ckpt/math-tokenizer"));
    await editJson(path.join(dir, "config.json"), (v) => (v._name_or_path = "C:\\Users\\wei\\azbert"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("json.local-paths"), /tokenizer_config\.json: \/name_or_path is "\/home\/wei\/azbert/, /config\.json: \/_name_or_path/);
  });

  it("a symlink that escapes the checkpoint folder is never followed", async () => {
    const dir = await copySample();
    await symlink("/etc/passwd", path.join(dir, "notes.txt"));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("files.layout"), /notes\.txt: symlink points outside the checkpoint folder/);
  });

  it("a big unexpected file fails, a small one warns", async () => {
    const dir = await copySample();
    await writeFile(path.join(dir, "optimizer.pt"), Buffer.alloc(11 * 1024 * 1024));
    await writeFile(path.join(dir, "notes.txt"), "hello");
    const r = await check(dir);
    expectFail(r.byId.get("files.unexpected"), /optimizer\.pt: unexpected 11\.0 MiB file would be uploaded/);
    await rm(path.join(dir, "optimizer.pt"));
    const r2 = await check(dir);
    expect(r2.code).toBe(0);
    expect(r2.byId.get("files.unexpected")?.status).toBe("warn");
    expect(r2.byId.get("files.unexpected")?.message).toMatch(/notes\.txt/);
  });

  it("the original nested layout passes and flattens", async () => {
    const dir = await copySample();
    await mkdir(path.join(dir, "math-tokenizer"));
    await mkdir(path.join(dir, "2-2-0", "encoder.ckpt"), { recursive: true });
    for (const f of ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]) {
      await rename(path.join(dir, f), path.join(dir, "math-tokenizer", f));
    }
    for (const f of ["config.json", "pytorch_model.bin"]) await rename(path.join(dir, f), path.join(dir, "2-2-0", "encoder.ckpt", f));
    // An identical copy of a file under another folder is fine.
    await mkdir(path.join(dir, "copy"));
    await writeFile(path.join(dir, "copy", "vocab.txt"), await readFile(path.join(dir, "math-tokenizer", "vocab.txt")));
    const r = await check(dir);
    expect(r.code, JSON.stringify(r.failed)).toBe(0);
    expect(r.byId.get("files.layout")?.message).toBe("8 files");
  });

  it("git and git-lfs configuration in the checkpoint fails files.git-config, naming the file; the Hub's own .gitattributes passes", async () => {
    const dir = await copySample();
    // The .gitattributes the Hub creates: lfs drivers only.
    const hub = "*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n# comment\n\n";
    await writeFile(path.join(dir, ".gitattributes"), hub);
    const ok = await check(dir);
    expect(ok.code, JSON.stringify(ok.failed)).toBe(0);
    expect(ok.byId.get("files.git-config")?.status).toBe("pass");

    await mkdir(path.join(dir, "sub"));
    await writeFile(path.join(dir, "sub", ".lfsconfig"), "[lfs]\n\turl = https://elsewhere.example/lfs\n");
    await writeFile(path.join(dir, ".gitmodules"), '[submodule "x"]\n\tpath = x\n\turl = https://elsewhere.example/x.git\n');
    await writeFile(path.join(dir, ".gitattributes"), `${hub}"weights dir/*" diff=lfs filter=exfil\n[attr]evil merge=ours\n`);
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(
      r.byId.get("files.git-config"),
      /^sub\/\.lfsconfig: git configuration that sets where git-lfs uploads and downloads the weights \(lfs\.url\); remove it: the release writes the Hub repo's \.gitattributes itself$/m,
      /^\.gitmodules: git configuration that names other repositories for git to fetch; remove it/m,
      /^\.gitattributes: line 5 \("weights dir\/\*" diff=lfs filter=exfil\) sets filter=exfil, a driver git would run instead of lfs; remove it/m,
      /^\.gitattributes: line 6 \(\[attr\]evil merge=ours\) sets merge=ours/m,
    );
  });

  it("a .git file (submodule checkout) is never published", async () => {
    const dir = await copySample();
    await writeFile(path.join(dir, ".git"), "gitdir: ../.git/modules/ckpt\n");
    const r = await check(dir);
    expect(r.code, JSON.stringify(r.failed)).toBe(0);
    expect(r.byId.get("files.unexpected")?.status).toBe("pass");
  });

  it("a nested name clash fails naming both files", async () => {
    const dir = await copySample();
    await mkdir(path.join(dir, "other"));
    await writeFile(path.join(dir, "other", "config.json"), "{}");
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("files.layout"), /config\.json and other\/config\.json would both be published as config\.json but differ/);
  });

  it("a model card without license, and a widget example without the mask", async () => {
    const dir = await copySample();
    const card = await readFile(path.join(dir, "README.md"), "utf8");
    await writeFile(path.join(dir, "README.md"), card.replace("license: mit\n", "").replace('"The goal of life is [MASK]."', '"The goal of life is happiness."'));
    const r = await check(dir);
    expect(r.code).toBe(1);
    expectFail(r.byId.get("card.front-matter"), /README\.md front matter: \(top level\) is missing the required field "license"/);
    expectFail(r.byId.get("card.widget"), /widget example "The goal of life is happiness\." has no \[MASK\] token/);
  });

  it("a checkpoint folder that does not exist", async () => {
    const r = await check("/nonexistent/ckpt");
    expect(r.code).toBe(1);
    expectFail(r.byId.get("files.layout"), /\/nonexistent\/ckpt: checkpoint folder not found/);
  });
});

describe("usage and configuration errors exit 2 without a stack trace", () => {
  it("an unknown key in release.config.json", async () => {
    const dir = path.dirname(await copySample());
    await writeFile(path.join(dir, "release.config.json"), JSON.stringify({ checkpoint: "ckpt", hub: { repoId: "a/b", remtoe: "hgf" } }));
    const r = await runCli(["check", "--offline", "--config", path.join(dir, "release.config.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/release\.config\.json: \/hub has an unknown field "remtoe"/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it("a model card path in the config that does not exist", async () => {
    const dir = path.dirname(await copySample());
    await writeFile(path.join(dir, "release.config.json"), JSON.stringify({ checkpoint: "ckpt", modelCard: "card.md" }));
    const r = await runCli(["check", "--offline", "--json", "--config", path.join(dir, "release.config.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/release\.config\.json: modelCard names card\.md, which does not exist/);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: expect.stringMatching(/modelCard names card\.md/) });
  });

  it("a config file that does not exist, and an unknown flag", async () => {
    const missing = await runCli(["check", "--config", "/nonexistent/release.config.json"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/\/nonexistent\/release\.config\.json: config file not found/);
    const flag = await runCli(["check", "--bogus"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/unknown option '--bogus'/);
    const stages = await runCli(["release", "--dry-run", "--only", "hub,docs"]);
    expect(stages.code).toBe(2);
    expect(stages.stderr).toMatch(/--only takes a comma list of check,smoke,pack,hub,github/);
  });

  it("--json prints exactly one JSON document on stdout", async () => {
    const r = await runCli(["check", "--offline", "--json", "--ckpt", await copySample()]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: JsonCheck[] };
    expect(Object.keys(report)).toEqual(["ok", "checks"]);
    expect(report.ok).toBe(true);
    expect(r.stdout.trim().startsWith("{")).toBe(true);
  });
});
