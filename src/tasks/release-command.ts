// `azbert-release release`: resolve the settings once, run the release (src/release/driver.ts),
// render its report. This layer shows the steps and asks the one question; the driver decides.
// Ctrl-C aborts an AbortSignal that every step sees: the step in flight stops, cleanups run
// (temporary folders, open files), the journal keeps what finished, and the exit code is 130.
// Reading and hashing the checkpoint start first; the modules of the rest load while they run.
import { createInterface } from "node:readline/promises";
import type { GlobalOptions, ReleaseCliOptions } from "./options.js";
import { readAndHashCheckpoint, type CheckpointRead } from "../checkpoint/manifest.js";
import { checkpointDir, loadConfig, type ReleaseConfig } from "../config.js";
import { UsageError } from "../report.js";
import path from "node:path";
import type { ReleaseContext } from "../release/driver.js";

export async function runReleaseCommand(opts: GlobalOptions & ReleaseCliOptions): Promise<number> {
  if (opts.offline && !opts.dryRun) throw new UsageError("--offline only makes sense with --dry-run: a release needs the network");
  const config = loadConfig({ configFile: opts.config });
  // A bad --only is a usage error before anything is read.
  const { parseStages } = await import("../release/settings.js");
  parseStages(opts.only);
  const read = readAndHashCheckpoint(checkpointDir(config, opts.ckpt), { modelCard: config.modelCard });
  try {
    return await release(opts, config, read);
  } finally {
    read.cancel();
  }
}

async function release(opts: GlobalOptions & ReleaseCliOptions, config: ReleaseConfig, read: CheckpointRead): Promise<number> {
  const { withRunReads } = await import("../release/remotes.js");
  return withRunReads(() => releaseRun(opts, config, read));
}

async function releaseRun(opts: GlobalOptions & ReleaseCliOptions, config: ReleaseConfig, read: CheckpointRead): Promise<number> {
  const [{ connectRemotes }, { exitCodeOf }, { releaseDestinations }, { resolveSettings }, { redact, writeNow }, { runRelease }, { renderPlan, renderReleaseReport, writeStepSummary }, { detectUi, humanStream, Progress, stepRunner }] =
    await Promise.all([
      import("../release/remotes.js"),
      import("../release/report.js"),
      import("../release/destinations/index.js"),
      import("../release/settings.js"),
      import("../util/redact.js"),
      import("../release/driver.js"),
      import("./release-render.js"),
      import("./ui.js"),
    ]);
  const settings = await resolveSettings({
    config,
    overrides: {
      ...(opts.ckpt ? { ckpt: opts.ckpt } : {}),
      ...(opts.tag ? { tag: opts.tag } : {}),
      ...(opts.transport ? { transport: opts.transport } : {}),
      offline: !!opts.offline,
      prune: !!opts.prune,
      createPr: !!opts.createPr,
      force: !!opts.force,
      ...(opts.only !== undefined ? { only: opts.only } : {}),
      dryRun: !!opts.dryRun,
      yes: !!opts.yes,
    },
  });
  // Say it before minutes of checks and packing, not after.
  if (settings.release.confirm && !process.stdin.isTTY) throw new UsageError("refusing to publish without a confirmation: run in a terminal, or pass --yes");

  const ui = detectUi(!!opts.json);
  const human = humanStream(ui);
  const progress = new Progress(ui);
  const interrupt = new AbortController();
  let journal: (() => string | undefined) | undefined;
  const onSigint = () => {
    // Said at once, past the live renderer (which holds back what is written while it draws).
    const recorded = journal?.();
    writeNow(
      recorded
        ? `\nInterrupted (Ctrl-C): stopping after the current request (Ctrl-C again to stop at once). What finished is recorded in ${recorded}: run the release again to resume.\n`
        : "\nInterrupted (Ctrl-C): nothing has been published; stopping (Ctrl-C again to stop at once). Run the release again to start over.\n",
    );
    interrupt.abort(new Error("interrupted (Ctrl-C)"));
  };
  process.once("SIGINT", onSigint);
  // The checkpoint's read and hashing stop with the rest: a 50 GB hash is not waited out.
  interrupt.signal.addEventListener("abort", () => read.cancel(), { once: true });
  try {
    const ctx: ReleaseContext = {
      settings,
      remotes: await connectRemotes(settings, { signal: interrupt.signal, onRetry: (line) => progress.say(line) }),
      signal: interrupt.signal,
      destinations: releaseDestinations(settings),
      results: [],
      read,
      plan: { tag: "error" in settings.tag ? "(unknown)" : settings.tag.tag },
      steps: [],
      notes: [],
    };
    journal = () => (ctx.journal ? path.relative(settings.cwd, ctx.journal.file) : undefined);
    const report = await runRelease(ctx, {
      ...stepRunner(ui, progress),
      showPlan: (plan) => human.write(`\n${redact(renderPlan(plan))}\n`),
      confirm: (question) => confirm(question, interrupt.signal),
      say: (line) => progress.say(line),
    });
    // The report is the outcome: a step summary that cannot be written is said, not a failure of the release.
    const summaryError = await writeStepSummary(report, settings.release.dryRun).then(
      () => undefined,
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    renderReleaseReport(report, ui);
    if (summaryError) human.write(`Warning: the step summary ($GITHUB_STEP_SUMMARY) was not written: ${redact(summaryError)}\n`);
    return exitCodeOf(report);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

async function confirm(question: string, signal: AbortSignal): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    // Ctrl-C at the prompt is an interrupt like any other, not a "no".
    rl.on("SIGINT", () => (rl.close(), process.emit("SIGINT")));
    return /^y(es)?$/i.test((await rl.question(question, { signal })).trim());
  } catch {
    return false; // Ctrl-C or end of input: not confirmed
  } finally {
    rl.close();
  }
}
