// End to end, the way a maintainer releases: a project clone with a local bare `origin`, the
// local Hub and the local GitHub API. The dry run changes nothing; the release lands
// everything; a rerun is a no-op; a fault at each remote step followed by a rerun ends in the
// same final state with nothing duplicated.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { binPath, runCli, sampleCkpt, repoRoot } from "./helpers/cli.js";
import { startFakeGitHub, type FakeGitHub } from "./github-server/server.js";
import { startHubServer, type HubServer } from "./hub-server/index.js";
import { cloneWithLfs, treeHashes } from "./hub-helpers.js";

const HF_TOKEN = "hf_e2eWriterToken0123456789";
const GH_TOKEN = "ghp_e2eTokenForTheLocalGitHubApi0123";
const REPO_ID = "azbert/azbert-tiny";
const TAG = "v1.2.0";

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

interface Project {
  root: string;
  work: string;
  origin: string;
  hub: HubServer;
  gh: FakeGitHub;
  env: NodeJS.ProcessEnv;
  release(...args: string[]): ReturnType<typeof runCli>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function makeProject(): Promise<Project> {
  const root = mkdtempSync(path.join(os.tmpdir(), "azbert-e2e-"));
  const origin = path.join(root, "origin.git");
  const work = path.join(root, "work");
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", origin]);
  execFileSync("git", ["init", "-q", "-b", "main", work]);
  cpSync(sampleCkpt, path.join(work, "ckpt"), { recursive: true });
  cpSync(path.join(repoRoot, "smoke-expectations.json"), path.join(work, "smoke-expectations.json"));
  writeFileSync(path.join(work, "package.json"), JSON.stringify({ name: "azbert-tiny-release", version: "1.2.0", private: true }, null, 2));
  writeFileSync(
    path.join(work, "release.config.json"),
    JSON.stringify({
      checkpoint: "ckpt",
      hub: { repoId: REPO_ID, remote: "hgf", revision: "main", transport: "api" },
      github: { remote: "origin", branch: "main", archive: "ckpt.tar.gz", outDir: "out" },
      smoke: { device: "cpu", topK: 5, expectations: "smoke-expectations.json" },
    }),
  );
  writeFileSync(path.join(work, ".gitignore"), "out/\n");
  git(work, "add", "-A");
  git(work, "-c", "user.email=e2e@azbert.local", "-c", "user.name=e2e", "commit", "-qm", "azbert-tiny 1.2.0");
  git(work, "remote", "add", "origin", `file://${origin}`);
  git(work, "push", "-q", "-u", "origin", "main");
  const hub = await startHubServer({ tokens: { [HF_TOKEN]: { user: "azbert", role: "write" } } });
  const gh = await startFakeGitHub({ token: GH_TOKEN });
  cleanups.push(() => hub.stop(), () => gh.close(), () => rmSync(root, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    HF_TOKEN,
    HF_ENDPOINT: hub.url,
    GITHUB_TOKEN: GH_TOKEN,
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: "azbert/azbert",
    AZBERT_RELEASE_CACHE_DIR: path.join(root, "cache"),
    AZBERT_RELEASE_RETRY_DELAY_MS: "5",
    GIT_AUTHOR_NAME: "e2e",
    GIT_AUTHOR_EMAIL: "e2e@azbert.local",
    GIT_COMMITTER_NAME: "e2e",
    GIT_COMMITTER_EMAIL: "e2e@azbert.local",
  };
  return { root, work, origin, hub, gh, env, release: (...args) => runCli(["release", ...args], { cwd: work, env }) };
}

/** Everything a release could change, local and remote. */
function snapshot(p: Project) {
  const hubRepo = p.hub.repoDir(REPO_ID);
  const hubExists = existsSync(hubRepo);
  return {
    originRefs: git(p.origin, "for-each-ref", "--format=%(refname) %(objectname)"),
    workStatus: git(p.work, "status", "--porcelain", "--ignored"),
    workRemotes: git(p.work, "remote", "-v"),
    workTags: git(p.work, "tag", "-l"),
    workHead: git(p.work, "rev-parse", "HEAD"),
    outExists: existsSync(path.join(p.work, "out")),
    hubRefs: hubExists ? git(hubRepo, "for-each-ref", "--format=%(refname) %(objectname)") : "(no repo)",
    hubWrites: p.hub.requests.filter((r) => !["GET", "HEAD"].includes(r.method)).length,
    githubWrites: p.gh.writes().length,
    releases: [...p.gh.releases.values()].map((r) => r.tag_name),
    assets: [...p.gh.assets.values()].map((a) => `${a.name}:${a.size}`).sort(),
  };
}

/** The state a finished release must leave, whatever happened on the way. */
async function expectReleased(p: Project) {
  const hubRepo = p.hub.repoDir(REPO_ID);
  const hubMain = git(hubRepo, "rev-parse", "refs/heads/main");
  // One release commit on the Hub (on top of the repo's initial commit, if the Hub made one).
  const log = git(hubRepo, "log", "--format=%s", "main").split("\n");
  expect(log.filter((s) => s === `Release ${TAG}`)).toHaveLength(1);
  expect(git(hubRepo, "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(hubMain);
  // A clone of the Hub repo, with LFS, is the checkpoint byte for byte.
  const clone = await cloneWithLfs(hubRepo);
  cleanups.push(() => rmSync(clone, { recursive: true, force: true }));
  const got = await treeHashes(clone);
  delete got[".gitattributes"];
  expect(got).toEqual(await treeHashes(sampleCkpt));
  expect(readFileSync(path.join(clone, ".gitattributes"), "utf8")).toMatch(/\*\.bin filter=lfs/);
  // The tag on origin marks the released commit.
  const head = git(p.work, "rev-parse", "HEAD");
  expect(git(p.origin, "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(head);
  expect(git(p.origin, "rev-parse", "refs/heads/main")).toBe(head);
  // One GitHub release with the archive we packed, byte for byte.
  expect([...p.gh.releases.values()].map((r) => r.tag_name)).toEqual([TAG]);
  const assets = p.gh.assetsOf(TAG);
  expect(assets.map((a) => a.name).sort()).toEqual(["SHA256SUMS", "ckpt.tar.gz"]);
  const archive = readFileSync(path.join(p.work, "out", "ckpt.tar.gz"));
  expect(createHash("sha256").update(assets.find((a) => a.name === "ckpt.tar.gz")!.bytes).digest("hex")).toBe(createHash("sha256").update(archive).digest("hex"));
  const release = [...p.gh.releases.values()][0]!;
  expect(release.body).toContain(hubMain.slice(0, 7));
}

describe("release end to end", () => {
  it("--dry-run prints the checklist and the plan and changes nothing", async () => {
    const p = await makeProject();
    const before = snapshot(p);
    const r = await p.release("--dry-run", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; plan: { hub: { entries: Array<{ path: string; action: string }> }; git: { refs: Array<{ action: string }> }; github: { release: string } } };
    expect(report.ok).toBe(true);
    expect(report.plan.hub.entries.filter((e) => e.action === "add").map((e) => e.path)).toEqual(expect.arrayContaining(["pytorch_model.bin", "config.json", ".gitattributes"]));
    expect(report.plan.git.refs.map((x) => x.action)).toEqual(["unchanged", "push"]);
    expect(report.plan.github.release).toBe("create");
    expect(snapshot(p)).toEqual(before);
    // Human form: the plan table and a clear "nothing changed".
    const human = await p.release("--dry-run");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/add\s+pytorch_model\.bin\s+564\.6 KiB\s+lfs/);
    expect(human.stdout).toMatch(/would add git remote hgf/);
    expect(human.stdout).toMatch(/Dry run: nothing was changed/);
    expect(snapshot(p)).toEqual(before);
    for (const out of [r.stdout, r.stderr, human.stdout, human.stderr]) {
      expect(out).not.toContain(HF_TOKEN);
      expect(out).not.toContain(GH_TOKEN);
    }
  });

  it("--yes lands everything; a rerun is a no-op that says so", async () => {
    const p = await makeProject();
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; steps: Array<{ id: string; status: string }> };
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual(["hub:done", "hub-tag:done", "git-push:done", "github-release:done", "verify:done"]);
    await expectReleased(p);
    expect(git(p.work, "remote", "get-url", "hgf")).toBe(`${p.hub.url}/${REPO_ID}`);
    for (const out of [r.stdout, r.stderr]) {
      expect(out).not.toContain(HF_TOKEN);
      expect(out).not.toContain(GH_TOKEN);
      expect(out).not.toMatch(/X-Amz-Signature|[?&]sig=/i);
    }

    const before = snapshot(p);
    const again = await p.release("--yes");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/v1\.2\.0 is already released and verified: nothing to do/);
    const after = snapshot(p);
    expect(after).toEqual(before);
  });

  it("refuses to publish a checkpoint that fails its checks, before any remote write", async () => {
    const p = await makeProject();
    writeFileSync(path.join(p.work, "ckpt", "tokenizer_config.json"), JSON.stringify({ tokenizer_file: "/root/.cache/x/tokenizer.json" }));
    git(p.work, "commit", "-qam", "break the tokenizer config");
    git(p.work, "push", "-q", "origin", "main");
    const before = snapshot(p);
    const r = await p.release("--yes");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/tokenizer_config\.json: \/tokenizer_file must not be present/);
    expect(r.stdout).toMatch(/Nothing was published/);
    const after = snapshot(p);
    expect(after.hubWrites).toBe(before.hubWrites);
    expect(after.githubWrites).toBe(0);
    expect(after.originRefs).toBe(before.originRefs);
  });

  it("a smoke stage that cannot run (cuda without a GPU) stops the release before any remote write", async () => {
    const p = await makeProject();
    const cfgPath = path.join(p.work, "release.config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as { smoke: Record<string, unknown> };
    cfg.smoke.device = "cuda";
    cfg.smoke.python = "/nonexistent/python3";
    writeFileSync(cfgPath, JSON.stringify(cfg));
    git(p.work, "commit", "-qam", "smoke on cuda");
    git(p.work, "push", "-q", "origin", "main");
    const before = snapshot(p);
    const r = await p.release("--yes", "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; message?: string }> };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === "stage.error")?.message).toMatch(/cuda/);
    const after = snapshot(p);
    expect(after.hubWrites).toBe(before.hubWrites);
    expect(after.githubWrites).toBe(before.githubWrites);
    expect(after.originRefs).toBe(before.originRefs);
    expect(after.hubRefs).toBe("(no repo)");
  });

  it("asks before publishing: without a terminal and without --yes it refuses, changing nothing", async () => {
    const p = await makeProject();
    const before = snapshot(p);
    const r = await runCli(["release"], { cwd: p.work, env: { ...p.env, CI: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to publish without a confirmation: run in a terminal, or pass --yes/);
    expect(snapshot(p)).toEqual(before);
  });

  it("Ctrl-C mid-release exits 130 with a consistent journal, and a rerun finishes the release", async () => {
    const p = await makeProject();
    // The Hub answers the tag request with 429 Retry-After: 20, so the release is waiting there.
    p.hub.inject({ kind: "429", method: "POST", path: new RegExp(`/api/models/${REPO_ID}/tag/`), retryAfter: "20", times: 5 });
    const child = spawn(process.execPath, [binPath, "release", "--yes"], { cwd: p.work, env: { ...process.env, CI: "true", NO_COLOR: "1", ...p.env } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!p.hub.requests.some((r) => r.method === "POST" && r.path.includes("/tag/")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(130);
    expect(out).toMatch(/Interrupted\. Finished steps are recorded in \.git\/azbert-release\/journal-v1\.2\.0\.json/);
    const journal = path.join(p.work, ".git", "azbert-release", "journal-v1.2.0.json");
    if (existsSync(journal)) expect(() => JSON.parse(readFileSync(journal, "utf8"))).not.toThrow();
    p.hub.clearFaults();
    const again = await p.release("--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    await expectReleased(p);
  });

  // A fault at each remote step, then a clean rerun: the same final state, nothing twice.
  const faults: Array<{ step: string; inject: (p: Project) => () => void }> = [
    {
      step: "Hub commit",
      inject: (p) => (p.hub.inject({ kind: "500", method: "POST", path: new RegExp(`/api/models/${REPO_ID}/commit/`), times: 50 }), () => {}),
    },
    {
      step: "Hub tag",
      inject: (p) => (p.hub.inject({ kind: "503", method: "POST", path: new RegExp(`/api/models/${REPO_ID}/tag/`), times: 50 }), () => {}),
    },
    {
      step: "git push",
      inject: (p) => {
        const hook = path.join(p.origin, "hooks", "pre-receive");
        writeFileSync(hook, "#!/bin/sh\necho 'origin is read-only today' >&2\nexit 1\n");
        chmodSync(hook, 0o755);
        return () => rmSync(hook);
      },
    },
    {
      step: "GitHub release",
      inject: (p) => (p.gh.fault({ method: "POST", path: /\/releases$/, status: 502, times: 50 }), () => {}),
    },
    {
      step: "GitHub asset upload",
      inject: (p) => (p.gh.fault({ method: "POST", path: /^\/uploads\//, status: 500, times: 50 }), () => {}),
    },
  ];

  for (const f of faults) {
    it(`a failure at the ${f.step} step, then a rerun, ends released with nothing duplicated`, async () => {
      const p = await makeProject();
      const heal = f.inject(p);
      const first = await p.release("--yes");
      expect(first.code, first.stdout).toBe(1);
      expect(first.stdout).toMatch(/Release failed|✖/);
      expect(first.stdout).toMatch(/run the release again to resume/);
      expect(first.stdout + first.stderr).not.toContain(HF_TOKEN);
      heal();
      clearFaults(p);
      const second = await p.release("--yes");
      expect(second.code, second.stdout + second.stderr).toBe(0);
      await expectReleased(p);
    });
  }
});

/** The local servers keep unfired faults; a rerun must meet a healthy remote. */
function clearFaults(p: Project) {
  p.hub.clearFaults();
  p.gh.clearFaults();
}
