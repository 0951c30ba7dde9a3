// How task lists are shown: listr2's live list in a terminal, plain lines in CI or a pipe, and
// progress on stderr only when stdout carries the --json report.
import { Listr, ProcessOutput, type ListrTask, type ListrTaskWrapper, type ListrDefaultRenderer, type ListrSimpleRenderer } from "listr2";
import type { PipelineStep, StepRunner } from "../release/pipeline.js";
import { isCi } from "../release/settings.js";
import type { CheckResult } from "../report.js";
import { redact } from "../util/redact.js";
import { PlainRenderer } from "./plain-renderer.js";

export interface UiOptions {
  json: boolean;
  /** Interactive terminal and not CI: the live listr2 renderer. */
  tty: boolean;
}

/** Narrower than this, the live renderer wraps every line into a column of characters: plain lines instead. */
const MIN_LIVE_COLUMNS = 20;

export function detectUi(json: boolean, env: NodeJS.ProcessEnv = process.env, out: { isTTY?: boolean; columns?: number } = process.stdout): UiOptions {
  // A terminal that reports 0 columns (some CI consoles, a pty nobody sized) gets plain lines too.
  return { json, tty: !json && !isCi(env) && !!out.isTTY && (out.columns ?? 0) >= MIN_LIVE_COLUMNS };
}

export type Task<Ctx> = ListrTaskWrapper<Ctx, ListrDefaultRenderer, ListrSimpleRenderer>;

export function makeListr<Ctx>(tasks: ListrTask<Ctx>[], ui: UiOptions, ctx: Ctx): Listr<Ctx> {
  // --json: stdout holds exactly one JSON document, so progress goes to stderr.
  const stream = ui.json ? process.stderr : process.stdout;
  return new Listr<Ctx>(tasks, {
    ctx,
    exitOnError: true,
    renderer: ui.tty ? "default" : PlainRenderer,
    fallbackRenderer: PlainRenderer,
    rendererOptions: ui.tty ? { collapseSubtasks: false, collapseErrors: false, showErrorMessage: true } : { stream },
    fallbackRendererOptions: { stream },
    ...(ui.json ? { processOutput: new ProcessOutput(process.stderr, process.stderr) } : {}),
    registerSignalListeners: false,
  } as never);
}

/** One listr line per check result: fail raises, skip and warn say why (the title is the rule, the message what was found). */
export function resultTasks<Ctx>(results: CheckResult[]): ListrTask<Ctx>[] {
  return results.map((r) => ({
    title: r.title,
    task: (_ctx: Ctx, task: Task<Ctx>) => {
      if (r.status === "fail") throw new Error(r.message ?? r.title);
      if (r.status === "skip") return task.skip(`${r.title} (skipped: ${r.message ?? ""})`);
      if (r.status === "warn") task.title = r.message ? `⚠ ${r.title}\n${r.message}` : `⚠ ${r.title}`;
      else if (r.message) task.title = `${r.title} (${r.message})`;
    },
  }));
}

/** Where a person reads progress: stdout, or stderr when stdout carries the --json report. */
export function humanStream(ui: UiOptions): NodeJS.WritableStream {
  return ui.json ? process.stderr : process.stdout;
}

/**
 * Lines said while tasks run (a retry and its wait, why a destination is planned again): under
 * the running task in a terminal, as plain lines otherwise. Always redacted.
 */
export class Progress {
  /** The task whose output line a terminal shows. */
  current?: { output?: string | undefined };

  constructor(private readonly ui: UiOptions) {}

  say(line: string): void {
    const text = redact(line);
    if (this.ui.tty && this.current) this.current.output = text;
    else humanStream(this.ui).write(`  ${text}\n`);
  }
}

/**
 * Runs pipeline steps as a listr2 list: a step's title, its progress line, and the check results
 * it lists as lines under it. Lines said through `progress` while a step runs show under it.
 */
export function stepRunner(ui: UiOptions, progress?: Progress): StepRunner {
  return {
    run: async <C>(steps: ReadonlyArray<PipelineStep<C>>, ctx: C) => {
      await makeListr<C>(steps.map((s) => listrTask(s, progress)), ui, ctx).run();
    },
  };
}

function listrTask<C>(step: PipelineStep<C>, progress: Progress | undefined): ListrTask<C> {
  return {
    title: step.title,
    ...(step.enabled ? { enabled: (c: C) => step.enabled!(c) } : {}),
    ...(step.skip ? { skip: (c: C) => step.skip!(c) } : {}),
    task: async (c: C, task: Task<C>) => {
      let results: CheckResult[] | undefined;
      if (progress) progress.current = task;
      try {
        await step.run(c, {
          title: (t) => void (task.title = t),
          progress: (line) => void (task.output = redact(line)),
          results: (r) => void (results = [...r]),
        });
      } finally {
        if (progress?.current === task) delete progress.current;
      }
      if (results) return task.newListr(resultTasks<C>(results), { exitOnError: false });
    },
  };
}
