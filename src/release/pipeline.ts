// What a step of a command is, without any UI: a title, when it runs, and what it does. The
// checklist and the release are lists of such steps, in the order they promise; the UI layer
// (src/tasks/) runs a list and shows each step as it goes.
import type { CheckResult } from "../report.js";

export interface StepOutput {
  /** The step's line once it knows its outcome. */
  title(text: string): void;
  /** A passing line under the running step (progress, a retry and its wait). */
  progress(text: string): void;
  /** Results listed under the step (a group of checks); a failing one fails the step. */
  results(results: readonly CheckResult[]): void;
}

export interface PipelineStep<C> {
  title: string;
  /** Whether the step is part of this run at all (default: it is). */
  enabled?: (c: C) => boolean;
  /** A reason to skip it in this run, or false. */
  skip?: (c: C) => string | false;
  run(c: C, out: StepOutput): Promise<void>;
}

/** Runs steps in order and shows them; rejects with the first step that fails. */
export interface StepRunner {
  run<C>(steps: ReadonlyArray<PipelineStep<C>>, ctx: C): Promise<void>;
}
