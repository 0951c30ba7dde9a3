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

export type StepId = "hub" | "git-tag" | "github-release" | "verify.download" | "git-push" | "hub-tag" | "github-publish" | "verify" | "withdraw";

/** `hub`: the release staged on the Hub, where users do not see it (a staging branch, or a pull request). */
export interface HubStepResult {
  /** The staged commit the proof downloads (the branch head itself when nothing changed). */
  commit: string;
  url: string;
  transport: "api" | "git";
  /** The head of the Hub branch the staged commit sits on. */
  parentCommit: string;
  /** The branch the release is staged on (absent when nothing changed, or for a pull request). */
  stagingBranch?: string;
  /** The files the Hub branch already held: nothing was staged. */
  noop: boolean;
  uploaded: string[];
  deduplicated: string[];
  deleted: string[];
  pullRequestUrl?: string;
  /** The `.gitattributes` the publish wrote (verify compares it too). */
  gitattributes: string;
  /** The release created the repo, private until it is released. */
  createdRepo: boolean;
}

/** `hub-tag`: the release made visible on the Hub: the proven tree committed to the branch users get, and tagged. */
export interface HubTagResult {
  tag: string;
  commit: string;
  url: string;
}

/** `git-tag`: the release tag at HEAD in the project's repository (made, or found). */
export interface GitTagResult {
  tag: string;
  commit: string;
  created: boolean;
  annotated: boolean;
}

/** `git-push`: the release branch and tag on the git remote, in one atomic push. */
export interface GitPushResult {
  remote: string;
  commit: string;
  branch: PushStatus;
  tag: PushStatus;
}

/** `github-release`: the draft release with every asset uploaded and held to GitHub's digest. */
export interface GitHubReleaseResult {
  releaseId: number;
  url: string;
  draft: "created" | "resumed" | "published";
  uploaded: string[];
  unchanged: string[];
  assets: Array<{ name: string; size: number; sha256: string; id?: number }>;
}

/** `github-publish`: the draft published (the release users see). */
export interface GitHubPublishResult {
  releaseId: number;
  url: string;
  immutable: boolean;
}

/** `verify`: each destination holds what was released there (cheap reads: refs, tree listing, asset list). */
export interface VerifyStepResult {
  hubFilesChecked?: number;
  originRefs?: string[];
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
  "git-tag": GitTagResult;
  "github-release": GitHubReleaseResult;
  "verify.download": VerifyDownloadResult;
  "git-push": GitPushResult;
  "hub-tag": HubTagResult;
  "github-publish": GitHubPublishResult;
  verify: VerifyStepResult;
  /** After a failed proof: what was staged and is now removed. */
  withdraw: { removed: string[] };
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
  /** failed and not fixed by a rerun: what to change (the file or setting), when known. */
  fix?: string;
  /** Whether users can see anything of this release yet (`false`: everything staged was withdrawn, or nothing was written). */
  visible?: boolean;
  /** The remote destinations this run was asked to publish to (`--only` may leave one out). */
  remotes: Array<"hub" | "github">;
  /** The journal file, relative to the project. */
  journal?: string;
}

export function exitCodeOf(report: ReleaseReport): number {
  if (report.outcome === "interrupted") return 130;
  return report.ok ? 0 : 1;
}
