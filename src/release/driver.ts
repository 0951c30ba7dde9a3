// The release, in the order it promises: a release is complete or invisible.
//
//   local    checklist (checkpoint + every destination's preflight) → smoke → safetensors → pack → plan
//   ──────── the dry run stops here; a real run shows the plan and asks once ────────
//   stage    Hub: a staging branch │ git: the tag, locally │ GitHub: a draft with every asset
//   prove    download what is staged, as users would get it, and check it (verify.download)
//   release  git: push branch + tag │ Hub: the proven tree on main, tagged │ GitHub: publish the draft
//   verify   every destination holds what was released there
//
// Nothing anyone can see changes before the proof passes; a failed proof withdraws what was
// staged (the staging branch, the draft), so no tag exists anywhere for an unproven release.
// Every remote step is journaled: a rerun resumes where the last run stopped. This file is the
// only place that orders destinations; the UI only shows the steps and asks the question.
import path from "node:path";
import { assertPackOutDir } from "../pack/out-dir.js";
import { isOk, type CheckResult } from "../report.js";
import { redact } from "../util/redact.js";
import { checklistSteps, stageFailure, type CheckContext } from "./checklist.js";
import { errorStatus } from "../hub/errors.js";
import { addressName, describeAddress, type Destination, type Phase, type ReleasePhase, type StagePhase, type StepRun } from "./destination.js";
import { rerunHelps, fixFor } from "./failure.js";
import { hubCardLookup } from "./hub-card.js";
import { Journal, journaled, manifestDigest } from "./journal.js";
import { packStep, planStep, publishedManifest, publishedStep, smokeStep, type LocalContext } from "./local-steps.js";
import type { PipelineStep, StepOutput, StepRunner } from "./pipeline.js";
import { isSkipped, type ReleasePlan } from "./plan.js";
import { describeProof } from "./proof.js";
import type { ReleaseOutcome, ReleaseReport, StepId, StepReport, VerifyDownloadResult, VerifyStepResult } from "./report.js";
import { tagName } from "./settings.js";
import { ProofError, VerifyError } from "./verify-error.js";
import { signStep } from "./signature.js";
import { smokeSummary } from "./smoke-summary.js";

export interface ReleaseUi extends StepRunner {
  /** Shows the plan to the person who is about to confirm it. */
  showPlan(plan: ReleasePlan): void;
  /** Asks once; false: do not publish. */
  confirm(question: string): Promise<boolean>;
  /** A line for the person watching, redacted. */
  say(line: string): void;
}

export interface ReleaseContext extends LocalContext {
  journal?: Journal;
  steps: StepReport[];
  notes: string[];
}

/**
 * Stage, prove and release order. Staging starts with the local tag (it can fail for local
 * reasons: a signing key); the first visible write is the git push, where GitHub refuses a
 * burned tag with nothing visible yet.
 */
const STAGE_ORDER = ["origin", "hub", "github"] as const;
const RELEASE_ORDER = ["origin", "hub", "github"] as const;
const byKind = (ds: readonly Destination[], order: readonly string[]) => order.flatMap((k) => ds.filter((d) => d.address.kind === k));

export async function runRelease(ctx: ReleaseContext, ui: ReleaseUi): Promise<ReleaseReport> {
  try {
    return await release(ctx, ui);
  } finally {
    await ctx.published?.dispose();
  }
}

type ReportExtra = Partial<Pick<ReleaseReport, "error" | "rerunHelps" | "fix" | "visible">>;

function reportOf(ctx: ReleaseContext, outcome: ReleaseOutcome, ok: boolean, extra: ReportExtra = {}): ReleaseReport {
  const s = ctx.settings;
  return {
    outcome,
    ok,
    tag: ctx.plan.tag,
    remotes: (["hub", "github"] as const).filter((x) => s.release.stages.has(x)),
    checks: ctx.results,
    ...(ctx.smoke ? { smoke: ctx.smoke } : {}),
    ...(ctx.published ? { safetensors: ctx.published.safetensors } : {}),
    ...(ctx.pack ? { pack: ctx.pack } : {}),
    ...(ctx.plan.hub || ctx.plan.git || ctx.plan.github || ctx.plan.pack ? { plan: ctx.plan } : {}),
    steps: ctx.steps,
    notes: ctx.notes,
    ...(extra.error ? { ...extra, error: redact(extra.error) } : extra),
    ...(ctx.journal ? { journal: path.relative(s.cwd, ctx.journal.file) } : {}),
  };
}

async function release(ctx: ReleaseContext, ui: ReleaseUi): Promise<ReleaseReport> {
  const s = ctx.settings;
  const { stages, dryRun } = s.release;
  const publishing = ctx.destinations.length > 0;
  const report = (outcome: ReleaseOutcome, ok: boolean, extra: ReportExtra = {}) => reportOf(ctx, outcome, ok, extra);

  // The journal lives in .git/: say that a release needs a repository before minutes of checks.
  if (!dryRun && publishing) await Journal.requireRepository(s.cwd);
  // A usage error (exit 2), in the dry run too: the archive's folder is wrong whatever the checkpoint holds.
  if (stages.has("pack") || stages.has("github")) {
    assertPackOutDir({ outDir: s.github.outDir, checkpointDir: s.checkpoint.dir, archiveName: s.github.archive, label: `github.outDir ${path.relative(s.cwd, s.github.outDir) || "."}` });
  }

  // ── local: everything that can be known before the first remote write ──
  ctx.hubCard = hubCardLookup(s, ctx.remotes);
  ctx.environment = ctx.destinations.map((d) => ({ title: d.group, run: () => d.preflight(ctx) }));
  await runSteps(ui, localSteps(ctx), ctx, (e) => ctx.results.push(stageFailure(e)));
  if (ctx.signal.aborted) return report("interrupted", false, { error: "interrupted before anything was published", visible: false });
  // The plan is shown when the checks let it be made, refusals included: they are in it.
  const planned = (ctx.plan.hub || ctx.plan.git || ctx.plan.github) && isOk(ctx.results);
  ctx.results.push(...gates(ctx));
  const localOk = isOk(ctx.results) && (!ctx.smoke || ctx.smoke.ok) && (dryRun || !(stages.has("pack") || stages.has("github")) || !!ctx.pack);
  if (planned) ui.showPlan(ctx.plan);
  if (dryRun && localOk) return report("dry-run", true);
  if (!localOk) return report("checks-failed", false, { visible: false });
  if (!publishing) return report("local-only", true);
  return publishPlanned(ctx, ui);
}

/** Steps that read and prove, never write. */
const PROOF_STEPS: ReadonlySet<string> = new Set(["verify.download", "verify"]);

/**
 * From the plan on: the journal, what an earlier run left, the one question, then stage, prove,
 * release and verify, in the order the release promises.
 */
export async function publishPlanned(ctx: ReleaseContext, ui: ReleaseUi): Promise<ReleaseReport> {
  const s = ctx.settings;
  const report = (outcome: ReleaseOutcome, ok: boolean, extra: ReportExtra = {}) => reportOf(ctx, outcome, ok, extra);
  // ── what an earlier run of this release did, and whether it still holds ──
  ctx.journal = await Journal.open(s.cwd, tagName(s), manifestDigest(publishedManifest(ctx)));
  const run = stepRun(ctx, ui);
  let released: Destination[];
  try {
    released = await stillReleased(ctx, run);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return report("failed", false, { error: `cannot tell whether the release recorded in ${path.relative(s.cwd, ctx.journal.file)} is still in place: ${why}`, rerunHelps: rerunHelps(e) });
  }
  if (released.length === ctx.destinations.length) {
    ctx.steps.push(...recordedSteps(ctx));
    return report("already-released", true);
  }

  if (s.release.confirm && !(await ui.confirm(`\nPublish ${tagName(s)} as planned above? [y/N] `))) {
    return ctx.signal.aborted ? report("interrupted", false, { error: "interrupted at the confirmation" }) : report("declined", false, { visible: false });
  }

  // ── stage, prove: nothing visible yet ──
  const failed = (e: unknown, visible: boolean) => {
    const error = e instanceof Error ? e.message : String(e);
    if (ctx.signal.aborted) return report("interrupted", false, { error, visible });
    const again = rerunHelps(e);
    const fix = again ? undefined : fixFor(e);
    return report("failed", false, { error, rerunHelps: again, visible, ...(fix ? { fix } : {}) });
  };
  const staging = byKind(ctx.destinations, STAGE_ORDER).flatMap((d) => (d.stage ? [phaseStep(ctx, run, d, d.stage)] : []));
  let failure = await runSteps(ui, staging, ctx);
  if (failure === undefined) failure = await runSteps(ui, [proofStep(ctx, run)], ctx);
  if (failure !== undefined) {
    // A proof that failed, or staging that can never pass as it is: remove what was staged.
    if (failure instanceof ProofError || !rerunHelps(failure)) await runSteps(ui, [withdrawStep(ctx, run)], ctx);
    return failed(failure, false);
  }

  // ── release: the visible steps, the least reversible last ──
  const visibleBefore = ctx.destinations.some((d) => d.release && ctx.journal!.get(d.release.step, d.address));
  const releasing = byKind(ctx.destinations, RELEASE_ORDER).flatMap((d) => (d.release ? [phaseStep(ctx, run, d, d.release)] : []));
  for (const [i, step] of releasing.entries()) {
    const f = await runSteps(ui, [step], ctx);
    if (f === undefined) continue;
    // The first visible step refused for good (a burned tag): nothing is visible, and the staging goes.
    const nothingVisible = i === 0 && !visibleBefore;
    if (nothingVisible && !rerunHelps(f)) await runSteps(ui, [withdrawStep(ctx, run)], ctx);
    return failed(f, !nothingVisible);
  }
  for (const d of ctx.destinations) if (!d.release) ctx.notes.push(`${describeAddress(d.address)}: published as a pull request, proven at its commit; merge it, then tag it (\`azbert-release verify --tag ${tagName(s)}\` proves it again once tagged)`);

  const f = await runSteps(ui, [verifyStep(ctx, run)], ctx);
  if (f !== undefined) return failed(f, true);
  // Every destination already held this release (a workflow run after a local release, with no
  // journal): it was proven again from what is served, and nothing was written.
  const wrote = ctx.steps.some((st) => st.status === "done" && !PROOF_STEPS.has(st.id));
  return report(wrote ? "released" : "already-released", true, { visible: true });
}

function localSteps(ctx: ReleaseContext): PipelineStep<ReleaseContext>[] {
  const s = ctx.settings;
  return [
    ...checklistSteps<ReleaseContext>(ctx),
    smokeStep<ReleaseContext>(),
    publishedStep<ReleaseContext>(),
    signStep<ReleaseContext>(),
    packStep<ReleaseContext>({
      archiveName: s.github.archive,
      outDir: s.github.outDir,
      files: (c) => c.published?.archive,
      enabled: () => !s.release.dryRun && (s.release.stages.has("pack") || s.release.stages.has("github")),
    }),
    planStep<ReleaseContext>(),
  ].map((step) => interruptible(step));
}

/** What a real release needs beyond the checklist: credentials for every destination, a plan for each, and no refusal in it. */
function gates(ctx: ReleaseContext): CheckResult[] {
  const s = ctx.settings;
  const refusals = ctx.destinations.flatMap((d) => d.refusals(ctx.plan));
  if (s.release.dryRun || !isOk(ctx.results)) return refusals;
  const out: CheckResult[] = [];
  const needed: Array<[string, string]> = [
    ["hub", "hub.token"],
    ["hub", "hub.whoami"],
    ["origin", "git.remote"],
    ["github", "github.access"],
  ];
  for (const [kind, id] of needed) {
    if (!ctx.destinations.some((d) => d.address.kind === kind)) continue;
    const r = ctx.results.find((c) => c.id === id);
    if (r?.status === "skip") out.push({ id: `release.${id}`, title: `${r.title} (needed to publish)`, status: "fail", message: r.message ?? "skipped" });
  }
  const why = (p: unknown) => (isSkipped(p) ? p.skipped : "not planned");
  const missing: string[] = [];
  for (const d of ctx.destinations) {
    const part = d.address.kind === "hub" ? ctx.plan.hub : d.address.kind === "origin" ? ctx.plan.git : ctx.plan.github;
    if (!part || isSkipped(part)) missing.push(`${describeAddress(d.address)}: ${why(part)}`);
  }
  if (missing.length) out.push({ id: "release.plan", title: "every remote step has a plan", status: "fail", message: missing.join("\n") });
  return [...out, ...refusals];
}

function stepRun(ctx: ReleaseContext, ui: ReleaseUi): StepRun {
  return {
    settings: ctx.settings,
    remotes: ctx.remotes,
    journal: ctx.journal!,
    manifest: publishedManifest(ctx),
    ...(ctx.published ? { published: ctx.published } : {}),
    ...(ctx.pack ? { pack: ctx.pack } : {}),
    plan: ctx.plan,
    checks: ctx.results,
    ...(ctx.smoke ? { smoke: smokeSummary(ctx.smoke) } : {}),
    signal: ctx.signal,
    say: (line) => ui.say(line),
  };
}

/** Runs steps; the first failure is returned (undefined: all passed), or handed to `onError`. */
async function runSteps<C>(ui: StepRunner, steps: ReadonlyArray<PipelineStep<C>>, ctx: C, onError?: (e: unknown) => void): Promise<unknown> {
  try {
    await ui.run(steps, ctx);
    return undefined;
  } catch (e) {
    onError?.(e);
    return e ?? new Error("a step failed");
  }
}

/** A step that does not start once Ctrl-C was pressed. */
function interruptible<C extends { signal: AbortSignal }>(t: PipelineStep<C>): PipelineStep<C> {
  return { ...t, run: (c, out) => (c.signal.throwIfAborted(), t.run(c, out)) };
}

const STATUS_WORDS = { done: "done", unchanged: "already there", skipped: "done in an earlier run", failed: "failed" } as const;

/** A remote step's report kept in the context, its outcome shown in its title. */
function reported(ctx: ReleaseContext, id: StepId, title: string, run: (out: StepOutput) => Promise<StepReport>): PipelineStep<ReleaseContext> {
  return {
    title,
    run: async (c, out) => {
      c.signal.throwIfAborted();
      const start = performance.now();
      let r: StepReport;
      try {
        r = await run(out);
        if (r.ms === undefined && r.status !== "skipped") r = { ...r, ms: Math.round(performance.now() - start) };
      } catch (e) {
        ctx.steps.push({ id, status: "failed", message: redact((e as Error).message) } as StepReport);
        throw e;
      }
      ctx.steps.push(r);
      const what = [STATUS_WORDS[r.status], "commit" in r && r.commit ? String(r.commit).slice(0, 12) : "", "url" in r && r.url ? String(r.url) : "", "summary" in r && r.summary ? `(${r.summary})` : ""]
        .filter(Boolean)
        .join(" ");
      out.title(`${title}: ${what}`);
    },
  };
}

/** One phase of one destination, journaled by its address. */
function phaseStep(ctx: ReleaseContext, run: StepRun, d: Destination, phase: StagePhase | ReleasePhase): PipelineStep<ReleaseContext> {
  return reported(ctx, phase.step, phase.title, async (out) => {
    const journal = ctx.journal!;
    const done = journal.get(phase.step, d.address);
    // What was staged matters only until it is released (releasing removes the staging branch).
    const released = d.release && journal.get(d.release.step, d.address);
    if (done && !released && phase.stillThere && !(await (phase as Phase<StepId>).stillThere!(run, done.result))) {
      // Staged by an earlier run and removed since: staged again (and proven again).
      ctx.notes.push(`${describeAddress(d.address)}: what an earlier run staged is gone; staged again`);
      await journal.forget(d.address, [phase.step, "verify.download"]);
    }
    const p = phase as Phase<StepId>;
    return journaled(journal, p.step, d.address, () => p.run({ ...run, say: (l) => out.progress(l) })) as Promise<StepReport>;
  });
}

/** verify.download: every staged destination downloaded and checked; all of them are proven even when one fails, so the report names every bad file. */
function proofStep(ctx: ReleaseContext, run: StepRun): PipelineStep<ReleaseContext> {
  return reported(ctx, "verify.download", "Prove what users will download", async (out) => {
    const parts: Array<Partial<VerifyDownloadResult>> = [];
    const problems: string[] = [];
    let skipped = 0;
    const provers = byKind(ctx.destinations, STAGE_ORDER).filter((d) => d.prove);
    for (const d of provers) {
      try {
        const r = await journaled(ctx.journal!, "verify.download", d.address, async () => {
          const part = await d.prove!({ ...run, say: (l) => out.progress(l) });
          return { status: "done", result: { ...part, summary: describeProof(part) } };
        });
        if (r.status === "skipped") skipped++;
        parts.push(r);
      } catch (e) {
        if (!(e instanceof ProofError || e instanceof VerifyError)) throw e;
        problems.push(e.message);
      }
    }
    if (problems.length) throw new ProofError(`what users would download does not pass, so nothing was released:\n${problems.join("\n")}`);
    const merged: Omit<VerifyDownloadResult, "summary"> = Object.assign({}, ...parts.map(({ hub, github }) => ({ ...(hub ? { hub } : {}), ...(github ? { github } : {}) })));
    return { id: "verify.download", status: provers.length && skipped === provers.length ? "skipped" : "done", ...merged, summary: describeProof(merged) };
  });
}

/** After a release that cannot pass: what was staged is removed, and the journal forgets it. */
function withdrawStep(ctx: ReleaseContext, run: StepRun): PipelineStep<ReleaseContext> {
  return reported(ctx, "withdraw", "Withdraw what was staged", async (out) => {
    const removed: string[] = [];
    for (const d of ctx.destinations) {
      if (!d.withdraw) continue;
      removed.push(...(await d.withdraw({ ...run, say: (l) => out.progress(l) })));
      await ctx.journal!.forget(d.address);
    }
    return { id: "withdraw", status: "done", removed, ...(removed.length ? {} : { message: "nothing was staged" }) };
  });
}

/** verify: each destination holds what was released there; one that does not is forgotten, so a rerun publishes it again. */
function verifyStep(ctx: ReleaseContext, run: StepRun): PipelineStep<ReleaseContext> {
  return reported(ctx, "verify", "Verify what landed", async () => {
    const parts: VerifyStepResult[] = [];
    let skipped = 0;
    for (const d of ctx.destinations) {
      const r = await journaled(ctx.journal!, "verify", d.address, async () => {
        const v = await d.reverify(run);
        if (v.problems.length) {
          await ctx.journal!.forget(d.address);
          throw new VerifyError(`${v.problems.join("\n")}\n(the journal no longer counts ${describeAddress(d.address)} as published: a rerun publishes it again)`);
        }
        return { status: "done", result: v.result };
      });
      if (r.status === "skipped") skipped++;
      const { id: _i, status: _s, message: _m, ms: _ms, ...result } = r;
      parts.push(result);
    }
    return { id: "verify", status: skipped === ctx.destinations.length ? "skipped" : "done", ...Object.assign({}, ...parts) };
  });
}

/**
 * The destinations an earlier run released and verified that still hold it. A destination that
 * no longer does (a Hub repo deleted, a release removed) is forgotten and planned again, with a
 * note saying why. When a remote cannot be asked, the error is thrown and the journal kept.
 */
async function stillReleased(ctx: ReleaseContext, run: StepRun): Promise<Destination[]> {
  const journal = ctx.journal!;
  const released: Destination[] = [];
  for (const d of ctx.destinations) {
    // Released means verified, and proven from a download where the destination is proven.
    if (!journal.get("verify", d.address) || (d.prove && !journal.get("verify.download", d.address))) continue;
    const { problems } = await d.reverify(run).catch((e: unknown) => {
      if (errorStatus(e) === 404) return { problems: [`${addressName(d.address)} or what was released there is gone (404)`] };
      throw e;
    });
    if (!problems.length) {
      released.push(d);
      continue;
    }
    await journal.forget(d.address);
    const line = `Planned again: ${describeAddress(d.address)} no longer holds the recorded release: ${problems.join("; ")}`;
    ctx.notes.push(line);
    run.say(line);
  }
  // The GitHub Release's notes link the Hub release: a Hub published again means a new release there too.
  const github = ctx.destinations.find((d) => d.address.kind === "github");
  const hubAgain = ctx.destinations.some((d) => d.address.kind === "hub" && !released.includes(d));
  if (github && hubAgain && released.includes(github)) {
    released.splice(released.indexOf(github), 1);
    await journal.forget(github.address, ["github-publish", "verify"]);
    const line = `Planned again: ${describeAddress(github.address)}: the release notes link the Hub release, which is made again`;
    ctx.notes.push(line);
    run.say(line);
  }
  return released;
}

/** Every step the journal records for this run's destinations, as `skipped` reports. */
function recordedSteps(ctx: ReleaseContext): StepReport[] {
  const order: StepId[] = ["hub", "git-tag", "github-release", "verify.download", "git-push", "hub-tag", "github-publish", "verify"];
  const out: StepReport[] = [];
  for (const id of order) {
    const entries = ctx.destinations.flatMap((d) => ctx.journal!.get(id, d.address) ?? []);
    if (!entries.length) continue;
    const merged = Object.assign({}, ...entries.map((e) => e.result)) as Record<string, unknown>;
    if (id === "verify.download") merged.summary = describeProof(merged as Partial<VerifyDownloadResult>);
    out.push({ ...merged, id, status: "skipped", message: `done in an earlier run (${entries.map((e) => e.at).join(", ")})` } as StepReport);
  }
  return out;
}

export type { CheckContext };
