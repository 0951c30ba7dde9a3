// An Octokit for the release: token auth, GITHUB_API_URL as base URL (GitHub Enterprise, tests),
// and every request through the HTTP layer (src/util/http.ts, as Octokit's `request.fetch`):
// retries with backoff for what may be sent twice (GET, PUT, DELETE, PATCH — a PATCH sets the
// fields it names; never a POST unless marked resendable), bounded answers, and the token held to
// GitHub's origins — the API's, and the upload host a release's `upload_url` names once it passes
// the upload-host rule. A `Link` header to any other host is refused before the token leaves.
// Nothing it logs carries the token.
import { Octokit } from "@octokit/rest";
import { bindCredential } from "../util/credential-scope.js";
import { createHttpFetch, type HttpTimeouts } from "../util/http.js";
import { isLoopbackHost, redact, registerSecret } from "../util/redact.js";

export interface GitHubClientOptions {
  token: string;
  /** API base URL, e.g. GITHUB_API_URL; default https://api.github.com. */
  baseUrl?: string;
  /** Retries after a 5xx or network error (not 4xx), for requests that may be sent twice. Default 3. */
  retries?: number;
  /** First backoff; doubles each retry. Default 1000 ms. */
  retryDelayMs?: number;
  userAgent?: string;
  /** Where warnings and retries go (redacted). Default: dropped. */
  log?: (message: string) => void;
  /** The transport under the HTTP layer (tests). */
  fetch?: typeof fetch;
  /** Every request ends when this aborts (Ctrl-C). */
  signal?: AbortSignal;
  timeouts?: Partial<HttpTimeouts>;
}

export type GitHubClient = Octokit;

export function isStreamBody(body: unknown): boolean {
  if (!body || typeof body !== "object") return false;
  if (Buffer.isBuffer(body) || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return false;
  return typeof (body as { pipe?: unknown }).pipe === "function" || Symbol.asyncIterator in body || typeof (body as { getReader?: unknown }).getReader === "function";
}

export function errorStatus(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === "number" ? s : undefined;
}

/** 5xx, or a network failure (which @octokit/request reports as status 500). */
export function isRetryable(err: unknown): boolean {
  const s = errorStatus(err);
  return s === undefined || s >= 500;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Whether `uploadUrl` is GitHub's upload host for `apiBaseUrl`: uploads.github.com for
 * api.github.com, uploads.<host> for api.<host>, the API's own host on GitHub Enterprise Server;
 * any loopback address for a loopback API (tests). Plain http only on loopback.
 */
export function isGitHubUploadOrigin(uploadUrl: string, apiBaseUrl: string): boolean {
  let api: URL;
  let up: URL;
  try {
    api = new URL(apiBaseUrl);
    up = new URL(uploadUrl.replace(/\{[^}]*\}$/, ""));
  } catch {
    return false;
  }
  if (up.protocol !== "https:" && !(up.protocol === "http:" && isLoopbackHost(up.hostname))) return false;
  const uploadsHost = api.hostname.startsWith("api.") ? `uploads.${api.hostname.slice(4)}` : undefined;
  return up.host === api.host || (up.hostname === uploadsHost && up.port === api.port) || (isLoopbackHost(api.hostname) && isLoopbackHost(up.hostname));
}

/** The `upload_url`s in an API answer (a release, or a list of them). */
function uploadUrls(data: unknown): string[] {
  const items = Array.isArray(data) ? data : [data];
  return items.flatMap((d) => (d && typeof d === "object" && typeof (d as { upload_url?: unknown }).upload_url === "string" ? [(d as { upload_url: string }).upload_url] : []));
}

export function createGitHubClient(opts: GitHubClientOptions): GitHubClient {
  const baseUrl = (opts.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
  registerSecret(opts.token);
  bindCredential(opts.token, [baseUrl]);
  const say = (m: string): void => opts.log?.(redact(m, [opts.token]));
  const retries = opts.retries ?? 3;
  const http = createHttpFetch({
    name: "GitHub",
    maxAttempts: retries + 1,
    baseDelayMs: opts.retryDelayMs ?? 1000,
    resend: (method) => method === "PATCH",
    onRetry: (i) => say(`GitHub ${i.method} ${i.url}: ${i.reason}, retry ${i.attempt}/${retries} in ${i.delayMs} ms`),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
  });
  const octokit = new Octokit({
    auth: opts.token,
    baseUrl,
    userAgent: opts.userAgent ?? "azbert-release",
    // Octokit's error log repeats every failed request (a 404 is often an answer, not a
    // problem): the caller sees errors as thrown values, and warnings and retries here.
    log: { debug: () => {}, info: () => {}, warn: say, error: () => {} },
    request: { fetch: http },
  });
  // The token may go with an asset to the upload host GitHub names in a release, once it is GitHub's upload host.
  octokit.hook.after("request", (response) => {
    for (const u of uploadUrls(response.data)) if (isGitHubUploadOrigin(u, baseUrl)) bindCredential(opts.token, [new URL(u.replace(/\{[^}]*\}$/, "")).origin]);
  });
  return octokit;
}
