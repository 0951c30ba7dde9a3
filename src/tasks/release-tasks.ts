// The listr tasks of a release: the local stages (what the dry run is) and the remote steps,
// each remote step one verb of src/release/steps/ whose report is kept in the context.
import type { ListrTask } from "listr2";
import path from "node:path";
import { formatBytes } from "../checkpoint/discover.js";
import { ensureReleaseTag } from "../git/index.js";
import type { SmokeSummary } from "../github/index.js";
import type { HubProgressEvent } from "../hub/index.js";
import { Journal, manifestDigest } from "../release/journal.js";
import { isSkipped, planGit, planGitHub, planHub, planProof, safetensorsLine, type ReleasePlan } from "../release/plan.js";
import { preparePublished } from "../release/published.js";
import { SAFETENSORS_OUT } from "../pack/out-dir.js";
import type { StepId, StepReport } from "../release/report.js";
import { tagName } from "../release/settings.js";
import { createGitHubRelease, publishToHub, pushToGitHub, tagOnHub, verifyDownloads, verifyRelease, type StepRun } from "../release/steps/index.js";
import { isOk } from "../report.js";
import type { SmokeReport } from "../smoke/main.js";
import { redact } from "../util/redact.js";
import { checkTasks } from "./check.js";
import { packTask } from "./pack-command.js";
import type { ReleaseContext } from "./release.js";
import { smokeOptions } from "./smoke-command.js";
import type { Task } from "./ui.js";

/** What the remote steps are given: references into the context, never copies; the manifest is what is published. */
export function stepRun(ctx: ReleaseContext): StepRun {
  return { settings: ctx.settings, remotes: ctx.remotes, journal: ctx.journal!, manifest: publishedManifest(ctx), signal: ctx.signal };
}

/** Every file the release publishes (the checkpoint's, model.safetensors, manifest.json); the checkpoint's before that is known. */
export function publishedManifest(ctx: ReleaseContext) {
  return ctx.published?.hub ?? ctx.manifest!;
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
        // The inference engine is loaded only when the smoke stage runs; it reads the checkpoint `check`
        // read (with the Hub's card when the checkpoint has none, as `check` found it).
        const { runSmoke } = await import("../smoke/main.js");
        c.smoke = await runSmoke({
          ...smokeOptions(s.smoke, s.checkpoint),
          checkpoint: c.ckpt!,
          ...(c.hubCard ? { hubCard: c.hubCard } : {}),
          onCase: (r) => (task.output = `${r.status} ${r.text}`),
        });
        const passed = c.smoke.cases.filter((x) => x.status === "pass").length;
        task.title = `Smoke test on ${c.smoke.device}: ${passed}/${c.smoke.cases.length} cases pass`;
        if (!c.smoke.ok) {
          const bad = c.smoke.cases.filter((x) => x.status === "fail").map((x) => `${x.text}: ${x.reason ?? "failed"}`);
          throw new Error(`smoke test failed:\n${bad.join("\n")}`);
        }
      },
    }),
    interruptible({
      title: "Safetensors and the manifest to publish",
      enabled: () => stages.has("hub") || stages.has("pack") || stages.has("github"),
      skip: (c) => (!isOk(c.results) || !c.manifest ? "checks failed" : false),
      task: async (c, task: Task<ReleaseContext>) => {
        let last = 0;
        c.published = await preparePublished({
          ckpt: c.ckpt!,
          manifest: c.manifest!,
          mode: s.weights.safetensors,
          outDir: path.join(s.github.outDir, SAFETENSORS_OUT),
          dryRun: s.release.dryRun,
          onProgress: (done, total) => {
            if (Date.now() - last < 100) return;
            last = Date.now();
            task.output = `model.safetensors: ${formatBytes(done)} of ${formatBytes(total)} written and read back`;
          },
        });
        c.plan.safetensors = c.published.safetensors;
        task.title = safetensorsLine(c.published.safetensors);
      },
    }),
    interruptible({
      ...packTask<ReleaseContext>({ archiveName: s.github.archive, outDir: s.github.outDir, files: (c) => c.published?.archive }),
      enabled: () => !s.release.dryRun && (stages.has("pack") || stages.has("github")),
    }),
    interruptible({
      title: "Plan the remote steps",
      enabled: () => stages.has("hub") || stages.has("github"),
      skip: (c) => (!isOk(c.results) ? "checks failed" : false),
      task: async (c, task: Task<ReleaseContext>) => {
        const m = publishedManifest(c);
        const packed = c.published?.archive ?? m;
        if (s.release.dryRun && (stages.has("pack") || stages.has("github"))) {
          c.plan.pack = { archive: `${s.github.outDir}/${s.github.archive}`, files: packed.length, bytes: packed.reduce((a, e) => a + e.size, 0) };
        }
        // What an earlier run of this release recorded (read only: the dry run writes nothing).
        const recorded = await Journal.read(s.cwd, tagName(s), manifestDigest(m));
        if (stages.has("hub")) c.plan.hub = await planHub(s, c.remotes, m, recorded);
        if (stages.has("github")) {
          c.plan.git = await planGit(s);
          c.plan.github = await planGitHub(s, c.remotes, [s.github.archive, "SHA256SUMS", "manifest.json"], recorded);
        }
        c.plan.proof = planProof(s, m);
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
      const what = [status, "commit" in r && r.commit ? String(r.commit).slice(0, 12) : "", "url" in r && r.url ? String(r.url) : "", "summary" in r && r.summary ? `(${r.summary})` : ""]
        .filter(Boolean)
        .join(" ");
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
      step("hub", `Publish to the Hub (${s.hub.repoId}, ${s.hub.transport})`, (c, task) => {
        const line = hubProgressLine(s.hub.transport);
        return publishToHub(stepRun(c), hubPlan(c.plan), (e) => {
          const text = line(e);
          if (text !== undefined) task.output = text;
        });
      }),
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
  tasks.push(step("verify.download", "Prove what users download", (c, task) => verifyDownloads(stepRun(c), c.pack, (line) => (task.output = line))));
  return tasks;
}

/**
 * The Hub step's progress line. Uploading shows the bytes actually sent (read into the
 * connection) with their rate; phases that send nothing say what they do, with no byte counter.
 * git-lfs does not report its bytes to us: its upload shows the size to send, not a count.
 */
export function hubProgressLine(transport: "api" | "git", now: () => number = Date.now): (e: HubProgressEvent) => string | undefined {
  let start: number | undefined;
  let last = -Infinity;
  return (e) => {
    switch (e.phase) {
      case "preparing":
        return "preparing the commit";
      case "hashing":
        return `hashing ${e.path ?? "the files"}`;
      case "committing":
        return "committing";
      case "tagging":
        return "tagging the commit";
      case "done":
        return "";
      case "uploading": {
        if (!e.totalBytes) return undefined;
        if (transport === "git") return `uploading ${formatBytes(e.totalBytes)} with git-lfs`;
        const t = now();
        start ??= t;
        // At most ten redraws a second; the last event of a file always shows.
        if (t - last < 100 && e.uploadedBytes < e.totalBytes) return undefined;
        last = t;
        const seconds = (t - start) / 1000;
        const rate = seconds >= 0.5 ? `, ${formatBytes(Math.round(e.uploadedBytes / seconds))}/s` : "";
        return `uploading: ${formatBytes(e.uploadedBytes)} of ${formatBytes(e.totalBytes)} sent${rate}${e.path ? ` (${e.path})` : ""}`;
      }
    }
  };
}

function hubPlan(plan: ReleasePlan) {
  return plan.hub && !isSkipped(plan.hub) ? plan.hub : undefined;
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
