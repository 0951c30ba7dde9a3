// Each token we hold goes only to the origins it was issued for. A server's answer can name
// another host (a Link header's next page, a release's upload_url) and the client libraries
// send their token wherever they are asked to; the fetches under them call
// assertCredentialScope, which refuses such a request before it leaves. (A redirect to another
// origin is not one of these: fetch itself drops the Authorization header on it.)
import { UserError } from "../report.js";

const scopes = new Map<string, Set<string>>();

/** Origin (`scheme://host[:port]`, default port omitted) of a URL. */
export function originOf(url: string | URL): string {
  return new URL(url).origin;
}

/** `token` may be sent to these origins (added to any it was bound to before). */
export function bindCredential(token: string | undefined | null, origins: readonly string[]): void {
  if (!token) return;
  const set = scopes.get(token) ?? new Set<string>();
  for (const o of origins) set.add(originOf(o));
  scopes.set(token, set);
}

/** Throws when `authorization` carries a bound token and `url` is not one of its origins. */
export function assertCredentialScope(url: string | URL, authorization: string | null | undefined): void {
  if (!authorization) return;
  const origin = originOf(url);
  for (const [token, allowed] of scopes) {
    if (allowed.has(origin) || !authorization.includes(token)) continue;
    throw new UserError(`refusing to send a token to ${origin}: a server's answer pointed there, but the token is for ${[...allowed].join(", ")} only`);
  }
}

/** The URL and Authorization header of a fetch call. */
function requestParts(input: string | URL | Request, init?: RequestInit): { url: string; authorization: string | null } {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  return { url, authorization: headers.get("authorization") };
}

/** `inner` behind assertCredentialScope: a request that would carry a token off its origins fails as a rejected promise. */
export function scopedFetch(inner: typeof fetch): typeof fetch {
  return ((input: string | URL | Request, init?: RequestInit) => {
    try {
      const { url, authorization } = requestParts(input, init);
      assertCredentialScope(url, authorization);
    } catch (e) {
      return Promise.reject(e);
    }
    return inner(input, init);
  }) as typeof fetch;
}
