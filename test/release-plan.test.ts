// The dry run catches what the real run would trip on, and says what a rerun would do: a Hub tag
// taken by another commit fails the plan (naming the tag and the commit), a no-op rerun's plan
// says "already tagged" and "release up to date", and a bad output folder is a usage error
// before any check runs.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanups, git, makeProject, REPO_ID, snapshot, TAG } from "./helpers/release-project.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("the release plan", () => {
  it("a Hub tag already at another commit fails the dry run, naming the tag and the commit; the real run writes nothing", async () => {
    const p = await makeProject();
    await p.hub.createRepo(REPO_ID);
    const old = (await p.hub.store.commit(REPO_ID, "main", { summary: "an old release" }, [{ kind: "file", path: "notes.txt", content: Buffer.from("old\n") }])).commitOid;
    await p.hub.store.createTag(REPO_ID, TAG, old);
    const dry = await p.release("--dry-run");
    expect(dry.code, dry.stdout).toBe(1);
    expect(dry.stdout).toContain(`CONFLICT: tag ${TAG} already exists on ${REPO_ID} at ${old.slice(0, 12)}, not at the commit this release would tag`);
    expect(dry.stdout).not.toMatch(/would tag the commit/);
    expect(dry.stdout).toMatch(new RegExp(`release\\.hub-tag-conflict: tag ${TAG.replace(/\./g, "\\.")} already exists on ${REPO_ID} at ${old.slice(0, 12)}, not at the commit this release would tag: bump the version`));
    const before = snapshot(p);
    const real = await p.release("--yes");
    expect(real.code).toBe(1);
    expect(real.stdout).toMatch(/Nothing was published/);
    const after = snapshot(p);
    expect([after.hubWrites, after.hubRefs, after.githubWrites, after.originRefs]).toEqual([before.hubWrites, before.hubRefs, before.githubWrites, before.originRefs]);
  });

  it("after a release, a rerun's plan says already tagged, release up to date, nothing to push", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const hubHead = git(p.hub.repoDir(REPO_ID), "rev-parse", "main");
    const dry = await p.release("--dry-run");
    expect(dry.code, dry.stdout).toBe(0);
    expect(dry.stdout).toMatch(/nothing to change, no commit/);
    expect(dry.stdout).toContain(`already tagged: ${TAG} → ${hubHead.slice(0, 12)}`);
    expect(dry.stdout).toMatch(new RegExp(`release up to date: ${TAG.replace(/\./g, "\\.")} of azbert/azbert is published with these very assets`));
    expect(dry.stdout).toMatch(/unchanged: refs\/tags\/v1\.2\.0/);
    expect(dry.stdout).not.toMatch(/would tag|would update|would push|would create/);
    // The Hub moved on since (someone committed on top): the recorded tag is still this release's, not a conflict.
    await p.hub.store.commit(REPO_ID, "main", { summary: "a later edit" }, [{ kind: "file", path: "notes.txt", content: Buffer.from("later\n") }]);
    const later = await p.release("--dry-run");
    expect(later.code, later.stdout).toBe(0);
    expect(later.stdout).toContain(`already tagged: ${TAG} → ${hubHead.slice(0, 12)}`);
  });

  it("github.outDir inside the checkpoint, or holding other files, is a usage error in the dry run as in the release", async () => {
    const p = await makeProject();
    const cfgPath = path.join(p.work, "release.config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as { github: Record<string, unknown> };
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, github: { ...cfg.github, outDir: "ckpt/out" } }));
    for (const args of [["--dry-run"], ["--yes"]]) {
      const r = await p.release(...args);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stderr).toMatch(/github\.outDir ckpt\/out is inside the checkpoint folder/);
      expect(r.stdout).toBe(""); // before any check ran
    }
    writeFileSync(cfgPath, JSON.stringify(cfg));
    mkdirSync(path.join(p.work, "out"));
    writeFileSync(path.join(p.work, "out", "notes.txt"), "mine\n");
    const r = await p.release("--dry-run");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/github\.outDir out holds files pack did not write \(notes\.txt\)/);
  });
});
