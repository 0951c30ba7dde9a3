// The publish plan: what each remote step would do, computed by the destinations without
// changing anything. It is the dry run's output and what the user confirms before a real release.
import { formatBytes } from "../util/format-bytes.js";
import { displayPath } from "../util/display-path.js";
import type { Manifest } from "../checkpoint/types.js";
import { hubRepoUrl, type GitAccess, type HubPlan } from "../hub/index.js";
import type { SafetensorsOutcome } from "./published.js";
import type { ReleaseSettings } from "./settings.js";

export interface Skipped {
  skipped: string;
}

/**
 * The release tag on the Hub: `create` it on the release commit, `unchanged` (already on the
 * commit the release leaves as head, or recorded by an earlier run), or `conflict`: taken by
 * another commit, which the Hub step would refuse. Absent for a pull request (tagged once merged).
 */
export interface HubTagPlan {
  name: string;
  action: "create" | "unchanged" | "conflict";
  /** Where the tag points now, when it exists. */
  commit?: string;
}

export interface ReleasePlan {
  tag: string;
  /** model.safetensors written from pytorch_model.bin (or planned, in a dry run), and what of the weights is published. */
  safetensors?: SafetensorsOutcome;
  hub?:
    | (HubPlan & {
        remote: { name: string; action: "add" | "keep"; url: string };
        transport: "api" | "git";
        git?: GitAccess;
        tag?: HubTagPlan;
        /** The refs hold this release's staging branch (an interrupted run's): the stage removes it first. */
        staleStagingBranch?: boolean;
      })
    | Skipped;
  git?: { remote: string; refs: Array<{ ref: string; from: string | null; to: string; action: "push" | "unchanged" | "conflict" }> } | Skipped;
  github?: GitHubPlan | Skipped;
  pack?: { archive: string; files: number; bytes: number };
  /** How model.sig is made (or why there is none). */
  signing?: string;
  /** What the release writes on this machine (model.safetensors, the archive), at most, and where. */
  local?: { folder: string; bytes: number };
  /** verify.download: what is downloaded after publishing, and checked. */
  proof?: ProofPlan;
}

/**
 * The GitHub Release: `create` a draft, `resume` the draft an earlier run left, `unchanged` (published
 * earlier with these very assets), or `conflict`: published with other assets, which the release refuses.
 */
export interface GitHubPlan {
  repository: string;
  release: "create" | "resume" | "unchanged" | "conflict";
  releaseId?: number;
  /** The repository publishes immutable releases (undefined: GitHub did not say). */
  immutable?: boolean;
  /** What would be attached; sizes are estimates before packing. */
  assets: Array<{ name: string; size: number }>;
  estimated: boolean;
  conflict?: string;
}

export interface ProofPlan {
  hub?: { url: string; files: number; bytes: number; smoke: string };
  github?: { assets: string[] };
}

export function isSkipped(x: unknown): x is Skipped {
  return typeof x === "object" && x !== null && "skipped" in x;
}

/** What verify.download will download once the release is staged, before anything is visible. */
export function planProof(s: ReleaseSettings, published: Manifest): ProofPlan {
  const stages = s.release.stages;
  const device = s.smoke.device === "cpu" ? "the CPU engine" : "the CPU engine, and the GPU runner loading it from the Hub when a GPU is there";
  return {
    ...(stages.has("hub") && !s.hub.createPr
      ? { hub: { url: `${hubRepoUrl(s.hub.endpoint, s.hub.repoId)}/resolve/<staged commit>/`, files: published.length, bytes: published.reduce((a, e) => a + e.size, 0), smoke: device } }
      : {}),
    ...(stages.has("github") ? { github: { assets: [s.github.archive, "SHA256SUMS"] } } : {}),
  };
}

/** One line on the safetensors of the release. */
export function safetensorsLine(o: SafetensorsOutcome): string {
  const list = (fs: SafetensorsOutcome["files"]) => fs.map((f) => `${f.path} (${formatBytes(f.size)})`).join(", ");
  const where = o.outDir ? ` in ${displayPath(o.outDir)}` : "";
  const publish = o.dropped.length ? `published instead of ${o.dropped.join(", ")} (weights.safetensors: only)` : "published beside it";
  switch (o.action) {
    case "written": {
      const logits = o.proof && "identical" in o.proof.logits ? `, CPU engine logits identical on ${o.proof.logits.masks} masks` : "";
      return `Wrote ${list(o.files)}${where} from ${o.from}: ${o.proof?.tensorsCompared ?? 0} tensors read back byte-identical${logits}; ${publish}`;
    }
    case "kept":
      return `Kept ${list(o.files)}${where}, written from ${o.from} and proven by an earlier run, unchanged since; ${publish}`;
    case "planned":
      return `Would write ${list(o.files)}${where} from ${o.from} and prove it equal; ${publish}`;
    case "own":
      return `The checkpoint's own ${o.from} is published${o.dropped.length ? `, without ${o.dropped.join(", ")} (weights.safetensors: only)` : ""}`;
    case "off":
      return "weights.safetensors is off: the weights are published as they are";
    case "none":
      return "No pytorch_model.bin to write safetensors from";
  }
}

