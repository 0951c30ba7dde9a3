// Every write stays in its folder and every read of an archive is bounded, whatever a repository,
// an archive or a config holds: links in the output folder are replaced, never followed; unpack
// is linear in entries and ends at the archive's end; config strings that reach file formats are
// refused up front (exit 2), by the dry run as by the real run; no stack trace for a user's mistake.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { unpackVerified } from "../src/pack/index.js";
import { copySample, runCli } from "./helpers/cli.js";
import { craftArchive, type CraftedEntry } from "./pack-helpers.js";

let ckpt = "";
let work = "";
beforeAll(async () => {
  ckpt = await copySample();
  work = path.dirname(ckpt);
});

/** What pack wrote that users see (its record of what it packed from is a dot file beside them). */
const outputs = (dir: string) => readdirSync(dir).filter((n) => !n.startsWith(".")).sort();

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at |unexpected error/);

describe("pack: links in the output folder are replaced, never written through", () => {
  it.each(["SHA256SUMS", "manifest.json", "ckpt.tar.gz"])("out/%s committed as a link to a file outside (a stand-in for ~/.bashrc)", async (name) => {
    const out = path.join(work, `out-link-${name}`);
    mkdirSync(out);
    const victim = path.join(work, `victim-${name}.bashrc`);
    writeFileSync(victim, "export PATH=$HOME/bin:$PATH\n");
    symlinkSync(victim, path.join(out, name));
    const r = await runCli(["pack", "--ckpt", ckpt, "--out", out], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("export PATH=$HOME/bin:$PATH\n");
    expect(lstatSync(path.join(out, name)).isFile()).toBe(true);
    expect(outputs(out)).toEqual(["SHA256SUMS", "ckpt.tar.gz", "manifest.json"]);
    // What is there now is what pack wrote: SHA256SUMS names the archive beside it.
    const sums = readFileSync(path.join(out, "SHA256SUMS"), "utf8");
    const digest = createHash("sha256").update(readFileSync(path.join(out, "ckpt.tar.gz"))).digest("hex");
    expect(sums).toContain(`${digest}  ckpt.tar.gz`);
  });

  it("the output folder itself a link out of the project: pack writes where the link points and nowhere else", async () => {
    const real = path.join(work, "real-out");
    mkdirSync(real);
    symlinkSync(real, path.join(work, "linked-out"));
    const r = await runCli(["pack", "--ckpt", ckpt, "--out", "linked-out"], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(outputs(real)).toEqual(["SHA256SUMS", "ckpt.tar.gz", "manifest.json"]);
  });
});

describe("unpack: bounded whatever the archive", () => {
  it("a valid archive of 32,768 files across 4,096 folders unpacks in linear time", { timeout: 120_000 }, async () => {
    const files: Array<{ path: string; size: number; sha256: string }> = [];
    const entries: CraftedEntry[] = [];
    const data = "x";
    const sha = createHash("sha256").update(data).digest("hex");
    for (let d = 0; d < 4096; d++) {
      entries.push({ path: `ckpt/d${d}/`, type: "Directory" });
      for (let f = 0; f < 8; f++) {
        files.push({ path: `d${d}/f${f}.txt`, size: 1, sha256: sha });
        entries.push({ path: `ckpt/d${d}/f${f}.txt`, data });
      }
    }
    const manifest = JSON.stringify({ version: 1, topFolder: "ckpt", files });
    const dir = path.join(work, "many");
    mkdirSync(dir);
    const archive = craftArchive(path.join(dir, "ckpt.tar.gz"), [{ path: "manifest.json", data: manifest }, { path: "ckpt/", type: "Directory" }, ...entries]);
    const dest = path.join(work, "many-dest");
    mkdirSync(dest);
    const t0 = performance.now();
    const r = await unpackVerified(archive, dest, { sums: false });
    const ms = performance.now() - t0;
    expect(r.ok).toBe(true);
    expect(readdirSync(path.join(dest, "d4095"))).toHaveLength(8);
    // Quadratic work took 80–100 s here for this archive; linear work takes a few seconds.
    expect(ms).toBeLessThan(60_000);
  });

  it("unpack /dev/zero ends at once with a named failure, no stack trace", async () => {
    const sums = path.join(work, "zero.SHA256SUMS");
    writeFileSync(sums, `${"0".repeat(64)}  zero\n`);
    const r = await runCli(["unpack", "/dev/zero", "--out", "zero-dest", "--sums", sums], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain("zero: more than 1 MiB of data follows the end of the archive");
    noStackTrace(r.stdout + r.stderr);
    expect(existsSync(path.join(work, "zero-dest")) ? readdirSync(path.join(work, "zero-dest")) : []).toEqual([]);
  });
});

describe("config strings that reach file formats", () => {
  const project = (name: string, config: object) => {
    const dir = path.join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "release.config.json"), JSON.stringify({ checkpoint: ckpt, hub: { repoId: "azbert/fixture" }, ...config }));
    return dir;
  };

  it.each([
    ["a newline that would forge a SHA256SUMS line", "ckpt.tar.gz\n0000000000000000000000000000000000000000000000000000000000000000  evil.tar.gz"],
    ["a path out of the output folder", "../../escaped.tar.gz"],
    ["a folder", "sub/ckpt.tar.gz"],
  ])("github.archive with %s: refused by the dry run and by pack alike (exit 2), nothing written", async (_what, archive) => {
    const dir = project(`archive-${createHash("sha256").update(archive).digest("hex").slice(0, 8)}`, { github: { archive } });
    for (const args of [["release", "--dry-run"], ["pack"]]) {
      const r = await runCli(args, { cwd: dir });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/github\.archive|\/github\/archive/);
      noStackTrace(r.stderr);
    }
    expect(existsSync(path.join(work, "escaped.tar.gz")) || existsSync(path.join(path.dirname(work), "escaped.tar.gz"))).toBe(false);
    expect(readdirSync(dir)).toEqual(["release.config.json"]);
  });
});

describe("convert --out a place that is no folder", () => {
  it.each([
    ["an existing file", () => {
      const f = path.join(work, "a-file");
      writeFileSync(f, "mine");
      return f;
    }],
    ["/proc/self", () => "/proc/self"],
  ])("%s: a named failure, no stack trace, nothing overwritten", async (_what, target) => {
    const out = target();
    const r = await runCli(["convert", "--ckpt", ckpt, "--out", out], { cwd: work });
    expect([1, 2]).toContain(r.code);
    expect(r.stderr).toContain(out);
    noStackTrace(r.stderr);
    if (out !== "/proc/self") expect(readFileSync(out, "utf8")).toBe("mine");
  });
});
