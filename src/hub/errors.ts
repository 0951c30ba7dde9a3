// Turn whatever a Hub call threw into a UserError a person can act on, with every secret
// (token, presigned URL query, credentials in a URL) removed by the one redactor.
import { UserError } from "../report.js";
import { HttpError } from "../util/http.js";
import { redact } from "../util/redact.js";
import { createRetryFetch, retryableErrorCode } from "./retry-fetch.js";

export { stripUrlCredentials } from "../util/redact.js";

/** redact() with the call's own token: what every Hub message goes through. */
export function redactHub(text: string, secrets: readonly (string | undefined)[] = []): string {
  return redact(text, secrets.filter((s): s is string => !!s));
}

export class HubPublishError extends UserError {
  /** Running again unchanged may succeed (network, rate limit, a server error, a head that moved). */
  readonly transient: boolean;

  constructor(
    message: string,
    /** HTTP status when the Hub answered, undefined for network errors. */
    readonly status?: number,
    options: {
      cause?: unknown;
      /**
       * The same request may succeed later unchanged (network, rate limit, a server error, a head
       * that moved): running again helps. Otherwise something must be changed first.
       */
      transient?: boolean;
    } = {},
  ) {
    super(message, 1, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HubPublishError";
    this.transient = options.transient ?? (status === 412 || status === 429 || (status ?? 0) >= 500);
  }
}

/** Tokens this run got from a Trusted Publishing exchange: a refusal of one is no matter of HF_TOKEN. */
const exchangedTokens = new Set<string>();

/** Note a token the Hub gave this job for its OIDC token (its 401 then says what to check). */
export function noteExchangedToken(token: string): void {
  exchangedTokens.add(token);
}

/**
 * The status of a HubApiError (its `statusCode`), or of anything carrying `statusCode` or `status`.
 * Read by shape, not by class, so that the checks need not load @huggingface/hub.
 */
export function errorStatus(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown; status?: unknown } | null)?.statusCode ?? (err as { status?: unknown } | null)?.status;
  return typeof s === "number" ? s : undefined;
}

/** A UserError for `action` (e.g. "upload to user/model"), secrets removed. */
export function toHubUserError(err: unknown, ctx: { action: string; repoId: string; endpoint: string; token?: string }): UserError {
  if (err instanceof UserError) {
    const h = err instanceof HubPublishError ? err : undefined;
    const transient = h?.transient ?? (err instanceof HttpError ? err.transient : undefined);
    return new HubPublishError(redactHub(err.message, [ctx.token]), h?.status, { cause: err, ...(transient !== undefined ? { transient } : {}) });
  }
  const status = errorStatus(err);
  const raw = err instanceof Error ? err.message : String(err);
  const detail = redactHub(raw, [ctx.token]);
  let message: string;
  // Whether running again may help is said by the release, which knows what it has recorded;
  // here (also used by `check`) the message says only what happened.
  let transient = false;
  switch (status) {
    case 401:
      message =
        ctx.token && exchangedTokens.has(ctx.token)
          ? `the Hub at ${ctx.endpoint} refused the token this job got through Trusted Publishing (401) while trying to ${ctx.action}: the repo's Trusted Publisher may have been removed or changed since the exchange. Check ${ctx.endpoint}/${ctx.repoId}/settings → Trusted Publishers, then run the job again (it resumes where it stopped)`
          : `the Hub at ${ctx.endpoint} refused the token (401): it is missing, invalid or expired. Create a write token at ${ctx.endpoint}/settings/tokens and set HF_TOKEN`;
      break;
    case 403:
      message = `the token may not write to ${ctx.repoId} (403): it needs the write role, or a fine-grained token with repo.write on ${ctx.repoId.split("/")[0]}`;
      break;
    case 404:
      message = `${ctx.repoId} or its revision was not found on ${ctx.endpoint} (404): ${detail}`;
      break;
    case 409:
      message = `conflict on ${ctx.repoId} (409): ${detail}`;
      break;
    case 412:
      message = `${ctx.repoId} changed on the Hub since the plan was made (412, parent commit is stale): someone else pushed. Nothing was committed; a new plan against the new head is needed`;
      transient = true;
      break;
    case 429:
      message = `the Hub kept rate-limiting (429) while trying to ${ctx.action}; wait a few minutes`;
      transient = true;
      break;
    default:
      if (status && status >= 500) {
        message = `the Hub failed (${status}) while trying to ${ctx.action}: ${detail}`;
        transient = true;
      } else if (retryableErrorCode(err) || /fetch failed|ECONNREFUSED|ENOTFOUND/i.test(raw + String((err as { cause?: unknown })?.cause ?? ""))) {
        message = `network error while trying to ${ctx.action} (${retryableErrorCode(err) ?? causeCode(err) ?? "connection failed"}): check the network and HF_ENDPOINT (${ctx.endpoint})`;
        transient = true;
      } else message = `could not ${ctx.action}: ${detail}`;
  }
  return new HubPublishError(redactHub(message, [ctx.token]), status, { cause: err, transient });
}

function causeCode(err: unknown): string | undefined {
  const c = (err as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | null)?.cause;
  if (typeof c?.code === "string") return c.code;
  const first = c?.errors?.[0]?.code;
  return typeof first === "string" ? first : undefined;
}

let shared: typeof fetch | undefined;
/** The fetch used when none is given: retries with the default policy. */
export function defaultHubFetch(): typeof fetch {
  return (shared ??= createRetryFetch());
}
