// What the local stages of a release know and produce, shared by the steps that read it.
import type { PackResult } from "../pack/index.js";
import type { SmokeReport } from "../smoke/main.js";
import type { CheckContext } from "./checklist.js";
import type { Destination } from "./destination.js";
import type { ReleasePlan } from "./plan.js";
import type { PublishedFiles } from "./published.js";
import type { Remotes } from "./remotes.js";
import type { ReleaseSettings } from "./settings.js";

export interface LocalContext extends CheckContext {
  readonly settings: ReleaseSettings;
  readonly remotes: Remotes;
  readonly signal: AbortSignal;
  readonly destinations: readonly Destination[];
  smoke?: SmokeReport;
  /** What the release publishes: the checkpoint's files, model.safetensors, manifest.json. */
  published?: PublishedFiles;
  pack?: PackResult;
  plan: ReleasePlan;
}
