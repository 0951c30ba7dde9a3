// Pre-publish checks on the GitHub side: a token is there, and it can see the repository.
import type { CheckResult } from "../report.js";
import { redact } from "../util/redact.js";
import { errorStatus, type GitHubClient } from "./client.js";

export interface GitHubAccessOptions {
  /** Undefined when no GITHUB_TOKEN is set. */
  client?: GitHubClient;
  owner: string;
  repo: string;
  offline?: boolean;
}

/** `github.access`: GET /repos/{owner}/{repo} with the token. */
export async function verifyGitHubAccess({ client, owner, repo, offline = false }: GitHubAccessOptions): Promise<CheckResult> {
  const id = "github.access";
  const title = `the GitHub token may create releases in ${owner}/${repo}`;
  if (offline) return { id, title, status: "skip", message: "offline: GitHub not contacted" };
  if (!client) return { id, title, status: "fail", message: "GITHUB_TOKEN is not set: create a token with contents: write on the repository and export GITHUB_TOKEN" };
  try {
    const r = await client.request("GET /repos/{owner}/{repo}", { owner, repo });
    const perms = (r.data as { permissions?: { push?: boolean } }).permissions;
    if (perms && perms.push === false) {
      return { id, title, status: "fail", message: `the token can read ${owner}/${repo} but not write to it: it needs contents: write to create releases` };
    }
    return { id, title, status: "pass" };
  } catch (err) {
    const s = errorStatus(err);
    const message =
      s === 401
        ? "GITHUB_TOKEN was refused (401): it is invalid or expired — create a new one"
        : s === 404
          ? `${owner}/${repo} not found with this token (404): check GITHUB_REPOSITORY / the origin URL and the token's repository access`
          : `cannot reach GitHub: ${redact(String((err as Error).message))} — check GITHUB_API_URL and the network, or use --offline`;
    return { id, title, status: "fail", message };
  }
}
