// The run's memo of Hub answers (src/hub/read-memo.ts), against a counting fake transport.
import { describe, expect, it } from "vitest";
import { forgetHubReads, memoizeHubReads } from "../../../src/hub/read-memo.js";
import type { HttpFetch } from "../../../src/util/http.js";

const HUB = "https://hub.test";
const REPO = `${HUB}/api/models/ns/model`;
const SHA = "a".repeat(40);

/** A transport that answers every URL with a JSON count of how often it was asked, and logs each request. */
function counting(status = (_url: string) => 200) {
  const asked: string[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    asked.push(`${init?.method ?? "GET"} ${url}`);
    return new Response(JSON.stringify({ n: asked.length }), { status: status(url), headers: { "content-type": "application/json" } });
  }) as HttpFetch;
  return { f: Object.assign(f, { timeouts: {} as HttpFetch["timeouts"] }), asked };
}

const auth = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

describe("the Hub read memo", () => {
  it("asks each GET once per credential; concurrent askers share the one request", async () => {
    const t = counting();
    const { fetch } = memoizeHubReads(t.f);
    const [a, b] = await Promise.all([fetch(REPO, auth("x")), fetch(REPO, auth("x"))]);
    expect(await a.json()).toEqual({ n: 1 });
    expect(await b.json()).toEqual({ n: 1 });
    expect(await (await fetch(REPO, auth("y"))).json()).toEqual({ n: 2 });
    expect(t.asked).toHaveLength(2);
  });

  it("two memos (two runs) share nothing", async () => {
    const t = counting();
    await memoizeHubReads(t.f).fetch(REPO, auth("x"));
    await memoizeHubReads(t.f).fetch(REPO, auth("x"));
    expect(t.asked).toHaveLength(2);
  });

  it("a write to the repo forgets its branch and ref reads, keeps what a commit id names, and leaves other repos and whoami", async () => {
    const t = counting();
    const { fetch } = memoizeHubReads(t.f);
    const reads = [`${REPO}/revision/main`, `${REPO}/refs`, `${REPO}/tree/${SHA}`, `${HUB}/api/models/ns/other`, `${HUB}/api/whoami-v2`];
    for (const u of reads) await fetch(u, auth("x"));
    await fetch(`${REPO}/tag/${SHA}`, { method: "POST", ...auth("x") });
    for (const u of reads) await fetch(u, auth("x"));
    expect(t.asked.slice(reads.length + 1)).toEqual([`GET ${REPO}/revision/main`, `GET ${REPO}/refs`]);
  });

  it("a preupload only asks: nothing is forgotten; a git push around the memo is told with forgetHubReads", async () => {
    const t = counting();
    const { fetch } = memoizeHubReads(t.f);
    await fetch(`${REPO}/refs`, auth("x"));
    await fetch(`${REPO}/preupload/main`, { method: "POST", ...auth("x") });
    await fetch(`${REPO}/refs`, auth("x"));
    expect(t.asked).toHaveLength(2);
    forgetHubReads(fetch, "ns/model");
    await fetch(`${REPO}/refs`, auth("x"));
    expect(t.asked).toHaveLength(3);
  });

  it("an error answer is not kept: the next ask goes to the Hub again", async () => {
    const t = counting(() => 503);
    const { fetch } = memoizeHubReads(t.f);
    expect((await fetch(REPO, auth("x"))).status).toBe(503);
    expect((await fetch(REPO, auth("x"))).status).toBe(503);
    expect(t.asked).toHaveLength(2);
  });

  it("downloads pass through: resolve of a model file, ranged reads and HEADs are never kept", async () => {
    const t = counting();
    const { fetch } = memoizeHubReads(t.f);
    for (let i = 0; i < 2; i++) {
      await fetch(`${HUB}/ns/model/resolve/${SHA}/config.json`, auth("x"));
      await fetch(`${REPO}/refs`, { headers: { Range: "bytes=0-1" } });
      await fetch(`${HUB}/ns/model/resolve/${SHA}/model.bin`, { method: "HEAD" });
    }
    expect(t.asked).toHaveLength(6);
  });
});
