// Where a release publishes. The journal keys every step by its destination, so publishing a
// tag to a scratch repo first and then to the real one is two releases, not one.
import type { ReleaseSettings } from "./settings.js";

export interface HubDestination {
  kind: "hub";
  endpoint: string;
  repoId: string;
  revision: string;
  transport: "api" | "git";
  /** A pull request is not the branch: publishing to the branch after a PR is another release. */
  mode: "commit" | "pull-request";
}

export interface GitHubDestination {
  kind: "github";
  /** owner/name of the GitHub Release. */
  repository: string;
  /** The git remote's URL (credentials removed) that the branch and the tag are pushed to. */
  remoteUrl: string;
  branch: string;
}

export type Destination = HubDestination | GitHubDestination;

export function hubDestination(s: ReleaseSettings): HubDestination {
  const h = s.hub;
  return { kind: "hub", endpoint: h.endpoint, repoId: h.repoId, revision: h.revision, transport: h.transport, mode: h.createPr ? "pull-request" : "commit" };
}

export function githubDestination(s: ReleaseSettings): GitHubDestination {
  const g = s.github;
  return {
    kind: "github",
    repository: g.repository ? `${g.repository.owner}/${g.repository.repo}` : "(unknown repository)",
    remoteUrl: g.remoteUrl ?? `(no remote ${g.remote})`,
    branch: g.branch,
  };
}

/** The destinations of the stages a release runs. */
export function destinationsOf(s: ReleaseSettings): Destination[] {
  const stages = s.release.stages;
  return [...(stages.has("hub") ? [hubDestination(s)] : []), ...(stages.has("github") ? [githubDestination(s)] : [])];
}

/** One line a person reads, and the journal's key. */
export function describeDestination(d: Destination): string {
  return d.kind === "hub"
    ? `the Hub ${d.endpoint}/${d.repoId}@${d.revision} (${d.transport}${d.mode === "pull-request" ? ", pull request" : ""})`
    : `GitHub ${d.repository} (${d.branch} on ${d.remoteUrl})`;
}

/** Canonical key: every field, in a fixed order. */
export function destinationKey(d: Destination): string {
  return JSON.stringify(d.kind === "hub" ? [d.kind, d.endpoint, d.repoId, d.revision, d.transport, d.mode] : [d.kind, d.repository, d.remoteUrl, d.branch]);
}
