// Whether running the same release again can get past a failed remote step as it is. Resume
// advice ("run it again") is honest only then; any other failure needs a change first (a tag
// taken, a token without rights, a hook that refuses the push, an unreachable remote URL), and
// the message says which.
import { GitError } from "../git/index.js";
import { GitHubError } from "../github/errors.js";
import { HubPublishError, retryableErrorCode } from "../hub/index.js";
import { VerifyError } from "./steps/verify.js";

/** git's words for a connection that broke during a transfer (not for a remote that cannot be reached at all). */
const GIT_TRANSFER_BROKE = /RPC failed|early EOF|the remote end hung up unexpectedly|HTTP 5\d\d|returned error: 5\d\d|Connection reset by peer/i;

export function rerunHelps(e: unknown): boolean {
  // What landed differs from the record: the journal forgot the destination, a rerun publishes it again.
  if (e instanceof VerifyError) return true;
  if (e instanceof HubPublishError) return e.transient;
  if (e instanceof GitHubError) return e.status === undefined ? !!retryableErrorCode(e.cause) : e.status === 429 || e.status >= 500;
  if (e instanceof GitError) return GIT_TRANSFER_BROKE.test(e.stderr);
  return !!retryableErrorCode(e);
}
