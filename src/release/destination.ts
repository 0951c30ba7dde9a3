// What every place a release publishes to is to the driver: one lifecycle, the same for the Hub,
// the git remote and the GitHub Release (src/release/destinations/, one file each):
//
//   preflight  read-only checks of the remote and of what will be sent (the checklist shows them)
//   plan       what would change there, read from the remote (the dry run and the confirmation show it)
//   stage      remote writes no user sees: a Hub staging branch, a draft release
//   prove      download what is served at the staged state and check it as a user would
//   release    the one visible step: tag, push, publish
//   reverify   does the destination still hold what the journal says was released there?
//   withdraw   remove what was staged, when the release did not pass
//
// The driver (driver.ts) runs them in the order the release promises and keeps the journal; a
// destination never calls another one, and reads what another one did only from the journal.
export { addressKey, addressName, describeAddress, type Address, type GitHubAddress, type HubAddress, type OriginAddress } from "./address.js";
import type { PackResult } from "../pack/index.js";
import type { CheckResult } from "../report.js";
import type { SmokeSummary } from "../github/notes.js";
import type { Manifest } from "../checkpoint/types.js";
import type { Address } from "./address.js";
import type { Journal, RecordedSteps } from "./journal.js";
import type { ReleasePlan } from "./plan.js";
import type { PublishedFiles } from "./published.js";
import type { Remotes } from "./remotes.js";
import type { StepId, StepOutcome, StepResults, VerifyDownloadResult, VerifyStepResult } from "./report.js";
import type { ReleaseSettings } from "./settings.js";

/** What preflight and plan may read: nothing here writes. */
export interface ReadContext {
  readonly settings: ReleaseSettings;
  readonly remotes: Remotes;
}

export interface PlanContext extends ReadContext {
  /** Every file the Hub gets (manifest.json included). */
  readonly manifest: Manifest;
  readonly published?: PublishedFiles;
  /** The archive and its sums, once packed (a dry run plans from the files instead). */
  readonly pack?: PackResult;
  /** What an earlier run of this release recorded (read only). */
  readonly recorded?: RecordedSteps;
  /** Each destination writes its part. */
  readonly plan: ReleasePlan;
}

/** What every remote step is given: references into the run, never copies. */
export interface StepRun extends ReadContext {
  readonly journal: Journal;
  /** Every file the Hub gets (manifest.json included). */
  readonly manifest: Manifest;
  readonly published?: PublishedFiles;
  readonly pack?: PackResult;
  readonly plan: ReleasePlan;
  /** The checklist's results and the smoke test, for the release notes. */
  readonly checks: readonly CheckResult[];
  readonly smoke?: SmokeSummary;
  readonly signal?: AbortSignal;
  /** A line for the person watching (progress, a retry): never a secret. */
  readonly say: (line: string) => void;
}

/** A journaled remote step of a destination. */
export interface Phase<K extends StepId> {
  readonly step: K;
  readonly title: string;
  run(run: StepRun): Promise<StepOutcome<K>>;
  /**
   * For a step recorded by an earlier run: whether what it made is still there (a staging branch
   * someone deleted is staged again). Default: it is.
   */
  stillThere?(run: StepRun, recorded: StepResults[K]): Promise<boolean>;
}

/** Staging: a Hub staging branch, the local tag, a draft GitHub Release. */
export type StagePhase = Phase<"hub"> | Phase<"git-tag"> | Phase<"github-release">;
/** Releasing: the Hub commit and tag, the git push, the published GitHub Release. */
export type ReleasePhase = Phase<"hub-tag"> | Phase<"git-push"> | Phase<"github-publish">;

export interface Destination {
  readonly address: Address;
  /** The checklist group its preflight fills. */
  readonly group: string;
  preflight(ctx: ReadContext): Promise<CheckResult[]>;
  /** Writes its part of `ctx.plan`. */
  plan(ctx: PlanContext): Promise<void>;
  /** What in the plan the real run would refuse (the dry run fails on it too). */
  refusals(plan: ReleasePlan): CheckResult[];
  stage?: StagePhase;
  /** Its part of verify.download: the staged state downloaded and checked. */
  prove?(run: StepRun): Promise<Partial<VerifyDownloadResult>>;
  /** Absent when the destination is not released by this tool (a Hub pull request: someone merges it). */
  release?: ReleasePhase;
  /** Its part of verify: [] problems when the destination holds what the journal says was released. */
  reverify(run: StepRun): Promise<{ problems: string[]; result: VerifyStepResult }>;
  /** Removes what was staged; returns what it removed, for the report. */
  withdraw?(run: StepRun): Promise<string[]>;
}
