// What a release produced, as one typed value: the step results the journal keeps, the step
// reports of `release --json` (docs/cli-contract.md), and the ReleaseReport that runRelease
// returns and the renderers print.
import type { PushStatus } from "../git/index.js";
import type { PackResult } from "../pack/index.js";
import type { CheckResult } from "../report.js";
import type { SmokeReport } from "../smoke/main.js";
import type { ReleasePlan } from "./plan.js";
import type { GitHubProof, HubProof } from "./proof.js";
import type { SafetensorsOutcome } from "./published.js";

export type StepId = "hub" | "hub-tag" | "git-push" | "github-release" | "verify" | "verify.download";

export interface HubStepResult {
  commit: string;
  url: string;
  transport: "api" | "git";
  uploaded: string[];
  deduplicated: string[];
  deleted: string[];
  pullRequestUrl?: string;
  /** The `.gitattributes` the publish wrote (verify compares it too). */
  gitattributes: string;
  /** The tag made together with the commit, when the transport does both at once. */
  tag?: { tag: string; commit: string; created: boolean };
}

export interface HubTagResult {
  tag: string;
  commit: string;
}

export interface GitPushResult {
  remote: string;
  commit: string;
  branch: PushStatus;
  tag: PushStatus;
}

export interface GitHubReleaseResult {
  releaseId: number;
  url: string;
  uploaded: string[];
  unchanged: string[];
  assets: Array<{ name: string; size: number; sha256: string }>;
}

export interface VerifyStepResult {
  hubFilesChecked?: number;
  releaseAssets?: string[];
}

/** The proof from what is served: the Hub copy downloaded and smoke-tested, the GitHub archive unpacked verified. */
export interface VerifyDownloadResult {
  hub?: HubProof | { skipped: string };
  github?: GitHubProof;
  /** One line a person reads. */
  summary: string;
}

/** What each step produced: recorded in the journal, reported in `steps`. */
export interface StepResults {
  hub: HubStepResult;
  "hub-tag": HubTagResult;
  "git-push": GitPushResult;
  "github-release": GitHubReleaseResult;
  verify: VerifyStepResult;
  "verify.download": VerifyDownloadResult;
}

export type StepStatus = "done" | "skipped" | "unchanged" | "failed";

/** A step as `release --json` reports it: id, status, and what it produced (absent when it failed). */
export type StepReportOf<K extends StepId> = { id: K; status: StepStatus; message?: string; /** Wall time of the step in this run. */ ms?: number } & Partial<StepResults[K]>;
export type StepReport = { [K in StepId]: StepReportOf<K> }[StepId];

/** What a step that ran returns: `done` changed something, `unchanged` found it already there. */
export interface StepOutcome<K extends StepId> {
  status: "done" | "unchanged";
  result: StepResults[K];
}

export type ReleaseOutcome =
  /** --dry-run: checks and the plan, nothing changed. */
  | "dry-run"
  /** A check or a local stage failed: nothing was published. */
  | "checks-failed"
  /** No remote stage was selected (--only check,smoke,pack). */
  | "local-only"
  /** Every selected destination was released before and still holds it. */
  | "already-released"
  | "released"
  /** A remote step failed; the journal keeps what finished. */
  | "failed"
  /** The person answered no at the confirmation. */
  | "declined"
  /** Ctrl-C: stopped between (or during) steps; the journal keeps what finished. */
  | "interrupted";

export interface ReleaseReport {
  outcome: ReleaseOutcome;
  ok: boolean;
  tag: string;
  checks: CheckResult[];
  smoke?: SmokeReport;
  /** model.safetensors written (or planned) for the release, and what else of the weights is published. */
  safetensors?: SafetensorsOutcome;
  pack?: PackResult;
  plan?: ReleasePlan;
  steps: StepReport[];
  /** Lines a person needs besides the steps: why a destination is planned again. */
  notes: string[];
  /** Why the release stopped (failed, interrupted). */
  error?: string;
  /** failed: running the same command again can get past the failure as it is (a network or server error). */
  rerunHelps?: boolean;
  /** The remote destinations this run was asked to publish to (`--only` may leave one out). */
  remotes: Array<"hub" | "github">;
  /** The journal file, relative to the project. */
  journal?: string;
}

export function exitCodeOf(report: ReleaseReport): number {
  if (report.outcome === "interrupted") return 130;
  return report.ok ? 0 : 1;
}
