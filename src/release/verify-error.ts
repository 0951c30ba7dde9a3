// The two ways a destination can disagree with the release. Both are expected failures.
import { UserError } from "../report.js";

/** What was released there is no longer there (a tag moved, a file changed, a release deleted): the journal forgets it, a rerun publishes it again. */
export class VerifyError extends UserError {}

/**
 * What users would download from the staged release does not pass (another byte, a file missing,
 * the copy fails its smoke test): nothing is released, the staging is withdrawn. Running the
 * same release again stages the same bytes: it needs the cause found first.
 */
export class ProofError extends UserError {}
