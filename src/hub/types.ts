// Shared shapes of the Hub publisher. Everything here is plain data (JSON-serializable).

/** What every Hub call needs; nothing is read from global config or the environment. */
export interface HubTarget {
  /** Hub base URL, no trailing slash (e.g. `https://huggingface.co`). */
  endpoint: string;
  /** `namespace/name` of the model repo. */
  repoId: string;
  /** Access token (`hf_...`); never printed. */
  token?: string;
  /** fetch to use (give it `createRetryFetch()` for retries). Default: global fetch. */
  fetch?: typeof fetch;
}

/** One file as the Hub tree listing reports it. */
export interface RemoteFile {
  path: string;
  size: number;
  /** git blob sha1 of what is committed (the pointer file for LFS). */
  oid: string;
  /** LFS object, when the file is stored with LFS. */
  lfs?: { oid: string; size: number };
}

export type PlanAction = "add" | "update" | "delete" | "unchanged";

export interface PlanEntry {
  path: string;
  action: PlanAction;
  /** Local size (remote size for deletes). */
  size: number;
  /** How the file will be (or is, for deletes/unchanged) stored. */
  storage: "lfs" | "regular";
  /** Local sha256 (absent for deletes). */
  sha256?: string;
  /** Remote size, when the file exists remotely. */
  remoteSize?: number;
  /** Why an update: what differs. */
  reason?: string;
  /** A remote file absent locally that stays because `prune` is off. */
  kept?: boolean;
}

export interface HubPlan {
  repoId: string;
  endpoint: string;
  revision: string;
  repoExists: boolean;
  /** Head commit the plan was computed against (null when the repo or revision does not exist yet). */
  parentCommit: string | null;
  prune: boolean;
  entries: PlanEntry[];
  /** Generated `.gitattributes` content (part of the desired state; also in entries). */
  gitattributes: string;
  /** Totals in bytes. */
  summary: {
    add: number;
    update: number;
    delete: number;
    unchanged: number;
    /** Bytes that a publish has to send at most (adds + updates). */
    bytesToSend: number;
    /** Remote files left in place because prune is off. */
    kept: number;
  };
  /** True when publishing would change nothing: no commit is made. */
  noop: boolean;
}

export interface HubProgressEvent {
  phase: "preparing" | "hashing" | "uploading" | "committing" | "tagging" | "done";
  /** Repo path of the file the event is about (absent for phase events). */
  path?: string;
  /** Bytes of this file hashed / uploaded so far. */
  fileBytes?: number;
  fileSize?: number;
  /** Totals across the files of this publish. */
  hashedBytes: number;
  uploadedBytes: number;
  totalBytes: number;
}

export type HubProgress = (e: HubProgressEvent) => void;

export interface PublishResult {
  transport: "api" | "git";
  /** `done`: a new commit; `unchanged`: nothing to change, no commit made. */
  status: "done" | "unchanged";
  /** The commit that now holds the release (new commit, or the unchanged head). */
  commit: string;
  /** Commit URL on the Hub (or the repo URL for the git transport). */
  url: string;
  pullRequestUrl?: string;
  /** Repo paths that were sent (regular file content, or LFS bytes actually uploaded). */
  uploaded: string[];
  /** LFS paths the Hub already had (deduplicated, not re-sent). */
  deduplicated: string[];
  deleted: string[];
  tag?: TagResult;
  plan: HubPlan;
}

export interface TagResult {
  tag: string;
  /** `created`, or `unchanged` when it already pointed at this commit. */
  status: "created" | "unchanged";
  commit: string;
}
