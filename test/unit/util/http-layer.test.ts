// The HTTP layer (src/util/http.ts) as a caller sees it: which failures are sent again and how
// long it waits, what a request carries, how an answer's body is bounded, and what its errors
// say. The transport, the clock, the sleep and the randomness are injected: nothing here touches
// the network, and no test waits more than a few hundred milliseconds of real time.
import { mkdtemp, rm, statfs, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { bindCredential, clearCredentialScopes } from "../../../src/util/credential-scope.js";
import { DiskBlob } from "../../../src/util/file-body.js";
import {
  type BodyLimits,
  checkAnswerHeaders,
  createHttpFetch,
  DEFAULT_TIMEOUTS,
  describeRequest,
  expectBody,
  freeSpaceLimit,
  HTTP_LIMITS,
  HttpError,
  type HttpFetchOptions,
  type HttpTimeouts,
  isReplayableBody,
  limitBody,
  parseRetryAfter,
  readErrorText,
  resendable,
  retryableErrorCode,
  sendOnce,
  timeoutsOf,
  withSignal,
} from "../../../src/util/http.js";
import { UserError } from "../../../src/report.js";

const URL_ = "https://files.example/org/model/resolve/main/weights.bin";
const PRESIGNED = "https://bucket.s3.example/lfs/abc?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAEXAMPLE";
const WHAT = "GET https://files.example/w.bin";

const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-http-layer-"));
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(() => {
  clearCredentialScopes();
  vi.useRealTimers();
});

// ---- helpers ----

type AnswerBody = ConstructorParameters<typeof Response>[0];
type Step = Response | Error | ((init: RequestInit) => Promise<Response> | Response);
type RetryInfo = Parameters<NonNullable<HttpFetchOptions["onRetry"]>>[0];

/** A scripted transport: each call takes the next step (an answer, an error to throw, or a function of the request). */
function transport(steps: Step[]) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), init: init! });
    const s = steps.shift();
    if (!s) throw new Error("the transport was called more often than scripted");
    if (s instanceof Error) throw s;
    if (typeof s === "function") return s(init!);
    return s;
  }) as typeof fetch;
  return { f, calls };
}

function layer(steps: Step[], options: HttpFetchOptions = {}) {
  const t = transport(steps);
  const waits: number[] = [];
  const retries: RetryInfo[] = [];
  const http = createHttpFetch({ fetch: t.f, sleep: async (ms) => void waits.push(ms), random: () => 1, onRetry: (i) => retries.push(i), ...options });
  return { http, calls: t.calls, waits, retries };
}

const status = (code: number, headers?: Record<string, string>, body: AnswerBody = "x") => new Response(code === 204 ? null : body, { status: code, headers });
const coded = (code: string, message = `connect ${code}`) => Object.assign(new Error(message), { code });
const reset = () => Object.assign(new TypeError("fetch failed"), { cause: coded("ECONNRESET", "read ECONNRESET") });

/** A transport step that never answers: it fails when the request's signal aborts (with its reason, as fetch does, or with an AbortError of its own). */
const hang =
  (own = false) =>
  (init: RequestInit) =>
    new Promise<Response>((_, reject) => {
      const s = init.signal!;
      s.addEventListener("abort", () => reject(own ? new DOMException("This operation was aborted", "AbortError") : s.reason), { once: true });
    });

/** How a promise ends within `ms` of real time. */
async function outcome<T>(p: Promise<T>, ms = 400): Promise<{ value?: T; error?: unknown; pending?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ pending: true }>((r) => (timer = setTimeout(() => r({ pending: true }), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("nothing was thrown");
}
const bytes = (n: number, fill = 120) => new Uint8Array(n).fill(fill);

/** A body whose chunks the test hands over one by one; records how it was cancelled. */
function source() {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled: unknown[] = [];
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (c) => void (ctrl = c),
      cancel: (r) => void cancelled.push(r),
    },
    { highWaterMark: 0 },
  );
  return { stream, push: (n: number) => ctrl.enqueue(bytes(n)), end: () => ctrl.close(), error: (e: unknown) => ctrl.error(e), cancelled };
}

/** limitBody over a scripted source, with a clock the test sets. */
function bounded(limits: Partial<BodyLimits>, timeouts: Partial<HttpTimeouts> = {}) {
  const src = source();
  const clock = { t: limits.startedAt ?? 0 };
  const stops: Error[] = [];
  const out = limitBody(new Response(src.stream), { what: WHAT, startedAt: 0, ...limits }, { ...DEFAULT_TIMEOUTS, ...timeouts }, (e) => void stops.push(e), () => clock.t)!;
  const reader = out.getReader();
  return { src, clock, stops, reader };
}

async function readAll(body: ReadableStream<Uint8Array> | null): Promise<number> {
  let n = 0;
  for await (const c of body!) n += c.byteLength;
  return n;
}

// ---- errors and what to retry ----

describe("HttpError", () => {
  it("is a redacted UserError whose code says whether the same request may succeed later", () => {
    const e = new HttpError("GET https://h.example/x: token hf_AbCdEfGhIjKlMnOp123456 in the body", "ETRUNCATED", { cause: "why" });
    expect(e).toBeInstanceOf(UserError);
    expect(e.name).toBe("HttpError");
    expect(e.exitCode).toBe(1);
    expect(e.cause).toBe("why");
    expect(e.message).toContain("GET https://h.example/x");
    expect(e.message).not.toContain("hf_AbCdEfGhIjKlMnOp123456");
    expect(new HttpError("m", "ETIMEDOUT").transient).toBe(true);
    expect(new HttpError("m", "ETRUNCATED").transient).toBe(true);
    expect(new HttpError("m", "EBODYLIMIT").transient).toBe(false);
    expect(new HttpError("m", "ECOMPRESSED").transient).toBe(false);
  });
});

describe("retryableErrorCode", () => {
  it("finds a retryable code anywhere in the cause chain or an AggregateError, and nothing in what is not an error object", () => {
    expect(retryableErrorCode(null)).toBeUndefined();
    expect(retryableErrorCode(undefined)).toBeUndefined();
    expect(retryableErrorCode("ECONNRESET")).toBeUndefined();
    expect(retryableErrorCode(new Error("boom", { cause: new Error("deeper", { cause: coded("EPIPE") }) }))).toBe("EPIPE");
    expect(retryableErrorCode(new AggregateError([coded("ECONNREFUSED"), coded("EAI_AGAIN")], "all failed"))).toBe("EAI_AGAIN");
    expect(retryableErrorCode(Object.assign(new Error("x"), { code: 54 }))).toBeUndefined();
  });
  it("a hang-up told in words is retried in either case; an abort never is, whatever it wraps", () => {
    expect(retryableErrorCode(new Error("Socket Hang Up"))).toBe("socket hang up");
    expect(retryableErrorCode(new Error("the OTHER SIDE CLOSED the stream"))).toBe("socket hang up");
    expect(retryableErrorCode(new Error("connection refused"))).toBeUndefined();
    const abort = Object.assign(new DOMException("aborted", "AbortError"), { cause: coded("ECONNRESET") });
    expect(retryableErrorCode(abort)).toBeUndefined();
  });
  it("an error whose cause chain loops ends", () => {
    const a = new Error("a") as Error & { cause?: unknown };
    const b = new Error("b", { cause: a });
    a.cause = b;
    expect(retryableErrorCode(a)).toBeUndefined();
  });
});

describe("parseRetryAfter", () => {
  it("reads delta seconds, whole or fractional, around whitespace", () => {
    expect(parseRetryAfter("2", 0)).toBe(2000);
    expect(parseRetryAfter("12", 0)).toBe(12_000);
    expect(parseRetryAfter(" 3 ", 0)).toBe(3000);
    expect(parseRetryAfter("1.25", 0)).toBe(1250);
    expect(parseRetryAfter("0.0015", 0)).toBe(2);
    expect(parseRetryAfter("0", 0)).toBe(0);
  });
  it("reads an HTTP date against the clock; a date gone by is no wait", () => {
    expect(parseRetryAfter(new Date(70_000).toUTCString(), 10_000)).toBe(60_000);
    expect(parseRetryAfter(new Date(5_000).toUTCString(), 10_000)).toBe(0);
  });
  it("nothing, or something that is neither, is no Retry-After", () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("", 0)).toBeUndefined();
    expect(parseRetryAfter("x5", 0)).toBeUndefined();
    expect(parseRetryAfter("5x", 0)).toBeUndefined();
    expect(parseRetryAfter("soon", 0)).toBeUndefined();
  });
});

describe("isReplayableBody", () => {
  it("a body held in memory can be sent again; a stream or an unknown object cannot", () => {
    for (const body of [undefined, null, "text", new Blob(["b"]), new ArrayBuffer(3), new Uint8Array(3), Buffer.from("x"), new DataView(new ArrayBuffer(2)), new URLSearchParams("a=1"), new FormData()]) {
      expect(isReplayableBody(body), String(body?.constructor?.name ?? body)).toBe(true);
    }
    expect(isReplayableBody(new ReadableStream())).toBe(false);
    expect(isReplayableBody({ text: "not a body" })).toBe(false);
    expect(isReplayableBody(42)).toBe(false);
  });
});

describe("describeRequest", () => {
  it("names method, origin and path, never the query; something that is not a URL leaves the method alone", () => {
    expect(describeRequest("PUT", PRESIGNED)).toBe("PUT https://bucket.s3.example/lfs/abc");
    expect(describeRequest("GET", new URL("https://h.example:8443/a/b?q=1#f"))).toBe("GET https://h.example:8443/a/b");
    expect(describeRequest("GET", "not a url")).toBe("GET");
  });
});

// ---- headers and bounded reading ----

describe("checkAnswerHeaders", () => {
  const res = (headers: Record<string, string>) => new Response("", { headers });
  const check = (headers: Record<string, string>, limits: { size?: number; maxBytes?: number }, bytesExpected = false) => () =>
    checkAnswerHeaders(res(headers), { ...limits, what: WHAT }, { bytes: bytesExpected });

  it("an exact size: a Content-Length equal to it passes, another is refused before a byte is read", () => {
    expect(check({ "content-length": "10" }, { size: 10 }, true)).not.toThrow();
    expect(check({}, { size: 10 }, true)).not.toThrow();
    const e = thrown(check({ "content-length": "11" }, { size: 10 }, true)) as HttpError;
    expect(e).toBeInstanceOf(HttpError);
    expect(e.code).toBe("EBODYLIMIT");
    expect(e.message).toBe(`${WHAT}: the server announces 11 bytes (Content-Length), 10 expected`);
    expect(check({ "content-length": "9" }, { size: 10 })).toThrow("announces 9 bytes");
  });
  it("a limit: up to it passes, more is refused", () => {
    expect(check({ "content-length": "100" }, { maxBytes: 100 })).not.toThrow();
    expect(check({ "content-length": "101" }, { maxBytes: 100 })).toThrow(`${WHAT}: the server announces 101 bytes (Content-Length), more than the 100 allowed`);
  });
  it("a Content-Length that is not a number says nothing", () => {
    for (const cl of ["abc", "5x", "x5", "1e3", "-5"]) expect(check({ "content-length": cl }, { size: 10, maxBytes: 10 }), cl).not.toThrow();
  });
  it("a compressed body is refused where a file's bytes were expected (any case), allowed otherwise, and its length is not held to the limits", () => {
    const e = thrown(check({ "content-encoding": "GZIP" }, { size: 10 }, true)) as HttpError;
    expect(e).toBeInstanceOf(HttpError);
    expect(e.code).toBe("ECOMPRESSED");
    expect(e.message).toBe(`${WHAT}: the server sent a gzip-encoded body where the file's own bytes were expected (identity was asked for)`);
    expect(check({ "content-encoding": "Identity" }, { size: 10 }, true)).not.toThrow();
  });
  it("`identity` is no encoding: its Content-Length is held to the size before a byte is read", () => {
    expect(check({ "content-encoding": "identity", "content-length": "11" }, { size: 10 }, true)).toThrow(`${WHAT}: the server announces 11 bytes (Content-Length), 10 expected`);
    expect(check({ "content-encoding": "Identity", "content-length": "101" }, { maxBytes: 100 })).toThrow("more than the 100 allowed");
  });
  it("where bytes are not expected, a compressed body passes whatever length it announces", () => {
    expect(check({ "content-encoding": "gzip", "content-length": "999" }, { size: 10, maxBytes: 10 })).not.toThrow();
    expect(check({}, { size: 10 }, true)).not.toThrow();
  });
});

describe("limitBody", () => {
  it("no body: nothing to bound", () => {
    expect(limitBody(new Response(null), { what: WHAT, startedAt: 0 }, DEFAULT_TIMEOUTS, () => undefined)).toBeNull();
  });

  it("an exact size: the body that has it passes whole; one short by a byte fails as ETRUNCATED naming the count", async () => {
    const ok = bounded({ size: 10 });
    const r1 = ok.reader.read();
    ok.src.push(4);
    expect((await r1).value?.byteLength).toBe(4);
    const r2 = ok.reader.read();
    ok.src.push(6);
    expect((await r2).value?.byteLength).toBe(6);
    const r3 = ok.reader.read();
    ok.src.end();
    expect((await r3).done).toBe(true);
    expect(ok.stops).toEqual([]);

    const short = bounded({ size: 10 });
    const s1 = short.reader.read();
    short.src.push(9);
    await s1;
    const s2 = short.reader.read();
    short.src.end();
    const e = (await outcome(s2)).error as HttpError;
    expect(e).toBeInstanceOf(HttpError);
    expect(e.code).toBe("ETRUNCATED");
    expect(e.message).toBe(`${WHAT}: the connection ended after 9 of 10 bytes`);
    expect(short.stops).toEqual([e]);
  });

  it("more than the exact size, or than a limit, is refused: the connection is dropped", async () => {
    const over = bounded({ size: 10 });
    const r = over.reader.read();
    over.src.push(11);
    const e = (await outcome(r)).error as HttpError;
    expect(e.code).toBe("EBODYLIMIT");
    expect(e.message).toBe(`${WHAT}: the server sent more than the 10 bytes expected`);
    expect(over.stops).toEqual([e]);
    expect(over.src.cancelled).toEqual([e]);

    const capped = bounded({ maxBytes: 5 });
    const c1 = capped.reader.read();
    capped.src.push(5);
    expect((await c1).value?.byteLength).toBe(5);
    const c2 = capped.reader.read();
    capped.src.push(1);
    const e2 = (await outcome(c2)).error as HttpError;
    expect(e2.message).toBe(`${WHAT}: the server sent more than the 5 bytes allowed`);

    const fits = bounded({ maxBytes: 5 });
    const f1 = fits.reader.read();
    fits.src.push(5);
    await f1;
    const f2 = fits.reader.read();
    fits.src.end();
    expect((await f2).done).toBe(true);
  });

  it("truncate: past the limit the body ends there and the connection is dropped, without an error", async () => {
    const t = bounded({ maxBytes: 5, truncate: true }, { idleMs: 40 });
    const r1 = t.reader.read();
    t.src.push(3);
    expect((await r1).value?.byteLength).toBe(3);
    const r2 = t.reader.read();
    t.src.push(4);
    expect((await r2).value?.byteLength).toBe(2);
    expect((await t.reader.read()).done).toBe(true);
    expect(t.stops).toHaveLength(1);
    expect(t.src.cancelled).toHaveLength(1);
    // The ticker stopped with the body: no timeout after it ended.
    t.clock.t = 10 ** 9;
    await pause(40);
    expect(t.stops).toHaveLength(1);
  });

  it("a body that ended, or that the reader cancelled, raises no timeout later", async () => {
    const done = bounded({ size: 2 }, { idleMs: 40, graceMs: 0, minBytesPerSecond: 1 });
    const r = done.reader.read();
    done.src.push(2);
    await r;
    const end = done.reader.read();
    done.src.end();
    await end;
    done.clock.t = 10 ** 9;
    await pause(40);
    expect(done.stops).toEqual([]);

    const cancelled = bounded({ size: 2 }, { idleMs: 40, graceMs: 0, minBytesPerSecond: 1 });
    await cancelled.reader.cancel("enough");
    expect(cancelled.src.cancelled).toEqual(["enough"]);
    cancelled.clock.t = 10 ** 9;
    await pause(40);
    expect(cancelled.stops).toEqual([]);
  });

  it("the connection breaking mid-body fails as ETRUNCATED with the byte count and the network's reason", async () => {
    const b = bounded({ size: 10 });
    const r1 = b.reader.read();
    b.src.push(3);
    await r1;
    const r2 = b.reader.read();
    const cause = coded("ECONNRESET", "read ECONNRESET");
    b.src.error(cause);
    const e = (await outcome(r2)).error as HttpError;
    expect(e).toBeInstanceOf(HttpError);
    expect(e.code).toBe("ETRUNCATED");
    expect(e.transient).toBe(true);
    expect(e.message).toBe(`${WHAT}: the connection broke after 3 of 10 bytes (ECONNRESET)`);
    expect(e.cause).toBe(cause);
    expect(b.stops).toEqual([e]);

    const plain = bounded({ maxBytes: 100 });
    const p = plain.reader.read();
    plain.src.error(new Error("boom"));
    expect(((await outcome(p)).error as Error).message).toBe(`${WHAT}: the connection broke after 0 bytes (boom)`);

    const odd = bounded({});
    const o = odd.reader.read();
    odd.src.error("weird");
    expect(((await outcome(o)).error as Error).message).toBe(`${WHAT}: the connection broke after 0 bytes (weird)`);

    const silent = bounded({ size: 4 });
    const q = silent.reader.read();
    silent.src.error(undefined);
    const e3 = (await outcome(q)).error as HttpError;
    expect(e3).toBeInstanceOf(HttpError);
    expect(e3.message).toBe(`${WHAT}: the connection broke after 0 of 4 bytes (undefined)`);
    expect(silent.stops).toEqual([e3]);
  });

  it("an abort, or a failure of our own, ends the body with that same error", async () => {
    const a = bounded({ size: 10 });
    const r = a.reader.read();
    const abort = new DOMException("stopped by the user", "AbortError");
    a.src.error(abort);
    expect((await outcome(r)).error).toBe(abort);
    expect(a.stops).toEqual([abort]);

    const h = bounded({ size: 10 });
    const r2 = h.reader.read();
    const own = new HttpError("GET https://files.example/w.bin: no answer", "ETIMEDOUT");
    h.src.error(own);
    expect((await outcome(r2)).error).toBe(own);
  });

  it("idle: no byte for idleMs while the reader waits fails as ETIMEDOUT (not a moment before)", async () => {
    const b = bounded({ size: 10 }, { idleMs: 40 });
    b.clock.t = 100;
    const r = b.reader.read();
    await tick();
    b.clock.t = 139;
    expect(await outcome(r, 60)).toEqual({ pending: true });
    expect(b.stops).toEqual([]);
    b.clock.t = 140;
    const e = (await outcome(r, 400)).error as HttpError;
    expect(e).toBeInstanceOf(HttpError);
    expect(e.code).toBe("ETIMEDOUT");
    expect(e.message).toBe(`${WHAT}: no byte for 40 ms (after 0 of 10 bytes)`);
    expect(b.stops).toEqual([e]);
    expect(b.src.cancelled).toEqual([e]);
  });

  it("idle: a byte that arrives resets the wait, and a reader that does not ask is not the server's silence", async () => {
    const b = bounded({ maxBytes: 100 }, { idleMs: 40 });
    const r1 = b.reader.read();
    await tick();
    b.clock.t = 1000; // long after the read began: the chunk arrives now
    b.src.push(3);
    expect((await r1).value?.byteLength).toBe(3);
    await tick();
    // The reader takes its time before asking again.
    b.clock.t = 5000;
    await pause(60);
    expect(b.stops).toEqual([]);
    const r2 = b.reader.read();
    b.src.push(2);
    expect((await r2).value?.byteLength).toBe(2);
    await b.reader.cancel();
  });

  it("a stall is noticed within a quarter of idleMs, polled no more often than every 10 ms nor less than every second", async () => {
    for (const [idleMs, every] of [
      [400, 100],
      [20, 10],
      [8000, 1000],
    ] as const) {
      vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
      const b = bounded({ maxBytes: 10 }, { idleMs });
      const r = b.reader.read();
      await tick();
      b.clock.t = idleMs;
      vi.advanceTimersByTime(every - 1);
      expect(b.stops, `idleMs ${idleMs}`).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(b.stops, `idleMs ${idleMs}`).toHaveLength(1);
      await r.catch(() => undefined);
      vi.useRealTimers();
    }
  });

  it("deadline: the whole body within grace + its size at the minimum pace, from when the request was sent", async () => {
    // sent at 5 s; 1 s grace + 2000 bytes at 1000 bytes/s: done by 8 s.
    const b = bounded({ size: 2000, startedAt: 5000 }, { graceMs: 1000, minBytesPerSecond: 1000 });
    const r1 = b.reader.read();
    b.clock.t = 7999;
    b.src.push(1999); // the pace held: 1999 bytes 1999 ms after the grace
    expect((await r1).value?.byteLength).toBe(1999);
    expect(b.stops).toEqual([]);
    const r2 = b.reader.read();
    b.clock.t = 8000;
    b.src.push(0);
    await r2;
    const e = (await outcome(b.reader.read())).error as HttpError;
    expect(e.code).toBe("ETIMEDOUT");
    expect(e.message).toBe(`${WHAT}: not done within 3 s (1999 of 2000 bytes came): the server sends too slowly`);
  });

  it("deadline of a limit (no exact size), in seconds or milliseconds", async () => {
    const b = bounded({ maxBytes: 500 }, { graceMs: 0, minBytesPerSecond: 500 });
    const r = b.reader.read();
    b.clock.t = 1000;
    b.src.push(500);
    await r;
    expect(((await outcome(b.reader.read())).error as Error).message).toBe(`${WHAT}: not done within 1 s (500 bytes came): the server sends too slowly`);

    const ms = bounded({ maxBytes: 999 }, { graceMs: 0, minBytesPerSecond: 1000 });
    const r2 = ms.reader.read();
    ms.clock.t = 999;
    ms.src.push(999);
    await r2;
    expect(((await outcome(ms.reader.read())).error as Error).message).toBe(`${WHAT}: not done within 999 ms (999 bytes came): the server sends too slowly`);
  });

  it("pace: past the grace, fewer bytes than the minimum pace fails as ETIMEDOUT; exactly the pace passes", async () => {
    // sent at 1 s, 0.5 s grace, 1000 bytes/s; no limit, so no deadline.
    const ok = bounded({ startedAt: 1000 }, { graceMs: 500, minBytesPerSecond: 1000 });
    const r = ok.reader.read();
    ok.clock.t = 2500;
    ok.src.push(1000);
    await r;
    expect(ok.stops).toEqual([]);
    await ok.reader.cancel();

    const slow = bounded({ startedAt: 1000, size: 10_000 }, { graceMs: 500, minBytesPerSecond: 1000 });
    const s = slow.reader.read();
    slow.clock.t = 2250;
    slow.src.push(749);
    await s;
    const e = (await outcome(slow.reader.read())).error as HttpError;
    expect(e.code).toBe("ETIMEDOUT");
    expect(e.message).toBe(`${WHAT}: 749 of 10000 bytes in 1.3 s, slower than 1000 bytes/s: the server sends too slowly`);
    expect(slow.stops).toEqual([e]);
  });

  it("within the grace no pace is asked", async () => {
    const b = bounded({ startedAt: 1000 }, { graceMs: 500, minBytesPerSecond: 1000 });
    const r = b.reader.read();
    b.clock.t = 1500;
    b.src.push(0);
    await r;
    expect(b.stops).toEqual([]);
    await b.reader.cancel();
  });
});

describe("readErrorText", () => {
  const res = (body: AnswerBody) => new Response(body, { status: 500 });

  it("collapses whitespace, trims, redacts and keeps maxChars (200 unless told)", async () => {
    expect(await readErrorText(res("  Access \n\t denied:   quota  \r\n"), WHAT, DEFAULT_TIMEOUTS)).toBe("Access denied: quota");
    expect(await readErrorText(res("a".repeat(300)), WHAT, DEFAULT_TIMEOUTS)).toBe("a".repeat(200));
    expect(await readErrorText(res("abcdefgh"), WHAT, DEFAULT_TIMEOUTS, 5)).toBe("abcde");
    const text = await readErrorText(res("bad credentials hf_AbCdEfGhIjKlMnOp123456 for you"), WHAT, DEFAULT_TIMEOUTS);
    expect(text).toContain("bad credentials");
    expect(text).not.toContain("hf_AbCdEfGhIjKlMnOp123456");
  });
  it("reads at most 64 KiB of it", async () => {
    expect(await readErrorText(res("y".repeat(100_000)), WHAT, DEFAULT_TIMEOUTS, 1e9)).toBe("y".repeat(HTTP_LIMITS.errorBodyBytes));
  });
  it("no body, a body that breaks, or one that stalls: no text", async () => {
    expect(await readErrorText(res(null), WHAT, DEFAULT_TIMEOUTS)).toBe("");
    const broken = new ReadableStream({ start: (c) => (c.enqueue(bytes(3)), c.error(new Error("reset"))) });
    expect(await readErrorText(res(broken), WHAT, DEFAULT_TIMEOUTS)).toBe("");
    const stalled = new ReadableStream({ start: (c) => c.enqueue(bytes(3)) });
    expect(await outcome(readErrorText(res(stalled), WHAT, { ...DEFAULT_TIMEOUTS, idleMs: 40 }), 600)).toEqual({ value: "" });
  });
});

describe("freeSpaceLimit", () => {
  it("what the file system has free less the reserve; anything when it cannot be asked", async () => {
    const s = await statfs(dir);
    const expected = Math.max(0, s.bavail * s.bsize - HTTP_LIMITS.diskReserveBytes);
    const got = await freeSpaceLimit(dir);
    expect(Math.abs(got - expected)).toBeLessThan(64 * 1024 * 1024); // other processes write meanwhile
    expect(await freeSpaceLimit(path.join(dir, "no", "such", "dir"))).toBe(Number.MAX_SAFE_INTEGER);
  });
});

// ---- the layer ----

describe("createHttpFetch: what is sent again, and the waits", () => {
  it("GET: 5 attempts by default, backoff doubling from 500 ms; the last answer is given back", async () => {
    const { http, calls, waits, retries } = layer([503, 503, 503, 503, 503].map((s) => status(s)));
    const res = await http(URL_);
    expect(res.status).toBe(503);
    expect(calls).toHaveLength(5);
    expect(waits).toEqual([500, 1000, 2000, 4000]);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
  });

  it("one backoff is capped at 20 s by default, at maxDelayMs when told; full jitter scales it", async () => {
    const a = layer(Array.from({ length: 8 }, () => status(500)), { maxAttempts: 8 });
    await a.http(URL_);
    expect(a.waits).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 20_000]);

    const b = layer(Array.from({ length: 5 }, () => status(502)), { baseDelayMs: 10, maxDelayMs: 30, random: () => 0.3333 });
    await b.http(URL_);
    expect(b.waits).toEqual([3, 7, 10, 10]);
  });

  it("maxAttempts bounds the attempts, at least one", async () => {
    const one = layer([status(503), status(200)], { maxAttempts: 0 });
    expect((await one.http(URL_)).status).toBe(503);
    expect(one.calls).toHaveLength(1);
    const two = layer([status(503), status(503), status(200)], { maxAttempts: 2 });
    expect((await two.http(URL_)).status).toBe(503);
    expect(two.calls).toHaveLength(2);
    expect(two.waits).toEqual([500]);
  });

  it("408, 429 and 5xx are sent again; other answers are given back at once", async () => {
    for (const s of [408, 429, 500, 502, 503, 504]) {
      const { http, calls } = layer([status(s), status(200, {}, "fine")]);
      const res = await http(URL_);
      expect(res.status, String(s)).toBe(200);
      expect(await res.text()).toBe("fine");
      expect(calls).toHaveLength(2);
    }
    for (const s of [400, 401, 403, 404, 409, 412, 501]) {
      const { http, calls } = layer([status(s), status(200)]);
      expect((await http(URL_)).status, String(s)).toBe(s);
      expect(calls).toHaveLength(1);
    }
  });

  it("Retry-After: seconds or a date (against the layer's clock), capped at 60 s by default or maxRetryAfterMs; without it, backoff", async () => {
    const a = layer([status(429, { "Retry-After": "3" }), status(503, { "Retry-After": "120" }), status(503, { "Retry-After": "0" }), status(503, { "Retry-After": "later" }), status(200)]);
    await a.http(URL_);
    expect(a.waits).toEqual([3000, 60_000, 0, 4000]);

    const b = layer([status(429, { "Retry-After": new Date(1_000_000 + 7000).toUTCString() }), status(429, { "Retry-After": "45" }), status(200)], { now: () => 1_000_000, maxRetryAfterMs: 30_000 });
    await b.http(URL_);
    expect(b.waits).toEqual([7000, 30_000]);
  });

  it("a failed answer's body is dropped before the wait; one without a body is sent again too", async () => {
    const src = source();
    const { http, calls } = layer([new Response(src.stream, { status: 503 }), new Response(null, { status: 503 }), status(200)]);
    expect((await http(URL_)).status).toBe(200);
    expect(src.cancelled).toHaveLength(1);
    expect(calls).toHaveLength(3);
  });

  it("a dropped connection is sent again with backoff; the last failure is thrown, redacted", async () => {
    const { http, calls, waits, retries } = layer([reset(), coded("UND_ERR_SOCKET"), Object.assign(new TypeError(`fetch failed: ${PRESIGNED}`), { cause: coded("ECONNRESET") })], {
      maxAttempts: 3,
      baseDelayMs: 100,
    });
    const e = (await outcome(http(URL_))).error as Error;
    expect(calls).toHaveLength(3);
    expect(waits).toEqual([100, 200]);
    expect(retries.map((r) => r.reason)).toEqual(["ECONNRESET", "UND_ERR_SOCKET"]);
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain("fetch failed");
    expect(e.message).not.toContain("deadbeefcafe");
  });

  it("an error that is not a dropped connection is thrown at once", async () => {
    const refused = Object.assign(new TypeError("fetch failed"), { cause: coded("ECONNREFUSED") });
    const { http, calls, retries } = layer([refused, status(200)]);
    expect((await outcome(http(URL_))).error).toBe(refused);
    expect(calls).toHaveLength(1);
    expect(retries).toEqual([]);
  });

  it("onRetry names the attempt, the wait, the reason, the method and the URL without its query", async () => {
    const { http, retries } = layer([status(503), reset(), status(200)], { baseDelayMs: 100 });
    await http(PRESIGNED, { method: "put", body: "abc" });
    expect(retries).toEqual([
      { attempt: 1, delayMs: 100, reason: "503", method: "PUT", url: "https://bucket.s3.example/lfs/abc" },
      { attempt: 2, delayMs: 200, reason: "ECONNRESET", method: "PUT", url: "https://bucket.s3.example/lfs/abc" },
    ]);
  });

  it("the real sleep waits the backoff", async () => {
    const { http, calls } = layer([status(503), status(200)], { sleep: undefined, baseDelayMs: 30 });
    const started = performance.now();
    expect((await http(URL_)).status).toBe(200);
    expect(calls).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});

describe("createHttpFetch: what may be sent twice", () => {
  it("POST (any case) is not sent again unless `resend` says so; `resend` is asked with the method and URL", async () => {
    const a = layer([status(503), status(200)]);
    expect((await a.http(URL_, { method: "post", body: "{}" })).status).toBe(503);
    expect(a.calls).toHaveLength(1);
    const b = layer([reset(), status(200)]);
    await expect(b.http(URL_, { method: "POST", body: "{}" })).rejects.toThrow("fetch failed");
    expect(b.calls).toHaveLength(1);

    const asked: Array<[string, string]> = [];
    const no = layer([status(503), status(200)], { resend: (m, u) => (asked.push([m, u]), false) });
    expect((await no.http(PRESIGNED, { method: "PATCH", body: "{}" })).status).toBe(503);
    expect(asked).toEqual([["PATCH", PRESIGNED]]);
    const yes = layer([status(503), status(200)], { resend: () => true });
    expect((await yes.http(URL_, { method: "POST", body: "{}" })).status).toBe(200);
    expect(yes.calls).toHaveLength(2);
  });

  it("idempotent methods are sent again", async () => {
    for (const method of ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]) {
      const { http, calls } = layer([status(503), status(200)]);
      expect((await http(URL_, { method })).status, method).toBe(200);
      expect(calls).toHaveLength(2);
    }
  });

  it("resendable(init) or resendable(body) marks a POST safe to send again; beforeResend runs before each resend, not before the first attempt", async () => {
    const log: string[] = [];
    const { http, calls } = layer([
      () => (log.push("send"), status(503)),
      () => {
        log.push("send");
        throw reset();
      },
      () => (log.push("send"), status(200)),
    ]);
    const init = resendable({ method: "POST", body: "{}" } as RequestInit, { beforeResend: async () => void log.push("beforeResend") });
    expect((await http(URL_, init)).status).toBe(200);
    expect(calls).toHaveLength(3);
    expect(log).toEqual(["send", "beforeResend", "send", "beforeResend", "send"]);

    const body = resendable(new Blob(["part"]));
    const b = layer([status(500), status(200)]);
    expect((await b.http(URL_, { method: "POST", body })).status).toBe(200);
    expect(b.calls.map((c) => c.init.body)).toEqual([body, body]);

    const plain = layer([status(500), status(200)]);
    expect((await plain.http(URL_, resendable({ method: "POST", body: "{}" } as RequestInit))).status).toBe(200);
  });

  it("sendOnce stops a resend, even of a PUT the client would resend", async () => {
    const { http, calls } = layer([status(503), status(200)], { resend: () => true });
    expect((await http(URL_, sendOnce({ method: "PUT", body: "x" }))).status).toBe(503);
    expect(calls).toHaveLength(1);
    const r = layer([reset(), status(200)], { resend: () => true });
    await expect(r.http(URL_, sendOnce({ method: "POST" }))).rejects.toThrow("fetch failed");
    expect(r.calls).toHaveLength(1);
  });

  it("a stream body is never sent again, even marked resendable", async () => {
    const stream = new ReadableStream({ start: (c) => (c.enqueue(bytes(1)), c.close()) });
    const { http, calls } = layer([status(503), status(200)]);
    const init = resendable({ method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect((await http(URL_, init)).status).toBe(503);
    expect(calls).toHaveLength(1);
  });
});

describe("createHttpFetch: what a request carries", () => {
  it("asks for identity encoding, over whatever the caller asked; keeps the caller's headers", async () => {
    const { http, calls } = layer([status(200)]);
    await http(URL_, { headers: { "Accept-Encoding": "gzip, br", Authorization: "Bearer hf_AbCdEfGhIjKlMnOp123456", "x-extra": "1" } });
    const h = new Headers(calls[0]!.init.headers);
    expect(h.get("accept-encoding")).toBe("identity");
    expect(h.get("authorization")).toBe("Bearer hf_AbCdEfGhIjKlMnOp123456");
    expect(h.get("x-extra")).toBe("1");
    expect(calls[0]!.url).toBe(URL_);
  });

  it("refuses a token over plain http off this machine, and a bound token off its origins, before the transport is called", async () => {
    const { http, calls } = layer([status(200), status(200)]);
    const e = (await outcome(http("http://example.com/api", { headers: { Authorization: "Bearer abcdefgh12345678" } }))).error;
    expect(e).toBeInstanceOf(UserError);
    expect(String(e)).toContain("refusing to send a token to http://example.com");
    bindCredential("hf_boundTokenZZZZZZZZZZZZZZZZ", ["https://huggingface.co"]);
    const e2 = (await outcome(http("https://evil.example/x", { headers: { Authorization: "Bearer hf_boundTokenZZZZZZZZZZZZZZZZ" } }))).error;
    expect(String(e2)).toContain("refusing to send a token to https://evil.example");
    expect(calls).toHaveLength(0);
    // Loopback may carry one over http; the token's own origin may.
    await http("http://127.0.0.1:9/api", { headers: { Authorization: "Bearer abcdefgh12345678" } });
    await http("https://huggingface.co/api", { headers: { Authorization: "Bearer hf_boundTokenZZZZZZZZZZZZZZZZ" } });
    expect(calls).toHaveLength(2);
  });

  it("a Request object: its method, body, redirect mode and signal are sent, the body half-duplex; a GET Request is sent again", async () => {
    const { http, calls } = layer([status(200)]);
    await http(new Request(URL_, { method: "DELETE", redirect: "manual" }));
    expect(calls[0]!.init.method).toBe("DELETE");
    expect(calls[0]!.init.redirect).toBe("manual");
    expect((calls[0]!.init as { duplex?: string }).duplex).toBe("half");
    expect(new Headers(calls[0]!.init.headers).get("accept-encoding")).toBe("identity");

    const put = layer([status(503), status(200)]);
    const req = new Request(URL_, { method: "PUT", body: "abc", headers: { "x-a": "1" } });
    expect((await put.http(req)).status).toBe(503); // its body is a stream: sent once
    expect(put.calls).toHaveLength(1);
    expect(put.calls[0]!.init.body).toBeInstanceOf(ReadableStream);
    expect(new Headers(put.calls[0]!.init.headers).get("x-a")).toBe("1");

    const get = layer([status(503), status(200)]);
    expect((await get.http(new Request(URL_))).status).toBe(200);
    expect(get.calls).toHaveLength(2);

    const ac = new AbortController();
    const reason = new Error("user stopped");
    ac.abort(reason);
    const stopped = layer([status(200)]);
    expect((await outcome(stopped.http(new Request(URL_, { signal: ac.signal })))).error).toBe(reason);
    expect(stopped.calls).toHaveLength(0);
  });

  it("a URL object is accepted like its text", async () => {
    const { http, calls, retries } = layer([status(503), status(200)]);
    await http(new URL(PRESIGNED));
    expect(calls[0]!.url).toBe(PRESIGNED);
    expect(retries[0]!.url).toBe("https://bucket.s3.example/lfs/abc");
  });
});

describe("createHttpFetch: the caller's AbortSignal", () => {
  it("an aborted signal sends nothing", async () => {
    const ac = new AbortController();
    ac.abort(new Error("ctrl-c"));
    const a = layer([status(200)]);
    expect(String((await outcome(a.http(URL_, { signal: ac.signal }))).error)).toContain("ctrl-c");
    expect(a.calls).toHaveLength(0);
    const b = layer([status(200)], { signal: ac.signal });
    expect(String((await outcome(b.http(URL_))).error)).toContain("ctrl-c");
    expect(b.calls).toHaveLength(0);
  });

  it("stops a retry wait of the real sleep at once, from either signal", async () => {
    for (const where of ["init", "options"] as const) {
      const ac = new AbortController();
      const reason = new Error(`stop ${where}`);
      const { http, calls } = layer([status(503), status(200)], {
        sleep: undefined,
        baseDelayMs: 60_000,
        onRetry: () => void setTimeout(() => ac.abort(reason), 20),
        ...(where === "options" ? { signal: ac.signal } : {}),
      });
      const r = await outcome(http(URL_, where === "init" ? { signal: ac.signal } : {}), 500);
      expect(r.error, where).toBe(reason);
      expect(calls).toHaveLength(1);
    }
  });

  it("stopped during a retry wait, nothing is left waiting (the program can exit at once)", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const ac = new AbortController();
    const { http } = layer([status(503), status(200)], { sleep: undefined, baseDelayMs: 60_000, onRetry: () => void setImmediate(() => ac.abort(new Error("stop"))) });
    const before = timers();
    expect(String((await outcome(http(URL_, { signal: ac.signal }))).error)).toContain("stop");
    expect(timers()).toBe(before);
  });

  it("a signal aborted just before the wait: the real sleep does not start", async () => {
    const ac = new AbortController();
    const reason = new Error("stop now");
    const { http, calls } = layer([status(503), status(200)], { sleep: undefined, baseDelayMs: 60_000, onRetry: () => ac.abort(reason) });
    expect(await outcome(http(URL_, { signal: ac.signal }), 300)).toEqual({ error: reason });
    expect(calls).toHaveLength(1);
  });

  it("the wait is told the signal; an abort during it sends nothing more even if the sleep ignores it", async () => {
    const ac = new AbortController();
    const reason = new Error("stop");
    const told: Array<AbortSignal | undefined> = [];
    const { http, calls } = layer([status(503), status(200)], {
      sleep: async (_ms, signal) => {
        told.push(signal);
        ac.abort(reason);
      },
    });
    expect((await outcome(http(URL_, { signal: ac.signal }))).error).toBe(reason);
    expect(calls).toHaveLength(1);
    expect(told[0]?.aborted).toBe(true);
  });

  it("aborted while a request is out: its failure is not retried, the caller's reason is thrown", async () => {
    const ac = new AbortController();
    const reason = new Error("user stopped");
    const { http, calls, retries, waits } = layer([
      () => {
        ac.abort(reason);
        throw reset();
      },
      status(200),
    ]);
    expect((await outcome(http(URL_, { signal: ac.signal }))).error).toBe(reason);
    expect(calls).toHaveLength(1);
    expect(retries).toEqual([]);
    expect(waits).toEqual([]);
  });

  it("the transport is given a signal that aborts with the caller's", async () => {
    const ac = new AbortController();
    const reason = new Error("bye");
    const { http, calls } = layer([hang()]);
    const p = http(URL_, { signal: ac.signal });
    await tick();
    ac.abort(reason);
    expect((await outcome(p)).error).toBe(reason);
    expect(calls[0]!.init.signal?.aborted).toBe(true);
  });
});

describe("createHttpFetch: timeouts", () => {
  it("no answer within headersMs: an ETIMEDOUT HttpError naming the request, retried like a dropped connection", async () => {
    const { http, calls, retries } = layer([hang(true), hang()], { maxAttempts: 2, timeouts: { headersMs: 30 } });
    const e = (await outcome(http(PRESIGNED))).error as HttpError;
    expect(e).toBeInstanceOf(HttpError);
    expect(e.code).toBe("ETIMEDOUT");
    expect(e.message).toBe("GET https://bucket.s3.example/lfs/abc: no answer within 30 ms");
    expect(calls).toHaveLength(2);
    expect(retries.map((r) => r.reason)).toEqual(["ETIMEDOUT"]);
  });

  it("an answer in time is not cut by the headers timer later", async () => {
    const { http } = layer(
      [
        (init) =>
          new Response(
            new ReadableStream(
              {
                start: (c) => init.signal!.addEventListener("abort", () => c.error(init.signal!.reason)),
                pull: (c) => (c.enqueue(bytes(5)), c.close()),
              },
              { highWaterMark: 0 },
            ),
          ),
      ],
      { timeouts: { headersMs: 20 } },
    );
    const res = await http(URL_);
    await pause(50);
    expect(await readAll(res.body)).toBe(5);
  });

  /** The message of a request that never gets an answer: it names the time it was given. */
  async function noAnswer(init: RequestInit, timeouts: Partial<HttpTimeouts>): Promise<string> {
    const { http } = layer([hang()], { maxAttempts: 1, timeouts });
    const e = (await outcome(http(URL_, init), 1000)).error as Error;
    return e.message.replace(/^.*: /, "");
  }

  it("the headers wait is capped by the request's deadline: grace + its body and the expected answer at the minimum pace", async () => {
    const t = { headersMs: 10_000, graceMs: 10, minBytesPerSecond: 100_000 }; // 100 bytes per ms
    const put = (body: RequestInit["body"], headers?: Record<string, string>) => expectBody({ method: "PUT", body, headers, duplex: "half" } as RequestInit, { maxBytes: 1000 });
    expect(await noAnswer(put(undefined), t)).toBe("no answer within 20 ms");
    expect(await noAnswer(put("é".repeat(1000)), t)).toBe("no answer within 40 ms"); // 2000 bytes
    expect(await noAnswer(put(new ArrayBuffer(2000)), t)).toBe("no answer within 40 ms");
    expect(await noAnswer(put(new Uint8Array(2000)), t)).toBe("no answer within 40 ms");
    expect(await noAnswer(put(new Blob([bytes(2000)])), t)).toBe("no answer within 40 ms");
    expect(await noAnswer(put(new ReadableStream(), { "content-length": "2000" }), t)).toBe("no answer within 40 ms");
    expect(await noAnswer(put(new ReadableStream()), t)).toBe("no answer within 20 ms");
    expect(await noAnswer(expectBody({}, { size: 1500 }), t)).toBe("no answer within 25 ms");
  });

  it("a stream body whose Content-Length is not a count of bytes counts as none", async () => {
    const t = { headersMs: 30, graceMs: 10, minBytesPerSecond: 100_000 };
    for (const cl of ["-5", "abc", "Infinity"]) {
      const init = expectBody({ method: "PUT", body: new ReadableStream(), headers: { "content-length": cl }, duplex: "half" } as RequestInit, { maxBytes: 1000 });
      expect(await noAnswer(init, t), cl).toBe("no answer within 20 ms");
    }
  });

  it("a body over 1 MiB, or a file on disk, is sent before any answer can come: only the deadline bounds it", async () => {
    const t = { headersMs: 10, graceMs: 40, minBytesPerSecond: 104_857_600 }; // 2 MiB in 20 ms
    const large = (n: number) => expectBody({ method: "PUT", body: "x".repeat(n) }, { maxBytes: 2 * 1024 * 1024 - n });
    expect(await noAnswer(large(1024 * 1024 + 1), t)).toBe("no answer within 60 ms");
    expect(await noAnswer(large(1024 * 1024), t)).toBe("no answer within 10 ms");

    const file = path.join(dir, "ten.bin");
    await writeFile(file, bytes(10));
    const disk = expectBody({ method: "PUT", body: await DiskBlob.fromFile(file) }, { maxBytes: 990 });
    expect(await noAnswer(disk, { headersMs: 10, graceMs: 50, minBytesPerSecond: 100_000 })).toBe("no answer within 60 ms");
  });

  it("an answer's body is read against the layer's clock from when the attempt was sent, and a slow one drops the connection", async () => {
    const clock = { t: 1000 };
    const src = source();
    const { http, calls } = layer([new Response(src.stream)], { now: () => clock.t, timeouts: { graceMs: 100, minBytesPerSecond: 1000 } });
    const res = await http(URL_);
    clock.t = 1300;
    const reader = res.body!.getReader();
    const r = reader.read();
    src.push(100);
    await r;
    const e = (await outcome(reader.read())).error as HttpError;
    expect(e.message).toBe(`GET https://files.example/org/model/resolve/main/weights.bin: 100 bytes in 300 ms, slower than 1000 bytes/s: the server sends too slowly`);
    expect(calls[0]!.init.signal?.aborted).toBe(true);
    expect(calls[0]!.init.signal?.reason).toBe(e);
  });

  it("the layer's timeouts: the defaults with the caller's changes, carried by the fetch it makes", () => {
    expect(timeoutsOf(createHttpFetch({ timeouts: { idleMs: 5 } }))).toEqual({ ...DEFAULT_TIMEOUTS, idleMs: 5 });
    expect(createHttpFetch().timeouts).toEqual(DEFAULT_TIMEOUTS);
    expect(timeoutsOf(fetch)).toBe(DEFAULT_TIMEOUTS);
    expect(timeoutsOf(undefined)).toBe(DEFAULT_TIMEOUTS);
  });
});

describe("createHttpFetch: answers", () => {
  it("an API answer is held to 16 MiB: announced larger, it is refused naming the request", async () => {
    const { http } = layer([status(200, { "content-length": String(HTTP_LIMITS.apiBodyBytes + 1) })]);
    const e = (await outcome(http(PRESIGNED))).error as HttpError;
    expect(e.code).toBe("EBODYLIMIT");
    expect(e.message).toBe(`GET https://bucket.s3.example/lfs/abc: the server announces ${HTTP_LIMITS.apiBodyBytes + 1} bytes (Content-Length), more than the ${HTTP_LIMITS.apiBodyBytes} allowed`);
    const ok = layer([status(200, { "content-length": String(HTTP_LIMITS.apiBodyBytes) }, "x")]);
    expect((await ok.http(URL_)).status).toBe(200);
  });

  it("an API answer larger than 16 MiB without a Content-Length fails while it is read", async () => {
    const { http } = layer([new Response(new Blob([new Uint8Array(HTTP_LIMITS.apiBodyBytes + 1)]).stream())]);
    const res = await http(URL_);
    await expect(readAll(res.body)).rejects.toMatchObject({ code: "EBODYLIMIT" });
  });

  it("expectBody size: the exact size passes, one byte short is ETRUNCATED, a compressed body is refused", async () => {
    const ok = layer([status(200, {}, "0123456789")]);
    expect(await (await ok.http(URL_, expectBody({}, { size: 10 }))).text()).toBe("0123456789");
    const short = layer([status(200, {}, "012345678")]);
    const res = await short.http(URL_, expectBody({}, { size: 10 }));
    await expect(res.text()).rejects.toMatchObject({ code: "ETRUNCATED", message: `GET ${URL_}: the connection ended after 9 of 10 bytes` });
    const gz = layer([status(200, { "content-encoding": "gzip" }, "zz")]);
    await expect(gz.http(URL_, expectBody({}, { size: 2 }))).rejects.toMatchObject({ code: "ECOMPRESSED" });
    const announced = layer([status(200, { "content-length": "11" }, "01234567890")]);
    await expect(announced.http(URL_, expectBody({}, { size: 10 }))).rejects.toMatchObject({ code: "EBODYLIMIT" });
  });

  it("expectBody maxBytes: a compressed API answer is fine, more than the limit is not", async () => {
    const gz = layer([status(200, { "content-encoding": "gzip" }, "zz")]);
    expect((await gz.http(URL_, expectBody({}, { maxBytes: 5 }))).status).toBe(200);
    const big = layer([status(200, {}, "0123456")]);
    const res = await big.http(URL_, expectBody({}, { maxBytes: 5 }));
    await expect(res.text()).rejects.toMatchObject({ code: "EBODYLIMIT", message: `GET ${URL_}: the server sent more than the 5 bytes allowed` });
  });

  it("an error answer (or a redirect) is cut at 64 KiB and never refused for its headers", async () => {
    for (const s of [300, 404, 500]) {
      const { http } = layer([status(s, { "content-length": "100000", "content-encoding": "gzip" }, "e".repeat(100_000))], { maxAttempts: 1 });
      const res = await http(URL_, expectBody({}, { size: 10 }));
      expect(res.status).toBe(s);
      expect((await res.text()).length, String(s)).toBe(HTTP_LIMITS.errorBodyBytes);
    }
    const success = layer([status(299, {}, "s".repeat(100_000))]);
    expect((await (await success.http(URL_)).text()).length).toBe(100_000);
  });

  it("callerBounds: a successful answer is passed on as it came; an error answer is still cut", async () => {
    const answer = status(200, { "content-length": "999999999999", "content-encoding": "gzip" }, "raw");
    const { http } = layer([answer]);
    expect(await http(URL_, expectBody({}, { size: 3, callerBounds: true }))).toBe(answer);
    const err = layer([status(404, {}, "n".repeat(100_000))]);
    const res = await err.http(URL_, expectBody({}, { callerBounds: true }));
    expect((await res.text()).length).toBe(HTTP_LIMITS.errorBodyBytes);
  });

  it("a HEAD answer, or one without a body, is passed through as it came", async () => {
    const head = status(200, { "content-length": "5000000000" }, "");
    const { http } = layer([head]);
    expect(await http(URL_, expectBody({ method: "HEAD" }, { size: 10 }))).toBe(head);
    const empty = new Response(null, { status: 200, headers: { "content-length": "77" } });
    const e = layer([empty]);
    expect(await e.http(URL_, expectBody({}, { size: 10 }))).toBe(empty);
  });

  it("keeps the answer's status, status text, headers, final URL and whether it was redirected", async () => {
    const answer = new Response("hi", { status: 201, statusText: "Made", headers: { etag: '"abc"' } });
    Object.defineProperty(answer, "url", { value: "https://cdn.example/final" });
    Object.defineProperty(answer, "redirected", { value: true });
    const { http } = layer([answer]);
    const res = await http(URL_);
    expect(res).not.toBe(answer);
    expect([res.status, res.statusText, res.headers.get("etag"), res.url, res.redirected]).toEqual([201, "Made", '"abc"', "https://cdn.example/final", true]);
    expect(await res.text()).toBe("hi");
  });
});

describe("withSignal", () => {
  it("no signal: the fetch itself", () => {
    const f = createHttpFetch({ fetch: transport([]).f });
    expect(withSignal(f, undefined)).toBe(f);
  });
  it("every request also ends with the signal, as well as its own; the layer's timeouts travel with it", async () => {
    const t = transport([hang(), hang(), status(200)]);
    const f = createHttpFetch({ fetch: t.f, maxAttempts: 1, timeouts: { idleMs: 7 } });
    const outer = new AbortController();
    const wrapped = withSignal(f, outer.signal);
    expect(timeoutsOf(wrapped)).toEqual({ ...DEFAULT_TIMEOUTS, idleMs: 7 });
    expect(timeoutsOf(withSignal(fetch, outer.signal))).toBe(DEFAULT_TIMEOUTS);

    const own = new AbortController();
    const p1 = wrapped(URL_, { signal: own.signal });
    await tick();
    own.abort(new Error("own"));
    expect(String((await outcome(p1)).error)).toContain("own");

    const p2 = wrapped(URL_, { method: "DELETE" });
    await tick();
    expect(t.calls[1]!.init.method).toBe("DELETE");
    outer.abort(new Error("outer"));
    expect(String((await outcome(p2)).error)).toContain("outer");
    expect(t.calls).toHaveLength(2);
  });
});
