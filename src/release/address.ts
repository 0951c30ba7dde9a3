// Where a destination publishes: the journal keys every step by it, and messages name it.
export interface HubAddress {
  kind: "hub";
  endpoint: string;
  repoId: string;
  revision: string;
  transport: "api" | "git";
  /** A pull request is not the branch: publishing to the branch after a PR is another release. */
  mode: "commit" | "pull-request";
}

export interface OriginAddress {
  kind: "origin";
  remote: string;
  /** The remote's URL, credentials removed. */
  remoteUrl: string;
  branch: string;
}

export interface GitHubAddress {
  kind: "github";
  apiUrl: string;
  /** owner/name of the GitHub Release. */
  repository: string;
}

/** Where a destination publishes: the journal keys every step by it. */
export type Address = HubAddress | OriginAddress | GitHubAddress;

/** One line a person reads. */
export function describeAddress(a: Address): string {
  switch (a.kind) {
    case "hub":
      return `the Hub ${a.endpoint}/${a.repoId}@${a.revision} (${a.transport}${a.mode === "pull-request" ? ", pull request" : ""})`;
    case "origin":
      return `git remote ${a.remote} (${a.branch} on ${a.remoteUrl})`;
    case "github":
      return `the GitHub Release of ${a.repository}`;
  }
}

/** The repo or remote itself, as a message names it. */
export function addressName(a: Address): string {
  return a.kind === "hub" ? a.repoId : a.kind === "origin" ? a.remote : a.repository;
}

/** Canonical key: every field, in a fixed order. */
export function addressKey(a: Address): string {
  switch (a.kind) {
    case "hub":
      return JSON.stringify([a.kind, a.endpoint, a.repoId, a.revision, a.transport, a.mode]);
    case "origin":
      return JSON.stringify([a.kind, a.remote, a.remoteUrl, a.branch]);
    case "github":
      return JSON.stringify([a.kind, a.apiUrl, a.repository]);
  }
}

