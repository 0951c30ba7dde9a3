// The release journal as a user meets it: where it lives, what a rerun resumes from, what it sets
// aside (another tag, other bytes, an older format, a torn file), how a write that cannot happen
// is reported, and the record of proven Hub objects kept beside it. Real git repositories.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Address } from "../../../src/release/address.js";
import { Journal, JournalError, journaled, manifestDigest, ProvenObjects } from "../../../src/release/journal.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function repo(): string {
  const d = realpathSync(mkdtempSync(path.join(os.tmpdir(), "azbert-journal-unit-")));
  dirs.push(d);
  execFileSync("git", ["init", "-q", d]);
  return d;
}
const releaseDir = (cwd: string): string => path.join(cwd, ".git", "azbert-release");
const readJson = (file: string): { version: number; tag: string; manifestDigest: string; entries: { step: string; at: string }[] } =>
  JSON.parse(readFileSync(file, "utf8"));

const HUB: Address = { kind: "hub", endpoint: "https://hub.test", repoId: "org/model", revision: "main", transport: "api", mode: "commit" };
const GITHUB: Address = { kind: "github", apiUrl: "https://api.github.test", repository: "org/model" };
const FILES = [{ path: "config.json", size: 2, sha256: "a".repeat(64), source: "/x" }];
const DIGEST = manifestDigest(FILES);
const tagResult = (commit: string) => ({ tag: "v1.0.0", commit, url: `https://hub.test/org/model/commit/${commit}` });

describe("where the journal lives", () => {
  it("is a file named after the tag in .git/azbert-release/, never in the work tree", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.2.3-rc_1", DIGEST);
    expect(j.file).toBe(path.join(releaseDir(cwd), "journal-v1.2.3-rc_1.json"));
    expect(existsSync(j.file)).toBe(true);
    expect(execFileSync("git", ["status", "--porcelain"], { cwd, encoding: "utf8" })).toBe("");
  });

  it("keeps a tag with slashes or spaces in one file directly in that folder", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "release/v1 final", DIGEST);
    expect(path.dirname(j.file)).toBe(releaseDir(cwd));
    expect(readdirSync(releaseDir(cwd))).toEqual([path.basename(j.file)]);
    expect(path.basename(j.file)).not.toMatch(/[/ ]/);
    expect(readJson(j.file).tag).toBe("release/v1 final");
  });

  it("is the same journal from any folder of the clone", async () => {
    const cwd = repo();
    await (await Journal.open(cwd, "v1.0.0", DIGEST)).record("hub-tag", HUB, tagResult("1".repeat(40)));
    mkdirSync(path.join(cwd, "sub", "deeper"), { recursive: true });
    const again = await Journal.open(path.join(cwd, "sub", "deeper"), "v1.0.0", DIGEST);
    expect(again.get("hub-tag", HUB)?.result.commit).toBe("1".repeat(40));
  });

  it("is written as soon as it is opened, before any step has run", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    const text = readFileSync(j.file, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    expect(JSON.parse(text)).toEqual({ version: 3, tag: "v1.0.0", manifestDigest: DIGEST, entries: [] });
  });
});

describe("what a rerun resumes from", () => {
  it("records each step with when it finished, and a rerun of the same tag and bytes sees it", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    const before = Date.now();
    await j.record("verify", GITHUB, { releaseAssets: ["ckpt.tar.gz"] });
    const after = Date.now();
    const at = Date.parse(j.get("verify", GITHUB)!.at);
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(after + 1);
    const again = await Journal.open(cwd, "v1.0.0", DIGEST);
    expect(again.get("verify", GITHUB)).toMatchObject({ step: "verify", destination: GITHUB, result: { releaseAssets: ["ckpt.tar.gz"] } });
    expect(again.get("hub-tag", GITHUB)).toBeUndefined(); // another step at the same place
  });

  it("recording a step again replaces it and keeps the other steps of that destination", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", HUB, tagResult("1".repeat(40)));
    await j.record("verify", HUB, { hubFilesChecked: 3 });
    await j.record("hub-tag", HUB, tagResult("2".repeat(40)));
    expect(j.get("verify", HUB)?.result.hubFilesChecked).toBe(3);
    expect(readJson(j.file).entries.map((e) => e.step).sort()).toEqual(["hub-tag", "verify"]);
    expect((await Journal.open(cwd, "v1.0.0", DIGEST)).get("hub-tag", HUB)?.result.commit).toBe("2".repeat(40));
  });

  it("forgetting a destination is kept: a rerun runs those steps again", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", HUB, tagResult("1".repeat(40)));
    await j.record("verify", HUB, { hubFilesChecked: 3 });
    await j.record("verify", GITHUB, { releaseAssets: ["ckpt.tar.gz"] });
    await j.forget(HUB, ["verify"]);
    let again = await Journal.open(cwd, "v1.0.0", DIGEST);
    expect([again.get("hub-tag", HUB) !== undefined, again.get("verify", HUB), again.get("verify", GITHUB) !== undefined]).toEqual([true, undefined, true]);
    await again.forget(HUB);
    again = await Journal.open(cwd, "v1.0.0", DIGEST);
    expect([again.get("hub-tag", HUB), again.get("verify", GITHUB) !== undefined]).toEqual([undefined, true]);
  });

  it("journaled: a step that ran is recorded before it returns, and its wall time is reported", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    const t0 = performance.now();
    const r = await journaled(j, "verify", HUB, async () => {
      await new Promise((res) => setTimeout(res, 40));
      return { status: "unchanged" as const, result: { hubFilesChecked: 7 } };
    });
    const elapsed = performance.now() - t0;
    expect(r).toMatchObject({ id: "verify", status: "unchanged", hubFilesChecked: 7 });
    expect(Number.isInteger(r.ms)).toBe(true);
    expect(r.ms!).toBeGreaterThanOrEqual(30);
    expect(r.ms!).toBeLessThanOrEqual(Math.ceil(elapsed) + 1);
    // Recorded on disk: a run killed right after this step resumes after it.
    const again = await Journal.open(cwd, "v1.0.0", DIGEST);
    const skipped = await journaled(again, "verify", HUB, async () => {
      throw new Error("must not run again");
    });
    expect(skipped).toMatchObject({ id: "verify", status: "skipped", hubFilesChecked: 7, message: `done in an earlier run (${again.get("verify", HUB)!.at})` });
    expect(skipped.ms).toBeUndefined();
  });

  it("the dry run reads what was recorded without writing anything", async () => {
    const cwd = repo();
    expect(await Journal.read(cwd, "v1.0.0", DIGEST)).toBeUndefined();
    expect(existsSync(releaseDir(cwd))).toBe(false); // reading never creates the journal
    await (await Journal.open(cwd, "v1.0.0", DIGEST)).record("hub-tag", HUB, tagResult("1".repeat(40)));
    const before = readFileSync(Journal.fileFor(path.join(cwd, ".git"), "v1.0.0"), "utf8");
    const seen = await Journal.read(path.join(cwd), "v1.0.0", DIGEST);
    expect(seen?.get("hub-tag", HUB)?.result.commit).toBe("1".repeat(40));
    expect(seen?.file).toBe(path.join(releaseDir(cwd), "journal-v1.0.0.json"));
    expect(readFileSync(seen!.file, "utf8")).toBe(before);
  });
});

describe("what a rerun sets aside", () => {
  it("the digest covers each file's path, size and sha256, not where it was read from", () => {
    expect(manifestDigest([{ ...FILES[0]!, source: "/elsewhere" }])).toBe(DIGEST);
    expect(manifestDigest([{ ...FILES[0]!, size: 3 }])).not.toBe(DIGEST);
    expect(manifestDigest([{ ...FILES[0]!, sha256: "b".repeat(64) }])).not.toBe(DIGEST);
    expect(manifestDigest([{ ...FILES[0]!, path: "model.json" }])).not.toBe(DIGEST);
    expect(DIGEST).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a journal of another manifest is not resumed, and the new release replaces it", async () => {
    const cwd = repo();
    await (await Journal.open(cwd, "v1.0.0", DIGEST)).record("hub-tag", HUB, tagResult("1".repeat(40)));
    const otherDigest = manifestDigest([{ ...FILES[0]!, size: 3 }]);
    const other = await Journal.open(cwd, "v1.0.0", otherDigest);
    expect(other.get("hub-tag", HUB)).toBeUndefined();
    expect(readJson(other.file)).toMatchObject({ manifestDigest: otherDigest, entries: [] });
    expect(await Journal.read(cwd, "v1.0.0", DIGEST)).toBeUndefined();
  });

  it("two tags whose file names coincide never read each other's steps", async () => {
    const cwd = repo();
    const a = await Journal.open(cwd, "release/1", DIGEST);
    await a.record("hub-tag", HUB, tagResult("1".repeat(40)));
    const b = await Journal.open(cwd, "release_1", DIGEST);
    expect(b.file).toBe(a.file); // the same file on disk...
    expect(b.get("hub-tag", HUB)).toBeUndefined(); // ...but another release
    expect(await Journal.read(cwd, "release/1", DIGEST)).toBeUndefined();
  });

  it.each([
    ["a journal of an older format", (j: Record<string, unknown>) => ({ ...j, version: 2 })],
    ["a journal whose entries are not a list", (j: Record<string, unknown>) => ({ ...j, entries: { 0: j.entries } })],
    ["a journal without entries", (j: Record<string, unknown>) => ({ version: j.version, tag: j.tag, manifestDigest: j.manifestDigest })],
  ])("%s starts a fresh release", async (_name, change) => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", HUB, tagResult("1".repeat(40)));
    writeFileSync(j.file, JSON.stringify(change(JSON.parse(readFileSync(j.file, "utf8")) as Record<string, unknown>)));
    expect(await Journal.read(cwd, "v1.0.0", DIGEST)).toBeUndefined();
    const again = await Journal.open(cwd, "v1.0.0", DIGEST);
    expect(again.get("hub-tag", HUB)).toBeUndefined();
    expect(readJson(again.file)).toEqual({ version: 3, tag: "v1.0.0", manifestDigest: DIGEST, entries: [] });
  });

  it("survives a torn write: a half-written journal is set aside and replaced by a whole one", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", HUB, tagResult("1".repeat(40)));
    const text = readFileSync(j.file, "utf8");
    writeFileSync(j.file, text.slice(0, Math.floor(text.length / 2)));
    expect(await Journal.read(cwd, "v1.0.0", DIGEST)).toBeUndefined();
    const again = await Journal.open(cwd, "v1.0.0", DIGEST);
    expect(again.get("hub-tag", HUB)).toBeUndefined();
    await again.record("verify", HUB, { hubFilesChecked: 1 });
    expect(readJson(again.file).entries.map((e) => e.step)).toEqual(["verify"]);
    expect(readdirSync(releaseDir(cwd))).toEqual(["journal-v1.0.0.json"]); // no temporary file left
  });
});

describe("a journal that cannot be written", () => {
  it("opening fails with a JournalError naming the file when .git/azbert-release cannot be a folder", async () => {
    const cwd = repo();
    writeFileSync(releaseDir(cwd), "in the way");
    const err = await Journal.open(cwd, "v1.0.0", DIGEST).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JournalError);
    const file = path.join(releaseDir(cwd), "journal-v1.0.0.json");
    expect((err as JournalError).message).toMatch(new RegExp(`^cannot write the release journal ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*(EEXIST|ENOTDIR)`));
    expect((err as JournalError).exitCode).toBe(1);
    expect((err as JournalError).cause).toBeInstanceOf(Error);
  });

  it("recording fails with a JournalError when the journal's place is taken by a folder", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    rmSync(j.file);
    mkdirSync(j.file);
    await expect(j.record("hub-tag", HUB, tagResult("1".repeat(40)))).rejects.toThrow(JournalError);
    await expect(j.forget(HUB)).rejects.toThrow(/^cannot write the release journal .*journal-v1\.0\.0\.json: /);
  });

  it("outside a repository: the error says so and names the folder", async () => {
    const d = realpathSync(mkdtempSync(path.join(os.tmpdir(), "azbert-nojournal-unit-")));
    dirs.push(d);
    const err = await Journal.requireRepository(d).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JournalError);
    expect((err as Error).message.startsWith(`${d} is not inside a git repository`)).toBe(true);
    await expect(ProvenObjects.open(d, { endpoint: "https://hub.test", repoId: "org/model" })).rejects.toThrow(JournalError);
  });
});

describe("the objects a destination proved", () => {
  const A = "a".repeat(64);
  const B = "b".repeat(64);

  it("are kept per Hub repository, beside the journals, whatever the endpoint's trailing slash", async () => {
    const cwd = repo();
    const p = await ProvenObjects.open(cwd, { endpoint: "https://hub.test", repoId: "org/model" });
    expect(p.objects.size).toBe(0);
    await p.add([
      { sha256: A, size: 10 },
      { sha256: B, size: 20 },
    ]);
    expect(path.dirname(p.file)).toBe(releaseDir(cwd));
    expect(path.basename(p.file)).toMatch(/^proven-[0-9a-f]+\.json$/);
    const again = await ProvenObjects.open(cwd, { endpoint: "https://hub.test//", repoId: "org/model" });
    expect(again.file).toBe(p.file);
    expect([...again.objects].sort()).toEqual([
      [A, 10],
      [B, 20],
    ]);
    expect((await ProvenObjects.open(cwd, { endpoint: "https://hub.test", repoId: "org/other" })).objects.size).toBe(0);
    expect((await ProvenObjects.open(cwd, { endpoint: "https://other.test", repoId: "org/model" })).objects.size).toBe(0);
    expect(readdirSync(releaseDir(cwd)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("adding keeps what was proven before", async () => {
    const cwd = repo();
    const repoAt = { endpoint: "https://hub.test", repoId: "org/model" };
    await (await ProvenObjects.open(cwd, repoAt)).add([{ sha256: A, size: 10 }]);
    await (await ProvenObjects.open(cwd, repoAt)).add([{ sha256: B, size: 20 }]);
    expect(Object.fromEntries((await ProvenObjects.open(cwd, repoAt)).objects)).toEqual({ [A]: 10, [B]: 20 });
  });

  it("a damaged record proves nothing: entries that are not a sha256 and a whole size are dropped", async () => {
    const cwd = repo();
    const repoAt = { endpoint: "https://hub.test", repoId: "org/model" };
    const p = await ProvenObjects.open(cwd, repoAt);
    await p.add([{ sha256: A, size: 10 }]);
    const file = p.file;
    writeFileSync(file, JSON.stringify({ version: 1, objects: { [A]: 10, [B]: 2.5, ["C".repeat(64)]: 1, [`${A}0`]: 1, [`x${A.slice(1)}`]: 1, short: 3 } }));
    expect(Object.fromEntries((await ProvenObjects.open(cwd, repoAt)).objects)).toEqual({ [A]: 10 });
    writeFileSync(file, JSON.stringify({ version: 2, objects: { [A]: 10 } }));
    expect((await ProvenObjects.open(cwd, repoAt)).objects.size).toBe(0);
    writeFileSync(file, JSON.stringify({ version: 1 }));
    expect((await ProvenObjects.open(cwd, repoAt)).objects.size).toBe(0);
    writeFileSync(file, '{"version": 1, "objects": {');
    expect((await ProvenObjects.open(cwd, repoAt)).objects.size).toBe(0);
  });
});
