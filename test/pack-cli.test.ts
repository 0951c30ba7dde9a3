// `pack --out` and `unpack`, as users run them: the built CLI, exit codes, --json.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { copySample, runCli } from "./helpers/cli.js";
import { craftArchive } from "./pack-helpers.js";

let ckpt = "";
let work = "";
beforeAll(async () => {
  ckpt = await copySample();
  work = path.dirname(ckpt);
});

describe("pack --out", () => {
  it("packs into out/ and packs again over its own outputs; the same files again keep the archive as it is", async () => {
    const outputs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await runCli(["pack", "--ckpt", ckpt, "--out", "out"], { cwd: work });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      outputs.push(r.stdout + r.stderr);
    }
    expect(readdirSync(path.join(work, "out")).sort()).toEqual([".ckpt.tar.gz.packed-from.json", "SHA256SUMS", "ckpt.tar.gz", "manifest.json"]);
    expect(outputs[0]).toMatch(/Packed /);
    expect(outputs[1]).toMatch(/Kept .*ckpt\.tar\.gz/);
  });

  it("refuses a folder inside the checkpoint (exit 2), writing nothing", async () => {
    const r = await runCli(["pack", "--ckpt", ckpt, "--out", path.join(ckpt, "release")], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out .*release is inside the checkpoint folder .*ckpt: the archive would be published with the model/);
    expect(existsSync(path.join(ckpt, "release"))).toBe(false);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('refuses a config whose outDir holds unrelated files, such as "/" (exit 2)', async () => {
    const dir = path.join(work, "rooted");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "release.config.json"), JSON.stringify({ checkpoint: ckpt, github: { outDir: "/" } }));
    const r = await runCli(["pack", "--json"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/github\.outDir \/ holds files pack did not write \(.*\): use an empty folder, or one that holds only ckpt\.tar\.gz, SHA256SUMS and manifest\.json/);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false });
    expect(existsSync("/SHA256SUMS") || existsSync("/ckpt.tar.gz")).toBe(false);

    const notes = path.join(work, "notes");
    mkdirSync(notes, { recursive: true });
    writeFileSync(path.join(notes, "todo.txt"), "mine");
    const r2 = await runCli(["pack", "--ckpt", ckpt, "--out", notes], { cwd: work });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/holds files pack did not write \(todo\.txt\)/);
    expect(readdirSync(notes)).toEqual(["todo.txt"]);
  });
});

describe("unpack", () => {
  let archive = "";
  beforeAll(async () => {
    const r = await runCli(["pack", "--ckpt", ckpt, "--out", "release"], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    archive = path.join(work, "release", "ckpt.tar.gz");
  });

  it("verifies a release download against SHA256SUMS and unpacks it (--json)", async () => {
    const r = await runCli(["unpack", archive, "--out", "restored", "--json"], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; files: { path: string }[]; archive: { sha256: string; expectedSha256: string }; problems: string[] };
    expect(report.ok).toBe(true);
    expect(report.archive.sha256).toBe(report.archive.expectedSha256);
    expect(report.problems).toEqual([]);
    expect(report.files.map((f) => f.path).sort()).toEqual(readdirSync(ckpt).sort());
    for (const f of readdirSync(ckpt)) expect(readFileSync(path.join(work, "restored", f)).equals(readFileSync(path.join(ckpt, f)))).toBe(true);
  });

  it("fails (exit 1) and leaves nothing when the archive does not match SHA256SUMS; verify-archive is the same command", async () => {
    const sums = path.join(work, "other-SHA256SUMS");
    writeFileSync(sums, readFileSync(path.join(work, "release", "SHA256SUMS"), "utf8").replace(/^[0-9a-f]{64}/, "f".repeat(64)));
    const r = await runCli(["verify-archive", archive, "--out", "bad", "--sums", sums], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/ckpt\.tar\.gz: sha256 [0-9a-f]{12}…, SHA256SUMS says ffffffffffff…/);
    expect(r.stderr).toMatch(/Nothing was unpacked into bad/);
    expect(existsSync(path.join(work, "bad"))).toBe(false);
  });

  it("refuses a hostile archive (exit 1) and says why, without a stack trace", async () => {
    const dir = path.join(work, "hostile");
    mkdirSync(dir, { recursive: true });
    const evil = craftArchive(path.join(dir, "evil.tar.gz"), [{ path: "../escape.txt", data: "pwned" }]);
    writeFileSync(path.join(dir, "SHA256SUMS"), "");
    const r = await runCli(["unpack", evil, "--out", path.join(dir, "x")], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/evil\.tar\.gz: refusing entry "\.\.\/escape\.txt": path contains a '\.\.' component/);
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(dir, "escape.txt"))).toBe(false);
  });

  it("is a usage error (exit 2) without SHA256SUMS, or without --out", async () => {
    const lone = path.join(work, "lone");
    mkdirSync(lone, { recursive: true });
    writeFileSync(path.join(lone, "ckpt.tar.gz"), readFileSync(archive));
    const r = await runCli(["unpack", path.join(lone, "ckpt.tar.gz"), "--out", "x"], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no SHA256SUMS beside .*ckpt\.tar\.gz: download it from the same release, or pass --sums FILE/);
    expect((await runCli(["unpack", archive], { cwd: work })).code).toBe(2);
  });
});
