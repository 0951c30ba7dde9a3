import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createRetryFetch } from "../../../src/hub/retry-fetch.js";
import { listRemoteTree } from "../../../src/hub/tree.js";
import { createGitHubClient } from "../../../src/github/client.js";
import { assertGitHubUploadUrl } from "../../../src/github/release.js";
import {
  assertCredentialScope,
  assertRequestCredentials,
  bindCredential,
  clearCredentialScopes,
  registerCredential,
  requestParts,
  scopedFetch,
} from "../../../src/util/credential-scope.js";
import { clearSecrets, redact } from "../../../src/util/redact.js";

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(host: string, handle: http.RequestListener): Promise<string> {
  const s = http.createServer(handle);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, r));
  return `http://${host}:${(s.address() as AddressInfo).port}`;
}

describe("a token goes only to the origins it is for", () => {
  it("a Hub whose tree listing points its next page at another host: refused before the token leaves", async () => {
    const token = "hf_scopeTestTokenAAAAAAAAAAAAAAAA";
    const seen: Array<string | undefined> = [];
    const other = await listen("127.0.0.2", (req, res) => {
      seen.push(req.headers.authorization);
      res.end("[]");
    });
    const hub = await listen("127.0.0.1", (_req, res) => {
      res.setHeader("Link", `<${other}/api/models/a/b/tree/main?cursor=x>; rel="next"`);
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify([{ type: "file", path: "config.json", size: 2, oid: "0".repeat(40) }]));
    });
    bindCredential(token, [hub]);
    const e = await listRemoteTree({ endpoint: hub, repoId: "a/b", revision: "main", token, fetch: createRetryFetch({ maxAttempts: 1 }) }).catch((x: Error) => x);
    expect(String(e)).toContain(`refusing to send a token to ${other}`);
    expect(seen).toEqual([]);
  });

  it("Octokit's paginate following a Link header to another host: refused before the GitHub token leaves", async () => {
    const token = "ghp_scopeTestTokenCCCCCCCCCCCCCCCCCCCCCC";
    const seen: Array<string | undefined> = [];
    const other = await listen("127.0.0.2", (req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader("Content-Type", "application/json");
      res.end("[]");
    });
    const api = await listen("127.0.0.1", (_req, res) => {
      res.setHeader("Link", `<${other}/repos/o/r/releases?page=2>; rel="next"`);
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify([{ id: 1, tag_name: "v0.1.0" }]));
    });
    const gh = createGitHubClient({ token, baseUrl: api, retries: 0 });
    const e = await gh.paginate(gh.rest.repos.listReleases, { owner: "o", repo: "r", per_page: 1 }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    expect(String(e)).toContain(`refusing to send a token to ${other}`);
    expect(String(e)).not.toContain(token);
    expect(seen).toEqual([]);
  });

  it("scopedFetch lets a request without the token, or to the token's own origin, through", async () => {
    const token = "hf_scopeTestTokenBBBBBBBBBBBBBBBB";
    const got: Array<string | undefined> = [];
    const a = await listen("127.0.0.1", (req, res) => {
      got.push(req.headers.authorization);
      res.end("ok");
    });
    bindCredential(token, [a]);
    const f = scopedFetch(fetch);
    expect(await (await f(`${a}/x`, { headers: { Authorization: `Bearer ${token}` } })).text()).toBe("ok");
    expect(got).toEqual([`Bearer ${token}`]);
    await expect(f("http://127.0.0.3:9/x", { headers: { Authorization: `Bearer ${token}` } })).rejects.toThrow(/refusing to send a token to http:\/\/127\.0\.0\.3:9/);
    // Another host without the token: nothing to protect.
    await expect(f("http://127.0.0.3:9/x")).rejects.toThrow(/fetch failed/);
  });

  it("GitHub's upload_url must be GitHub's upload host for the API, and never plain http off loopback", () => {
    const ok: Array<[string, string]> = [
      ["https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}", "https://api.github.com"],
      ["https://ghe.example.com/api/uploads/repos/o/r/releases/1/assets{?name,label}", "https://ghe.example.com/api/v3"],
      ["https://uploads.acme.ghe.com/repos/o/r/releases/1/assets", "https://api.acme.ghe.com"],
      ["http://127.0.0.1:4001/repos/o/r/releases/1/assets", "http://127.0.0.1:4000"],
    ];
    for (const [up, api] of ok) expect(() => assertGitHubUploadUrl(up, api), up).not.toThrow();
    expect(() => assertGitHubUploadUrl("https://evil.example/repos/o/r/releases/1/assets{?name,label}", "https://api.github.com")).toThrow(
      /upload URL on https:\/\/evil\.example, which is not the upload host of https:\/\/api\.github\.com: refusing to send the token there/,
    );
    expect(() => assertGitHubUploadUrl("http://uploads.github.com/repos/o/r/releases/1/assets", "https://api.github.com")).toThrow(/plain http/);
  });
});

describe("a bound token is found wherever a request carries it", () => {
  const token = "hf_carriedTokenDDDDDDDDDDDDDDDD+/=";
  const hub = "https://hub.example";
  const other = "https://storage.example/bucket/object";
  afterEach(() => clearCredentialScopes());

  it.each([
    ["Authorization: Bearer", { authorization: `Bearer ${token}` }, other],
    ["a custom header", { "x-api-key": token }, other],
    ["a percent-encoded header", { cookie: `t=${encodeURIComponent(token)}` }, other],
    ["HTTP Basic, user:TOKEN", { authorization: `Basic ${Buffer.from(`hf_user:${token}`).toString("base64")}` }, other],
    ["HTTP Basic with padding spaces", { authorization: `  basic   ${Buffer.from(`x:${token}`).toString("base64")}  ` }, other],
    ["Proxy-Authorization", { "proxy-authorization": `Bearer ${token}` }, other],
    ["the URL's query", {}, `${other}?access_token=${encodeURIComponent(token)}`],
    ["the URL's query, raw", {}, `${other}?t=${token.replace(/[+/=]/g, "")}`],
  ])("%s, to another origin: refused, naming the origin and where the token may go", (_how, headers, url) => {
    bindCredential(token, [hub]);
    if (url.includes("?t=")) bindCredential(token.replace(/[+/=]/g, ""), [hub]);
    expect(() => assertRequestCredentials(url, new Headers(headers))).toThrow(`refusing to send a token to https://storage.example: a server's answer pointed there, but the token is for ${hub} only`);
    // To its own origin, the same request goes.
    expect(() => assertRequestCredentials(url.replace("https://storage.example", hub), new Headers(headers))).not.toThrow();
  });

  it("another origin without the token, or Basic credentials that carry another secret, go", () => {
    bindCredential(token, [hub]);
    expect(() => assertRequestCredentials(other, new Headers({ authorization: `Basic ${Buffer.from("user:not-the-token").toString("base64")}` }))).not.toThrow();
    expect(() => assertRequestCredentials(other, new Headers({ accept: "application/json" }))).not.toThrow();
    bindCredential("   ", [hub]); // an empty token binds nothing and matches nothing
    expect(() => assertRequestCredentials(other, new Headers({ authorization: "Bearer  " }))).not.toThrow();
  });

  it.each([
    ["Authorization", { authorization: "Bearer something-unbound" }],
    ["Proxy-Authorization", { "proxy-authorization": "Basic dXNlcjpwYXNz" }],
    ["a bound token in a custom header", { "x-api-key": token }],
  ])("%s over plain http off this machine: refused; over https or to loopback: allowed", (_how, headers) => {
    bindCredential(token, ["http://hub.example", "http://127.0.0.1:8080", "https://hub.example"]);
    expect(() => assertRequestCredentials("http://hub.example/api", new Headers(headers))).toThrow(
      "refusing to send a token to http://hub.example: plain http would carry it unencrypted (only https, or http to a loopback address, may carry a token)",
    );
    expect(() => assertRequestCredentials("http://127.0.0.1:8080/api", new Headers(headers))).not.toThrow();
    expect(() => assertRequestCredentials("https://hub.example/api", new Headers(headers))).not.toThrow();
    expect(() => assertRequestCredentials("http://hub.example/api", new Headers({ accept: "*/*" }))).not.toThrow();
  });
});

describe("binding and checking a credential", () => {
  const token = "hf_bindingTokenEEEEEEEEEEEEEEEEEEEE";
  afterEach(() => {
    clearCredentialScopes();
    clearSecrets();
  });

  it("a token read with surrounding whitespace (a file's trailing newline) is bound as the token itself", () => {
    bindCredential(`  ${token}\n`, ["https://hub.example"]);
    expect(() => assertRequestCredentials("https://storage.example/x", new Headers({ authorization: `Bearer ${token}` }))).toThrow(/refusing to send a token to https:\/\/storage\.example/);
  });

  it("no token (undefined or null) binds nothing and does not throw", () => {
    expect(() => bindCredential(undefined, ["https://hub.example"])).not.toThrow();
    expect(() => bindCredential(null, ["https://hub.example"])).not.toThrow();
    expect(() => assertRequestCredentials("https://storage.example/x", new Headers({ authorization: "Bearer undefined" }))).not.toThrow();
  });

  it("a token bound to several origins goes to each, and a refusal lists them all", () => {
    bindCredential(token, ["https://hub.example/api", "https://cdn.example:8443/"]);
    expect(() => assertRequestCredentials("https://cdn.example:8443/file", new Headers({ authorization: `Bearer ${token}` }))).not.toThrow();
    expect(() => assertRequestCredentials("https://storage.example/x", new Headers({ authorization: `Bearer ${token}` }))).toThrow(
      "refusing to send a token to https://storage.example: a server's answer pointed there, but the token is for https://hub.example, https://cdn.example:8443 only",
    );
  });

  it("a credential obtained at run time is redacted from output and bound to its origins", () => {
    // No well-known token shape: only its registration can get it redacted.
    const handedOut = "q7W9x2Lk4mZpR8sT1vB3";
    expect(redact(`got ${handedOut} back`)).toContain(handedOut);
    registerCredential(handedOut, ["https://hub.example"]);
    expect(redact(`got ${handedOut} back`)).not.toContain(handedOut);
    expect(() => assertRequestCredentials("https://storage.example/x", new Headers({ authorization: `Bearer ${handedOut}` }))).toThrow(/token is for https:\/\/hub\.example only/);
    expect(() => assertRequestCredentials("https://hub.example/x", new Headers({ authorization: `Bearer ${handedOut}` }))).not.toThrow();
  });

  it("assertCredentialScope checks an Authorization value against the URL's origin", () => {
    bindCredential(token, ["https://hub.example"]);
    expect(() => assertCredentialScope("https://storage.example/x", `Bearer ${token}`)).toThrow(/refusing to send a token to https:\/\/storage\.example/);
    expect(() => assertCredentialScope("https://hub.example/x", `Bearer ${token}`)).not.toThrow();
    // No Authorization at all: nothing is carried, so any origin is fine.
    expect(() => assertCredentialScope("https://storage.example/x", null)).not.toThrow();
    expect(() => assertCredentialScope("https://storage.example/x", undefined)).not.toThrow();
  });

  it("scopedFetch checks a Request object's own URL and headers", async () => {
    bindCredential(token, ["https://hub.example"]);
    const seen: string[] = [];
    const inner = (async (input: string | URL | Request) => {
      seen.push(input instanceof Request ? input.url : String(input));
      return new Response("ok");
    }) as typeof fetch;
    const f = scopedFetch(inner);
    await expect(f(new Request("https://storage.example/x", { headers: { authorization: `Bearer ${token}` } }))).rejects.toThrow(
      "refusing to send a token to https://storage.example: a server's answer pointed there, but the token is for https://hub.example only",
    );
    expect(await (await f(new Request("https://hub.example/x", { headers: { authorization: `Bearer ${token}` } }))).text()).toBe("ok");
    await expect(f(new URL("https://storage.example/y"), { headers: { authorization: `Bearer ${token}` } })).rejects.toThrow(/refusing to send a token/);
    expect(seen).toEqual(["https://hub.example/x"]);
    expect(requestParts(new Request("https://hub.example/z", { headers: { "x-api-key": token } }))).toMatchObject({ url: "https://hub.example/z" });
    expect(requestParts(new Request("https://hub.example/z", { headers: { "x-api-key": token } })).headers.get("x-api-key")).toBe(token);
  });
});
