// Whether running the same release again can get past a failed remote step as it is. Resume
// advice ("run it again") is honest only then: a network error, a 5xx, a 429, a head that moved.
// Any other failure needs a change first (a tag taken, a token without rights, a hook that
// refuses the push, what users would download not passing), and the report says what to change.
import { GitError } from "../git/index.js";
import { GitHubError } from "../github/errors.js";
import { HubPublishError, retryableErrorCode } from "../hub/index.js";
import { ProofError, VerifyError } from "./verify-error.js";

/** git's words for a connection that broke during a transfer (not for a remote that cannot be reached at all). */
const GIT_TRANSFER_BROKE = /RPC failed|early EOF|the remote end hung up unexpectedly|HTTP 5\d\d|returned error: 5\d\d|Connection reset by peer/i;

export function rerunHelps(e: unknown): boolean {
  // What users would download did not pass: the same bytes staged again fail the same way.
  if (e instanceof ProofError) return false;
  // What landed differs from the record: the journal forgot the destination, a rerun publishes it again.
  if (e instanceof VerifyError) return true;
  if (e instanceof HubPublishError) return e.transient;
  if (e instanceof GitHubError) return e.status === undefined ? !!retryableErrorCode(e.cause) : e.status === 429 || e.status >= 500;
  if (e instanceof GitError) return GIT_TRANSFER_BROKE.test(e.stderr);
  return !!retryableErrorCode(e);
}

/** For a failure a rerun does not fix: what the user changes first, when the error says it. */
export function fixFor(e: unknown): string | undefined {
  if (e instanceof ProofError) {
    return "what the Hub or GitHub served differs from what was checked here (the message names each file): nothing was released and what was staged is withdrawn; find why before releasing again";
  }
  return undefined;
}
