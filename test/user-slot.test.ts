// ckpt/ is the user's slot: the toolkit's own tests never read it. In a clone of this repository,
// a representative part of the suite runs twice: once with ckpt/ deleted (a test that read it
// would fail), once with ckpt/ replaced by a nested checkpoint as azbert's own repository has it.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot, sampleCkpt } from "./helpers/cli.js";

/** The test files run in the clone: the CLI's checklist, packing, the release plan, the CPU engine. */
const SUBSET = ["test/check.test.ts", "test/pack-cli.test.ts", "test/release-plan.test.ts", "test/smoke-engine.test.ts"];
const clone = mkdtempSync(path.join(os.tmpdir(), "azbert-user-slot-"));
afterAll(() => rmSync(clone, { recursive: true, force: true }));

/** This repository as committed, with the build and the installed packages of this checkout. */
function cloneRepository(): string {
  const dir = path.join(clone, "repo");
  execFileSync("git", ["clone", "-q", "--no-hardlinks", repoRoot, dir]);
  // The working tree's own sources (this run may be testing uncommitted work), minus ckpt/.
  for (const part of ["src", "test", "schemas", "tools", "bin", "python"]) {
    rmSync(path.join(dir, part), { recursive: true, force: true });
    cpSync(path.join(repoRoot, part), path.join(dir, part), { recursive: true });
  }
  for (const f of ["package.json", "tsconfig.json", "vitest.config.ts", "smoke-expectations.json", "release.config.json"]) cpSync(path.join(repoRoot, f), path.join(dir, f));
  cpSync(path.join(repoRoot, "dist"), path.join(dir, "dist"), { recursive: true });
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

function vitest(dir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(dir, "node_modules", "vitest", "vitest.mjs"), "run", ...SUBSET], { cwd: dir, env: { ...process.env, CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("the toolkit's tests and the user's ckpt/", () => {
  it("pass with ckpt/ deleted, and with ckpt/ replaced by a nested checkpoint", async () => {
    const dir = cloneRepository();
    rmSync(path.join(dir, "ckpt"), { recursive: true, force: true });
    const without = await vitest(dir);
    expect(without.code, without.output.slice(-4000)).toBe(0);
    expect(without.output).toMatch(new RegExp(`Test Files\\s+\\S*${SUBSET.length} passed`));

    // azbert's own layout: the tokenizer and the encoder in folders of their own, a card beside them.
    const tok = path.join(dir, "ckpt", "math-tokenizer");
    const enc = path.join(dir, "ckpt", "2-2-0", "encoder.ckpt");
    mkdirSync(tok, { recursive: true });
    mkdirSync(enc, { recursive: true });
    for (const f of readdirSync(sampleCkpt)) cpSync(path.join(sampleCkpt, f), path.join(["config.json", "pytorch_model.bin"].includes(f) ? enc : tok, f));
    expect(existsSync(path.join(dir, "ckpt", "config.json"))).toBe(false);
    const nested = await vitest(dir);
    expect(nested.code, nested.output.slice(-4000)).toBe(0);
    // The clone's config still names ckpt/: the bundled sample's quick start is the user's to change.
    expect(JSON.parse(readFileSync(path.join(dir, "release.config.json"), "utf8")).checkpoint).toBe("ckpt");
  }, 300_000);
});
