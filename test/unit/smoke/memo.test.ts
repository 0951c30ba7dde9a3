// The release carries a smoke test over only when it ran on exactly the same files, cases and
// settings and passed: any other file's bytes, case or setting is a new key; a failure or a GPU
// run is never kept.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { keepSmoke, keptSmoke, smokeMemoKey } from "../../../src/smoke/memo.js";
import type { SmokeReport } from "../../../src/smoke/report.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const A = "a".repeat(64);
const B = "b".repeat(64);
const passing: SmokeReport = { ok: true, device: "cpu", engine: "cpu engine", topK: 5, cases: [{ text: "a [MASK]", input_ids: [1], masks: [], expect: [], status: "pass", ms: 1 }] };

describe("the smoke memo", () => {
  it("keys on every file's sha256 and on what ran, not on the order the files are listed in", () => {
    const memo = (files: Array<{ path: string; sha256: string }>) => ({ dir: "/unused", files });
    const base = smokeMemoKey(memo([{ path: "config.json", sha256: A }, { path: "pytorch_model.bin", sha256: B }]), { cases: ["x"] });
    expect(smokeMemoKey(memo([{ path: "pytorch_model.bin", sha256: B }, { path: "config.json", sha256: A }]), { cases: ["x"] })).toBe(base);
    expect(smokeMemoKey(memo([{ path: "config.json", sha256: A }, { path: "pytorch_model.bin", sha256: A }]), { cases: ["x"] })).not.toBe(base);
    expect(smokeMemoKey(memo([{ path: "config.json", sha256: A }]), { cases: ["x"] })).not.toBe(base);
    expect(smokeMemoKey(memo([{ path: "config.json", sha256: A }, { path: "pytorch_model.bin", sha256: B }]), { cases: ["y"] })).not.toBe(base);
  });

  it("keeps a CPU pass and gives it back; never keeps a failure or a GPU run; ignores a damaged file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-smoke-memo-"));
    dirs.push(dir);
    const memo = { dir, files: [{ path: "config.json", sha256: A }] };
    const key = smokeMemoKey(memo, { cases: ["a [MASK]"] });
    expect(await keptSmoke(memo, key)).toBeUndefined();
    await keepSmoke(memo, key, { ...passing, ok: false });
    expect(await keptSmoke(memo, key)).toBeUndefined();
    await keepSmoke(memo, key, { ...passing, device: "cuda" });
    expect(await keptSmoke(memo, key)).toBeUndefined();
    await keepSmoke(memo, key, passing);
    expect(await keptSmoke(memo, key)).toEqual(passing);
    await writeFile(path.join(dir, `smoke-${key}.json`), "{ not json");
    expect(await keptSmoke(memo, key)).toBeUndefined();
    await writeFile(path.join(dir, `smoke-${key}.json`), JSON.stringify({ ...passing, ok: false }));
    expect(await keptSmoke(memo, key)).toBeUndefined();
  });
});
