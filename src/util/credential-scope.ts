// Each token we hold goes only to the origins it was issued for. A server's answer can name
// another host (a Link header's next page, a release's upload_url) and the client libraries
// send their token wherever they are asked to; the HTTP layer (src/util/http.ts) calls
// assertCredentialScope before every request leaves, so such a request fails instead. A token
// is found wherever a request carries it: any header (Bearer, `token`, HTTP Basic's base64 of
// `user:TOKEN`, a custom header) or the URL itself. (A redirect to another origin is not one
// of these: fetch itself drops the Authorization header on it, and downloads follow redirects
// by hand without it.)
import { UserError } from "../report.js";
import { isLoopbackHost, registerSecret } from "./redact.js";

const scopes = new Map<string, Set<string>>();

/** Origin (`scheme://host[:port]`, default port omitted) of a URL. */
export function originOf(url: string | URL): string {
  return new URL(url).origin;
}

/** `token` may be sent to these origins (added to any it was bound to before). */
export function bindCredential(token: string | undefined | null, origins: readonly string[]): void {
  const t = token?.trim();
  if (!t) return;
  const set = scopes.get(t) ?? new Set<string>();
  for (const o of origins) set.add(originOf(o));
  scopes.set(t, set);
}

/**
 * A credential obtained at run time (an OIDC-exchanged Hub token, a token a server hands out):
 * redacted from everything written from now on, and sent to `origins` only. Call it before the
 * token is first used.
 */
export function registerCredential(token: string | undefined | null, origins: readonly string[]): void {
  registerSecret(token);
  bindCredential(token, origins);
}

/** Forget every binding (tests). */
export function clearCredentialScopes(): void {
  scopes.clear();
}

/** Whether `value` (a header value) carries `token`: as is, percent-encoded, or inside HTTP Basic's base64. */
function carries(value: string, token: string): boolean {
  if (value.includes(token) || value.includes(encodeURIComponent(token))) return true;
  const basic = /^\s*Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
  return !!basic && Buffer.from(basic[1]!, "base64").toString("utf8").includes(token);
}

/** The bound tokens a request with these headers and this URL would carry. */
function carriedTokens(url: URL, headers: Headers): string[] {
  const values = [...headers.values()];
  const href = url.href;
  const found: string[] = [];
  for (const token of scopes.keys()) {
    if (values.some((v) => carries(v, token)) || href.includes(token) || href.includes(encodeURIComponent(token))) found.push(token);
  }
  return found;
}

/**
 * Throws when the request carries a bound token and `url` is not one of its origins, or when
 * it carries any credential over plain http off this machine.
 */
export function assertRequestCredentials(url: string | URL, headers: Headers): void {
  const u = new URL(url);
  for (const token of carriedTokens(u, headers)) {
    const allowed = scopes.get(token)!;
    if (allowed.has(u.origin)) continue;
    throw new UserError(`refusing to send a token to ${u.origin}: a server's answer pointed there, but the token is for ${[...allowed].join(", ")} only`);
  }
  const hasCredential = headers.has("authorization") || headers.has("proxy-authorization") || carriedTokens(u, headers).length > 0;
  if (u.protocol === "http:" && hasCredential && !isLoopbackHost(u.hostname)) {
    throw new UserError(`refusing to send a token to ${u.origin}: plain http would carry it unencrypted (only https, or http to a loopback address, may carry a token)`);
  }
}

/** Throws when `authorization` carries a bound token and `url` is not one of its origins. */
export function assertCredentialScope(url: string | URL, authorization: string | null | undefined): void {
  assertRequestCredentials(url, new Headers(authorization ? { authorization } : {}));
}

/** The URL and headers of a fetch call. */
export function requestParts(input: string | URL | Request, init?: RequestInit): { url: string; headers: Headers } {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  return { url, headers };
}

/** `inner` behind assertRequestCredentials: a request that would carry a token off its origins fails as a rejected promise. */
export function scopedFetch(inner: typeof fetch): typeof fetch {
  return ((input: string | URL | Request, init?: RequestInit) => {
    try {
      const { url, headers } = requestParts(input, init);
      assertRequestCredentials(url, headers);
    } catch (e) {
      return Promise.reject(e);
    }
    return inner(input, init);
  }) as typeof fetch;
}
