// Trusted Publishing: no long-lived Hub token in CI. The job proves who it is with its
// provider's short-lived OIDC ID token (GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN,
// with `permissions: id-token: write`), and the Hub exchanges it for a token that writes to one
// repo for an hour (`POST /oauth/token`, RFC 8693 token exchange). The exchanged token is
// re-exchanged before it expires, so a long upload never meets a 401. Neither the ID token nor the
// exchanged token is ever printed (both are registered with the redactor and bound to their
// origins); a refused exchange says what to configure on the Hub, from the job's own claims.
import { UserError } from "../report.js";
import { bindCredential } from "../util/credential-scope.js";
import { timeoutsOf } from "../util/http.js";
import { noteExchangedToken } from "./errors.js";
import { redact, refuseCleartextEndpoint, registerSecret } from "../util/redact.js";

/** What GitHub Actions gives a job with `id-token: write`. */
export interface ActionsOidc {
  requestUrl: string;
  requestToken: string;
}

export function actionsOidcFromEnv(env: Readonly<Record<string, string | undefined>>): ActionsOidc | undefined {
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  return requestUrl && requestToken ? { requestUrl, requestToken } : undefined;
}

/** The claims a Trusted Publisher on the Hub is matched against, as this job presents them. */
export interface JobIdentity {
  issuer?: string;
  repository?: string;
  ref?: string;
  /** The workflow file (`release.yml`), from `workflow_ref`. */
  workflow?: string;
}

/** The job's claims, read from the ID token's payload (never the token itself). */
export function jobIdentity(idToken: string): JobIdentity {
  try {
    const claims = JSON.parse(Buffer.from(idToken.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
    const str = (k: string) => (typeof claims[k] === "string" ? (claims[k] as string) : undefined);
    const workflow = str("workflow_ref") ? /\/\.github\/workflows\/([^@]+)@/.exec(str("workflow_ref")!)?.[1] : undefined;
    return { ...(str("iss") ? { issuer: str("iss") } : {}), ...(str("repository") ? { repository: str("repository") } : {}), ...(str("ref") ? { ref: str("ref") } : {}), ...(workflow ? { workflow } : {}) };
  } catch {
    return {};
  }
}

const errorOf = (e: unknown) => redact(e instanceof Error ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ""}` : String(e));

/** The job's ID token for `audience` (the Hub's origin), from the Actions token endpoint. */
export async function requestActionsIdToken(o: { oidc: ActionsOidc; audience: string; fetch: typeof fetch; signal?: AbortSignal }): Promise<string> {
  registerSecret(o.oidc.requestToken);
  const url = new URL(o.oidc.requestUrl);
  refuseCleartextEndpoint("ACTIONS_ID_TOKEN_REQUEST_URL", url.href);
  // The request token goes to the Actions token endpoint only.
  bindCredential(o.oidc.requestToken, [url.origin]);
  url.searchParams.set("audience", o.audience);
  let res: Response;
  try {
    res = await o.fetch(url, { headers: { Authorization: `bearer ${o.oidc.requestToken}`, Accept: "application/json" }, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    throw new UserError(`cannot get this job's OIDC token from ${url.origin}: ${errorOf(e)}`);
  }
  const body = (await res.json().catch(() => undefined)) as { value?: unknown } | undefined;
  if (!res.ok || typeof body?.value !== "string") {
    throw new UserError(
      `the job's OIDC token endpoint answered ${res.status}${res.ok ? " without a token" : ""}: give the job \`permissions: id-token: write\` (Trusted Publishing needs it)`,
    );
  }
  registerSecret(body.value);
  return body.value;
}

export interface ExchangedToken {
  token: string;
  /** When the Hub stops accepting it (ms since the epoch). */
  expiresAt: number;
  /** How long the Hub gave it (ms). */
  lifetimeMs: number;
}

/** `models` repos are named `ns/name`; datasets and spaces carry their type. */
export function oidcResource(repoId: string, repoType: "model" | "dataset" | "space" = "model"): string {
  return repoType === "model" ? repoId : `${repoType}s/${repoId}`;
}

/** The Hub's token for `repoId`, in exchange for the job's ID token. */
export async function exchangeForHubToken(o: { endpoint: string; repoId: string; idToken: string; fetch: typeof fetch; signal?: AbortSignal; now?: () => number }): Promise<ExchangedToken> {
  const now = o.now ?? Date.now;
  refuseCleartextEndpoint("HF_ENDPOINT", o.endpoint);
  registerSecret(o.idToken);
  // The ID token's audience is the Hub: it goes nowhere else.
  bindCredential(o.idToken, [o.endpoint]);
  // The lifetime counts from before the request: the Hub starts it when it issues the token.
  const sent = now();
  let res: Response;
  try {
    res = await o.fetch(`${o.endpoint}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token_type: "urn:ietf:params:oauth:token-type:id_token",
        subject_token: o.idToken,
        resource: oidcResource(o.repoId),
      }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (e) {
    throw new UserError(`cannot reach the Hub at ${o.endpoint} to exchange this job's OIDC token: ${errorOf(e)}`);
  }
  const body = (await res.json().catch(() => undefined)) as { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
  if (res.ok && typeof body?.access_token === "string") {
    registerSecret(body.access_token);
    bindCredential(body.access_token, [o.endpoint]);
    noteExchangedToken(body.access_token);
    const ttl = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 3600;
    return { token: body.access_token, expiresAt: sent + ttl * 1000, lifetimeMs: ttl * 1000 };
  }
  if (body?.error === "invalid_grant") {
    const who = jobIdentity(o.idToken);
    throw new UserError(
      `the Hub refused this job's OIDC token for ${o.repoId} (invalid_grant): add a Trusted Publisher in the repo's settings on the Hub (${o.endpoint}/${o.repoId}/settings → Trusted Publishers) matching this job exactly: ` +
        `provider GitHub Actions, repository ${who.repository ?? "(unknown)"}, workflow ${who.workflow ?? "(unknown)"}, ref ${who.ref ?? "(unknown)"}${who.issuer ? ` (issuer ${who.issuer})` : ""}`,
    );
  }
  throw new UserError(`the Hub did not exchange this job's OIDC token for ${o.repoId} (${res.status}${typeof body?.error === "string" ? ` ${body.error}` : ""})`);
}

/**
 * The Hub token of a Trusted Publishing run: exchanged once, then again whenever it is within
 * `margin` of expiring (the Hub gives no refresh token). `current()` never returns a token about
 * to expire. The default margin is 5 minutes, or a third of the token's lifetime when the Hub
 * gives a shorter one (else every request would exchange anew).
 */
export class TrustedPublishingToken {
  private token?: ExchangedToken;
  private pending?: Promise<ExchangedToken>;
  /** Every token this run was given, the first one included: a request that carries an older one is given the current one. */
  readonly issued: string[] = [];

  constructor(
    private readonly o: { oidc: ActionsOidc; endpoint: string; repoId: string; fetch: typeof fetch; signal?: AbortSignal; marginMs?: number; now?: () => number },
  ) {}

  private get now(): number {
    return (this.o.now ?? Date.now)();
  }

  async current(): Promise<string> {
    const margin = this.o.marginMs ?? Math.min(5 * 60_000, (this.token?.lifetimeMs ?? 0) / 3);
    if (this.token && this.token.expiresAt - margin > this.now) return this.token.token;
    this.pending ??= this.exchange().finally(() => (this.pending = undefined));
    return (await this.pending).token;
  }

  private async exchange(): Promise<ExchangedToken> {
    const idToken = await requestActionsIdToken({ oidc: this.o.oidc, audience: new URL(this.o.endpoint).origin, fetch: this.o.fetch, ...(this.o.signal ? { signal: this.o.signal } : {}) });
    this.token = await exchangeForHubToken({ endpoint: this.o.endpoint, repoId: this.o.repoId, idToken, fetch: this.o.fetch, ...(this.o.signal ? { signal: this.o.signal } : {}), ...(this.o.now ? { now: this.o.now } : {}) });
    this.issued.push(this.token.token);
    return this.token;
  }

  /**
   * A fetch for the Hub that carries the current token: a request made with a token this run was
   * given earlier (every Hub call of the release holds the first one) gets the current one instead,
   * exchanged anew first when it is about to expire.
   */
  fetch(inner: typeof fetch): typeof fetch {
    const wrapped = (async (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      const auth = headers.get("authorization");
      const held = auth && /^Bearer (.+)$/i.exec(auth)?.[1];
      if (held && this.issued.includes(held)) {
        headers.set("authorization", `Bearer ${await this.current()}`);
        return inner(input, { ...init, headers });
      }
      return inner(input, init);
    }) as typeof fetch;
    // The HTTP layer's timeouts travel with its fetch (downloads read them).
    return Object.assign(wrapped, { timeouts: timeoutsOf(inner) });
  }
}

/** What a run holds of Trusted Publishing: its repo, its current token, the Hub fetch that keeps it current. */
export interface TrustedPublishingSession {
  /** What the token was exchanged for (`ns/name`). */
  readonly resource: string;
  /** The current token, for what is not a fetch (git's credential helper): never one about to expire. */
  current(): Promise<string>;
  /** `inner`, with every request that holds a token of this run carrying the current one. */
  fetch(inner: typeof fetch): typeof fetch;
}

/** The first exchange of a run (a refusal throws, saying what to configure) and the session that renews it. */
export async function openTrustedPublishing(o: { oidc: ActionsOidc; endpoint: string; repoId: string; fetch: typeof fetch }): Promise<{ token: string; session: TrustedPublishingSession }> {
  const tp = new TrustedPublishingToken(o);
  const token = await tp.current();
  return { token, session: { resource: oidcResource(o.repoId), current: () => tp.current(), fetch: (inner) => tp.fetch(inner) } };
}
