// The release driver on its own, with destinations that record what is asked of them: the order
// the release promises, what a failure at each phase leaves (withdrawn, or resumable), and what a
// rerun does with the journal. No network and no checkpoint: each test takes well under a second.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GitHubError } from "../src/github/errors.js";
import type { Address, Destination } from "../src/release/destination.js";
import { publishPlanned, type ReleaseContext, type ReleaseUi } from "../src/release/driver.js";
import { Journal, manifestDigest } from "../src/release/journal.js";
import type { PipelineStep } from "../src/release/pipeline.js";
import type { ReleaseSettings } from "../src/release/settings.js";
import { ProofError } from "../src/release/verify-error.js";
import { UserError } from "../src/report.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ADDRESSES: Record<Address["kind"], Address> = {
  hub: { kind: "hub", endpoint: "https://hub.test", repoId: "org/model", revision: "main", transport: "api", mode: "commit" },
  origin: { kind: "origin", remote: "origin", remoteUrl: "https://github.test/org/model.git", branch: "main" },
  github: { kind: "github", apiUrl: "https://api.github.test", repository: "org/model" },
};
const STEPS = { hub: ["hub", "hub-tag"], origin: ["git-tag", "git-push"], github: ["github-release", "github-publish"] } as const;

interface Behaviour {
  stage?: () => void;
  prove?: () => void;
  release?: () => void;
  reverify?: () => string[];
  stillThere?: boolean;
  /** No proof phase (the git remote). */
  proves?: boolean;
}

/** A destination that does nothing but log each call, and fails where told to. */
function fake(kind: Address["kind"], log: string[], b: Behaviour = {}): Destination {
  const address = ADDRESSES[kind];
  const [stage, release] = STEPS[kind];
  const proves = b.proves ?? kind !== "origin";
  return {
    address,
    group: kind,
    preflight: async () => [],
    plan: async () => {},
    refusals: () => [],
    stage: {
      step: stage,
      title: `stage ${kind}`,
      run: async () => (log.push(`stage ${kind}`), b.stage?.(), { status: "done", result: { n: 1 } as never }),
      stillThere: async () => (log.push(`still there? ${kind}`), b.stillThere ?? true),
    } as never,
    ...(proves ? { prove: async () => (log.push(`prove ${kind}`), b.prove?.(), {}) } : {}),
    release: { step: release, title: `release ${kind}`, run: async () => (log.push(`release ${kind}`), b.release?.(), { status: "done", result: { n: 1 } as never }) } as never,
    reverify: async () => (log.push(`reverify ${kind}`), { problems: b.reverify?.() ?? [], result: {} }),
    withdraw: async () => (log.push(`withdraw ${kind}`), [`${kind}'s staging`]),
  };
}

/** Runs steps in order as the UI would, and stops at the first failure. */
const ui = (said: string[] = []): ReleaseUi => ({
  async run<C>(steps: ReadonlyArray<PipelineStep<C>>, ctx: C) {
    for (const step of steps) {
      if (step.enabled && !step.enabled(ctx)) continue;
      if (step.skip?.(ctx)) continue;
      await step.run(ctx, { title: () => {}, progress: (l) => void said.push(l), results: () => {} });
    }
  },
  showPlan: () => {},
  confirm: async () => true,
  say: (l) => void said.push(l),
});

function project(): string {
  const cwd = mkdtempSync(path.join(os.tmpdir(), "azbert-driver-"));
  dirs.push(cwd);
  execFileSync("git", ["init", "-q", cwd]);
  return cwd;
}

function context(cwd: string, destinations: Destination[]): ReleaseContext {
  const settings = {
    cwd,
    tag: { tag: "v1.0.0", source: "cli" },
    release: { stages: new Set(["check", "hub", "github"]), dryRun: false, confirm: false },
  } as unknown as ReleaseSettings;
  return {
    settings,
    remotes: { hubFetch: globalThis.fetch },
    signal: new AbortController().signal,
    destinations,
    results: [],
    manifest: [],
    plan: { tag: "v1.0.0" },
    steps: [],
    notes: [],
  };
}

const journalOf = (cwd: string) =>
  JSON.parse(readFileSync(Journal.fileFor(path.join(cwd, ".git"), "v1.0.0"), "utf8")) as { manifestDigest: string; entries: Array<{ step: string; destination: Address }> };
const recorded = (cwd: string) => journalOf(cwd).entries.map((e) => `${e.step} ${e.destination.kind}`);
const all = (log: string[], b: Partial<Record<Address["kind"], Behaviour>> = {}) => [fake("origin", log, b.origin), fake("hub", log, b.hub), fake("github", log, b.github)];

describe("the release driver", () => {
  it("stages everything, proves it, then releases the git remote, the Hub and the GitHub Release, then verifies", async () => {
    const log: string[] = [];
    const cwd = project();
    const report = await publishPlanned(context(cwd, all(log)), ui());
    expect([report.outcome, report.ok, report.visible]).toEqual(["released", true, true]);
    expect(log).toEqual([
      "stage origin",
      "stage hub",
      "stage github",
      "prove hub",
      "prove github",
      "release origin",
      "release hub",
      "release github",
      "reverify origin",
      "reverify hub",
      "reverify github",
    ]);
    expect(report.steps.map((s) => s.id)).toEqual(["git-tag", "hub", "github-release", "verify.download", "git-push", "hub-tag", "github-publish", "verify"]);
    expect(journalOf(cwd).manifestDigest).toBe(manifestDigest([]));
  });

  it("a proof that fails: every destination is still proven, nothing is released, what was staged is withdrawn and forgotten", async () => {
    const log: string[] = [];
    const cwd = project();
    const report = await publishPlanned(context(cwd, all(log, { hub: { prove: () => { throw new ProofError("Hub config.json: 620 bytes downloaded, 621 in the manifest"); } } })), ui());
    expect([report.outcome, report.rerunHelps, report.visible]).toEqual(["failed", false, false]);
    expect(report.error).toMatch(/^what users would download does not pass, so nothing was released:\nHub config\.json: 620 bytes/);
    expect(report.fix).toMatch(/nothing was released and what was staged is withdrawn/);
    expect(log.filter((l) => l.startsWith("release"))).toEqual([]);
    expect(log.slice(3)).toEqual(["prove hub", "prove github", "withdraw origin", "withdraw hub", "withdraw github"]);
    expect(recorded(cwd)).toEqual([]);
  });

  it("the first visible step refused for good (a burned tag): nothing is visible, so everything staged is withdrawn", async () => {
    const log: string[] = [];
    const cwd = project();
    const report = await publishPlanned(context(cwd, all(log, { origin: { release: () => { throw new UserError("origin refuses to create the tag v1.0.0"); } } })), ui());
    expect([report.outcome, report.rerunHelps, report.visible]).toEqual(["failed", false, false]);
    expect(log.slice(-4)).toEqual(["release origin", "withdraw origin", "withdraw hub", "withdraw github"]);
    expect(recorded(cwd)).toEqual([]);
  });

  it("a visible step that fails for a transient reason keeps what was staged and proven: the rerun resumes at that step", async () => {
    const log: string[] = [];
    const cwd = project();
    let down = true;
    const dests = all(log, { hub: { release: () => { if (down) throw new GitHubError("the Hub answered 503", 503); } } });
    const first = await publishPlanned(context(cwd, dests), ui());
    expect([first.outcome, first.rerunHelps, first.visible]).toEqual(["failed", true, true]);
    expect(log).not.toContain("withdraw hub");
    expect(recorded(cwd)).toEqual(["git-tag origin", "hub hub", "github-release github", "verify.download hub", "verify.download github", "git-push origin"]);
    down = false;
    log.length = 0;
    const second = await publishPlanned(context(cwd, dests), ui());
    expect(second.outcome).toBe("released");
    // Staged things are checked to be there still, nothing is staged, proven or pushed twice.
    expect(log).toEqual(["still there? hub", "still there? github", "release hub", "release github", "reverify origin", "reverify hub", "reverify github"]);
    expect(second.steps.map((s) => `${s.id}:${s.status}`)).toEqual([
      "git-tag:skipped",
      "hub:skipped",
      "github-release:skipped",
      "verify.download:skipped",
      "git-push:skipped",
      "hub-tag:done",
      "github-publish:done",
      "verify:done",
    ]);
  });

  it("what an earlier run staged and someone removed since is staged and proven again", async () => {
    const log: string[] = [];
    const cwd = project();
    let failPublish = true;
    const first = all(log, { github: { release: () => { if (failPublish) throw new GitHubError("503", 503); } } });
    await publishPlanned(context(cwd, first), ui());
    failPublish = false;
    log.length = 0;
    const said: string[] = [];
    const ctx = context(cwd, all(log, { github: { stillThere: false } }));
    expect((await publishPlanned(ctx, ui(said))).outcome).toBe("released");
    // The Hub was released already (its staging is no longer asked after); the removed draft is staged again.
    expect(log.slice(0, 4)).toEqual(["still there? github", "stage github", "prove github", "release github"]);
    expect(ctx.notes).toEqual(["the GitHub Release of org/model: what an earlier run staged is gone; staged again"]);
  });

  it("a rerun after a complete release checks every destination and does nothing else", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, all(log)), ui());
    log.length = 0;
    const again = await publishPlanned(context(cwd, all(log)), ui());
    expect(again.outcome).toBe("already-released");
    expect(log).toEqual(["reverify origin", "reverify hub", "reverify github"]);
    expect(again.steps.every((s) => s.status === "skipped")).toBe(true);
  });

  it("a destination that no longer holds the release is planned again and says why; the GitHub Release's notes follow a new Hub release", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, all(log)), ui());
    log.length = 0;
    const said: string[] = [];
    const ctx = context(cwd, all(log, { hub: { reverify: () => (log.includes("stage hub") ? [] : ["tag v1.0.0 is not on org/model"]) } }));
    const again = await publishPlanned(ctx, ui(said));
    expect(again.outcome).toBe("released");
    expect(said).toContain("Planned again: the Hub https://hub.test/org/model@main (api) no longer holds the recorded release: tag v1.0.0 is not on org/model");
    expect(said).toContain("Planned again: the GitHub Release of org/model: the release notes link the Hub release, which is made again");
    expect(log.filter((l) => /^(stage|prove|release) /.test(l))).toEqual(["stage hub", "prove hub", "release hub", "release github"]);
  });

  it("a remote that cannot be asked (not evidence the release is gone) fails the rerun and leaves the journal as it was", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, all(log)), ui());
    const before = readFileSync(Journal.fileFor(path.join(cwd, ".git"), "v1.0.0"), "utf8");
    const down = all(log, { hub: { reverify: () => { throw new GitHubError("the Hub answered 503", 503); } } });
    const r = await publishPlanned(context(cwd, down), ui());
    expect([r.outcome, r.rerunHelps]).toEqual(["failed", true]);
    expect(r.error).toMatch(/^cannot tell whether the release recorded in \.git\/azbert-release\/journal-v1\.0\.0\.json is still in place: the Hub answered 503/);
    expect(readFileSync(Journal.fileFor(path.join(cwd, ".git"), "v1.0.0"), "utf8")).toBe(before);
  });

  it("what landed differs from what was released: verify fails, the destination is forgotten, and a rerun publishes it again", async () => {
    const log: string[] = [];
    const cwd = project();
    let broken = true;
    const dests = all(log, { github: { reverify: () => (broken ? ["GitHub asset ckpt.tar.gz is 1 bytes, not 2"] : []) } });
    const r = await publishPlanned(context(cwd, dests), ui());
    expect([r.outcome, r.rerunHelps]).toEqual(["failed", true]);
    expect(r.error).toMatch(/GitHub asset ckpt\.tar\.gz is 1 bytes, not 2\n\(the journal no longer counts the GitHub Release of org\/model as published/);
    expect(recorded(cwd).filter((e) => e.endsWith("github"))).toEqual([]);
    broken = false;
    log.length = 0;
    expect((await publishPlanned(context(cwd, dests), ui())).outcome).toBe("released");
    expect(log.filter((l) => /^(stage|prove|release) /.test(l))).toEqual(["stage github", "prove github", "release github"]);
  });

  it("Ctrl-C: no further step starts, and the journal keeps what finished", async () => {
    const log: string[] = [];
    const cwd = project();
    const abort = new AbortController();
    const ctx = { ...context(cwd, all(log, { hub: { prove: () => abort.abort(new Error("interrupted (Ctrl-C)")) } })), signal: abort.signal };
    const r = await publishPlanned(ctx, ui());
    expect(r.outcome).toBe("interrupted");
    expect(log.filter((l) => l.startsWith("release"))).toEqual([]);
    expect(recorded(cwd)).toContain("hub hub");
  });
});


