// The dry run of the git transport: `git ls-remote` of the repo URL the publish would clone,
// through the same scoped credential, so a wrong remote, an unreachable Hub or a refused token
// shows up in the plan, not halfway through a release.
import { errorStatus, HubPublishError } from "./errors.js";
import { hubGitEnv, hubOrigin, lastLines, runHubGit } from "./hub-git.js";
import { hubCloneUrl } from "./publish-git.js";

export interface GitAccessOptions {
  cwd: string;
  remote: string;
  endpoint: string;
  repoId: string;
  token?: string;
  revision: string;
  /** The repo does not exist yet (the API said so): git cannot reach it until it is created. */
  repoExists: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface GitAccess {
  /** What git talks to (never with credentials in it). */
  url: string;
  /** The only origin git may give the token to. */
  credentialOrigin: string;
  /** `reachable`: ls-remote answered; `will-create`: the repo is created through the API first. */
  status: "reachable" | "will-create";
  /** The branch head git sees (reachable only; null when the branch does not exist). */
  head?: string | null;
}

/** `git ls-remote <url> refs/heads/<revision>`; a failure is a HubPublishError saying what git said. */
export async function checkHubGitAccess(opts: GitAccessOptions): Promise<GitAccess> {
  // A missing remote is added by the release, pointing at the Hub: check that URL.
  const url = await hubCloneUrl({ ...opts, missingRemote: "hub-url" });
  const credentialOrigin = hubOrigin(opts.endpoint);
  if (!opts.repoExists) return { url, credentialOrigin, status: "will-create" };
  const env = hubGitEnv({ endpoint: opts.endpoint, token: opts.token, base: opts.env });
  const r = await runHubGit(["ls-remote", "--heads", url, `refs/heads/${opts.revision}`], { env, okCodes: [128, 2] }).catch((err: unknown) => {
    throw new HubPublishError(`git ls-remote ${url} failed: ${(err as Error).message}`, errorStatus(err));
  });
  if (r.code !== 0) {
    throw new HubPublishError(`git cannot reach ${url} with the Hub token (git ls-remote: ${lastLines(r.stderr, 2)}); the git transport would fail: check the remote "${opts.remote}", the token, or use --transport api`);
  }
  const line = r.stdout.split("\n").find((l) => l.endsWith(`\trefs/heads/${opts.revision}`));
  return { url, credentialOrigin, status: "reachable", head: line ? line.split("\t")[0]! : null };
}
