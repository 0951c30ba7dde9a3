// End to end, the way a maintainer releases: a project clone with a local bare `origin`, the
// local Hub and the local GitHub API. The dry run changes nothing; the release lands
// everything; a rerun is a no-op; a fault at each remote step followed by a rerun ends in the
// same final state with nothing duplicated.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { cleanups, expectReleased, GH_TOKEN, git, HF_TOKEN, makeProject, readJournal, releaseSubject, REPO_ID, snapshot, startRelease, TAG, type Project } from "./helpers/release-project.js";

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
    // Not even git's own scratch files: the fetch that checks origin writes no FETCH_HEAD.
    expect(readdirSync(path.join(p.work, ".git")).filter((f) => /^FETCH_HEAD$|^gc\.log$/.test(f))).toEqual([]);
    for (const out of [r.stdout, r.stderr, human.stdout, human.stderr]) {
      expect(out).not.toContain(HF_TOKEN);
      expect(out).not.toContain(GH_TOKEN);
    }
  });

  it("--yes lands everything; a rerun is a no-op that says so", async () => {
    const p = await makeProject();
    const summary = path.join(p.root, "step-summary.md");
    const r = await runCli(["release", "--yes", "--json"], { cwd: p.work, env: { ...p.env, GITHUB_STEP_SUMMARY: summary } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; outcome: string; steps: Array<{ id: string; status: string; ms?: number }> };
    expect([report.ok, report.outcome]).toEqual([true, "released"]);
    // Staged where nobody sees it, proven, then made visible: the git push first, the GitHub Release last.
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual([
      "git-tag:done",
      "hub:done",
      "github-release:done",
      "verify.download:done",
      "git-push:done",
      "hub-tag:done",
      "github-publish:done",
      "verify:done",
    ]);
    // Each step that ran says how long it took (the benchmarks read it to time the proof apart).
    for (const s of report.steps) expect(Number.isInteger(s.ms) && s.ms! >= 0, `${s.id} ms ${s.ms}`).toBe(true);
    // In GitHub Actions, the run's summary page gets the checklist and every step.
    const page = readFileSync(summary, "utf8");
    expect(page.split("\n")[0]).toBe("## azbert-release v1.2.0: ok");
    expect(page).toMatch(/^\| ✅ \| working tree is clean \| {2}\|$/m);
    expect(page).toMatch(new RegExp(`^\\| github-publish \\| done \\| ${p.gh.url}/azbert/azbert/releases/tag/v1\\.2\\.0 \\|$`, "m"));
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

  it("Ctrl-C while the release waits on the Hub exits 130 with the journal recording what finished; a rerun finishes the release", async () => {
    const p = await makeProject();
    // The Hub answers the tag request with 429 Retry-After: 20, so the release is waiting there.
    p.hub.inject({ kind: "429", method: "POST", path: new RegExp(`/api/models/${REPO_ID}/tag/`), retryAfter: "20", times: 5 });
    const run = startRelease(p, "--yes");
    // The release says it is waiting out the Hub's Retry-After: interrupt it right there.
    await run.waitFor(/POST \S+\/tag\/\S+: 429, retry 1 in 20 s/);
    run.signal("SIGINT");
    const { code, output } = await run.exit;
    expect(code, output).toBe(130);
    expect(output).toMatch(/Interrupted\. Finished steps are recorded in \.git\/azbert-release\/journal-v1\.2\.0\.json; run the release again to resume\./);
    expect(output).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
    // Staged, proven and pushed; the Hub commit was made, its tag was not, and the journal does not count the Hub as released.
    const hubRepo = p.hub.repoDir(REPO_ID);
    expect(git(hubRepo, "log", "--format=%s", "main").split("\n")).toContain(releaseSubject(git(p.work, "rev-parse", "HEAD")));
    expect(git(hubRepo, "tag", "-l")).toBe("");
    expect(readJournal(p).entries.map((e) => e.step)).toEqual(["git-tag", "hub", "github-release", "verify.download", "verify.download", "git-push"]);
    p.hub.clearFaults();
    const again = await p.release("--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    await expectReleased(p);
    // The rerun tagged the commit the interrupted run had made: one release commit, nothing twice.
    expect(readJournal(p).entries.map((e) => e.step)).toEqual(["git-tag", "hub", "github-release", "verify.download", "verify.download", "git-push", "hub-tag", "github-publish", "verify", "verify", "verify"]);
  });

  it("a release to another Hub repo is a new plan: the scratch repo's release does not count for the real one", async () => {
    const p = await makeProject();
    const cfgPath = path.join(p.work, "release.config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as { hub: Record<string, unknown> };
    // A rehearsal on a scratch repo first (uncommitted config: `--only hub` runs no git checks).
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, hub: { ...cfg.hub, repoId: "azbert/scratch" } }));
    const scratch = await p.release("--yes", "--only", "hub");
    expect(scratch.code, scratch.stdout + scratch.stderr).toBe(0);
    // It says what was done, and what was not.
    expect(scratch.stdout).toMatch(/^Released v1\.2\.0 to the Hugging Face Hub only$/m);
    expect(scratch.stdout).toMatch(/Not done: nothing went to GitHub \(no git push of the branch or tag, no GitHub Release\): --only left it out\. Run `azbert-release release --only github` to finish\./);
    expect(p.gh.writes()).toEqual([]);
    expect(git(p.hub.repoDir("azbert/scratch"), "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(git(p.hub.repoDir("azbert/scratch"), "rev-parse", "main"));
    // Then the real one: everything is published there, nothing is "already released".
    writeFileSync(cfgPath, JSON.stringify(cfg));
    git(p.work, "remote", "remove", "hgf");
    const real = await p.release("--yes", "--only", "hub", "--json");
    expect(real.code, real.stderr).toBe(0);
    const report = JSON.parse(real.stdout) as { outcome: string; steps: Array<{ id: string; status: string }> };
    expect(report.outcome).toBe("released");
    expect(report.steps.map((x) => `${x.id}:${x.status}`)).toEqual(["hub:done", "verify.download:done", "hub-tag:done", "verify:done"]);
    const hubRepo = p.hub.repoDir(REPO_ID);
    expect(git(hubRepo, "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(git(hubRepo, "rev-parse", "main"));
    expect(git(hubRepo, "log", "--format=%s", "main").split("\n")).toContain(releaseSubject(git(p.work, "rev-parse", "HEAD")));
    // The journal keeps both destinations apart.
    const hubs = readJournal(p).entries.filter((e) => e.step === "hub").map((e) => e.destination.repoId);
    expect(hubs).toEqual(["azbert/scratch", REPO_ID]);
  });

  it("a Hub repo deleted since the release is planned again, with a line saying why", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    rmSync(p.hub.repoDir(REPO_ID), { recursive: true, force: true });
    const githubWrites = p.gh.writes().length;
    const again = await p.release("--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`Planned again: the Hub ${p.hub.url}/${REPO_ID}@main \\(api\\) no longer holds the recorded release: .*${REPO_ID}`));
    expect(again.stdout).not.toMatch(/already released/);
    expect(again.stdout).toMatch(/Planned again: the GitHub Release of azbert\/azbert: the release notes link the Hub release, which is made again/);
    await expectReleased(p); // the notes link the new Hub commit
    // GitHub still held its part: only the notes changed, nothing was uploaded again.
    expect(p.gh.writes().slice(githubWrites).map((w) => `${w.method} ${w.path}`)).toEqual([expect.stringMatching(/^PATCH \/repos\/azbert\/azbert\/releases\/\d+$/)]);
  });

  it("a Hub that cannot be asked (503) does not count as a release that is gone: the journal is kept, and a later rerun finds it released", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const journal = readFileSync(path.join(p.work, ".git", "azbert-release", "journal-v1.2.0.json"), "utf8");
    // The run asks for the released tree once (the plan and the re-verification share the answer): it answers 503, every retry too.
    const tree = new RegExp(`/api/models/${REPO_ID}/tree/`);
    p.hub.inject({ kind: "503", method: "GET", path: tree, times: 500 });
    const down = await p.release("--yes");
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/✖ Plan the remote steps[\s\S]*Nothing was published/);
    expect(down.stdout).not.toMatch(/Planned again/);
    expect(readFileSync(path.join(p.work, ".git", "azbert-release", "journal-v1.2.0.json"), "utf8")).toBe(journal);
    clearFaults(p);
    const again = await p.release("--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/v1\.2\.0 is already released and verified: nothing to do/);
  });

  it("a GitHub Release removed since is planned again, with a line saying why; the Hub is not touched", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const [release] = [...p.gh.releases.values()];
    p.gh.releases.delete(release!.id);
    for (const a of p.gh.assetsOf(TAG)) p.gh.assets.delete(a.id);
    const hubWrites = snapshot(p).hubWrites;
    const again = await p.release("--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Planned again: the GitHub Release of azbert\/azbert no longer holds the recorded release: azbert\/azbert has no GitHub Release v1\.2\.0/);
    await expectReleased(p);
    expect(snapshot(p).hubWrites).toBe(hubWrites);
  });

  it("release --only hub --yes outside a git repository fails at once, saying why, before any check or remote write", async () => {
    const p = await makeProject();
    const bare = path.join(p.root, "not-a-repo");
    for (const f of ["ckpt", "package.json", "release.config.json", "smoke-expectations.json"]) cpSync(path.join(p.work, f), path.join(bare, f), { recursive: true });
    const r = await runCli(["release", "--only", "hub", "--yes"], { cwd: bare, env: p.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `azbert-release: ${bare} is not inside a git repository: a release keeps its journal in .git/azbert-release/ so that a rerun resumes instead of publishing twice. Run the release from your project's clone (or \`git init\` and commit)\n`,
    );
    expect(r.stdout).toBe("");
    expect(p.hub.requests).toEqual([]);
  });

  it("a user who signs tags but has no working key: the release stops before any remote write, naming tag.gpgsign and the fix", async () => {
    const p = await makeProject();
    git(p.work, "config", "tag.gpgsign", "true");
    git(p.work, "config", "commit.gpgsign", "true");
    git(p.work, "config", "gpg.program", "false"); // signing fails, as without a key
    const before = snapshot(p);
    const r = await p.release("--yes");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Release failed: cannot create the release tag v1\.2\.0: tag\.gpgsign is true, so it must be signed, and git could not sign it: .*`git tag -s v1\.2\.0 -m "Release v1\.2\.0"`.*`git config tag\.gpgsign false`/);
    const after = snapshot(p);
    expect(after.hubWrites).toBe(before.hubWrites);
    expect(after.githubWrites).toBe(0);
    expect(after.originRefs).toBe(before.originRefs);
    expect(after.workTags).toBe("");
  });

  it("a user who signs commits and tags with a key gets a signed release tag and a complete release", async () => {
    const p = await makeProject();
    const key = path.join(p.root, "signing-key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e@azbert.local", "-f", key]);
    for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", `${key}.pub`], ["tag.gpgsign", "true"], ["commit.gpgsign", "true"]]) git(p.work, "config", k!, v!);
    const r = await p.release("--yes");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectReleased(p);
    expect(git(p.origin, "cat-file", "-p", `refs/tags/${TAG}`)).toMatch(/-----BEGIN SSH SIGNATURE-----/);
    const allowed = path.join(p.root, "allowed_signers");
    writeFileSync(allowed, `e2e@azbert.local ${readFileSync(`${key}.pub`, "utf8")}`);
    expect(() => git(p.work, "-c", `gpg.ssh.allowedSignersFile=${allowed}`, "tag", "-v", TAG)).not.toThrow();
  });

  // A fault at each remote step, then a clean rerun: the same final state, nothing twice.
  // `transient`: a server error, so the failure says a rerun resumes; otherwise it says a change is needed first.
  const faults: Array<{ step: string; failure: RegExp; transient: boolean; inject: (p: Project) => () => void }> = [
    {
      step: "Hub commit",
      failure: /^Release failed: the Hub failed \(500\) while trying to publish to azbert\/azbert-tiny: /m,
      transient: true,
      inject: (p) => (p.hub.inject({ kind: "500", method: "POST", path: new RegExp(`/api/models/${REPO_ID}/commit/`), times: 50 }), () => {}),
    },
    {
      step: "Hub tag",
      failure: /^Release failed: the Hub failed \(503\) while trying to tag azbert\/azbert-tiny@[0-9a-f]{12} as v1\.2\.0: /m,
      transient: true,
      inject: (p) => (p.hub.inject({ kind: "503", method: "POST", path: new RegExp(`/api/models/${REPO_ID}/tag/`), times: 50 }), () => {}),
    },
    {
      step: "git push",
      failure: /^Release failed: git push to origin failed: .*remote: origin is read-only today.*failed to push some refs to '[^']+'$/m, // no "git pull" hint: a hook refused it
      transient: false, // the hook's reason must be dealt with first
      inject: (p) => {
        const hook = path.join(p.origin, "hooks", "pre-receive");
        writeFileSync(hook, "#!/bin/sh\necho 'origin is read-only today' >&2\nexit 1\n");
        chmodSync(hook, 0o755);
        return () => rmSync(hook);
      },
    },
    {
      step: "GitHub release",
      failure: /^Release failed: GitHub: creating the draft release v1\.2\.0 failed \(502\): Server Error \(injected\)$/m,
      transient: true,
      inject: (p) => (p.gh.fault({ method: "POST", path: /\/releases$/, status: 502, times: 50 }), () => {}),
    },
    {
      step: "GitHub asset upload",
      failure: /^Release failed: GitHub: uploading ckpt\.tar\.gz failed \(500\): Server Error \(injected\)$/m,
      transient: true,
      // An upload that breaks off leaves a half-uploaded asset (state "starter") behind, as on GitHub.
      inject: (p) => (p.gh.fault({ host: "uploads", method: "POST", path: /\/assets$/, status: 500, times: 50, leaveStarterAsset: true }), () => {}),
    },
    {
      step: "GitHub publish",
      failure: /^Release failed: GitHub: publishing the release v1\.2\.0 failed \(502\): Server Error \(injected\)$/m,
      transient: true,
      inject: (p) => (p.gh.fault({ method: "PATCH", path: /\/releases\/\d+$/, status: 502, times: 50 }), () => {}),
    },
  ];

  for (const f of faults) {
    it(`a failure at the ${f.step} step, then a rerun, ends released with nothing duplicated`, async () => {
      const p = await makeProject();
      const heal = f.inject(p);
      const first = await p.release("--yes");
      expect(first.code, first.stdout).toBe(1);
      expect(first.stdout).toMatch(f.failure);
      if (f.transient) {
        expect(first.stdout).toMatch(/What finished is recorded in \.git\/azbert-release\/journal-v1\.2\.0\.json: run the same command again to resume/);
      } else {
        expect(first.stdout).toMatch(/Running the same command again fails the same way: change what the message above says first\./);
        expect(first.stdout).not.toMatch(/to resume/);
      }
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
