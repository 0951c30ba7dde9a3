// The release pipeline, stage by stage:
//   check → smoke → pack → plan │ confirm │ tag → Hub commit → Hub tag → git push → GitHub Release → verify
// Everything left of the bar is local and changes nothing remote (the dry run stops there);
// everything right of it is a remote step recorded in the journal so a rerun resumes.
// runRelease returns one ReleaseReport; printing it is render's job.
import type { ListrTask } from "listr2";
import path from "node:path";
import type { PackResult } from "../pack/index.js";
import type { PublishedFiles } from "../release/published.js";
import { destinationsOf } from "../release/destinations.js";
import { environmentChecks, hubCardLookup } from "../release/environment-checks.js";
import { dryRunGates, publishGates } from "../release/gates.js";
import { Journal, manifestDigest } from "../release/journal.js";
import { recordedSteps } from "../release/journaled.js";
import type { ReleasePlan } from "../release/plan.js";
import type { Remotes } from "../release/remotes.js";
import type { ReleaseOutcome, ReleaseReport, StepReport } from "../release/report.js";
import { rerunHelps } from "../release/failure.js";
import { reverifyRecorded } from "../release/reverify.js";
import { tagName, type ReleaseSettings } from "../release/settings.js";
import { isOk } from "../report.js";
import type { SmokeReport } from "../smoke/main.js";
import { redact } from "../util/redact.js";
import { assertPackOutDir } from "../pack/out-dir.js";
import { displayPath, stageFailure, type CheckContext } from "./check.js";
import { localTasks, publishedManifest, remoteTasks, stepRun } from "./release-tasks.js";
import { makeListr, type Progress, type UiOptions } from "./ui.js";

export interface ReleaseContext extends CheckContext {
  readonly settings: ReleaseSettings;
  readonly remotes: Remotes;
  /** Aborted by Ctrl-C: no further step starts, and waits and requests in flight end. */
  readonly signal: AbortSignal;
  readonly ui: UiOptions;
  readonly progress: Progress;
  /** Shows the plan to the person who is about to confirm it. */
  readonly showPlan: (plan: ReleasePlan) => void;
  /** Asks once; false: do not publish. */
  readonly confirm: (question: string) => Promise<boolean>;
  smoke?: SmokeReport;
  /** What the release publishes: the checkpoint's files, model.safetensors, manifest.json. */
  published?: PublishedFiles;
  pack?: PackResult;
  plan: ReleasePlan;
  journal?: Journal;
  steps: StepReport[];
  notes: string[];
}

export async function runRelease(ctx: ReleaseContext): Promise<ReleaseReport> {
  try {
    return await release(ctx);
  } finally {
    await ctx.published?.dispose();
  }
}

async function release(ctx: ReleaseContext): Promise<ReleaseReport> {
  const s = ctx.settings;
  const { stages, dryRun } = s.release;
  const publishing = stages.has("hub") || stages.has("github");
  const report = (outcome: ReleaseOutcome, ok: boolean, error?: string, rerunHelps?: boolean): ReleaseReport => ({
    outcome,
    ok,
    tag: ctx.plan.tag,
    remotes: (["hub", "github"] as const).filter((x) => stages.has(x)),
    checks: ctx.results,
    ...(ctx.smoke ? { smoke: ctx.smoke } : {}),
    ...(ctx.published ? { safetensors: ctx.published.safetensors } : {}),
    ...(ctx.pack ? { pack: ctx.pack } : {}),
    ...(ctx.plan.hub || ctx.plan.git || ctx.plan.github || ctx.plan.pack ? { plan: ctx.plan } : {}),
    steps: ctx.steps,
    notes: ctx.notes,
    ...(error ? { error: redact(error) } : {}),
    ...(rerunHelps !== undefined ? { rerunHelps } : {}),
    ...(ctx.journal ? { journal: displayJournal(ctx) } : {}),
  });

  // The journal lives in .git/: say that a release needs a repository before minutes of checks.
  if (!dryRun && publishing) await Journal.requireRepository(s.cwd);
  // A usage error (exit 2), in the dry run too: the archive's folder is wrong whatever the checkpoint holds.
  if (stages.has("pack") || stages.has("github")) {
    assertPackOutDir({ outDir: s.github.outDir, checkpointDir: s.checkpoint.dir, archiveName: s.github.archive, label: `github.outDir ${displayPath(s.github.outDir)}` });
  }

  ctx.hubCard = hubCardLookup(s, ctx.remotes);
  ctx.environment = environmentChecks(ctx.settings, ctx.remotes, { git: stages.has("github"), hub: stages.has("hub"), github: stages.has("github") });
  await runTasks(ctx, localTasks(ctx), (e) => ctx.results.push(stageFailure(e)));
  if (ctx.signal.aborted) return report("interrupted", false, "interrupted before anything was published");
  // The plan is shown when the checks let it be made, conflicts included: they are in it.
  const planned = (ctx.plan.hub || ctx.plan.git || ctx.plan.github) && isOk(ctx.results);
  ctx.results.push(...(dryRun ? dryRunGates(ctx.plan) : publishGates(s, ctx.results, ctx.plan)));
  const localOk = isOk(ctx.results) && (!ctx.smoke || ctx.smoke.ok) && (dryRun || !(stages.has("pack") || stages.has("github")) || !!ctx.pack);
  if (planned) ctx.showPlan(ctx.plan);
  if (dryRun && localOk) return report("dry-run", true);
  if (!localOk) return report("checks-failed", false);
  if (!publishing) return report("local-only", true);

  ctx.journal = await Journal.open(s.cwd, tagName(s), manifestDigest(publishedManifest(ctx)));
  const run = stepRun(ctx);
  let reverified: Awaited<ReturnType<typeof reverifyRecorded>>;
  try {
    reverified = await reverifyRecorded(run);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return report("failed", false, `cannot tell whether the release recorded in ${displayJournal(ctx)} is still in place: ${why}`, rerunHelps(e));
  }
  const { released, replanned } = reverified;
  for (const r of replanned) {
    ctx.notes.push(`Planned again: ${r.reason}`);
    ctx.progress.say(`Planned again: ${r.reason}`);
  }
  if (released.length === destinationsOf(s).length) {
    ctx.steps.push(...recordedSteps(ctx.journal, s));
    return report("already-released", true);
  }

  if (s.release.confirm && !(await ctx.confirm(`\nPublish ${tagName(s)} as planned above? [y/N] `))) {
    return ctx.signal.aborted ? report("interrupted", false, "interrupted at the confirmation") : report("declined", false);
  }

  let failure: unknown;
  await runTasks(ctx, remoteTasks(ctx), (e) => (failure = e ?? new Error("a step failed")));
  const error = failure === undefined ? undefined : ((failure as Error).message ?? String(failure));
  if (ctx.signal.aborted) return report("interrupted", false, error);
  const ok = failure === undefined && ctx.steps.every((st) => st.status !== "failed");
  return report(ok ? "released" : "failed", ok, error, ok ? undefined : rerunHelps(failure));
}

async function runTasks(ctx: ReleaseContext, tasks: ListrTask<ReleaseContext>[], onError: (e: unknown) => void): Promise<void> {
  try {
    await makeListr(tasks, ctx.ui, ctx).run();
  } catch (e) {
    onError(e);
  }
}

function displayJournal(ctx: ReleaseContext): string {
  return path.relative(ctx.settings.cwd, ctx.journal!.file);
}
