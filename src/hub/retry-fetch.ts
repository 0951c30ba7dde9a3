// The Hub's fetch: the HTTP layer (src/util/http.ts) with the Hub's resend rule. @huggingface/hub
// retries nothing itself. Every Hub POST may be sent again after a failure — a commit names its
// parent (a second one is refused with 412), preupload and the LFS batch only ask — except one
// marked sendOnce (a commit that opens a pull request has no parent check).
import { createHttpFetch, type HttpFetch, type HttpFetchOptions } from "../util/http.js";

export { isReplayableBody, parseRetryAfter, retryableErrorCode, sendOnce } from "../util/http.js";

export type RetryOptions = Omit<HttpFetchOptions, "resend" | "name">;

export function createRetryFetch(options: RetryOptions = {}): HttpFetch {
  return createHttpFetch({ name: "Hub", resend: () => true, ...options });
}
