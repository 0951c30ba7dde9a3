// A release is complete or invisible. For each input that used to leave a half-made release
// behind, the release either passes fully (tag, proof, and `verify --tag` later), or fails before
// any remote write, or fails at a step with no tag anywhere and the Hub branch's tree as it was.
// Against the local Hub and GitHub, which behave as the services do today (GitHub's immutable
// releases included).
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { cleanups, expectReleased, git, makeProject, REPO_ID, snapshot, TAG, type Project } from "./helpers/release-project.js";
import { HUB_DEFAULT_GITATTRIBUTES } from "./hub-server/repo-store.js";
import { cloneWithLfs } from "./hub-helpers.js";
import { buildCorpus } from "./corpus/build.js";
import { readWeights } from "../src/checkpoint/weights.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Report {
  ok: boolean;
  outcome: string;
  error?: string;
  rerunHelps?: boolean;
  visible?: boolean;
  checks: Array<{ id: string; status: string; message?: string }>;
  steps: Array<{ id: string; status: string; message?: string; commit?: string }>;
}

const hubRepo = (p: Project) => p.hub.repoDir(REPO_ID);

/** Nothing of the release anywhere: no tag on the Hub, origin or GitHub, no release, the Hub branch as the repo began, no staging branch. */
function expectInvisible(p: Project) {
  if (existsSync(hubRepo(p))) {
    expect(git(hubRepo(p), "tag", "-l")).toBe("");
    expect(git(hubRepo(p), "log", "--format=%s", "main")).toBe("initial commit");
    expect(git(hubRepo(p), "for-each-ref", "--format=%(refname)", "refs/heads/")).toBe("refs/heads/main");
  }
  expect(git(p.origin, "tag", "-l")).toBe("");
  expect(p.gh.releases.size).toBe(0);
}

/** What the release run wrote to the remotes: nothing, for a failure before the first remote write. */
function expectNoRemoteWrite(p: Project, before: ReturnType<typeof snapshot>) {
  const after = snapshot(p);
  expect([after.hubWrites, after.hubRefs, after.githubWrites, after.originRefs]).toEqual([before.hubWrites, before.hubRefs, before.githubWrites, before.originRefs]);
}

function commitAll(p: Project, message: string) {
  git(p.work, "add", "-A");
  git(p.work, "commit", "-qm", message);
  git(p.work, "push", "-q", "origin", "main");
}

describe("a release is complete or invisible", () => {
  it("a checkpoint that carries the Hub's own .gitattributes (downloaded from the Hub) releases fully, and verify --tag proves it later", async () => {
    const p = await makeProject();
    writeFileSync(path.join(p.work, "ckpt", ".gitattributes"), HUB_DEFAULT_GITATTRIBUTES);
    commitAll(p, "the checkpoint as downloaded from the Hub");
    const r = await p.release("--yes");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectReleased(p);
    // manifest.json lists the model's files, not the repo's plumbing; the Hub's .gitattributes starts from the checkpoint's.
    const clone = await cloneWithLfs(hubRepo(p));
    cleanups.push(() => rmSync(clone, { recursive: true, force: true }));
    const listed = (JSON.parse(readFileSync(path.join(clone, "manifest.json"), "utf8")) as { files: Array<{ path: string }> }).files.map((f) => f.path);
    expect(listed).not.toContain(".gitattributes");
    expect(readFileSync(path.join(clone, ".gitattributes"), "utf8").startsWith(HUB_DEFAULT_GITATTRIBUTES)).toBe(true);
    const later = await runCli(["verify", "--tag", TAG], { cwd: p.work, env: { ...p.env, HF_TOKEN: "", GITHUB_TOKEN: "" } });
    expect(later.code, later.stdout + later.stderr).toBe(0);
  });

  it("a .lfsconfig in the checkpoint (git-lfs would obey it and send the weights elsewhere) fails before any remote write, naming it", async () => {
    const p = await makeProject();
    writeFileSync(path.join(p.work, "ckpt", ".lfsconfig"), "[lfs]\n\turl = https://lfs.elsewhere.test/objects\n");
    commitAll(p, "an lfs config came with the checkpoint");
    const before = snapshot(p);
    for (const args of [["--dry-run"], ["--yes"], ["--yes", "--transport", "git"]]) {
      const r = await p.release(...args, "--json");
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const check = (JSON.parse(r.stdout) as Report).checks.find((c) => c.id === "files.git-config");
      expect([check?.status, check?.message]).toEqual(["fail", expect.stringMatching(/\.lfsconfig/)]);
    }
    expectNoRemoteWrite(p, before);
  });

  it("token_type_embeddings saved as a view of the word embeddings' storage: model.safetensors holds it, and the release passes fully", async () => {
    const p = await makeProject();
    const view = (await buildCorpus()).find((c) => c.id === "folder/token-type-view")!;
    writeFileSync(path.join(p.work, "ckpt", "pytorch_model.bin"), (view.files as Record<string, Buffer>)["pytorch_model.bin"]!);
    // The view changes the predictions: the sample's expected tokens no longer hold, the NaN and shape checks do.
    const cfgPath = path.join(p.work, "release.config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as { smoke: Record<string, unknown> };
    delete cfg.smoke.expectations;
    writeFileSync(cfgPath, JSON.stringify(cfg));
    commitAll(p, "token types as a view");
    const r = await p.release("--yes");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const clone = await cloneWithLfs(hubRepo(p));
    cleanups.push(() => rmSync(clone, { recursive: true, force: true }));
    const names = (await readWeights(path.join(clone, "model.safetensors"))).tensors.map((t) => t.name);
    expect(names).toContain("bert.embeddings.token_type_embeddings.weight");
    const later = await runCli(["verify", "--tag", TAG], { cwd: p.work, env: { ...p.env, HF_TOKEN: "", GITHUB_TOKEN: "" } });
    expect(later.code, later.stdout + later.stderr).toBe(0);
  });

  it("an origin that is a fork of the Release's repository fails before any remote write, naming both", async () => {
    const p = await makeProject();
    const fork = path.join(p.root, "fork.git");
    execFileSync("git", ["clone", "-q", "--bare", p.origin, fork]);
    git(p.work, "remote", "set-url", "origin", `file://${fork}`);
    git(p.work, "fetch", "-q", "origin");
    const before = snapshot(p);
    const forkRefs = git(fork, "for-each-ref");
    for (const args of [["--dry-run"], ["--yes"]]) {
      const r = await p.release(...args, "--json");
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const report = JSON.parse(r.stdout) as Report;
      const check = report.checks.find((c) => c.id === "git.origin-repository");
      expect(check?.status).toBe("fail");
      expect(check?.message).toContain(`origin points at file://${fork}, not at azbert/azbert`);
    }
    expectNoRemoteWrite(p, before);
    expect(git(fork, "for-each-ref")).toBe(forkRefs);
  });

  it("an archive over GitHub's 2 GiB asset limit (a sparse file will do) fails before packing and before any remote write, saying what to set", async () => {
    const p = await makeProject();
    const big = path.join(p.work, "ckpt", "events.out.tfevents.1700000000.big");
    const fd = openSync(big, "w");
    ftruncateSync(fd, 2 * 1024 ** 3 + 1);
    closeSync(fd);
    const before = snapshot(p);
    for (const args of [["--dry-run"], ["--yes"]]) {
      const r = await p.release(...args, "--json");
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const report = JSON.parse(r.stdout) as Report;
      const check = report.checks.find((c) => c.id === "release.asset-size");
      expect(check?.message).toMatch(/^ckpt\.tar\.gz would be about 2\.0 GiB, and GitHub refuses release assets of 2 GiB or more: set weights\.safetensors to "only" .* `--only hub`/);
    }
    expect(existsSync(path.join(p.work, "out", "ckpt.tar.gz"))).toBe(false);
    expectNoRemoteWrite(p, before);
  });

  it("immutable releases on: a complete release (published once, with every asset), and a rerun is a no-op", async () => {
    const p = await makeProject();
    p.gh.setImmutable(true);
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    await expectReleased(p);
    const [release] = [...p.gh.releases.values()];
    expect(release!.immutable).toBe(true);
    // Assets were uploaded to the draft only: none after publishing (GitHub would refuse them).
    const publish = p.gh.requests.findIndex((q) => q.method === "PATCH" && /\/releases\/\d+$/.test(q.path) && q.status === 200);
    const uploads = p.gh.requests.map((q, i) => ({ ...q, i })).filter((q) => q.host === "uploads");
    expect(uploads).toHaveLength(3);
    expect(uploads.every((q) => q.i < publish)).toBe(true);
    const before = snapshot(p);
    const again = await p.release("--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/v1\.2\.0 is already released and verified: nothing to do/);
    expect(snapshot(p)).toEqual(before);
  });

  it("a tag burned by a deleted immutable release: refused at the first visible step, everything staged withdrawn, no tag anywhere", async () => {
    const p = await makeProject();
    p.gh.setImmutable(true);
    p.gh.burnTag("azbert/azbert", TAG);
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect([report.outcome, report.rerunHelps, report.visible]).toEqual(["failed", false, false]);
    expect(report.error).toMatch(/GitHub keeps the tag of an immutable release that was deleted, and no push or release may use it again\. Bump the version/);
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual(["git-tag:done", "hub:done", "github-release:done", "verify.download:done", "git-push:failed", "withdraw:done"]);
    expectInvisible(p);
    const human = await p.release("--yes");
    expect(human.stdout).toMatch(/Nothing of this release is visible to users/);
  });

  it("the Hub branch moves while the release is proven: nothing is released on the Hub, and the next run stages and proves it on the new head", async () => {
    const p = await makeProject();
    // Someone commits to main while the proof downloads the staged commit: no timing involved.
    p.hub.beforeRequest({ method: "GET", path: new RegExp(`^/${REPO_ID}/resolve/[0-9a-f]{40}/config\\.json$`) }, async () => {
      await p.hub.store.commit(REPO_ID, "main", { summary: "a concurrent edit" }, [{ kind: "file", path: "NOTES.md", content: Buffer.from("notes\n") }]);
    });
    const r = await p.release("--yes", "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.error).toMatch(/azbert\/azbert-tiny@main moved while the release was being proven \(someone pushed\): nothing of v1\.2\.0 was released on the Hub\. Run the release again/);
    expect(report.rerunHelps).toBe(true);
    expect(git(hubRepo(p), "tag", "-l")).toBe("");
    expect(git(hubRepo(p), "log", "--format=%s", "main").split("\n")).toEqual(["a concurrent edit", "initial commit"]);
    expect(git(hubRepo(p), "for-each-ref", "--format=%(refname)", "refs/heads/")).toBe("refs/heads/main");
    const again = await p.release("--yes", "--json");
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as Report;
    // Staged and proven again on the new head; the push and the draft were kept from the first run.
    expect(second.steps.map((s) => `${s.id}:${s.status}`)).toEqual(["git-tag:skipped", "hub:done", "github-release:skipped", "verify.download:done", "git-push:skipped", "hub-tag:done", "github-publish:done", "verify:done"]);
    const main = git(hubRepo(p), "rev-parse", "main");
    expect(git(hubRepo(p), "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(main);
    expect(git(hubRepo(p), "log", "--format=%s", "main").split("\n").slice(1)).toEqual(["a concurrent edit", "initial commit"]);
    expect(git(hubRepo(p), "ls-tree", "--name-only", main).split("\n")).toContain("NOTES.md");
  });
});
