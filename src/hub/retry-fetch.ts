// A fetch that retries what is worth retrying: @huggingface/hub retries nothing itself.
// 429 (Retry-After honoured, capped), 408, 5xx and dropped connections, with bounded
// exponential backoff + full jitter; never another 4xx; never a body that cannot be re-sent.
import { fileStreamingFetch } from "./file-fetch.js";

export interface RetryOptions {
  /** Total attempts, first included (default 5). */
  maxAttempts?: number;
  /** First backoff in ms (default 500); doubles each attempt. */
  baseDelayMs?: number;
  /** Cap of one backoff (default 20 s). */
  maxDelayMs?: number;
  /** Cap of a Retry-After wait (default 60 s). */
  maxRetryAfterMs?: number;
  /** Default: fileStreamingFetch (the global fetch, with file bodies streamed by node:http). */
  fetch?: typeof fetch;
  /** Called before each wait; `reason` is a status or an error code (never a URL with its query). */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string; method: string; url: string }) => void;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/** The code of a network error (walks `cause` and AggregateError), or undefined when it is not one we retry. */
export function retryableErrorCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const stack: unknown[] = [err];
  while (stack.length) {
    const e = stack.pop();
    if (!e || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (name === "AbortError") return undefined;
    if (typeof code === "string" && RETRY_CODES.has(code)) return code;
    if (typeof message === "string" && /socket hang up|other side closed/i.test(message)) return "socket hang up";
    const cause = (e as { cause?: unknown }).cause;
    if (cause) stack.push(cause);
    if (e instanceof AggregateError) stack.push(...e.errors);
  }
  return undefined;
}

/** Retry-After (delta seconds or HTTP date) in ms, or undefined. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Whether a request body can be sent again (a stream cannot: it is consumed by the first attempt). */
export function isReplayableBody(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === "string" ||
    body instanceof Blob ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  );
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new DOMException("Aborted", "AbortError"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason ?? new DOMException("Aborted", "AbortError"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

function describeUrl(input: string | URL | Request): string {
  const u = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const q = u.indexOf("?");
  return q === -1 ? u : `${u.slice(0, q)}?<redacted>`;
}

/** Marks a request that must not be sent twice (kept through `{ ...init }` copies: an own symbol key). */
const SEND_ONCE = Symbol("azbert-release.sendOnce");

/**
 * `init`, marked to be sent once: a request whose failed answer may still have done its work
 * (a commit that opens a pull request: the Hub has no parent check to refuse a second one).
 */
export function sendOnce(init: RequestInit): RequestInit {
  return Object.assign(init, { [SEND_ONCE]: true });
}

export function createRetryFetch(options: RetryOptions = {}): typeof fetch {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const base = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 20_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 60_000;
  const inner = options.fetch ?? fileStreamingFetch;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;

  const backoff = (attempt: number): number => Math.round(random() * Math.min(maxDelay, base * 2 ** (attempt - 1)));

  const retryFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    // A Request object with a body, or a stream body, can be sent once only.
    const replayable =
      isReplayableBody(init?.body) && !(input instanceof Request && input.body !== null && init?.body === undefined) && !(init as { [SEND_ONCE]?: boolean } | undefined)?.[SEND_ONCE];
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxAttempts || !replayable;
      let res: Response;
      try {
        res = await inner(input instanceof Request ? input.clone() : input, init);
      } catch (err) {
        const code = retryableErrorCode(err);
        if (last || !code || signal?.aborted) throw err;
        const delayMs = backoff(attempt);
        options.onRetry?.({ attempt, delayMs, reason: code, method, url: describeUrl(input) });
        await sleep(delayMs, signal ?? undefined);
        continue;
      }
      if (last || !RETRY_STATUS.has(res.status)) return res;
      const retryAfter = parseRetryAfter(res.headers.get("Retry-After"), now());
      const delayMs = retryAfter !== undefined ? Math.min(retryAfter, maxRetryAfter) : backoff(attempt);
      await res.body?.cancel().catch(() => undefined);
      options.onRetry?.({ attempt, delayMs, reason: String(res.status), method, url: describeUrl(input) });
      await sleep(delayMs, signal ?? undefined);
    }
  };
  return retryFetch as typeof fetch;
}
