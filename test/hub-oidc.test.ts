// Trusted Publishing against the local Hub and a local OIDC issuer standing for GitHub Actions':
// the exchange, the Hub's refusal when a claim differs (saying what to configure, never showing the
// token), the repo-scoped short-lived token, and its renewal before it expires.
import { afterEach, describe, expect, it } from "vitest";
import { exchangeForHubToken, jobIdentity, requestActionsIdToken, TrustedPublishingToken } from "../src/hub/oidc.js";
import { redact } from "../src/util/redact.js";
import { startHubServer, type HubServer } from "./hub-server/index.js";
import { startOidcIssuer, type OidcIssuer } from "./oidc-issuer/server.js";

const REPO = "azbert/azbert-tiny";
const CLAIMS = { repository: "azbert/azbert", ref: "refs/tags/v1.2.0", workflow_ref: "azbert/azbert/.github/workflows/release.yml@refs/tags/v1.2.0" };
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

async function setup(publisher: Partial<{ repository: string; ref: string; workflow: string }> = {}, ttl?: number): Promise<{ hub: HubServer; issuer: OidcIssuer }> {
  const issuer = await startOidcIssuer({ claims: CLAIMS });
  const hub = await startHubServer({
    tokens: {},
    trustedPublishers: { [REPO]: { issuer: issuer.issuer, repository: "azbert/azbert", ref: "refs/tags/v1.2.0", workflow: "release.yml", ...publisher } },
    ...(ttl ? { oidcTokenTtlSeconds: ttl } : {}),
  });
  await hub.createRepo(REPO);
  stops.push(() => hub.stop(), () => issuer.close());
  return { hub, issuer };
}

const oidcOf = (issuer: OidcIssuer) => ({ requestUrl: issuer.requestUrl, requestToken: issuer.requestToken });

describe("Trusted Publishing (OIDC token exchange)", () => {
  it("exchanges the job's ID token, asked for the Hub's origin as audience, for a token that writes to that one repo", async () => {
    const { hub, issuer } = await setup();
    const idToken = await requestActionsIdToken({ oidc: oidcOf(issuer), audience: hub.url, fetch });
    expect(issuer.requests).toEqual([{ audience: hub.url, authorized: true }]);
    expect(jobIdentity(idToken)).toEqual({ issuer: issuer.issuer, repository: "azbert/azbert", ref: "refs/tags/v1.2.0", workflow: "release.yml" });
    const t = await exchangeForHubToken({ endpoint: hub.url, repoId: REPO, idToken, fetch });
    expect(t.token).toMatch(/^hf_jwt_/);
    expect(t.expiresAt - Date.now()).toBeGreaterThan(3500_000);
    const auth = { Authorization: `Bearer ${t.token}` };
    const who = (await (await fetch(`${hub.url}/api/whoami-v2`, { headers: auth })).json()) as { name: string; orgs: unknown[] };
    expect(who).toMatchObject({ name: "[OIDC]", orgs: [] });
    // It may write to its repo, and to no other.
    await hub.createRepo("azbert/other");
    const branch = (repo: string) => fetch(`${hub.url}/api/models/${repo}/branch/probe`, { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: "{}" });
    expect((await branch(REPO)).status).toBe(200);
    expect((await branch("azbert/other")).status).toBe(403);
    // Neither token survives the redactor.
    expect(redact(`id ${idToken} hub ${t.token}`)).not.toMatch(/hf_jwt_|eyJ/);
  });

  it("a claim that differs from the Trusted Publisher: refused with what to configure, read from the job's own claims, the token never shown", async () => {
    for (const publisher of [{ ref: "refs/heads/main" }, { workflow: "ci.yml" }, { repository: "someone/fork" }]) {
      const { hub, issuer } = await setup(publisher);
      const idToken = await requestActionsIdToken({ oidc: oidcOf(issuer), audience: hub.url, fetch });
      const err = (await exchangeForHubToken({ endpoint: hub.url, repoId: REPO, idToken, fetch }).catch((e: unknown) => e)) as Error;
      expect(err.message).toBe(
        `the Hub refused this job's OIDC token for ${REPO} (invalid_grant): add a Trusted Publisher in the repo's settings on the Hub (${hub.url}/${REPO}/settings → Trusted Publishers) matching this job exactly: provider GitHub Actions, repository azbert/azbert, workflow release.yml, ref refs/tags/v1.2.0 (issuer ${issuer.issuer})`,
      );
      expect(err.message).not.toContain(idToken);
      expect(hub.exchanges.map((x) => x.error)).toEqual(["invalid_grant"]);
    }
  });

  it("the Hub verifies what it is given: another audience, another issuer's key, an expired token are refused", async () => {
    const { hub, issuer } = await setup();
    const other = await startOidcIssuer({ claims: CLAIMS });
    stops.push(() => other.close());
    const now = Math.floor(Date.now() / 1000);
    const forged = other.sign({ ...CLAIMS, iss: issuer.issuer, aud: hub.url, exp: now + 60 });
    const wrongAud = issuer.sign({ ...CLAIMS, iss: issuer.issuer, aud: "https://elsewhere.test", exp: now + 60 });
    const expired = issuer.sign({ ...CLAIMS, iss: issuer.issuer, aud: hub.url, exp: now - 1 });
    for (const idToken of [forged, wrongAud, expired]) {
      await expect(exchangeForHubToken({ endpoint: hub.url, repoId: REPO, idToken, fetch })).rejects.toThrow(/invalid_grant/);
    }
    expect(hub.exchanges.map((x) => x.status)).toEqual([400, 400, 400]);
  });

  it("a job without id-token: write gets no ID token: the message says which permission to add", async () => {
    const { issuer } = await setup();
    await expect(requestActionsIdToken({ oidc: { ...oidcOf(issuer), requestToken: "wrong" }, audience: "https://hub.test", fetch })).rejects.toThrow(
      /answered 401: give the job `permissions: id-token: write`/,
    );
  });

  it("a token about to expire is exchanged again before a request goes out: no request meets a 401", async () => {
    const { hub, issuer } = await setup({}, 2);
    const tp = new TrustedPublishingToken({ oidc: oidcOf(issuer), endpoint: hub.url, repoId: REPO, fetch, marginMs: 1500 });
    const first = await tp.current();
    const f = tp.fetch(fetch);
    expect((await f(`${hub.url}/api/whoami-v2`, { headers: { Authorization: `Bearer ${first}` } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 800));
    // Within the margin now: the request held the first token and goes out with a new one.
    const res = await f(`${hub.url}/api/whoami-v2`, { headers: { Authorization: `Bearer ${first}` } });
    expect(res.status).toBe(200);
    expect(hub.exchanges.filter((x) => x.status === 200)).toHaveLength(2);
    expect(hub.requests.filter((r) => r.path === "/api/whoami-v2").map((r) => r.status)).toEqual([200, 200]);
    await new Promise((r) => setTimeout(r, 1400));
    // The first token itself is expired at the Hub by now.
    expect((await fetch(`${hub.url}/api/whoami-v2`, { headers: { Authorization: `Bearer ${first}` } })).status).toBe(401);
  });
});
