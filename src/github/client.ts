// An Octokit for the release: token auth, GITHUB_API_URL as base URL (GitHub Enterprise,
// tests), and a bounded retry on 5xx / network errors for requests that can be sent again (not a
// POST; the throttling and retry plugins are not installed). Requests whose body is a stream are
// not retried here: the caller re-opens the file (see uploadAsset). Nothing it logs carries the token.
import { Octokit } from "@octokit/rest";
import { redact } from "../util/redact.js";

export interface GitHubClientOptions {
  token: string;
  /** API base URL, e.g. GITHUB_API_URL; default https://api.github.com. */
  baseUrl?: string;
  /** Retries after a 5xx or network error (not 4xx). Default 3. */
  retries?: number;
  /** First backoff; doubles each retry. Default 1000 ms. */
  retryDelayMs?: number;
  userAgent?: string;
  /** Where warnings go (redacted). Default: dropped. */
  log?: (message: string) => void;
  /** For tests: a fetch implementation. */
  fetch?: typeof fetch;
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

export function createGitHubClient(opts: GitHubClientOptions): GitHubClient {
  const retries = opts.retries ?? 3;
  const delay = opts.retryDelayMs ?? 1000;
  const say = (m: string): void => opts.log?.(redact(m, [opts.token]));
  const octokit = new Octokit({
    auth: opts.token,
    baseUrl: (opts.baseUrl ?? "https://api.github.com").replace(/\/+$/, ""),
    userAgent: opts.userAgent ?? "azbert-release",
    // Octokit's error log repeats every failed request (a 404 is often an answer, not a
    // problem): the caller sees errors as thrown values, and warnings and retries here.
    log: { debug: () => {}, info: () => {}, warn: say, error: () => {} },
    ...(opts.fetch ? { request: { fetch: opts.fetch } } : {}),
  });
  octokit.hook.wrap("request", async (request, options) => {
    const streaming = isStreamBody((options as { data?: unknown }).data) || isStreamBody((options as { body?: unknown }).body);
    // A POST that failed may have been done (a release created before a 502): sending it again
    // could do it twice. The caller finds what exists on its next look (a rerun re-plans).
    const replayable = !streaming && options.method !== "POST";
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(options);
      } catch (err) {
        if (!replayable || attempt >= retries || !isRetryable(err)) throw err;
        say(`GitHub ${options.method} ${options.url}: ${errorStatus(err) ?? "network error"}, retry ${attempt + 1}/${retries}`);
        await sleep(delay * 2 ** attempt);
      }
    }
  });
  return octokit;
}
