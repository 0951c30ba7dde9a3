// The release pipeline, stage by stage:
//   check → smoke → pack → plan │ confirm │ Hub commit → Hub tag → git push → GitHub Release → verify
// Everything left of the bar is local and changes nothing remote (the dry run stops there);
// everything right of it is a remote step recorded in the journal so a rerun resumes.
import type { ListrTask } from "listr2";
import { formatBytes } from "../checkpoint/discover.js";
import type { SmokeSummary } from "../github/index.js";
import type { HubPlan } from "../hub/index.js";
import type { PackResult } from "../pack/index.js";
import { isSkipped, planGit, planGitHub, planHub, type ReleasePlan, type Stage } from "../release/plan.js";
import { tagName, type ReleaseSettings } from "../release/settings.js";
import { createGitHubRelease, publishToHub, pushToGitHub, tagOnHub, verifyRelease, type StepInput, type StepReport } from "../release/steps.js";
import type { Journal } from "../release/journal.js";
import { isOk } from "../report.js";
import { redact } from "../util/redact.js";
import { runSmoke, type SmokeReport } from "../smoke/main.js";
import { checkTasks, type CheckContext } from "./check.js";
import { environmentChecks } from "./environment.js";
import { packTask } from "./pack-command.js";
import { smokeOptions } from "./smoke-command.js";
import type { Task } from "./ui.js";

export interface ReleaseContext extends CheckContext {
  settings: ReleaseSettings;
  stages: ReadonlySet<Stage>;
  dryRun: boolean;
  prune: boolean;
  createPr: boolean;
  force: boolean;
  outDir: string;
  smoke?: SmokeReport;
  pack?: PackResult;
  plan: ReleasePlan;
  journal?: Journal;
  steps: StepReport[];
}

/** The checks a stage needs: the checkpoint's always, the rest by the stages that will run. */
export function releaseEnvironment(ctx: ReleaseContext): NonNullable<CheckContext["environment"]> {
  return environmentChecks(ctx.settings, { git: ctx.stages.has("github"), hub: ctx.stages.has("hub"), github: ctx.stages.has("github") });
}

/** Local stages: nothing here writes to a remote; the dry run is exactly this. */
export function localTasks(ctx: ReleaseContext): ListrTask<ReleaseContext>[] {
  return [
    ...checkTasks(ctx),
    {
      title: "Smoke test (fill-mask)",
      enabled: (c) => c.stages.has("smoke"),
      skip: (c) => (!isOk(c.results) ? "checks failed" : false),
      task: async (c, task: Task<ReleaseContext>) => {
        c.smoke = await runSmoke({ ...smokeOptions(c.config, c.ckptDir), onCase: (r) => (task.output = `${r.status} ${r.text}`) });
        const passed = c.smoke.cases.filter((x) => x.status === "pass").length;
        task.title = `Smoke test on ${c.smoke.device}: ${passed}/${c.smoke.cases.length} cases pass`;
        if (!c.smoke.ok) {
          const bad = c.smoke.cases.filter((x) => x.status === "fail").map((x) => `${x.text}: ${x.reason ?? "failed"}`);
          throw new Error(`smoke test failed:\n${bad.join("\n")}`);
        }
      },
    },
    {
      ...packTask<ReleaseContext>(ctx.config.github.archive),
      enabled: (c) => !c.dryRun && (c.stages.has("pack") || c.stages.has("github")),
    },
    {
      title: "Plan the remote steps",
      enabled: (c) => c.stages.has("hub") || c.stages.has("github"),
      skip: (c) => (!isOk(c.results) ? "checks failed" : false),
      task: async (c, task: Task<ReleaseContext>) => {
        const m = c.manifest!;
        if (c.dryRun && (c.stages.has("pack") || c.stages.has("github"))) {
          c.plan.pack = { archive: `${c.outDir}/${c.config.github.archive}`, files: m.length, bytes: m.reduce((a, e) => a + e.size, 0) };
        }
        if (c.stages.has("hub")) c.plan.hub = await planHub(c.settings, m, c.prune);
        if (c.stages.has("github")) {
          c.plan.git = await planGit(c.settings);
          c.plan.github = await planGitHub(c.settings, [c.config.github.archive, "SHA256SUMS"]);
        }
        const hub = c.plan.hub && !isSkipped(c.plan.hub) ? `Hub: ${c.plan.hub.summary.add + c.plan.hub.summary.update} to upload (${formatBytes(c.plan.hub.summary.bytesToSend)})` : "";
        task.title = ["Plan the remote steps", hub].filter(Boolean).join(": ");
      },
    },
  ];
}

function step(id: StepReport["id"], title: string, run: (c: ReleaseContext, task: Task<ReleaseContext>) => Promise<StepReport>): ListrTask<ReleaseContext> {
  return {
    title,
    task: async (c, task: Task<ReleaseContext>) => {
      let r: StepReport;
      try {
        r = await run(c, task);
      } catch (e) {
        c.steps.push({ id, status: "failed", message: redact((e as Error).message) });
        throw e;
      }
      c.steps.push(r);
      if (r.status === "failed") throw new Error(r.message ?? `${title} failed`);
      const status = { done: "done", unchanged: "already there", skipped: "done in an earlier run", failed: "failed" }[r.status];
      const what = [status, r.commit ? String(r.commit).slice(0, 12) : "", r.url ? String(r.url) : ""].filter(Boolean).join(" ");
      task.title = `${title}: ${what}`;
    },
  };
}

/** Remote stages, in order. Each is idempotent and journaled. */
export function remoteTasks(ctx: ReleaseContext): ListrTask<ReleaseContext>[] {
  const carried: StepInput["carried"] = {};
  const input = (c: ReleaseContext): StepInput => ({ settings: c.settings, journal: c.journal!, manifest: c.manifest!, prune: c.prune, createPr: c.createPr, force: c.force, carried });
  const hubPlan = (c: ReleaseContext): HubPlan | undefined => (c.plan.hub && !isSkipped(c.plan.hub) ? c.plan.hub : undefined);
  const tasks: ListrTask<ReleaseContext>[] = [];
  if (ctx.stages.has("hub")) {
    tasks.push(
      step("hub", `Publish to the Hub (${ctx.settings.hub.repoId}, ${ctx.settings.hub.transport})`, (c, task) =>
        publishToHub(input(c), hubPlan(c), (e) => {
          if (e.totalBytes) task.output = `${e.phase}: ${formatBytes(e.uploadedBytes)} of ${formatBytes(e.totalBytes)} uploaded${e.path ? ` (${e.path})` : ""}`;
        }),
      ),
      step("hub-tag", `Tag the Hub commit ${tagName(ctx.settings)}`, (c) => tagOnHub(input(c))),
    );
  }
  if (ctx.stages.has("github")) {
    tasks.push(
      step("git-push", `Push ${ctx.config.github.branch} and ${tagName(ctx.settings)} to ${ctx.config.github.remote}`, (c) => pushToGitHub(input(c))),
      step("github-release", `GitHub Release ${tagName(ctx.settings)}`, (c) => createGitHubRelease(input(c), c.pack!, c.results, c.smoke && smokeSummary(c.smoke))),
    );
  }
  if (ctx.stages.has("hub") || ctx.stages.has("github")) {
    tasks.push(step("verify", "Verify what landed", (c) => verifyRelease(input(c), { hub: c.stages.has("hub"), github: c.stages.has("github"), ...(c.pack ? { pack: c.pack } : {}) })));
  }
  return tasks;
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
