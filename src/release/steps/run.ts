// What every remote step is given: the settings, the connections, the journal and the
// manifest of this run (references, never copies), and the signal that Ctrl-C aborts.
import type { Manifest } from "../../checkpoint/types.js";
import { UserError } from "../../report.js";
import type { Journal } from "../journal.js";
import type { Remotes } from "../remotes.js";
import type { ReleaseSettings } from "../settings.js";

export interface StepRun {
  settings: ReleaseSettings;
  remotes: Remotes;
  journal: Journal;
  manifest: Manifest;
  signal?: AbortSignal;
}

export function requireHubToken(s: ReleaseSettings): string {
  if (!s.hub.token) throw new UserError("no Hub token: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), or run `huggingface-cli login`");
  return s.hub.token;
}

/** The Hub target of every Hub call: endpoint, repo, token, and the run's fetch. */
export function hubTarget(r: StepRun) {
  const s = r.settings;
  return { endpoint: s.hub.endpoint, repoId: s.hub.repoId, token: requireHubToken(s), fetch: r.remotes.hubFetch };
}

/** The GitHub client and repository, or an error saying what to set. */
export function githubTarget(r: StepRun) {
  const s = r.settings;
  if (!r.remotes.github) throw new UserError("no GITHUB_TOKEN: set it (contents: write) to create the GitHub Release");
  if (!s.github.repository) throw new UserError(s.github.repositoryError ?? "no GitHub repository");
  return { client: r.remotes.github, owner: s.github.repository.owner, repo: s.github.repository.repo };
}
