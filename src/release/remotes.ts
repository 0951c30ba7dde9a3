// The connections a command makes, built from the settings: a retrying fetch for the Hub and an
// Octokit for GitHub. Both stop waiting (a retry backoff, a Retry-After) as soon as `signal`
// aborts, so Ctrl-C ends a release promptly and its cleanups still run. Octokit is loaded only
// when there is a GitHub token and the command may go online.
import type { GitHubClient } from "../github/client.js";
import { createRetryFetch } from "../hub/retry-fetch.js";
import type { ReleaseSettings } from "./settings.js";

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
  const hubFetch = withSignal(
    createRetryFetch({
      ...(s.hub.retryDelayMs ? { baseDelayMs: s.hub.retryDelayMs } : {}),
      ...(onRetry ? { onRetry: (i) => onRetry(`Hub ${i.method} ${i.url}: ${i.reason}, retry ${i.attempt} in ${formatDelay(i.delayMs)}`) } : {}),
    }),
    signal,
  );
  // Offline, nothing contacts GitHub (the checks and the plan skip it).
  const github = s.github.token && !s.offline
    ? (await import("../github/client.js")).createGitHubClient({
        token: s.github.token,
        baseUrl: s.github.apiUrl,
        ...(s.github.retryDelayMs ? { retryDelayMs: s.github.retryDelayMs } : {}),
        ...(onRetry ? { log: onRetry } : {}),
        ...(signal ? { fetch: withSignal(globalThis.fetch, signal) } : {}),
      })
    : undefined;
  return { hubFetch, ...(github ? { github } : {}) };
}

/** `fetch` whose every request also ends when `signal` aborts. */
export function withSignal(f: typeof fetch, signal: AbortSignal | undefined): typeof fetch {
  if (!signal) return f;
  return ((input: string | URL | Request, init?: RequestInit) =>
    f(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal })) as typeof fetch;
}

function formatDelay(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${ms} ms`;
}
