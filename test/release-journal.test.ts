// The release journal: what a release has done, keyed by step and destination, kept in .git/ and
// never holding a secret. Seconds, not minutes: real git repositories, no servers.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Address } from "../src/release/destination.js";
import { Journal, JournalError, journaled, manifestDigest } from "../src/release/journal.js";
import { registerSecret } from "../src/util/redact.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function repo(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), "azbert-journal-"));
  dirs.push(d);
  execFileSync("git", ["init", "-q", d]);
  return d;
}

const HUB: Address = { kind: "hub", endpoint: "https://hub.test", repoId: "org/model", revision: "main", transport: "api", mode: "commit" };
const SCRATCH: Address = { ...HUB, repoId: "org/scratch" };
const GITHUB: Address = { kind: "github", apiUrl: "https://api.github.test", repository: "org/model" };
const DIGEST = manifestDigest([{ path: "config.json", size: 2, sha256: "a".repeat(64), source: "/x" }]);
const tagResult = (commit: string) => ({ tag: "v1.0.0", commit, url: `https://hub.test/org/model/commit/${commit}` });

describe("the release journal", () => {
  it("keeps each step per destination: a release to one repo says nothing about another", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", SCRATCH, tagResult("1".repeat(40)));
    expect(j.get("hub-tag", SCRATCH)?.result.commit).toBe("1".repeat(40));
    expect(j.get("hub-tag", HUB)).toBeUndefined();
    await j.record("hub-tag", HUB, tagResult("2".repeat(40)));
    await j.record("hub-tag", HUB, tagResult("3".repeat(40)));
    expect(j.get("hub-tag", HUB)?.result.commit).toBe("3".repeat(40)); // recorded again: replaced, not added
    const again = await Journal.open(cwd, "v1.0.0", DIGEST);
    expect([again.get("hub-tag", SCRATCH)?.result.commit, again.get("hub-tag", HUB)?.result.commit]).toEqual(["1".repeat(40), "3".repeat(40)]);
  });

  it("a journal of other bytes is set aside: a rerun with another checkpoint is a new release", async () => {
    const cwd = repo();
    await (await Journal.open(cwd, "v1.0.0", DIGEST)).record("hub-tag", HUB, tagResult("1".repeat(40)));
    const other = await Journal.open(cwd, "v1.0.0", manifestDigest([]));
    expect(other.get("hub-tag", HUB)).toBeUndefined();
    // The dry run reads without writing: nothing is recorded for those bytes, and the file is not touched.
    const file = other.file;
    const before = readFileSync(file, "utf8");
    expect(await Journal.read(cwd, "v1.0.0", DIGEST)).toBeUndefined();
    expect(readFileSync(file, "utf8")).toBe(before);
  });

  it("forgets a destination wholly or only some of its steps", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", HUB, tagResult("1".repeat(40)));
    await j.record("verify", HUB, { hubFilesChecked: 3 });
    await j.record("verify", GITHUB, { releaseAssets: ["ckpt.tar.gz"] });
    await j.forget(HUB, ["verify"]);
    expect([j.get("hub-tag", HUB) !== undefined, j.get("verify", HUB), j.get("verify", GITHUB) !== undefined]).toEqual([true, undefined, true]);
    await j.forget(HUB);
    expect(j.get("hub-tag", HUB)).toBeUndefined();
    expect(j.get("verify", GITHUB)).toBeDefined();
  });

  it("journaled: a recorded step is reported skipped with what it produced, and never run again", async () => {
    const cwd = repo();
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    let runs = 0;
    const step = () => journaled(j, "hub-tag", HUB, async () => (runs++, { status: "done" as const, result: tagResult("4".repeat(40)) }));
    expect(await step()).toMatchObject({ id: "hub-tag", status: "done", commit: "4".repeat(40) });
    expect(await step()).toMatchObject({ id: "hub-tag", status: "skipped", commit: "4".repeat(40), message: expect.stringMatching(/^done in an earlier run \(20\d\d-/) });
    expect(runs).toBe(1);
    // A step that failed records nothing.
    await expect(journaled(j, "verify", HUB, async () => Promise.reject(new Error("503")))).rejects.toThrow("503");
    expect(j.get("verify", HUB)).toBeUndefined();
  });

  it("never holds a secret, whatever a server echoed into a result; and is replaced whole at each write", async () => {
    const cwd = repo();
    const secret = "hf_journalSecretToken0123456789abcdef";
    registerSecret(secret);
    const j = await Journal.open(cwd, "v1.0.0", DIGEST);
    await j.record("hub-tag", HUB, { tag: "v1.0.0", commit: "5".repeat(40), url: `https://hub.test/x?token=${secret}` });
    const text = readFileSync(j.file, "utf8");
    expect(text).not.toContain(secret);
    expect(JSON.parse(text)).toMatchObject({ version: 3, tag: "v1.0.0", manifestDigest: DIGEST });
    expect(readdirSync(path.dirname(j.file)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("outside a git repository: an error saying where the journal lives and what to do", async () => {
    const d = mkdtempSync(path.join(os.tmpdir(), "azbert-nojournal-"));
    dirs.push(d);
    writeFileSync(path.join(d, "x"), "");
    await expect(Journal.open(d, "v1.0.0", DIGEST)).rejects.toBeInstanceOf(JournalError);
    await expect(Journal.requireRepository(d)).rejects.toThrow(/is not inside a git repository: a release keeps its journal in \.git\/azbert-release\//);
    expect(await Journal.read(d, "v1.0.0", DIGEST)).toBeUndefined();
    expect(existsSync(path.join(d, ".git"))).toBe(false);
  });
});
