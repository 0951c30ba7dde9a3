// The connections a command makes, built from the settings: the HTTP layer (src/util/http.ts)
// for the Hub, and an Octokit over the same layer for GitHub. Both stop waiting (a retry
// backoff, a Retry-After, a read) as soon as `signal` aborts, so Ctrl-C ends a release promptly
// and its cleanups still run. Octokit is loaded only when there is a GitHub token and the
// command may go online.
import { GitReadMemo, withGitReads } from "../git/read-memo.js";
import type { GitHubClient } from "../github/client.js";
import { memoizeHubReads } from "../hub/read-memo.js";
import { createRetryFetch } from "../hub/retry-fetch.js";
import type { ReleaseSettings } from "./settings.js";

export { withSignal } from "../util/http.js";

export interface Remotes {
  hubFetch: typeof fetch;
  /** Undefined without GITHUB_TOKEN. */
  github?: GitHubClient;
}

export interface RemoteOptions {
  signal?: AbortSignal;
  /** A line for the person watching: a request is retried, and when. Never carries a secret. */
  onRetry?: (line: string) => void;
}

export async function connectRemotes(s: ReleaseSettings, opts: RemoteOptions = {}): Promise<Remotes> {
  const { signal, onRetry } = opts;
  const layer = createRetryFetch({
    ...(s.hub.retryDelayMs ? { baseDelayMs: s.hub.retryDelayMs } : {}),
    ...(signal ? { signal } : {}),
    ...(onRetry ? { onRetry: (i) => onRetry(`Hub ${i.method} ${i.url}: ${i.reason}, retry ${i.attempt} in ${formatDelay(i.delayMs)}`) } : {}),
  });
  // Trusted Publishing: every Hub request carries the current exchanged token, renewed before it expires.
  const authorized = s.hub.trustedPublishing ? Object.assign(s.hub.trustedPublishing.fetch(layer), { timeouts: layer.timeouts }) : layer;
  // One memo of the Hub's answers per run: each question is asked once (src/hub/read-memo.ts).
  const hubFetch = memoizeHubReads(authorized).fetch;
  // Offline, nothing contacts GitHub (the checks and the plan skip it).
  const github = s.github.token && !s.offline
    ? (await import("../github/client.js")).createGitHubClient({
        token: s.github.token,
        baseUrl: s.github.apiUrl,
        ...(s.github.retryDelayMs ? { retryDelayMs: s.github.retryDelayMs } : {}),
        ...(onRetry ? { log: onRetry } : {}),
        ...(signal ? { signal } : {}),
      })
    : undefined;
  return { hubFetch, ...(github ? { github } : {}) };
}

/**
 * One run of a command: its git remote questions (get-url, ls-remote) are asked once within it
 * (src/git/read-memo.ts), as connectRemotes' Hub fetch asks each Hub question once.
 */
export function withRunReads<T>(fn: () => Promise<T>): Promise<T> {
  return withGitReads(new GitReadMemo(), fn);
}

function formatDelay(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${ms} ms`;
}
