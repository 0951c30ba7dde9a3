// What the GitHub side throws: a UserError naming the action, the status and the fix, with the
// Octokit error as its cause (its text redacted: never a token).
import { UserError } from "../report.js";
import { redact } from "../util/redact.js";
import { errorStatus } from "./client.js";

export class GitHubError extends UserError {
  constructor(
    message: string,
    /** HTTP status when GitHub answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, 1, options);
  }
}

/** `GitHub: <what> failed (<status>): <message> — <hint>`, secrets removed. */
export function toGitHubError(what: string, err: unknown, token?: string): GitHubError {
  if (err instanceof GitHubError) return err;
  // A request the HTTP layer refused or cut (a token off its origin, an answer too large): its words, not Octokit's status 500.
  const layer = (err as { cause?: unknown })?.cause;
  if (layer instanceof UserError) return new GitHubError(`GitHub: ${what} failed: ${redact(layer.message, token ? [token] : [])}`, undefined, { cause: layer });
  const status = errorStatus(err);
  const msg = redact(String((err as Error)?.message ?? err), token ? [token] : []);
  const hint =
    status === 401 ? " — check GITHUB_TOKEN" : status === 403 ? " — the token needs contents: write" : status === 404 ? " — check the repository name and the token's access" : "";
  if (err instanceof Error) {
    err.message = msg;
    if (err.stack) err.stack = redact(err.stack, token ? [token] : []);
  }
  return new GitHubError(`GitHub: ${what} failed${status ? ` (${status})` : ""}: ${msg}${hint}`, status, { cause: err });
}
