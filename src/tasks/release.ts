// The release pipeline, stage by stage:
//   check → smoke → pack → plan │ confirm │ tag → Hub commit → Hub tag → git push → GitHub Release → verify
// Everything left of the bar is local and changes nothing remote (the dry run stops there);
// everything right of it is a remote step recorded in the journal so a rerun resumes.
// runRelease returns one ReleaseReport; printing it is render's job.
import type { ListrTask } from "listr2";
import { formatBytes } from "../checkpoint/discover.js";
import { ensureReleaseTag } from "../git/index.js";
import type { SmokeSummary } from "../github/index.js";
import type { PackResult } from "../pack/index.js";
import { destinationsOf } from "../release/destinations.js";
import { environmentChecks } from "../release/environment-checks.js";
import { Journal, manifestDigest } from "../release/journal.js";
import { isSkipped, planGit, planGitHub, planHub, type ReleasePlan } from "../release/plan.js";
import type { Remotes } from "../release/remotes.js";
import type { ReleaseOutcome, ReleaseReport, StepId, StepReport } from "../release/report.js";
import { reverifyRecorded } from "../release/reverify.js";
import { tagName, type ReleaseSettings, type Stage } from "../release/settings.js";
import { createGitHubRelease, publishToHub, pushToGitHub, tagOnHub, verifyRelease, type StepRun } from "../release/steps/index.js";
import { isOk, type CheckResult } from "../report.js";
import { runSmoke, type SmokeReport } from "../smoke/main.js";
import { redact } from "../util/redact.js";
import { checkTasks, stageFailure, type CheckContext } from "./check.js";
import { packTask } from "./pack-command.js";
import { smokeOptions } from "./smoke-command.js";
import { makeListr, type Progress, type Task, type UiOptions } from "./ui.js";

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
  pack?: PackResult;
  plan: ReleasePlan;
  journal?: Journal;
  steps: StepReport[];
  notes: string[];
}

export async function runRelease(ctx: ReleaseContext): Promise<ReleaseReport> {
  const s = ctx.settings;
  const { stages, dryRun } = s.release;
  const publishing = stages.has("hub") || stages.has("github");
  const report = (outcome: ReleaseOutcome, ok: boolean, error?: string): ReleaseReport => ({
    outcome,
    ok,
    tag: ctx.plan.tag,
    checks: ctx.results,
    ...(ctx.smoke ? { smoke: ctx.smoke } : {}),
    ...(ctx.pack ? { pack: ctx.pack } : {}),
    ...(ctx.plan.hub || ctx.plan.git || ctx.plan.github || ctx.plan.pack ? { plan: ctx.plan } : {}),
    steps: ctx.steps,
    notes: ctx.notes,
    ...(error ? { error: redact(error) } : {}),
    ...(ctx.journal ? { journal: displayJournal(ctx) } : {}),
  });

  // The journal lives in .git/: say that a release needs a repository before minutes of checks.
  if (!dryRun && publishing) await Journal.requireRepository(s.cwd);

  ctx.environment = environmentChecks(ctx.settings, ctx.remotes, { git: stages.has("github"), hub: stages.has("hub"), github: stages.has("github") });
  await runTasks(ctx, localTasks(ctx), (e) => ctx.results.push(stageFailure(e)));
  if (ctx.signal.aborted) return report("interrupted", false, "interrupted before anything was published");
  if (!dryRun) ctx.results.push(...requireCredentials(ctx), ...requirePlan(ctx), ...refuseConflicts(ctx));
  const localOk = isOk(ctx.results) && (!ctx.smoke || ctx.smoke.ok) && (dryRun || !(stages.has("pack") || stages.has("github")) || !!ctx.pack);
  if ((ctx.plan.hub || ctx.plan.git || ctx.plan.github) && isOk(ctx.results)) ctx.showPlan(ctx.plan);
  if (dryRun && localOk) return report("dry-run", true);
  if (!localOk) return report("checks-failed", false);
  if (!publishing) return report("local-only", true);

  ctx.journal = await Journal.open(s.cwd, tagName(s), manifestDigest(ctx.manifest!));
  const run = stepRun(ctx);
  const { released, replanned } = await reverifyRecorded(run);
  for (const r of replanned) {
    ctx.notes.push(`Planned again: ${r.reason}`);
    ctx.progress.say(`Planned again: ${r.reason}`);
  }
  if (released.length === destinationsOf(s).length) {
    ctx.steps.push(...recordedSteps(ctx));
    return report("already-released", true);
  }

  if (s.release.confirm && !(await ctx.confirm(`\nPublish ${tagName(s)} as planned above? [y/N] `))) return report("declined", false);

  let error: string | undefined;
  await runTasks(ctx, remoteTasks(ctx), (e) => (error = (e as Error).message ?? String(e)));
  if (ctx.signal.aborted) return report("interrupted", false, error);
  const ok = error === undefined && ctx.steps.every((st) => st.status !== "failed");
  return report(ok ? "released" : "failed", ok, error);
}

async function runTasks(ctx: ReleaseContext, tasks: ListrTask<ReleaseContext>[], onError: (e: unknown) => void): Promise<void> {
  try {
    await makeListr(tasks, ctx.ui, ctx).run();
  } catch (e) {
    onError(e);
  }
}

function stepRun(ctx: ReleaseContext): StepRun {
  return { settings: ctx.settings, remotes: ctx.remotes, journal: ctx.journal!, manifest: ctx.manifest!, signal: ctx.signal };
}

function displayJournal(ctx: ReleaseContext): string {
  const rel = ctx.journal!.file.startsWith(`${ctx.settings.cwd}/`) ? ctx.journal!.file.slice(ctx.settings.cwd.length + 1) : ctx.journal!.file;
  return rel;
}

/** Local stages: nothing here writes to a remote; the dry run is exactly this. */
export function localTasks(ctx: ReleaseContext): ListrTask<ReleaseContext>[] {
  const s = ctx.settings;
  const stages = s.release.stages;
  return [
    ...checkTasks(ctx).map((t) => interruptible(t)),
    interruptible({
      title: "Smoke test (fill-mask)",
      enabled: () => stages.has("smoke"),
      skip: (c) => (!isOk(c.results) ? "checks failed" : false),
      task: async (c, task: Task<ReleaseContext>) => {
        c.smoke = await runSmoke({ ...smokeOptions(s.smoke, s.checkpoint.dir), onCase: (r) => (task.output = `${r.status} ${r.text}`) });
        const passed = c.smoke.cases.filter((x) => x.status === "pass").length;
        task.title = `Smoke test on ${c.smoke.device}: ${passed}/${c.smoke.cases.length} cases pass`;
        if (!c.smoke.ok) {
          const bad = c.smoke.cases.filter((x) => x.status === "fail").map((x) => `${x.text}: ${x.reason ?? "failed"}`);
          throw new Error(`smoke test failed:\n${bad.join("\n")}`);
        }
      },
    }),
    interruptible({
      ...packTask<ReleaseContext>({ archiveName: s.github.archive, outDir: s.github.outDir }),
      enabled: () => !s.release.dryRun && (stages.has("pack") || stages.has("github")),
    }),
    interruptible({
      title: "Plan the remote steps",
      enabled: () => stages.has("hub") || stages.has("github"),
      skip: (c) => (!isOk(c.results) ? "checks failed" : false),
      task: async (c, task: Task<ReleaseContext>) => {
        const m = c.manifest!;
        if (s.release.dryRun && (stages.has("pack") || stages.has("github"))) {
          c.plan.pack = { archive: `${s.github.outDir}/${s.github.archive}`, files: m.length, bytes: m.reduce((a, e) => a + e.size, 0) };
        }
        if (stages.has("hub")) c.plan.hub = await planHub(s, c.remotes, m);
        if (stages.has("github")) {
          c.plan.git = await planGit(s);
          c.plan.github = await planGitHub(s, c.remotes, [s.github.archive, "SHA256SUMS"]);
        }
        const hub = c.plan.hub && !isSkipped(c.plan.hub) ? `Hub: ${c.plan.hub.summary.add + c.plan.hub.summary.update} to upload (${formatBytes(c.plan.hub.summary.bytesToSend)})` : "";
        task.title = ["Plan the remote steps", hub].filter(Boolean).join(": ");
      },
    }),
  ];
}

/** A task that does not start once Ctrl-C was pressed. */
function interruptible(t: ListrTask<ReleaseContext>): ListrTask<ReleaseContext> {
  return { ...t, task: (c, task) => (c.signal.throwIfAborted(), t.task(c, task)) };
}

/** One remote step as a listr task: its report is kept, its outcome shown in its title. */
function step(id: StepId, title: string, run: (c: ReleaseContext, task: Task<ReleaseContext>) => Promise<StepReport>): ListrTask<ReleaseContext> {
  return {
    title,
    task: async (c, task: Task<ReleaseContext>) => {
      c.signal.throwIfAborted();
      c.progress.current = task;
      let r: StepReport;
      try {
        r = await run(c, task);
      } catch (e) {
        c.steps.push({ id, status: "failed", message: redact((e as Error).message) });
        throw e;
      } finally {
        delete c.progress.current;
      }
      c.steps.push(r);
      const status = { done: "done", unchanged: "already there", skipped: "done in an earlier run", failed: "failed" }[r.status];
      const what = [status, "commit" in r && r.commit ? String(r.commit).slice(0, 12) : "", "url" in r && r.url ? String(r.url) : ""].filter(Boolean).join(" ");
      task.title = `${title}: ${what}`;
    },
  };
}

/** Remote stages, in order. Each is idempotent and journaled. */
export function remoteTasks(ctx: ReleaseContext): ListrTask<ReleaseContext>[] {
  const s = ctx.settings;
  const stages = s.release.stages;
  const tag = tagName(s);
  const tasks: ListrTask<ReleaseContext>[] = [];
  if (stages.has("github")) {
    // Local, before any remote write: a tag that cannot be made (signing configured but broken) stops here.
    tasks.push({
      title: `Tag HEAD as ${tag}`,
      task: async (c, task: Task<ReleaseContext>) => {
        const t = await ensureReleaseTag({ cwd: s.cwd, tag, message: `Release ${tag}`, signal: c.signal });
        task.title = `Tag HEAD as ${tag}: ${t.created ? "created" : "already there"} (${t.annotated ? "annotated" : "lightweight"}, ${t.commit.slice(0, 12)})`;
      },
    });
  }
  if (stages.has("hub")) {
    tasks.push(
      step("hub", `Publish to the Hub (${s.hub.repoId}, ${s.hub.transport})`, (c, task) =>
        publishToHub(stepRun(c), hubPlan(c.plan), (e) => {
          if (e.totalBytes) task.output = `${e.phase}: ${formatBytes(e.uploadedBytes)} of ${formatBytes(e.totalBytes)} uploaded${e.path ? ` (${e.path})` : ""}`;
        }),
      ),
      step("hub-tag", `Tag the Hub commit ${tag}`, (c) => tagOnHub(stepRun(c))),
    );
  }
  if (stages.has("github")) {
    tasks.push(
      step("git-push", `Push ${s.github.branch} and ${tag} to ${s.github.remote}`, (c) => pushToGitHub(stepRun(c))),
      step("github-release", `GitHub Release ${tag}`, (c) => createGitHubRelease(stepRun(c), c.pack!, c.results, c.smoke && smokeSummary(c.smoke))),
    );
  }
  tasks.push(step("verify", "Verify what landed", (c) => verifyRelease(stepRun(c), c.pack)));
  return tasks;
}

function hubPlan(plan: ReleasePlan) {
  return plan.hub && !isSkipped(plan.hub) ? plan.hub : undefined;
}

/** The steps recorded for this run's destinations, reported `skipped` (nothing to do). */
function recordedSteps(ctx: ReleaseContext): StepReport[] {
  const order: StepId[] = ["hub", "hub-tag", "git-push", "github-release", "verify"];
  const out: StepReport[] = [];
  for (const id of order) {
    const entries = destinationsOf(ctx.settings)
      .map((d) => ctx.journal!.get(id, d))
      .filter((e) => e !== undefined);
    if (!entries.length) continue;
    out.push({ id, status: "skipped", message: `done in an earlier run (${entries.map((e) => e.at).join(", ")})`, ...Object.assign({}, ...entries.map((e) => e.result)) } as StepReport);
  }
  return out;
}

/** Remote steps run only against a plan the user could see. */
function requirePlan(ctx: ReleaseContext): CheckResult[] {
  if (!isOk(ctx.results)) return [];
  const stages = ctx.settings.release.stages;
  const missing: string[] = [];
  const why = (p: unknown) => (isSkipped(p) ? p.skipped : "not planned");
  if (stages.has("hub") && (!ctx.plan.hub || isSkipped(ctx.plan.hub))) missing.push(`the Hub: ${why(ctx.plan.hub)}`);
  if (stages.has("github") && (!ctx.plan.git || isSkipped(ctx.plan.git))) missing.push(`git push: ${why(ctx.plan.git)}`);
  if (stages.has("github") && (!ctx.plan.github || isSkipped(ctx.plan.github))) missing.push(`GitHub Release: ${why(ctx.plan.github)}`);
  return missing.length ? [{ id: "release.plan", title: "every remote step has a plan", status: "fail", message: missing.join("\n") }] : [];
}

/** A real release needs what the dry run may skip: credentials for every selected remote stage. */
function requireCredentials(ctx: ReleaseContext): CheckResult[] {
  const needed: Array<[Stage, string]> = [
    ["hub", "hub.token"],
    ["hub", "hub.whoami"],
    ["github", "git.remote"],
    ["github", "github.access"],
  ];
  const out: CheckResult[] = [];
  for (const [stage, id] of needed) {
    if (!ctx.settings.release.stages.has(stage)) continue;
    const r = ctx.results.find((c) => c.id === id);
    if (r?.status === "skip") out.push({ id: `release.${id}`, title: `${r.title} (needed to publish)`, status: "fail", message: r.message ?? "skipped" });
  }
  return out;
}

/** A release tag already on the remote at another commit is never moved. */
function refuseConflicts(ctx: ReleaseContext): CheckResult[] {
  const git = ctx.plan.git && !isSkipped(ctx.plan.git) ? ctx.plan.git : undefined;
  const conflict = git?.refs.find((r) => r.action === "conflict");
  if (!conflict) return [];
  return [
    {
      id: "release.tag-conflict",
      title: "the release tag is not taken on the remote",
      status: "fail",
      message: `${conflict.ref} already exists on ${git!.remote} at ${conflict.from?.slice(0, 7)}, not at HEAD: bump the version`,
    },
  ];
}

/** The smoke results as the release notes show them (a case may mask several words). */
function smokeSummary(r: SmokeReport): SmokeSummary {
  return {
    ok: r.ok,
    device: r.device,
    engine: r.engine,
    cases: r.cases.map((c) => ({ text: c.text, status: c.status, expect: c.expect.flat(), masks: c.masks })),
  };
}
