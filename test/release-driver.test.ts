// The release driver on its own, with destinations that record what is asked of them: the order
// the release promises, what a failure at each phase leaves (withdrawn, or resumable), and what a
// rerun does with the journal. No network and no checkpoint: each test takes well under a second.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { GitHubError } from "../src/github/errors.js";
import type { Address, Destination, StepRun } from "../src/release/destination.js";
import { publishPlanned, runRelease, type ReleaseContext, type ReleaseUi } from "../src/release/driver.js";
import { Journal, manifestDigest } from "../src/release/journal.js";
import type { PipelineStep } from "../src/release/pipeline.js";
import type { ReleasePlan } from "../src/release/plan.js";
import type { StepReport, VerifyDownloadResult, VerifyStepResult } from "../src/release/report.js";
import type { ReleaseSettings, Stage } from "../src/release/settings.js";
import { ProofError, VerifyError } from "../src/release/verify-error.js";
import type { SmokeReport } from "../src/smoke/main.js";
import { UserError, type CheckResult } from "../src/report.js";
import { registerSecret } from "../src/util/redact.js";

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
  /** What the stage and release phases say they did (default: done). */
  status?: "done" | "unchanged";
  /** What each phase produces (default: a placeholder). */
  results?: Partial<Results>;
  /** Phases the destination does not have (a Hub pull request is not released by the tool). */
  without?: Array<"stage" | "release" | "withdraw">;
  /** What its withdraw removes. */
  removed?: string[];
  withdraw?: () => void;
  preflight?: () => CheckResult[];
  /** Writes its part of the plan (default: a plan of its own). */
  plan?: (plan: ReleasePlan) => void;
  refusals?: CheckResult[];
  /** Every StepRun a phase of it was given. */
  runs?: StepRun[];
}

interface Results {
  stage: object;
  release: object;
  proof: Partial<VerifyDownloadResult>;
  verified: VerifyStepResult;
}

const PART = { hub: "hub", origin: "git", github: "github" } as const;
const PLANS = {
  hub: { summary: { add: 2, update: 1, bytesToSend: 2048 } },
  git: { remote: "origin", refs: [] },
  github: { repository: "org/model", release: "create" },
};
const planned = (kind: Address["kind"]) => (plan: ReleasePlan) => void ((plan as unknown as Record<string, unknown>)[PART[kind]] = PLANS[PART[kind]]);

/** A destination that does nothing but log each call, and fails where told to. */
function fake(kind: Address["kind"], log: string[], b: Behaviour = {}): Destination {
  const address = ADDRESSES[kind];
  const [stage, release] = STEPS[kind];
  const proves = b.proves ?? kind !== "origin";
  const has = (p: "stage" | "release" | "withdraw") => !b.without?.includes(p);
  const phase = (name: "stage" | "release", step: string) => ({
    step,
    title: `${name} ${kind}`,
    run: async (run: StepRun) => {
      log.push(`${name} ${kind}`);
      b.runs?.push(run);
      run.say(`${name} ${kind}: working`);
      b[name]?.();
      return { status: b.status ?? "done", result: b.results?.[name] ?? { n: 1 } };
    },
  });
  return {
    address,
    group: kind,
    preflight: async () => (log.push(`preflight ${kind}`), b.preflight?.() ?? []),
    plan: async (ctx) => (log.push(`plan ${kind}`), (b.plan ?? planned(kind))(ctx.plan)),
    refusals: () => b.refusals ?? [],
    ...(has("stage") ? { stage: { ...phase("stage", stage), stillThere: async () => (log.push(`still there? ${kind}`), b.stillThere ?? true) } as never } : {}),
    ...(proves ? { prove: async (run: StepRun) => (log.push(`prove ${kind}`), b.runs?.push(run), run.say(`prove ${kind}: downloading`), b.prove?.(), b.results?.proof ?? {}) } : {}),
    ...(has("release") ? { release: phase("release", release) as never } : {}),
    reverify: async () => (log.push(`reverify ${kind}`), { problems: b.reverify?.() ?? [], result: b.results?.verified ?? {} }),
    ...(has("withdraw") ? { withdraw: async (run: StepRun) => (log.push(`withdraw ${kind}`), run.say(`withdraw ${kind}: removing`), b.withdraw?.(), b.removed ?? [`${kind}'s staging`]) } : {}),
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

function context(cwd: string, destinations: Destination[], o: { confirm?: boolean } = {}): ReleaseContext {
  const settings = {
    cwd,
    tag: { tag: "v1.0.0", source: "cli" },
    release: { stages: new Set(["check", "hub", "github"]), dryRun: false, confirm: !!o.confirm },
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
  JSON.parse(readFileSync(Journal.fileFor(path.join(cwd, ".git"), "v1.0.0"), "utf8")) as {
    manifestDigest: string;
    entries: Array<{ step: string; destination: Address; at: string; result: Record<string, unknown> }>;
  };
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


// ── what the report, the titles and the notes say ──

/** The UI as the person watching sees it: every title, every line, the plan, the question. */
interface Watched {
  ui: ReleaseUi;
  titles: string[];
  said: string[];
  plans: ReleasePlan[];
  questions: string[];
}

/** `answer`: the reply to the confirmation; `omit`: steps the UI does not run. */
function watch(o: { answer?: () => boolean; omit?: RegExp } = {}): Watched {
  const w: Omit<Watched, "ui"> = { titles: [], said: [], plans: [], questions: [] };
  return {
    ...w,
    ui: {
      async run<C>(steps: ReadonlyArray<PipelineStep<C>>, ctx: C) {
        for (const step of steps) {
          if (step.enabled && !step.enabled(ctx)) continue;
          if (step.skip?.(ctx)) continue;
          if (o.omit?.test(step.title)) continue;
          await step.run(ctx, { title: (t) => void w.titles.push(t), progress: (l) => void w.said.push(l), results: () => {} });
        }
      },
      showPlan: (plan) => void w.plans.push(plan),
      confirm: async (q) => (w.questions.push(q), o.answer?.() ?? true),
      say: (l) => void w.said.push(l),
    },
  };
}

const SHA = { origin: "0123456789abcdef0123456789abcdef01234567", hubStaged: "fedcba9876543210fedcba9876543210fedcba98", hubReleased: "1111111111111111111111111111111111111111" };
const RESULTS: Record<Address["kind"], Results> = {
  origin: {
    stage: { tag: "v1.0.0", commit: SHA.origin, created: true, annotated: true },
    release: { remote: "origin", commit: SHA.origin, branch: "pushed", tag: "pushed" },
    proof: {},
    verified: { originRefs: ["refs/heads/main", "refs/tags/v1.0.0"] },
  },
  hub: {
    stage: { commit: SHA.hubStaged, url: "https://hub.test/org/model/tree/staging-v1.0.0", stagingBranch: "staging-v1.0.0", noop: false, uploaded: ["model.safetensors"] },
    release: { tag: "v1.0.0", commit: SHA.hubReleased, url: "https://hub.test/org/model/tree/v1.0.0" },
    proof: { hub: { skipped: "the smoke test is off" } },
    verified: { hubFilesChecked: 9 },
  },
  github: {
    stage: { releaseId: 7, url: "https://github.test/org/model/releases/tag/untagged-7", draft: "created", uploaded: ["ckpt.tar.gz"] },
    release: { releaseId: 7, url: "https://github.test/org/model/releases/tag/v1.0.0", immutable: true },
    proof: { github: { tag: "v1.0.0", archive: { name: "ckpt.tar.gz", size: 1024, sha256: "ab".repeat(32) }, files: 9, ms: 3 } },
    verified: { releaseAssets: ["SHA256SUMS", "ckpt.tar.gz"] },
  },
};
const PROOF_SUMMARY = "Hub: skipped (the smoke test is off); ckpt.tar.gz of v1.0.0 downloaded and unpacked verified (9 files)";
const HUB_LINE = "the Hub https://hub.test/org/model@main (api)";
const ORIGIN_LINE = "git remote origin (main on https://github.test/org/model.git)";
const GITHUB_LINE = "the GitHub Release of org/model";

/** The three destinations, each producing what a real one reports. */
const real = (log: string[], b: Partial<Record<Address["kind"], Behaviour>> = {}) =>
  (["origin", "hub", "github"] as const).map((k) => fake(k, log, { results: RESULTS[k], ...b[k] }));
const withoutMs = (steps: StepReport[]) => steps.map(({ ms: _ms, ...rest }) => rest);
const statuses = (steps: StepReport[]) => steps.map((s) => `${s.id}:${s.status}`);
const SECRET = "s3cr3t-driver-test-value-0451";

describe("what a release reports", () => {
  it("each step's report: its status, what it produced, its wall time; each title says the outcome, the commit, the URL and the proof", async () => {
    const log: string[] = [];
    const cwd = project();
    const w = watch();
    const started = performance.now();
    const r = await publishPlanned(context(cwd, real(log)), w.ui);
    const elapsed = performance.now() - started;
    expect([r.outcome, r.ok, r.visible, r.error]).toEqual(["released", true, true, undefined]);
    expect(withoutMs(r.steps)).toEqual([
      { id: "git-tag", status: "done", ...RESULTS.origin.stage },
      { id: "hub", status: "done", ...RESULTS.hub.stage },
      { id: "github-release", status: "done", ...RESULTS.github.stage },
      { id: "verify.download", status: "done", ...RESULTS.hub.proof, ...RESULTS.github.proof, summary: PROOF_SUMMARY },
      { id: "git-push", status: "done", ...RESULTS.origin.release },
      { id: "hub-tag", status: "done", ...RESULTS.hub.release },
      { id: "github-publish", status: "done", ...RESULTS.github.release },
      { id: "verify", status: "done", ...RESULTS.origin.verified, ...RESULTS.hub.verified, ...RESULTS.github.verified },
    ]);
    for (const s of r.steps) {
      expect(s.ms, s.id).toBeGreaterThanOrEqual(0);
      expect(s.ms, s.id).toBeLessThanOrEqual(elapsed);
    }
    expect(w.titles).toEqual([
      "stage origin: done 0123456789ab",
      "stage hub: done fedcba987654 https://hub.test/org/model/tree/staging-v1.0.0",
      "stage github: done https://github.test/org/model/releases/tag/untagged-7",
      `Prove what users will download: done (${PROOF_SUMMARY})`,
      "release origin: done 0123456789ab",
      "release hub: done 111111111111 https://hub.test/org/model/tree/v1.0.0",
      "release github: done https://github.test/org/model/releases/tag/v1.0.0",
      "Verify what landed: done",
    ]);
    // The lines a destination says while it works show under the running step.
    expect(w.said).toEqual(["stage origin: working", "stage hub: working", "stage github: working", "prove hub: downloading", "prove github: downloading", "release origin: working", "release hub: working", "release github: working"]);
    // Each destination's proof is recorded for it, with its own summary.
    const proofs = journalOf(cwd).entries.filter((e) => e.step === "verify.download");
    expect(proofs.map((e) => [e.destination.kind, e.result])).toEqual([
      ["hub", { ...RESULTS.hub.proof, summary: "Hub: skipped (the smoke test is off)" }],
      ["github", { ...RESULTS.github.proof, summary: "ckpt.tar.gz of v1.0.0 downloaded and unpacked verified (9 files)" }],
    ]);
    expect([r.notes, w.questions]).toEqual([[], []]);
  });

  it("a rerun after a complete release asks nothing and reports every recorded step as done in an earlier run, with what it produced", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, real(log)), watch().ui);
    const entries = journalOf(cwd).entries;
    const at = (step: string) => `done in an earlier run (${entries.filter((e) => e.step === step).map((e) => e.at).join(", ")})`;
    log.length = 0;
    const w = watch();
    const again = await publishPlanned(context(cwd, real(log), { confirm: true }), w.ui);
    expect([again.outcome, again.ok, again.visible]).toEqual(["already-released", true, undefined]);
    expect([w.questions, w.titles, log]).toEqual([[], [], ["reverify origin", "reverify hub", "reverify github"]]);
    expect(again.steps).toEqual([
      { id: "hub", status: "skipped", message: at("hub"), ...RESULTS.hub.stage },
      { id: "git-tag", status: "skipped", message: at("git-tag"), ...RESULTS.origin.stage },
      { id: "github-release", status: "skipped", message: at("github-release"), ...RESULTS.github.stage },
      { id: "verify.download", status: "skipped", message: at("verify.download"), ...RESULTS.hub.proof, ...RESULTS.github.proof, summary: PROOF_SUMMARY },
      { id: "git-push", status: "skipped", message: at("git-push"), ...RESULTS.origin.release },
      { id: "hub-tag", status: "skipped", message: at("hub-tag"), ...RESULTS.hub.release },
      { id: "github-publish", status: "skipped", message: at("github-publish"), ...RESULTS.github.release },
      { id: "verify", status: "skipped", message: at("verify"), ...RESULTS.origin.verified, ...RESULTS.hub.verified, ...RESULTS.github.verified },
    ]);
    expect(again.journal).toBe(path.join(".git", "azbert-release", "journal-v1.0.0.json"));
  });

  it("a rerun reports only the steps of the destinations it publishes to", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, real(log).filter((d) => d.address.kind === "hub")), watch().ui);
    const again = await publishPlanned(context(cwd, real(log).filter((d) => d.address.kind === "hub")), watch().ui);
    expect(again.outcome).toBe("already-released");
    expect(statuses(again.steps)).toEqual(["hub:skipped", "verify.download:skipped", "hub-tag:skipped", "verify:skipped"]);
    expect(again.steps.find((s) => s.id === "verify.download")).toMatchObject({ summary: "Hub: skipped (the smoke test is off)" });
  });

  it("a resumed release: the steps an earlier run did say so in their titles and carry no time of this run", async () => {
    const log: string[] = [];
    const cwd = project();
    let down = true;
    const dests = real(log, { github: { release: () => { if (down) throw new GitHubError("GitHub answered 502", 502); } } });
    const first = await publishPlanned(context(cwd, dests), watch().ui);
    expect(statuses(first.steps).slice(-2)).toEqual(["hub-tag:done", "github-publish:failed"]);
    down = false;
    const w = watch();
    const second = await publishPlanned(context(cwd, dests), w.ui);
    expect(second.outcome).toBe("released");
    expect(w.titles).toEqual([
      "stage origin: done in an earlier run 0123456789ab",
      "stage hub: done in an earlier run fedcba987654 https://hub.test/org/model/tree/staging-v1.0.0",
      "stage github: done in an earlier run https://github.test/org/model/releases/tag/untagged-7",
      `Prove what users will download: done in an earlier run (${PROOF_SUMMARY})`,
      "release origin: done in an earlier run 0123456789ab",
      "release hub: done in an earlier run 111111111111 https://hub.test/org/model/tree/v1.0.0",
      "release github: done https://github.test/org/model/releases/tag/v1.0.0",
      "Verify what landed: done",
    ]);
    expect(second.steps.filter((s) => "ms" in s).map((s) => s.id)).toEqual(["github-publish", "verify"]);
  });

  it("every destination already held this release (no journal): proven again, nothing written, already released and visible", async () => {
    const log: string[] = [];
    const cwd = project();
    const w = watch();
    const r = await publishPlanned(context(cwd, real(log, { origin: { status: "unchanged" }, hub: { status: "unchanged" }, github: { status: "unchanged" } })), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["already-released", true, true]);
    expect(statuses(r.steps)).toEqual(["git-tag:unchanged", "hub:unchanged", "github-release:unchanged", "verify.download:done", "git-push:unchanged", "hub-tag:unchanged", "github-publish:unchanged", "verify:done"]);
    expect(w.titles[0]).toBe("stage origin: already there 0123456789ab");
    expect(w.titles[6]).toBe("release github: already there https://github.test/org/model/releases/tag/v1.0.0");
  });

  it("one destination that wrote makes it a release", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, real(log, { origin: { status: "unchanged" }, hub: { status: "unchanged" } })), watch().ui);
    expect([r.outcome, r.visible]).toEqual(["released", true]);
  });

  it("a release to the git remote alone: nothing to download, the proof step passes with nothing to say", async () => {
    const log: string[] = [];
    const cwd = project();
    const w = watch();
    const r = await publishPlanned(context(cwd, real(log).filter((d) => d.address.kind === "origin")), w.ui);
    expect(r.outcome).toBe("released");
    expect(withoutMs(r.steps).find((s) => s.id === "verify.download")).toEqual({ id: "verify.download", status: "done", summary: "" });
    expect(w.titles).toContain("Prove what users will download: done");
  });
});

describe("the one question", () => {
  it("is asked once, after what an earlier run left is known; yes publishes", async () => {
    const log: string[] = [];
    const cwd = project();
    const w = watch({ answer: () => true });
    const r = await publishPlanned(context(cwd, all(log), { confirm: true }), w.ui);
    expect(w.questions).toEqual(["\nPublish v1.0.0 as planned above? [y/N] "]);
    expect(r.outcome).toBe("released");
  });

  it("no: nothing is staged or written anywhere, and nothing is visible", async () => {
    const log: string[] = [];
    const cwd = project();
    const w = watch({ answer: () => false });
    const r = await publishPlanned(context(cwd, all(log), { confirm: true }), w.ui);
    expect([r.outcome, r.ok, r.visible, r.error]).toEqual(["declined", false, false, undefined]);
    expect([log, r.steps, recorded(cwd)]).toEqual([[], [], []]);
  });

  it("Ctrl-C at the question is an interruption, not a no", async () => {
    const log: string[] = [];
    const cwd = project();
    const abort = new AbortController();
    const w = watch({ answer: () => (abort.abort(new Error("interrupted (Ctrl-C)")), false) });
    const r = await publishPlanned({ ...context(cwd, all(log), { confirm: true }), signal: abort.signal }, w.ui);
    expect([r.outcome, r.ok, r.error]).toEqual(["interrupted", false, "interrupted at the confirmation"]);
    expect(log).toEqual([]);
  });

  it("is not asked with --yes or in CI", async () => {
    const log: string[] = [];
    const cwd = project();
    const w = watch({ answer: () => false });
    expect((await publishPlanned(context(cwd, all(log)), w.ui)).outcome).toBe("released");
    expect(w.questions).toEqual([]);
  });
});

describe("a release that fails", () => {
  it("staging that can never pass as it is: nothing is proven, what was staged is withdrawn, and the error is redacted", async () => {
    registerSecret(SECRET);
    const log: string[] = [];
    const cwd = project();
    const w = watch();
    const r = await publishPlanned(context(cwd, all(log, { hub: { stage: () => { throw new UserError(`the Hub refused the token ${SECRET}`); } } })), w.ui);
    expect([r.outcome, r.ok, r.rerunHelps, r.visible, r.error]).toEqual(["failed", false, false, false, "the Hub refused the token ***"]);
    expect("fix" in r).toBe(false);
    expect(log).toEqual(["stage origin", "stage hub", "withdraw origin", "withdraw hub", "withdraw github"]);
    expect(withoutMs(r.steps)).toEqual([
      { id: "git-tag", status: "done", n: 1 },
      { id: "hub", status: "failed", message: "the Hub refused the token ***" },
      { id: "withdraw", status: "done", removed: ["origin's staging", "hub's staging", "github's staging"] },
    ]);
    expect(w.titles.at(-1)).toBe("Withdraw what was staged: done");
    expect(w.said.slice(-3)).toEqual(["withdraw origin: removing", "withdraw hub: removing", "withdraw github: removing"]);
    expect(recorded(cwd)).toEqual([]);
  });

  it("staging that fails for a transient reason keeps what was staged: nothing is proven or withdrawn, a rerun resumes", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, all(log, { github: { stage: () => { throw new GitHubError("GitHub answered 503", 503); } } })), watch().ui);
    expect([r.outcome, r.ok, r.rerunHelps, r.visible, r.error]).toEqual(["failed", false, true, false, "GitHub answered 503"]);
    expect(log).toEqual(["stage origin", "stage hub", "stage github"]);
    expect(recorded(cwd)).toEqual(["git-tag origin", "hub hub"]);
  });

  it("a withdraw with nothing to remove says so; a destination that cannot withdraw keeps its record", async () => {
    const log: string[] = [];
    const cwd = project();
    const dests = all(log, { origin: { without: ["withdraw"] }, hub: { removed: [], prove: () => { throw new ProofError("Hub config.json differs"); } }, github: { removed: [] } });
    const r = await publishPlanned(context(cwd, dests), watch().ui);
    expect(r.outcome).toBe("failed");
    expect(log.filter((l) => l.startsWith("withdraw"))).toEqual(["withdraw hub", "withdraw github"]);
    expect(withoutMs(r.steps).at(-1)).toEqual({ id: "withdraw", status: "done", removed: [], message: "nothing was staged" });
    expect(recorded(cwd)).toEqual(["git-tag origin"]);
  });

  it("a withdraw that fails is a failed step of its own; the report still says why the release stopped, and what was not withdrawn stays recorded", async () => {
    const log: string[] = [];
    const cwd = project();
    const dests = all(log, { hub: { prove: () => { throw new ProofError("Hub config.json differs"); }, withdraw: () => { throw new UserError("the Hub refused to delete the staging branch"); } } });
    const r = await publishPlanned(context(cwd, dests), watch().ui);
    expect([r.outcome, r.ok, r.rerunHelps, r.visible]).toEqual(["failed", false, false, false]);
    expect(r.error).toMatch(/^what users would download does not pass, so nothing was released:\nHub config\.json differs$/);
    expect(r.steps.at(-1)).toEqual({ id: "withdraw", status: "failed", message: "the Hub refused to delete the staging branch" });
    expect(log.slice(-2)).toEqual(["withdraw origin", "withdraw hub"]);
    expect(recorded(cwd)).toEqual(["hub hub", "github-release github", "verify.download github"]);
  });

  it("every download that does not pass is named, one per line", async () => {
    const log: string[] = [];
    const cwd = project();
    const dests = all(log, { hub: { prove: () => { throw new ProofError("Hub config.json: 620 bytes"); } }, github: { prove: () => { throw new VerifyError("GitHub ckpt.tar.gz: another sha256"); } } });
    const r = await publishPlanned(context(cwd, dests), watch().ui);
    expect([r.outcome, r.ok, r.rerunHelps, r.visible]).toEqual(["failed", false, false, false]);
    expect(r.error).toBe("what users would download does not pass, so nothing was released:\nHub config.json: 620 bytes\nGitHub ckpt.tar.gz: another sha256");
    expect(r.steps.find((s) => s.id === "verify.download")).toEqual({ id: "verify.download", status: "failed", message: r.error });
  });

  it("a download that could not be made (the network) is no failed proof: nothing is withdrawn, a rerun resumes", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, all(log, { hub: { prove: () => { throw new GitHubError("the Hub answered 503", 503); } } })), watch().ui);
    expect([r.outcome, r.rerunHelps, r.visible, r.error]).toEqual(["failed", true, false, "the Hub answered 503"]);
    expect(log.slice(3)).toEqual(["prove hub"]);
    expect(recorded(cwd)).toEqual(["git-tag origin", "hub hub", "github-release github"]);
  });

  it("a later visible step refused for good: what is visible stays, nothing is withdrawn", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, all(log, { hub: { release: () => { throw new UserError("the Hub tag v1.0.0 is taken"); } } })), watch().ui);
    expect([r.outcome, r.ok, r.rerunHelps, r.visible, r.error]).toEqual(["failed", false, false, true, "the Hub tag v1.0.0 is taken"]);
    expect(log.slice(-2)).toEqual(["release origin", "release hub"]);
  });

  it("the first step of this run refused when an earlier run made another destination visible: nothing is withdrawn", async () => {
    const log: string[] = [];
    const cwd = project();
    // The first run released everything, and what landed on origin was not what was released.
    let originBroken = true;
    let tagTaken = false;
    const dests = all(log, {
      origin: {
        reverify: () => (originBroken ? ["refs/tags/v1.0.0 points elsewhere"] : []),
        release: () => { if (tagTaken) throw new UserError("origin refuses the tag v1.0.0"); },
      },
    });
    expect((await publishPlanned(context(cwd, dests), watch().ui)).outcome).toBe("failed");
    originBroken = false;
    tagTaken = true;
    log.length = 0;
    const r = await publishPlanned(context(cwd, dests), watch().ui);
    expect([r.outcome, r.rerunHelps, r.visible]).toEqual(["failed", false, true]);
    expect(log).toEqual(["stage origin", "release origin"]);
  });

  it("what landed differs: the verify failure is visible", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, all(log, { hub: { reverify: () => ["main is at another commit", "README.md differs"] } })), watch().ui);
    expect([r.outcome, r.ok, r.rerunHelps, r.visible]).toEqual(["failed", false, true, true]);
    expect(r.error).toBe(`main is at another commit\nREADME.md differs\n(the journal no longer counts ${HUB_LINE} as published: a rerun publishes it again)`);
    expect(r.steps.at(-1)).toEqual({ id: "verify", status: "failed", message: r.error });
  });

  it.each([
    ["after a visible step: interrupted, and visible", "release", true],
    ["during the proof: interrupted, nothing visible", "prove", false],
  ] as const)("Ctrl-C %s", async (_when, phase, visible) => {
    const log: string[] = [];
    const cwd = project();
    const abort = new AbortController();
    const ctx = { ...context(cwd, all(log, { hub: { [phase]: () => abort.abort(new Error("interrupted (Ctrl-C)")) } })), signal: abort.signal };
    const r = await publishPlanned(ctx, watch().ui);
    expect([r.outcome, r.ok, r.visible, r.error]).toEqual(["interrupted", false, visible, "interrupted (Ctrl-C)"]);
    if (phase === "release") expect(log.slice(-1)).toEqual(["release hub"]);
  });

  it("a remote that refuses to say whether the release is still there (not a transient error): a rerun does not help", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, all(log)), watch().ui);
    const r = await publishPlanned(context(cwd, all(log, { github: { reverify: () => { throw new GitHubError("the token cannot read org/model", 403); } } })), watch().ui);
    expect([r.outcome, r.ok, r.rerunHelps]).toEqual(["failed", false, false]);
  });
});

describe("what an earlier run left", () => {
  it("a destination gone (404) is planned again, not a failure", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, all(log)), watch().ui);
    let gone = true;
    const dests = all(log, { hub: { reverify: () => { if (gone) { gone = false; throw new GitHubError("not found", 404); } return []; } } });
    log.length = 0;
    const w = watch();
    const r = await publishPlanned(context(cwd, dests), w.ui);
    expect(r.outcome).toBe("released");
    expect(r.notes).toEqual([
      `Planned again: ${HUB_LINE} no longer holds the recorded release: org/model or what was released there is gone (404)`,
      `Planned again: ${GITHUB_LINE}: the release notes link the Hub release, which is made again`,
    ]);
    expect(w.said.filter((l) => l.startsWith("Planned again"))).toEqual(r.notes);
    // The GitHub Release's draft stays (it is asked whether it is still there); it is published and verified again.
    expect(log).toEqual(["reverify origin", "reverify hub", "reverify github", "stage hub", "still there? github", "prove hub", "release hub", "release github", "reverify hub", "reverify github"]);
  });

  it("only the git remote lost it: only the git remote is published again, its problems joined in one note", async () => {
    const log: string[] = [];
    const cwd = project();
    await publishPlanned(context(cwd, all(log)), watch().ui);
    let lost = true;
    const dests = all(log, { origin: { reverify: () => (lost ? ((lost = false), ["refs/tags/v1.0.0 is gone", "main moved"]) : []) } });
    log.length = 0;
    const r = await publishPlanned(context(cwd, dests), watch().ui);
    expect(r.outcome).toBe("released");
    expect(r.notes).toEqual([`Planned again: ${ORIGIN_LINE} no longer holds the recorded release: refs/tags/v1.0.0 is gone; main moved`]);
    expect(log).toEqual(["reverify origin", "reverify hub", "reverify github", "stage origin", "release origin", "reverify origin"]);
  });
});

describe("a journal that records a verified destination never proven from a download", () => {
  it("does not count it as released: it is proven now, and the steps it records are reported as done before", async () => {
    const log: string[] = [];
    const cwd = project();
    const journal = await Journal.open(cwd, "v1.0.0", manifestDigest([]));
    await journal.record("hub", ADDRESSES.hub, RESULTS.hub.stage as never);
    await journal.record("hub-tag", ADDRESSES.hub, RESULTS.hub.release as never);
    await journal.record("verify", ADDRESSES.hub, RESULTS.hub.verified);
    const w = watch();
    const r = await publishPlanned(context(cwd, [fake("hub", log, { results: RESULTS.hub })]), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["already-released", true, true]);
    expect(log).toEqual(["prove hub"]);
    expect(statuses(r.steps)).toEqual(["hub:skipped", "verify.download:done", "hub-tag:skipped", "verify:skipped"]);
    expect(w.titles.at(-1)).toBe("Verify what landed: done in an earlier run");
  });
});

describe("destinations that lack a phase", () => {
  it("a Hub pull request is staged and proven, not released here: the report says to merge and tag it", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, all(log, { hub: { without: ["release"] } })), watch().ui);
    expect(r.outcome).toBe("released");
    expect(log.filter((l) => l.startsWith("release"))).toEqual(["release origin", "release github"]);
    expect(r.steps.map((s) => s.id)).not.toContain("hub-tag");
    expect(r.notes).toEqual([`${HUB_LINE}: published as a pull request, proven at its commit; merge it, then tag it (\`azbert-release verify --tag v1.0.0\` proves it again once tagged)`]);
  });

  it("a destination with nothing to stage is proven and released all the same", async () => {
    const log: string[] = [];
    const cwd = project();
    const r = await publishPlanned(context(cwd, all(log, { github: { without: ["stage"] } })), watch().ui);
    expect(r.outcome).toBe("released");
    expect(log.slice(0, 5)).toEqual(["stage origin", "stage hub", "prove hub", "prove github", "release origin"]);
  });
});

// ── the local part: runRelease with the real local steps on a small real checkpoint ──

const FIXTURE = fileURLToPath(new URL("./fixtures/azbert-tiny", import.meta.url));

/** A folder that is no git repository. */
function scratch(): string {
  const cwd = mkdtempSync(path.join(os.tmpdir(), "azbert-driver-"));
  dirs.push(cwd);
  return cwd;
}

function releaseSettings(cwd: string, o: { stages?: Stage[]; dryRun?: boolean; checkpoint?: string; outDir?: string } = {}): ReleaseSettings {
  return {
    cwd,
    configFile: null,
    checkpoint: { dir: o.checkpoint ?? FIXTURE, modelCard: null },
    offline: true,
    tag: { tag: "v1.0.0", source: "cli" },
    hub: { endpoint: "https://hub.test", repoId: "org/model", revision: "main", prune: false, createPr: false },
    github: { archive: "ckpt.tar.gz", outDir: o.outDir ?? path.join(cwd, "out") },
    weights: { safetensors: "off" },
    signing: { method: "off" },
    smoke: { device: "cpu" },
    ignorePaths: [],
    release: { stages: new Set(o.stages ?? ["check", "hub", "github"]), dryRun: !!o.dryRun, confirm: false },
  } as unknown as ReleaseSettings;
}

function localContext(settings: ReleaseSettings, destinations: Destination[], signal = new AbortController().signal): ReleaseContext {
  return { settings, remotes: { hubFetch: globalThis.fetch }, signal, destinations, results: [], plan: { tag: "v1.0.0" }, steps: [], notes: [] };
}

const check = (id: string, title: string, status: CheckResult["status"], message?: string): CheckResult => ({ id, title, status, ...(message ? { message } : {}) });
const notPassing = (checks: CheckResult[]) => checks.filter((c) => c.status !== "pass");
const SMOKE = {
  ok: true,
  device: "cpu",
  engine: "onnx-cpu",
  topK: 5,
  cases: [{ text: "Paris is the [MASK] of France.", input_ids: [1, 2], masks: [], expect: [["capital"]], status: "pass", ms: 1 }],
} as unknown as SmokeReport;

describe("the local part of a release (runRelease)", () => {
  it("a dry run checks the checkpoint and every destination, plans, shows the plan once, and writes nothing, outside a repository too", async () => {
    const log: string[] = [];
    const cwd = scratch();
    const w = watch();
    const r = await runRelease(localContext(releaseSettings(cwd, { dryRun: true }), all(log)), w.ui);
    expect([r.outcome, r.ok, r.visible, r.error]).toEqual(["dry-run", true, undefined, undefined]);
    expect(log).toEqual(["preflight origin", "preflight hub", "preflight github", "plan origin", "plan hub", "plan github"]);
    expect(r.checks.length).toBeGreaterThan(10);
    expect(notPassing(r.checks)).toEqual([]);
    expect(w.plans).toEqual([r.plan]);
    expect(r.plan).toMatchObject({ tag: "v1.0.0", hub: PLANS.hub, git: PLANS.git, github: PLANS.github, pack: { archive: `${path.join(cwd, "out")}/ckpt.tar.gz` } });
    expect(r.safetensors).toMatchObject({ mode: "off", action: "off" });
    expect([r.pack, r.steps, r.notes, r.remotes, r.journal]).toEqual([undefined, [], [], ["hub", "github"], undefined]);
    expect(existsSync(path.join(cwd, "out"))).toBe(false);
  });

  it("a dry run with a step the real run would refuse fails, and shows the plan that holds the refusal", async () => {
    const log: string[] = [];
    const refusal = check("hub.tag", "the release tag is free on the Hub", "fail", "v1.0.0 is on another commit");
    const w = watch();
    const r = await runRelease(localContext(releaseSettings(scratch(), { dryRun: true }), all(log, { hub: { refusals: [refusal] } })), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["checks-failed", false, false]);
    expect(notPassing(r.checks)).toEqual([refusal]);
    expect(w.plans).toEqual([r.plan]);
  });

  it("a dry run says what a real run would lack (a token) without failing on it", async () => {
    const log: string[] = [];
    const skipped = check("hub.token", "a Hub token is set", "skip", "no HF_TOKEN");
    const r = await runRelease(localContext(releaseSettings(scratch(), { dryRun: true }), all(log, { hub: { preflight: () => [skipped] } })), watch().ui);
    expect([r.outcome, r.ok]).toEqual(["dry-run", true]);
    expect(notPassing(r.checks)).toEqual([skipped]);
  });

  it("checks that fail: nothing is planned, shown, packed or sent, and no journal is written", async () => {
    const log: string[] = [];
    const cwd = project();
    const failing = check("git.remote", "origin can be reached", "fail", "origin: connection refused");
    const w = watch();
    const r = await runRelease(localContext(releaseSettings(cwd), all(log, { origin: { preflight: () => [failing] } })), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["checks-failed", false, false]);
    expect(notPassing(r.checks)).toEqual([failing]);
    expect(log).toEqual(["preflight origin", "preflight hub", "preflight github"]);
    expect([w.plans, r.pack, r.plan, r.journal]).toEqual([[], undefined, undefined, undefined]);
    expect(existsSync(path.join(cwd, ".git", "azbert-release"))).toBe(false);
  });

  it("a real run needs every credential its destinations use: a skipped credential check fails it before anything is sent", async () => {
    const log: string[] = [];
    const cwd = project();
    const skips = {
      origin: [check("git.remote", "origin can be reached", "skip", "offline")],
      hub: [check("hub.token", "a Hub token is set", "skip", "no HF_TOKEN"), check("hub.whoami", "the Hub knows the token", "skip")],
      github: [check("github.access", "GitHub accepts the token", "skip", "no GITHUB_TOKEN")],
    };
    const w = watch();
    const r = await runRelease(localContext(releaseSettings(cwd), all(log, { origin: { preflight: () => skips.origin }, hub: { preflight: () => skips.hub }, github: { preflight: () => skips.github } })), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["checks-failed", false, false]);
    expect(notPassing(r.checks)).toEqual([
      ...skips.origin,
      ...skips.hub,
      ...skips.github,
      check("release.hub.token", "a Hub token is set (needed to publish)", "fail", "no HF_TOKEN"),
      check("release.hub.whoami", "the Hub knows the token (needed to publish)", "fail", "skipped"),
      check("release.git.remote", "origin can be reached (needed to publish)", "fail", "offline"),
      check("release.github.access", "GitHub accepts the token (needed to publish)", "fail", "no GITHUB_TOKEN"),
    ]);
    // The plan was made before the credentials were held against it: it is shown.
    expect(w.plans).toEqual([r.plan]);
    expect(log.filter((l) => !/^(preflight|plan) /.test(l))).toEqual([]);
  });

  it("a credential check counts only for a destination the run publishes to", async () => {
    const log: string[] = [];
    const cwd = project();
    const preflight = () => [check("hub.token", "a Hub token is set", "pass"), check("github.access", "GitHub accepts the token", "skip", "no GITHUB_TOKEN")];
    const w = watch();
    const r = await runRelease(localContext(releaseSettings(cwd, { stages: ["check", "hub"] }), [fake("hub", log, { preflight })]), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["released", true, true]);
    expect(w.plans).toEqual([r.plan]);
    expect(notPassing(r.checks).map((c) => c.id)).toEqual(["github.access"]);
    expect([r.remotes, r.plan?.hub, r.plan?.git, r.pack]).toEqual([["hub"], PLANS.hub, undefined, undefined]);
    expect(log).toEqual(["preflight hub", "plan hub", "stage hub", "prove hub", "release hub", "reverify hub"]);
  });

  it("a real run needs a plan for every destination: one left out, or skipped, fails it and says which", async () => {
    const log: string[] = [];
    const dests = all(log, { hub: { plan: (p) => void (p.hub = { skipped: "the Hub could not be asked" }) }, github: { plan: () => {} } });
    const r = await runRelease(localContext(releaseSettings(project()), dests), watch().ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["checks-failed", false, false]);
    expect(notPassing(r.checks)).toEqual([check("release.plan", "every remote step has a plan", "fail", `${HUB_LINE}: the Hub could not be asked\n${GITHUB_LINE}: not planned`)]);
    expect(log.filter((l) => !/^(preflight|plan) /.test(l))).toEqual([]);
  });

  it("--only check,pack: checks and packs, publishes nothing, needs no repository", async () => {
    const cwd = scratch();
    const w = watch();
    const r = await runRelease(localContext(releaseSettings(cwd, { stages: ["check", "pack"] }), []), w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["local-only", true, undefined]);
    expect(r.pack?.archive.path).toBe(path.join(cwd, "out", "ckpt.tar.gz"));
    expect(existsSync(path.join(cwd, "out", "ckpt.tar.gz"))).toBe(true);
    expect([r.remotes, r.plan, r.steps, r.notes, r.journal, w.plans]).toEqual([[], undefined, [], [], undefined, []]);
  });

  it("--only check: nothing published, nothing prepared to publish", async () => {
    const r = await runRelease(localContext(releaseSettings(scratch(), { stages: ["check"] }), []), watch().ui);
    expect([r.outcome, r.ok, r.safetensors, r.pack]).toEqual(["local-only", true, undefined, undefined]);
  });

  it.each([
    [["check", "pack"] as Stage[], []],
    [["check", "github"] as Stage[], ["github"]],
  ])("a run of %j whose archive is missing (its step never ran) publishes nothing", async (stages, kinds) => {
    const log: string[] = [];
    const dests = (kinds as Address["kind"][]).map((k) => fake(k, log));
    const r = await runRelease(localContext(releaseSettings(project(), { stages }), dests), watch({ omit: /^Pack / }).ui);
    expect([r.outcome, r.ok, r.visible, r.pack]).toEqual(["checks-failed", false, false, undefined]);
    expect(log.filter((l) => !/^(preflight|plan) /.test(l))).toEqual([]);
  });

  it.each([
    [{ stages: ["check", "pack"] as Stage[] }],
    [{ dryRun: true }],
  ])("an archive folder inside the checkpoint is refused before anything runs (%j)", async (o) => {
    const log: string[] = [];
    const cwd = project();
    cpSync(FIXTURE, path.join(cwd, "ckpt"), { recursive: true });
    const w = watch();
    const settings = releaseSettings(cwd, { ...o, checkpoint: path.join(cwd, "ckpt"), outDir: path.join(cwd, "ckpt", "out") });
    const e = (await runRelease(localContext(settings, all(log)), w.ui).catch((x: unknown) => x)) as UserError;
    expect(e).toBeInstanceOf(UserError);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/^github\.outDir ckpt\/out is inside the checkpoint folder /);
    expect([w.titles, log]).toEqual([[], []]);
  });

  it("the project folder itself as the archive folder is named '.' in the refusal", async () => {
    const cwd = project();
    cpSync(FIXTURE, path.join(cwd, "ckpt"), { recursive: true });
    const settings = releaseSettings(cwd, { dryRun: true, checkpoint: path.join(cwd, "ckpt"), outDir: cwd });
    await expect(runRelease(localContext(settings, []), watch().ui)).rejects.toThrow(/^github\.outDir \. holds files pack did not write \(\.git, ckpt\)/);
  });

  it("a run that neither packs nor publishes to GitHub does not look at the archive folder", async () => {
    const cwd = scratch();
    const r = await runRelease(localContext(releaseSettings(cwd, { stages: ["check", "hub"], dryRun: true, outDir: path.join(FIXTURE, "out") }), [fake("hub", [])]), watch().ui);
    expect([r.outcome, r.ok]).toEqual(["dry-run", true]);
  });

  it("a real release outside a git repository is refused before minutes of checks: its journal needs one", async () => {
    const log: string[] = [];
    const w = watch();
    await expect(runRelease(localContext(releaseSettings(scratch()), all(log)), w.ui)).rejects.toThrow(/is not inside a git repository/);
    expect([w.titles, log]).toEqual([[], []]);
  });

  it("Ctrl-C during the checks: the steps after it do not start, and the report says nothing was published", async () => {
    const log: string[] = [];
    const abort = new AbortController();
    const dests = all(log, { github: { preflight: () => (abort.abort(new Error("interrupted (Ctrl-C)")), []) } });
    const ctx = localContext(releaseSettings(project()), dests, abort.signal);
    const w = watch();
    const r = await runRelease(ctx, w.ui);
    ctx.read?.cancel();
    expect([r.outcome, r.ok, r.visible, r.error]).toEqual(["interrupted", false, false, "interrupted before anything was published"]);
    expect(log).toEqual(["preflight origin", "preflight hub", "preflight github"]);
    expect([w.titles.length, w.plans, r.pack]).toEqual([1, [], undefined]);
  });

  it("a local step that throws is a failed check, its message redacted; nothing is published", async () => {
    registerSecret(SECRET);
    const log: string[] = [];
    const dests = all(log, { hub: { plan: () => { throw new Error(`the Hub refused ${SECRET}`); } } });
    const r = await runRelease(localContext(releaseSettings(project()), dests), watch().ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["checks-failed", false, false]);
    expect(notPassing(r.checks)).toEqual([check("stage.error", "every stage completed", "fail", "the Hub refused ***")]);
    expect(log).toEqual(["preflight origin", "preflight hub", "preflight github", "plan origin", "plan hub"]);
  });

  it("a smoke test that did not pass stops the release even when every check passed", async () => {
    const log: string[] = [];
    const ctx = localContext(releaseSettings(project()), all(log));
    const failed = { ...SMOKE, ok: false } as SmokeReport;
    ctx.smoke = failed;
    const r = await runRelease(ctx, watch().ui);
    expect([r.outcome, r.ok, r.visible, r.smoke]).toEqual(["checks-failed", false, false, failed]);
    expect(log.filter((l) => !/^(preflight|plan) /.test(l))).toEqual([]);
  });

  it("a real run from the checks to the release: every step gets what was made locally, the journal is named, temporary files are removed", async () => {
    const log: string[] = [];
    const cwd = project();
    const runs: StepRun[] = [];
    const ctx = localContext(releaseSettings(cwd), all(log, { hub: { runs } }));
    ctx.smoke = SMOKE;
    const w = watch();
    const r = await runRelease(ctx, w.ui);
    expect([r.outcome, r.ok, r.visible]).toEqual(["released", true, true]);
    expect(log).toEqual([
      ...["preflight", "plan", "stage"].flatMap((p) => ["origin", "hub", "github"].map((k) => `${p} ${k}`)),
      "prove hub",
      "prove github",
      ...["release", "reverify"].flatMap((p) => ["origin", "hub", "github"].map((k) => `${p} ${k}`)),
    ]);
    expect(r.journal).toBe(path.join(".git", "azbert-release", "journal-v1.0.0.json"));
    expect(existsSync(path.join(cwd, r.journal!))).toBe(true);
    expect(r.pack?.archive.path).toBe(path.join(cwd, "out", "ckpt.tar.gz"));
    expect([r.smoke, r.safetensors, r.plan]).toEqual([SMOKE, ctx.published?.safetensors, ctx.plan]);
    expect(w.plans).toEqual([ctx.plan]);
    expect(runs).toHaveLength(3);
    for (const run of runs) {
      expect(run).toMatchObject({ settings: ctx.settings, published: ctx.published, pack: ctx.pack, plan: ctx.plan, checks: ctx.results, manifest: ctx.published!.hub });
      expect(run.smoke).toEqual({ ok: true, device: "cpu", engine: "onnx-cpu", cases: [{ text: "Paris is the [MASK] of France.", status: "pass", expect: ["capital"], masks: [] }] });
    }
    // manifest.json was generated for the release, in a folder of its own that the run removes.
    const manifestJson = ctx.published!.hub.find((e) => e.path === "manifest.json")!;
    expect(existsSync(manifestJson.source)).toBe(false);
  });
});
