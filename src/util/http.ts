// The one HTTP layer. Every request this program makes goes through createHttpFetch(): the Hub
// client (@huggingface/hub takes a `fetch`), Octokit (its `request: { fetch }` option), and every
// download and upload. Before a request leaves, its credentials are held to their origins and
// never sent over plain http off this machine (credential-scope.ts). A request that failed is
// sent again (exponential backoff with full jitter; `Retry-After` in seconds or as an HTTP date,
// capped) only when sending it twice cannot do harm: an idempotent method, or one the client or
// the caller marked safe to resend — never a body that cannot be read again, never after the
// caller's AbortSignal aborted. Every answer is read within bounds known before it arrives: a
// size (a file's size from the manifest, or a small cap for API answers; error answers are cut
// at a few KiB), an idle timeout, a pace the sender must keep and a deadline scaled to the size;
// `identity` encoding is asked for, and a compressed body is refused where a file's bytes were
// expected. Every error it raises names the request and is redacted.
import { statfs } from "node:fs/promises";
import { UserError } from "../report.js";
import { assertRequestCredentials, requestParts } from "./credential-scope.js";
import { DiskBlob } from "./file-body.js";
import { fileStreamingFetch } from "./http-transport.js";
import { redact } from "./redact.js";

export interface HttpTimeouts {
  /** No answer (status and headers) this long after a request without a large body was sent. */
  headersMs: number;
  /** No byte of an answer's body for this long, while it is being read. */
  idleMs: number;
  /** Grace before the pace counts: an answer must have come at `minBytesPerSecond` since its request, after this. */
  graceMs: number;
  /** The slowest a body may travel (either way); also sets each request's deadline: grace + its bytes at this pace. */
  minBytesPerSecond: number;
}

export const DEFAULT_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({
  headersMs: 120_000,
  idleMs: 120_000,
  graceMs: 120_000,
  minBytesPerSecond: 64 * 1024,
});

export const HTTP_LIMITS = Object.freeze({
  /** An API answer (JSON: a listing page, a commit's result) larger than this is refused. */
  apiBodyBytes: 16 * 1024 * 1024,
  /** An error answer's text (or a redirect's) is cut here: it only goes into a message. */
  errorBodyBytes: 64 * 1024,
  /** Disk room a download of unknown size always leaves free. */
  diskReserveBytes: 256 * 1024 * 1024,
});

/** What the layer raises itself: a named failure of one request, redacted. `code` says what kind (ETIMEDOUT is retried like a dropped connection). */
export class HttpError extends UserError {
  constructor(
    message: string,
    readonly code: "ETIMEDOUT" | "ETRUNCATED" | "EBODYLIMIT" | "ECOMPRESSED",
    options?: { cause?: unknown },
  ) {
    super(redact(message), 1, options);
    this.name = "HttpError";
  }

  /** Whether the same request may succeed later unchanged (a slow or broken connection; not an answer too large or compressed). */
  get transient(): boolean {
    return this.code === "ETIMEDOUT" || this.code === "ETRUNCATED";
  }
}

// ---- what to retry ----

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ETRUNCATED",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);
/** RFC 9110's idempotent methods: sending one twice has the effect of sending it once. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

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

// ---- marks a caller puts on a request (own symbol keys: kept through `{ ...init }` copies) ----

const SEND_ONCE = Symbol.for("azbert-release.http.sendOnce");
const RESEND = Symbol.for("azbert-release.http.resend");
const EXPECT = Symbol.for("azbert-release.http.expect");

interface ResendMark {
  /** Run before each resend (e.g. remove what a failed upload left behind). */
  beforeResend?: () => Promise<void>;
}

/** What the caller expects of the answer's body. */
export interface BodyExpectation {
  /** Exactly this many bytes (a file whose size the manifest gives). */
  size?: number;
  /** At most this many bytes. */
  maxBytes?: number;
  /** The caller reads the body through limitBody() itself (downloads): the layer passes it on as it came. */
  callerBounds?: boolean;
}

/**
 * `init`, marked to be sent once: a request whose failed answer may still have done its work
 * (a commit that opens a pull request: the Hub has no parent check to refuse a second one).
 */
export function sendOnce(init: RequestInit): RequestInit {
  return Object.assign(init, { [SEND_ONCE]: true });
}

/**
 * A request (its `init`) or a request body (a file body, as Octokit passes it on untouched),
 * marked safe to send again after a failure; `beforeResend` runs before each resend.
 */
export function resendable<T extends object>(initOrBody: T, mark: ResendMark = {}): T {
  return Object.assign(initOrBody, { [RESEND]: mark });
}

/** `init` with what its answer's body must be. */
export function expectBody(init: RequestInit, expectation: BodyExpectation): RequestInit {
  return Object.assign(init, { [EXPECT]: expectation });
}

const markOf = <T>(o: unknown, key: symbol): T | undefined => (o && typeof o === "object" ? ((o as Record<symbol, unknown>)[key] as T | undefined) : undefined);

// ---- bounded reading ----

export interface BodyLimits {
  /** Exactly this many bytes. */
  size?: number;
  /** At most this many. */
  maxBytes?: number;
  /** Past maxBytes, end the body there (an error answer's text) instead of failing. */
  truncate?: boolean;
  /** The request, for messages: `GET https://host/path` (never a query). */
  what: string;
  /** When the request was sent (for the pace and the deadline). */
  startedAt: number;
}

const seconds = (ms: number): string => (ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`);

/** `METHOD origin+path`: a request as messages name it (never a query: presigned signatures). */
export function describeRequest(method: string, url: string | URL): string {
  try {
    const u = new URL(url);
    return `${method} ${u.origin}${u.pathname}`;
  } catch {
    return method;
  }
}

/** Refuses, before a byte is read, an answer whose headers break the limits: compressed where bytes were expected, or announcing too many bytes. */
export function checkAnswerHeaders(res: Response, limits: Pick<BodyLimits, "size" | "maxBytes" | "what">, opts: { bytes: boolean }): void {
  const encoding = (res.headers.get("content-encoding") ?? "").trim().toLowerCase();
  if (opts.bytes && encoding && encoding !== "identity") {
    throw new HttpError(`${limits.what}: the server sent a ${encoding}-encoded body where the file's own bytes were expected (identity was asked for)`, "ECOMPRESSED");
  }
  const announced = res.headers.get("content-length");
  if (announced === null || (encoding && encoding !== "identity")) return; // a compressed body's length says nothing of what it inflates to
  const n = Number(announced);
  if (!/^\d+$/.test(announced.trim())) return;
  if (limits.size !== undefined && n !== limits.size) {
    throw new HttpError(`${limits.what}: the server announces ${n} bytes (Content-Length), ${limits.size} expected`, "EBODYLIMIT");
  }
  if (limits.maxBytes !== undefined && n > limits.maxBytes) {
    throw new HttpError(`${limits.what}: the server announces ${n} bytes (Content-Length), more than the ${limits.maxBytes} allowed`, "EBODYLIMIT");
  }
}

/**
 * The body of `res`, bounded: more bytes than the limit, a pause longer than the idle timeout,
 * a pace under the minimum or a deadline passed fail the read with a named HttpError (and
 * `stop` is called to drop the connection); fewer bytes than an exact size fail at the end.
 */
export function limitBody(res: Response, limits: BodyLimits, timeouts: HttpTimeouts, stop: (err: Error) => void, now: () => number = Date.now): ReadableStream<Uint8Array> | null {
  if (!res.body) return null;
  const reader = res.body.getReader();
  const max = limits.size ?? limits.maxBytes ?? Infinity;
  const deadline = Number.isFinite(max) ? limits.startedAt + timeouts.graceMs + (max / timeouts.minBytesPerSecond) * 1000 : Infinity;
  let received = 0;
  let waitingSince: number | undefined;
  let failed: Error | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let output: ReadableStreamDefaultController<Uint8Array> | undefined;

  const stopTicker = (): void => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };
  const fail = (err: Error): void => {
    if (failed) return;
    failed = err;
    stopTicker();
    output?.error(err);
    reader.cancel(err).catch(() => undefined);
    stop(err);
  };
  const of = limits.size !== undefined ? ` of ${limits.size}` : "";
  const check = (): void => {
    const t = now();
    if (waitingSince !== undefined && t - waitingSince >= timeouts.idleMs) {
      fail(new HttpError(`${limits.what}: no byte for ${seconds(timeouts.idleMs)} (after ${received}${of} bytes)`, "ETIMEDOUT"));
    } else if (t >= deadline) {
      fail(new HttpError(`${limits.what}: not done within ${seconds(deadline - limits.startedAt)} (${received}${of} bytes came): the server sends too slowly`, "ETIMEDOUT"));
    } else if (t - limits.startedAt > timeouts.graceMs && received < ((t - limits.startedAt - timeouts.graceMs) / 1000) * timeouts.minBytesPerSecond) {
      fail(new HttpError(`${limits.what}: ${received}${of} bytes in ${seconds(t - limits.startedAt)}, slower than ${timeouts.minBytesPerSecond} bytes/s: the server sends too slowly`, "ETIMEDOUT"));
    }
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        output = controller;
        ticker = setInterval(check, Math.max(10, Math.min(1000, timeouts.idleMs / 4))).unref();
      },
      async pull(controller) {
        waitingSince = now();
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (e) {
          // A connection that broke mid-body (ours to stop, or the caller's abort, keep their reason).
          const broke = e instanceof HttpError || (e as Error)?.name === "AbortError" ? (e as Error) : new HttpError(`${limits.what}: the connection broke after ${received}${of} bytes (${retryableErrorCode(e) ?? (e as Error)?.message ?? String(e)})`, "ETRUNCATED", { cause: e });
          if (!failed) fail(broke);
          return;
        } finally {
          waitingSince = undefined;
        }
        if (failed) return;
        if (chunk.done) {
          if (limits.size !== undefined && received < limits.size) {
            fail(new HttpError(`${limits.what}: the connection ended after ${received} of ${limits.size} bytes`, "ETRUNCATED"));
            return;
          }
          stopTicker();
          controller.close();
          return;
        }
        const value = chunk.value;
        if (received + value.byteLength > max) {
          if (limits.truncate) {
            controller.enqueue(value.subarray(0, max - received));
            received = max;
            stopTicker();
            controller.close();
            reader.cancel().catch(() => undefined);
            stop(new Error("truncated"));
            return;
          }
          const limit = limits.size !== undefined ? `the ${limits.size} bytes expected` : `the ${max} bytes allowed`;
          fail(new HttpError(`${limits.what}: the server sent more than ${limit}`, "EBODYLIMIT"));
          return;
        }
        received += value.byteLength;
        controller.enqueue(value);
        check();
      },
      cancel(reason) {
        stopTicker();
        return reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** At most `maxChars` of an (error) answer's text, read within the error-body bounds. */
export async function readErrorText(res: Response, what: string, timeouts: HttpTimeouts, maxChars = 200): Promise<string> {
  const stop = new AbortController();
  const body = limitBody(res, { maxBytes: HTTP_LIMITS.errorBodyBytes, truncate: true, what, startedAt: Date.now() }, timeouts, (e) => stop.abort(e));
  if (!body) return "";
  try {
    const text = await new Response(body).text();
    return redact(text.slice(0, maxChars).replace(/\s+/g, " ").trim());
  } catch {
    return "";
  }
}

/** Room a download of unknown size may take: what the destination's file system has free, less a reserve. */
export async function freeSpaceLimit(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return Math.max(0, Number(s.bavail) * Number(s.bsize) - HTTP_LIMITS.diskReserveBytes);
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

// ---- the layer ----

export interface HttpFetchOptions {
  /** Who is asked ("Hub", "GitHub"): retry lines name it. */
  name?: string;
  /** The transport (default: node:http for file bodies, the global fetch otherwise). */
  fetch?: typeof fetch;
  /** Every request also ends when this aborts (Ctrl-C): a retry wait, a Retry-After, a read. */
  signal?: AbortSignal;
  /** Total attempts, first included (default 5). */
  maxAttempts?: number;
  /** First backoff in ms (default 500); doubles each attempt. */
  baseDelayMs?: number;
  /** Cap of one backoff (default 20 s). */
  maxDelayMs?: number;
  /** Cap of a Retry-After wait (default 60 s). */
  maxRetryAfterMs?: number;
  /**
   * Whether a request of a method that is not idempotent (POST, PATCH) may be sent again after
   * a failure. Default: never. The Hub client says yes for its POSTs (a commit names its parent
   * and a second one is refused; the others only ask); GitHub's says no (a second POST makes a
   * second release).
   */
  resend?: (method: string, url: string) => boolean;
  timeouts?: Partial<HttpTimeouts>;
  /** Called before each wait; `url` has no query (never a presigned signature). */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string; method: string; url: string }) => void;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/** A fetch of the layer: the timeouts it applies travel with it (downloads read them). */
export type HttpFetch = typeof fetch & { readonly timeouts: HttpTimeouts };

/** The timeouts of a layer fetch, or the defaults for any other fetch. */
export function timeoutsOf(f: typeof fetch | undefined): HttpTimeouts {
  return (f as Partial<HttpFetch> | undefined)?.timeouts ?? DEFAULT_TIMEOUTS;
}

const abortError = (signal: AbortSignal): unknown => signal.reason ?? new DOMException("Aborted", "AbortError");

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

function bodyBytes(body: unknown, headers: Headers): number {
  if (body instanceof Blob) return body.size;
  if (typeof body === "string") return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  const n = Number(headers.get("content-length"));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** An error to throw on: its text redacted (it may quote a URL or a server's words). */
function redacted(err: unknown): unknown {
  if (err instanceof Error && !(err instanceof UserError)) {
    try {
      const clean = redact(err.message);
      if (clean !== err.message) err.message = clean;
    } catch {
      /* a read-only message: left as it is */
    }
  }
  return err;
}

export function createHttpFetch(options: HttpFetchOptions = {}): HttpFetch {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const base = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 20_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 60_000;
  const inner = options.fetch ?? fileStreamingFetch;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const timeouts: HttpTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const backoff = (attempt: number): number => Math.round(random() * Math.min(maxDelay, base * 2 ** (attempt - 1)));

  const layerFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const { url, headers } = requestParts(input, init);
    const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const what = describeRequest(method, url);
    headers.set("accept-encoding", "identity");
    assertRequestCredentials(url, headers);
    const body = init.body ?? (input instanceof Request ? input.body : undefined);
    const expectation = markOf<BodyExpectation>(init, EXPECT);
    const resendMark = markOf<ResendMark>(init, RESEND) ?? markOf<ResendMark>(body, RESEND);
    const replayable = isReplayableBody(body) && !markOf<boolean>(init, SEND_ONCE);
    const mayResend = replayable && (IDEMPOTENT.has(method) || !!resendMark || !!options.resend?.(method, url));
    const callerSignal = init.signal ?? (input instanceof Request ? input.signal : undefined);
    const outer = [callerSignal, options.signal].filter((s): s is AbortSignal => !!s);
    const stopped = outer.length ? AbortSignal.any(outer) : undefined;
    const requestBytes = bodyBytes(body, headers);
    const answerBytes = expectation?.size ?? expectation?.maxBytes ?? HTTP_LIMITS.apiBodyBytes;
    const deadlineMs = timeouts.graceMs + ((requestBytes + answerBytes) / timeouts.minBytesPerSecond) * 1000;
    // A large body is sent before any answer can come: its own silence and the deadline bound it.
    const headersMs = requestBytes > 1024 * 1024 || body instanceof DiskBlob ? deadlineMs : Math.min(timeouts.headersMs, deadlineMs);

    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxAttempts || !mayResend;
      if (attempt > 1) await resendMark?.beforeResend?.();
      if (stopped?.aborted) throw abortError(stopped);
      const attemptAbort = new AbortController();
      const signal = AbortSignal.any([...outer, attemptAbort.signal]);
      const startedAt = now();
      const headersTimer = setTimeout(() => attemptAbort.abort(new HttpError(`${what}: no answer within ${seconds(headersMs)}`, "ETIMEDOUT")), headersMs);
      headersTimer.unref();
      let res: Response;
      try {
        const sendInit: RequestInit = { ...init, headers, signal, ...(input instanceof Request ? { method, body, duplex: "half", redirect: input.redirect } : {}) } as RequestInit;
        res = await inner(url, sendInit);
      } catch (err) {
        if (stopped?.aborted) throw abortError(stopped);
        const e = attemptAbort.signal.aborted ? attemptAbort.signal.reason : err;
        const code = retryableErrorCode(e);
        if (last || !code) throw redacted(e);
        const delayMs = backoff(attempt);
        options.onRetry?.({ attempt, delayMs, reason: code, method, url: describeRequest(method, url).slice(method.length + 1) });
        await sleep(delayMs, stopped);
        continue;
      } finally {
        clearTimeout(headersTimer);
      }
      if (!last && RETRY_STATUS.has(res.status)) {
        const retryAfter = parseRetryAfter(res.headers.get("Retry-After"), now());
        const delayMs = retryAfter !== undefined ? Math.min(retryAfter, maxRetryAfter) : backoff(attempt);
        await res.body?.cancel().catch(() => undefined);
        options.onRetry?.({ attempt, delayMs, reason: String(res.status), method, url: describeRequest(method, url).slice(method.length + 1) });
        await sleep(delayMs, stopped);
        continue;
      }
      if (expectation?.callerBounds && res.ok) return res;
      return bounded(res, method, what, expectation, startedAt, (e) => attemptAbort.abort(e));
    }
  };

  /** The answer with its body read within the limits for its kind. */
  const bounded = (res: Response, method: string, what: string, expectation: BodyExpectation | undefined, startedAt: number, stop: (e: Error) => void): Response => {
    if (!res.body || method === "HEAD") return res;
    const isError = res.status >= 300 || res.status < 200;
    const limits: BodyLimits = isError
      ? { maxBytes: HTTP_LIMITS.errorBodyBytes, truncate: true, what, startedAt }
      : { ...(expectation?.size !== undefined ? { size: expectation.size } : { maxBytes: expectation?.maxBytes ?? HTTP_LIMITS.apiBodyBytes }), what, startedAt };
    if (!isError) checkAnswerHeaders(res, limits, { bytes: expectation?.size !== undefined });
    let out: Response;
    try {
      out = new Response(limitBody(res, limits, timeouts, stop, now), { status: res.status, statusText: res.statusText, headers: res.headers });
    } catch {
      return res; // a status Response cannot be made with (1xx): passed on as it came
    }
    Object.defineProperty(out, "url", { value: res.url });
    Object.defineProperty(out, "redirected", { value: res.redirected });
    return out;
  };

  return Object.assign(layerFetch as typeof fetch, { timeouts });
}

/** `fetch` whose every request also ends when `signal` aborts. */
export function withSignal(f: typeof fetch, signal: AbortSignal | undefined): typeof fetch {
  if (!signal) return f;
  const wrapped = ((input: string | URL | Request, init?: RequestInit) =>
    f(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal })) as typeof fetch;
  return Object.assign(wrapped, { timeouts: timeoutsOf(f) });
}
