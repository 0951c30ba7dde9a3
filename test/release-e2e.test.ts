// End to end, the way a maintainer releases: a project clone with a local bare `origin`, the
// local Hub and the local GitHub API. The dry run changes nothing; the release lands
// everything; a rerun is a no-op; a fault at each remote step followed by a rerun ends in the
// same final state with nothing duplicated.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { binPath, runCli } from "./helpers/cli.js";
import { cleanups, expectReleased, GH_TOKEN, git, HF_TOKEN, makeProject, REPO_ID, snapshot, type Project } from "./helpers/release-project.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

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
