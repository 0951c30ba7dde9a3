import { describe, expect, it } from "vitest";
import { createRetryFetch } from "../../../src/hub/retry-fetch.js";
import { parseRetryAfter, retryableErrorCode } from "../../../src/util/http.js";

function scripted(steps: Array<number | Error | { status: number; headers?: Record<string, string> }>) {
  const calls: Array<{ body: unknown }> = [];
  const f = (async (_input: string | URL | Request, init?: RequestInit) => {
    calls.push({ body: init?.body });
    const s = steps.shift();
    if (s instanceof Error) throw s;
    const st = typeof s === "number" ? { status: s } : s!;
    return new Response(st.status === 204 ? null : "x", { status: st.status, headers: st.headers });
  }) as typeof fetch;
  return { f, calls };
}
const socketError = () => Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });

describe("createRetryFetch", () => {
  it("retries 429 honouring Retry-After (seconds, capped), 5xx and resets; returns the success", async () => {
    const { f, calls } = scripted([{ status: 429, headers: { "Retry-After": "120" } }, 503, socketError(), 200]);
    const waits: number[] = [];
    const rf = createRetryFetch({ fetch: f, sleep: async (ms) => void waits.push(ms), random: () => 1, baseDelayMs: 100, maxRetryAfterMs: 30_000 });
    const res = await rf("http://x/", { method: "PUT", body: new Blob(["abc"]) });
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(4);
    expect(waits).toEqual([30_000, 200, 400]);
  });
  it("Retry-After as an HTTP date", () => {
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter("2", 0)).toBe(2000);
    expect(parseRetryAfter("soon", 0)).toBeUndefined();
  });
  it("never retries other 4xx", async () => {
    for (const status of [400, 401, 403, 404, 409, 412]) {
      const { f, calls } = scripted([status, 200]);
      const res = await createRetryFetch({ fetch: f, sleep: async () => undefined })("http://x/");
      expect(res.status).toBe(status);
      expect(calls).toHaveLength(1);
    }
  });
  it("bounded: gives the last answer after maxAttempts", async () => {
    const { f, calls } = scripted([500, 500, 500, 500]);
    const res = await createRetryFetch({ fetch: f, maxAttempts: 3, sleep: async () => undefined })("http://x/");
    expect(res.status).toBe(500);
    expect(calls).toHaveLength(3);
    const s = scripted([socketError(), socketError()]);
    await expect(createRetryFetch({ fetch: s.f, maxAttempts: 2, sleep: async () => undefined })("http://x/")).rejects.toThrow(/fetch failed/);
  });
  it("does not re-send a stream body; re-sends a Blob", async () => {
    const { f, calls } = scripted([503, 200]);
    const stream = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) });
    const res = await createRetryFetch({ fetch: f, sleep: async () => undefined })("http://x/", { method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(503);
    expect(calls).toHaveLength(1);
    const b = scripted([503, 200]);
    const blob = new Blob(["abc"]);
    await createRetryFetch({ fetch: b.f, sleep: async () => undefined })("http://x/", { method: "PUT", body: blob });
    expect(b.calls.map((c) => c.body)).toEqual([blob, blob]);
  });
  it("a network error that is not a reset is not retried; neither is an abort", async () => {
    expect(retryableErrorCode(Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }))).toBeUndefined();
    expect(retryableErrorCode(new DOMException("aborted", "AbortError"))).toBeUndefined();
    expect(retryableErrorCode(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))).toBe("ECONNRESET");
  });
});
