import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  resolveReleaseTag,
  runGitPreflight,
  verifyInsideWorkTree,
  verifyNoLargeFilesToPush,
  verifyNotBehindRemote,
  verifyReleaseBranch,
  verifyReleaseTagIsFree,
  verifyRemoteExists,
  verifyTagMatchesVersion,
  verifyWorkingTreeIsClean,
} from "../src/git/index.js";
import { commitFile, git, useRepos, write } from "./git-helpers.js";

const repo = useRepos();

describe("git preflight", () => {
  it("passes on a clean, up-to-date release clone (untracked checkpoint folder ignored)", async () => {
    const { work } = repo();
    write(work, "ckpt/pytorch_model.bin", "weights");
    write(work, "ckpt/config.json", "{}");
    const tag = await resolveReleaseTag({ cwd: work });
    expect(tag).toEqual({ tag: "v0.1.0", source: "package.json", packageVersion: "0.1.0" });
    const checks = await runGitPreflight({ cwd: work, tag, ignorePaths: ["ckpt"] });
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["git.repo", "pass"],
      ["git.remote", "pass"],
      ["git.clean", "pass"],
      ["git.branch", "pass"],
      ["git.upstream", "pass"],
      ["git.tag-version", "pass"],
      ["git.tag", "pass"],
      ["git.large-files", "pass"],
    ]);
  });

  it("dirty tree: says what to commit or stash", async () => {
    const { work } = repo();
    write(work, "src/a.ts", "export const a = 2;\n");
    write(work, "README.md", "# changed\n");
    const r = await verifyWorkingTreeIsClean({ cwd: work });
    expect(r.status).toBe("fail");
    expect(r.message).toBe("commit or stash: 2 files changed (README.md, src/a.ts)");
  });

  it("untracked files: count as dirty unless inside an ignored (untracked checkpoint) folder", async () => {
    const { work } = repo();
    write(work, "ckpt/vocab.txt", "a\n");
    expect((await verifyWorkingTreeIsClean({ cwd: work })).message).toBe("commit or stash: 1 untracked (ckpt/vocab.txt)");
    expect((await verifyWorkingTreeIsClean({ cwd: work, ignorePaths: ["ckpt"] })).status).toBe("pass");
    expect((await verifyWorkingTreeIsClean({ cwd: work, ignorePaths: [path.join(work, "ckpt/")] })).status).toBe("pass");
    // A tracked change inside the ignored folder still counts; so does an untracked file elsewhere.
    write(work, "ckpt2/x", "y");
    const r = await verifyWorkingTreeIsClean({ cwd: path.join(work, "src"), ignorePaths: ["../ckpt"] });
    expect(r.message).toBe("commit or stash: 1 untracked (ckpt2/x)");
  });

  it("wrong branch: says which branch to check out", async () => {
    const { work } = repo();
    git(work, "checkout", "-q", "-b", "feature");
    const r = await verifyReleaseBranch({ cwd: work });
    expect(r).toMatchObject({ id: "git.branch", status: "fail" });
    expect(r.message).toBe("on branch feature, not the release branch main: `git checkout main` (or set the release branch in the config)");
    expect((await verifyReleaseBranch({ cwd: work, branch: "feature" })).status).toBe("pass");
  });

  it("detached HEAD (CI building a tag) passes when HEAD is on the release branch", async () => {
    const { work } = repo();
    git(work, "checkout", "-q", "--detach", "HEAD");
    expect(await verifyReleaseBranch({ cwd: work })).toMatchObject({ status: "pass", message: expect.stringMatching(/^detached HEAD [0-9a-f]{7} is on main$/) });
    git(work, "checkout", "-q", "-b", "side");
    commitFile(work, "side.txt", "x");
    git(work, "checkout", "-q", "--detach", "HEAD");
    expect((await verifyReleaseBranch({ cwd: work })).message).toMatch(/^HEAD is detached at [0-9a-f]{7}, which is not on main: `git checkout main`$/);
  });

  it("behind its upstream after a fetch: says to pull; offline skips", async () => {
    const f = repo();
    const other = f.other();
    for (let i = 0; i < 3; i++) commitFile(other, `n${i}.txt`, `${i}`);
    git(other, "push", "-q", "origin", "main");
    expect(await verifyNotBehindRemote({ cwd: f.work, offline: true })).toMatchObject({ status: "skip", message: "offline: origin/main not fetched" });
    const r = await verifyNotBehindRemote({ cwd: f.work });
    expect(r).toMatchObject({ id: "git.upstream", status: "fail", message: "run `git pull` — main is 3 commits behind origin/main" });
    // CI building an older tag of main: detached at a commit the branch has moved past is fine.
    git(f.work, "checkout", "-q", "--detach", "HEAD");
    expect(await verifyNotBehindRemote({ cwd: f.work })).toMatchObject({ status: "pass", message: "detached HEAD (a tag build) is on origin/main, 3 commits behind its tip" });
    git(f.work, "checkout", "-q", "main");
    commitFile(f.work, "mine.txt", "m");
    expect((await verifyNotBehindRemote({ cwd: f.work })).message).toBe(
      "main and origin/main have diverged (1 ahead, 3 behind): `git pull --rebase`, then release",
    );
    git(f.work, "pull", "-q", "--rebase", "origin", "main");
    expect(await verifyNotBehindRemote({ cwd: f.work })).toMatchObject({ status: "pass", message: "1 commit ahead of origin/main: they will be pushed" });
  });

  it("an unreachable remote fails with a hint to use --offline", async () => {
    const f = repo();
    git(f.work, "remote", "set-url", "origin", path.join(f.root, "gone.git"));
    const r = await verifyNotBehindRemote({ cwd: f.work });
    expect(r.status).toBe("fail");
    expect(r.message).toMatch(/^cannot fetch main from origin: .* — check the network and credentials, or use --offline$/);
  });

  it("release tag already on the remote elsewhere: fails; at HEAD (a rerun): passes", async () => {
    const f = repo();
    const other = f.other();
    git(other, "tag", "v0.1.0");
    git(other, "push", "-q", "origin", "v0.1.0");
    commitFile(f.work, "next.txt", "n");
    const r = await verifyReleaseTagIsFree({ cwd: f.work, tag: "v0.1.0" });
    expect(r.status).toBe("fail");
    expect(r.message).toMatch(/^tag v0\.1\.0 already exists on origin at [0-9a-f]{7}, not at HEAD \([0-9a-f]{7}\): a released tag is never moved — bump the version in package.json$/);
    // offline: only the local tags are looked at
    expect((await verifyReleaseTagIsFree({ cwd: f.work, tag: "v0.1.0", offline: true })).status).toBe("pass");

    const g = repo();
    git(g.work, "tag", "-a", "v0.1.0", "-m", "release");
    git(g.work, "push", "-q", "origin", "v0.1.0");
    expect(await verifyReleaseTagIsFree({ cwd: g.work, tag: "v0.1.0" })).toMatchObject({ status: "pass", message: "v0.1.0 is already on origin at HEAD (pushed by an earlier run or by you)" });
    // A CI tag build: the tag on the remote is what started the build, the normal path.
    expect(await verifyReleaseTagIsFree({ cwd: g.work, tag: "v0.1.0", source: "ci" })).toMatchObject({ status: "pass", message: "v0.1.0 on origin is the tag this CI run builds, at HEAD" });
  });

  it("release tag already local elsewhere: says how to fix it", async () => {
    const f = repo();
    git(f.work, "tag", "v0.1.0");
    commitFile(f.work, "next.txt", "n");
    const r = await verifyReleaseTagIsFree({ cwd: f.work, tag: "v0.1.0", offline: true });
    expect(r.message).toMatch(/^tag v0\.1\.0 already exists locally at [0-9a-f]{7}, not at HEAD \([0-9a-f]{7}\): bump the version in package.json, or delete .*`git tag -d v0\.1\.0`/);
    expect((await verifyReleaseTagIsFree({ cwd: f.work, tag: "bad..tag", offline: true })).message).toMatch(/not a valid tag name/);
  });

  it("missing remote: says how to add it, and the remote checks are skipped", async () => {
    const { work } = repo();
    git(work, "remote", "rename", "origin", "upstream");
    expect((await verifyRemoteExists({ cwd: work })).message).toBe("no git remote named origin (remotes: upstream): `git remote add origin <url>` or set the remote name in the config");
    const checks = await runGitPreflight({ cwd: work, tag: await resolveReleaseTag({ cwd: work }) });
    expect(checks.find((c) => c.id === "git.upstream")?.status).toBe("skip");
    expect((await verifyRemoteExists({ cwd: work, remote: "upstream" })).status).toBe("pass");
  });

  it("redacts credentials in the remote URL", async () => {
    const { work } = repo();
    git(work, "remote", "set-url", "origin", "https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r.git");
    const r = await verifyRemoteExists({ cwd: work });
    expect(r.message).toBe("origin → https://***@github.com/o/r.git");
  });

  it("outside a work tree: fails and skips the rest", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "azbert-nogit-"));
    try {
      expect((await verifyInsideWorkTree({ cwd: dir })).status).toBe("fail");
      const checks = await runGitPreflight({ cwd: dir, tag: { tag: "v1.0.0", source: "option" } });
      expect(checks[0]).toMatchObject({ id: "git.repo", status: "fail" });
      expect(checks.slice(1).every((c) => c.status === "skip")).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("release tag: --tag, the CI tag, the config's version, package.json, the tag at HEAD; a CI tag that disagrees fails", async () => {
    const { work } = repo();
    expect(await resolveReleaseTag({ cwd: work, tag: "v9.9.9" })).toEqual({ tag: "v9.9.9", source: "option", packageVersion: "0.1.0" });
    const ci = await resolveReleaseTag({ cwd: work, env: { GITHUB_REF_TYPE: "tag", GITHUB_REF_NAME: "v0.2.0" } });
    expect(ci).toEqual({ tag: "v0.2.0", source: "ci", packageVersion: "0.1.0" });
    expect(await resolveReleaseTag({ cwd: work, env: { GITHUB_REF_TYPE: "branch", GITHUB_REF_NAME: "main" } })).toMatchObject({ tag: "v0.1.0" });
    expect(verifyTagMatchesVersion(ci)).toMatchObject({ status: "fail", message: expect.stringContaining('set "version": "0.2.0" in package.json, or release v0.1.0') });
    expect(verifyTagMatchesVersion({ tag: "v9.9.9", source: "option", packageVersion: "0.1.0" }).status).toBe("warn");
    // The config's version comes before package.json's; without either, the one v* tag at HEAD.
    expect(await resolveReleaseTag({ cwd: work, configVersion: "1.4.0" })).toEqual({ tag: "v1.4.0", source: "config", packageVersion: "0.1.0" });
    rmSync(path.join(work, "package.json"));
    await expect(resolveReleaseTag({ cwd: work })).rejects.toThrow(/no release tag: pass --tag vX\.Y\.Z, set "version" in release\.config\.json, or tag HEAD/);
    git(work, "tag", "v2.0.0");
    const head = await resolveReleaseTag({ cwd: work });
    expect(head).toEqual({ tag: "v2.0.0", source: "head" });
    expect(verifyTagMatchesVersion(head)).toMatchObject({ status: "pass", message: "v2.0.0, from the tag at HEAD; no package.json to compare with" });
    git(work, "tag", "v2.0.1");
    await expect(resolveReleaseTag({ cwd: work })).rejects.toThrow(/HEAD has several tags \(v2\.0\.0, v2\.0\.1\): pass --tag/);
  });
});

describe("files too large for GitHub in the commits to push", () => {
  /** A file of `mib` MiB that compresses to almost nothing (git packs it fast). */
  const big = (cwd: string, file: string, mib: number) => write(cwd, file, "0".repeat(mib * 1024 * 1024));

  it("lists every blob over 100 MiB in the commits the push would send, naming file, size and commit; warns at 50 MiB", async () => {
    const { work } = repo();
    big(work, "ckpt/pytorch_model.bin", 101);
    big(work, "ckpt/optimizer.pt", 120);
    big(work, "docs/figures.tar", 60);
    git(work, "add", "-A");
    git(work, "commit", "-qm", "add the checkpoint");
    const added = git(work, "rev-parse", "--short=7", "HEAD");
    const r = await verifyNoLargeFilesToPush({ cwd: work });
    expect(r.status).toBe("fail");
    expect(r.message).toContain(
      `GitHub refuses files over 100 MiB, and these are in the commits to push: ckpt/optimizer.pt (120.0 MiB, added in ${added}), ckpt/pytorch_model.bin (101.0 MiB, added in ${added}); also over 50 MiB, which GitHub warns about: docs/figures.tar (60.0 MiB, added in ${added})`,
    );
    expect(r.message).toMatch(/\.gitignore/);
    expect(r.message).toMatch(/git lfs track/);
    // In the full preflight too, so `check` and the dry run fail before the push does.
    const checks = await runGitPreflight({ cwd: work, tag: await resolveReleaseTag({ cwd: work }) });
    expect(checks.find((c) => c.id === "git.large-files")?.status).toBe("fail");
  });

  it("only files over 50 MiB warn; what the remote already has, or an ignored checkpoint, is not counted", async () => {
    const { work } = repo();
    big(work, "data/table.bin", 60);
    git(work, "add", "-A");
    git(work, "commit", "-qm", "a table");
    expect(await verifyNoLargeFilesToPush({ cwd: work })).toMatchObject({ status: "warn", message: expect.stringMatching(/^GitHub warns about files over 50 MiB, and these are in the commits to push: data\/table\.bin \(60\.0 MiB/) });
    // Once origin has the commit, there is nothing left to send.
    git(work, "push", "-q", "origin", "main");
    expect((await verifyNoLargeFilesToPush({ cwd: work })).status).toBe("pass");
    // A checkpoint kept out of git (the README's advice) is never pushed.
    write(work, ".gitignore", "ckpt/\n");
    big(work, "ckpt/pytorch_model.bin", 101);
    git(work, "add", "-A");
    git(work, "commit", "-qm", "ignore the checkpoint");
    expect((await verifyNoLargeFilesToPush({ cwd: work })).status).toBe("pass");
  });
});
