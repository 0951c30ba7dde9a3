// Trusted Publishing end to end: a release from a "GitHub Actions job" with no HF_TOKEN, whose
// OIDC token (from a local issuer standing for GitHub's) the local Hub exchanges for a token of the
// one repo. It publishes and tags through the exchange (API and git transports), a refused
// exchange stops it before any upload saying what to configure, a release that outlives the token
// renews it without one refused request, and no form of either token is written anywhere.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { cleanups, expectReleased, git, HF_TOKEN, makeProject, REPO_ID, TAG, type Project } from "./helpers/release-project.js";
import type { HubServerOptions } from "./hub-server/index.js";
import { startOidcIssuer, type OidcIssuer } from "./oidc-issuer/server.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const JOB = { repository: "azbert/azbert", ref: `refs/tags/${TAG}`, workflow_ref: `azbert/azbert/.github/workflows/release.yml@refs/tags/${TAG}` };
const CONFIGURE = `provider GitHub Actions, repository azbert/azbert, workflow release.yml, ref refs/tags/${TAG}`;

interface OidcProject {
  p: Project;
  issuer: OidcIssuer;
  /** The job's environment: the Actions OIDC variables, no Hub token. */
  env: NodeJS.ProcessEnv;
}

/** A project whose Hub repo exists with a Trusted Publisher (`publisher` overrides what it expects of the job). */
async function oidcProject(publisher: Partial<{ repository: string; ref: string; workflow: string }> = {}, hub: Partial<HubServerOptions> = {}): Promise<OidcProject> {
  const issuer = await startOidcIssuer({ claims: JOB });
  cleanups.push(() => issuer.close());
  const p = await makeProject({
    hub: { ...hub, trustedPublishers: { [REPO_ID]: { issuer: issuer.issuer, repository: JOB.repository, ref: JOB.ref, workflow: "release.yml", ...publisher } } },
  });
  // A Trusted Publisher is set in the settings of a repo that exists.
  await p.hub.createRepo(REPO_ID);
  const { HF_TOKEN: _none, ...rest } = p.env;
  const env = { ...rest, ACTIONS_ID_TOKEN_REQUEST_URL: issuer.requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken };
  return { p, issuer, env };
}

const release = (o: OidcProject, ...args: string[]) => runCli(["release", ...args], { cwd: o.p.work, env: o.env });

/** Every secret of the run: the job's request token, each ID token, each exchanged Hub token. */
function secretsOf(o: OidcProject): string[] {
  const hubTokens = o.p.hub.exchanges.flatMap((x) => (x.issued ? [x.issued] : []));
  return [o.issuer.requestToken, ...o.issuer.issued, ...hubTokens];
}

/** Each form a secret could be written in: as is, percent-encoded, base64 (plain, url, of HTTP Basic's `user:TOKEN`), hex. */
function formsOf(secret: string): string[] {
  const b = Buffer.from(secret);
  return [secret, encodeURIComponent(secret), b.toString("base64"), b.toString("base64url"), b.toString("hex"), Buffer.from(`hf_user:${secret}`).toString("base64")];
}

function filesUnder(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const f = path.join(dir, n);
    return statSync(f).isDirectory() ? filesUnder(f) : [f];
  });
}

/** Where any form of a secret was found: "<where>: <n-th secret>". */
function leaks(o: OidcProject, texts: Record<string, string>): string[] {
  const secrets = secretsOf(o);
  const found: string[] = [];
  for (const [where, text] of Object.entries(texts)) {
    secrets.forEach((s, i) => {
      if (formsOf(s).some((f) => text.includes(f))) found.push(`${where}: secret ${i}`);
    });
  }
  return found;
}

/** The requests that upload or change something on the Hub (LFS batch, preupload, commit, tag, branch, git push) or storage. */
function uploads(p: Project): string[] {
  return p.hub.requests.filter((r) => r.origin === "storage" || (r.method !== "GET" && r.method !== "HEAD" && r.path !== "/oauth/token")).map((r) => `${r.method} ${r.path}`);
}

describe("Trusted Publishing (OIDC) in the release", () => {
  it("with no HF_TOKEN, a GitHub Actions job publishes and tags through the exchange: the Hub commit is [OIDC]'s, a clone is the checkpoint, and no form of any token is written anywhere", async () => {
    const o = await oidcProject();
    const summary = path.join(o.p.root, "step-summary.md");
    const r = await runCli(["release", "--yes", "--json"], { cwd: o.p.work, env: { ...o.env, GITHUB_STEP_SUMMARY: summary } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { outcome: string; checks: Array<{ id: string; status: string; message?: string }> };
    expect(report.outcome).toBe("released");
    expect(report.checks.find((c) => c.id === "hub.token")).toMatchObject({ status: "pass", message: expect.stringMatching(new RegExp(`^Trusted Publishing \\(OIDC\\) for ${REPO_ID}:`)) as unknown });
    expect(report.checks.find((c) => c.id === "hub.whoami")).toMatchObject({ status: "pass", message: `Trusted Publishing token for ${REPO_ID}: the Hub exchanged this job's OIDC token for it` });
    // The job asked its ID token for the Hub's origin, and the Hub exchanged it for this repo.
    expect(o.issuer.requests.every((x) => x.audience === o.p.hub.url && x.authorized)).toBe(true);
    expect(o.p.hub.exchanges.map((x) => [x.resource, x.status])).toEqual([[REPO_ID, 200]]);
    await expectReleased(o.p);
    const hubRepo = o.p.hub.repoDir(REPO_ID);
    expect(git(hubRepo, "log", "-1", "--format=%an", "main")).toBe("[OIDC]");
    expect(git(hubRepo, "log", "-1", "--format=%an", `refs/tags/${TAG}^{commit}`)).toBe("[OIDC]");
    // Nothing answered 401, and no Hub credential went to storage.
    expect(o.p.hub.requests.filter((x) => x.status === 401)).toEqual([]);
    expect(o.p.hub.storageAuthorizations).toEqual([]);

    const written: Record<string, string> = { stdout: r.stdout, stderr: r.stderr, "step summary": readFileSync(summary, "utf8") };
    for (const f of [...filesUnder(path.join(o.p.work, ".git", "azbert-release")), ...filesUnder(path.join(o.p.work, "out"))]) written[path.relative(o.p.work, f)] = readFileSync(f, "latin1");
    expect(Object.keys(written).some((k) => k.startsWith(".git/azbert-release/journal-"))).toBe(true);
    expect(Object.keys(written)).toContain("out/ckpt.tar.gz");
    expect(secretsOf(o).length).toBeGreaterThanOrEqual(3);
    expect(leaks(o, written)).toEqual([]);
  });

  it.each([
    ["workflow", { workflow: "ci.yml" }],
    ["ref", { ref: "refs/heads/main" }],
  ] as const)("a Trusted Publisher whose %s differs from the job's: the release fails before any upload, naming what to configure on the Hub, never the token", async (_what, publisher) => {
    const o = await oidcProject(publisher);
    const r = await release(o, "--yes");
    expect(r.code, r.stderr).toBe(1);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toContain(`the Hub refused this job's OIDC token for ${REPO_ID} (invalid_grant)`);
    expect(out).toContain(`${o.p.hub.url}/${REPO_ID}/settings → Trusted Publishers`);
    expect(out).toContain(CONFIGURE);
    expect(out).toMatch(/Nothing was published/);
    expect(o.p.hub.exchanges.map((x) => x.error)).toEqual(["invalid_grant"]);
    // No LFS batch, preupload, commit or tag request reached the Hub, and nothing reached storage.
    expect(uploads(o.p)).toEqual([]);
    expect(git(o.p.origin, "tag", "-l")).toBe("");
    expect(leaks(o, { output: out })).toEqual([]);
  });

  it("a release that outlives its token (6 s at this Hub) is given a new one before it expires: one commit, no request answered 401", async () => {
    const o = await oidcProject({}, { oidcTokenTtlSeconds: 6 });
    // The LFS uploads wait 7 s at storage: the token the batch request carried has expired before the commit.
    o.p.hub.beforeRequest({ method: "POST", path: /\.git\/info\/lfs\/objects\/batch$/ }, () => o.p.hub.holdStoragePuts(1000, 7000));
    const r = await release(o, "--yes");
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const exchanged = o.p.hub.exchanges.filter((x) => x.status === 200);
    expect(exchanged.length).toBeGreaterThanOrEqual(2);
    expect(o.p.hub.exchanges.filter((x) => x.status !== 200)).toEqual([]);
    expect(o.p.hub.requests.filter((x) => x.status === 401).map((x) => `${x.method} ${x.path}`)).toEqual([]);
    // The commit came after the first token expired: a renewed one carried it.
    await expectReleased(o.p);
    expect(git(o.p.hub.repoDir(REPO_ID), "log", "-1", "--format=%an", "main")).toBe("[OIDC]");
    expect(leaks(o, { stdout: r.stdout, stderr: r.stderr })).toEqual([]);
  });

  it("the exchanged token refused mid-publish (the Trusted Publisher removed): the release stops before anything is visible, saying what to check on the Hub, not HF_TOKEN", async () => {
    const o = await oidcProject();
    o.p.hub.beforeRequest({ method: "POST", path: /\/commit\// }, () => o.p.hub.revokeExchangedTokens());
    const r = await release(o, "--yes");
    const out = `${r.stdout}${r.stderr}`;
    expect(r.code, out).toBe(1);
    expect(out).toContain("refused the token this job got through Trusted Publishing (401)");
    expect(out).toContain(`${o.p.hub.url}/${REPO_ID}/settings → Trusted Publishers`);
    expect(out).not.toContain("HF_TOKEN");
    expect(o.p.hub.requests.some((x) => x.status === 401 && x.method === "POST" && x.path.includes("/commit/"))).toBe(true);
    expect(git(o.p.origin, "tag", "-l")).toBe("");
    expect(leaks(o, { output: out })).toEqual([]);
  });

  it("--transport git with Trusted Publishing: git and git-lfs get the exchanged token from the scoped credential helper, and the release lands", async () => {
    const o = await oidcProject();
    const r = await release(o, "--yes", "--transport", "git");
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    await expectReleased(o.p);
    // The push was authorized by the exchanged token (there is no other: no HF_TOKEN in the job).
    const pushes = o.p.hub.requests.filter((x) => x.path.endsWith("/git-receive-pack") && x.method === "POST");
    expect(pushes.length).toBeGreaterThan(0);
    expect(pushes.every((x) => x.authorization && x.status === 200)).toBe(true);
    expect(o.p.hub.exchanges.filter((x) => x.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(o.p.hub.storageAuthorizations).toEqual([]);
    expect(leaks(o, { stdout: r.stdout, stderr: r.stderr })).toEqual([]);
  });

  it("check shows where the Hub token comes from; hub.auth oidc without the job's OIDC token fails naming the permission; hub.auth token never exchanges", async () => {
    const o = await oidcProject();
    const checks = async (env: NodeJS.ProcessEnv, ...args: string[]) => {
      const r = await runCli(["check", "--json", ...args], { cwd: o.p.work, env });
      return (JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; message?: string }> }).checks.find((c) => c.id === "hub.token")!;
    };
    expect(await checks(o.env)).toMatchObject({ status: "pass", message: expect.stringContaining(`Trusted Publishing (OIDC) for ${REPO_ID}`) as unknown });
    // A configured token wins in auto: nothing is exchanged.
    const before = o.p.hub.exchanges.length;
    expect(await checks({ ...o.env, HF_TOKEN })).toMatchObject({ status: "pass", message: "token from $HF_TOKEN, endpoint " + o.p.hub.url });
    // Offline, nothing is exchanged either.
    expect(await checks(o.env, "--offline")).toMatchObject({ status: "skip" });
    expect(o.p.hub.exchanges.length).toBe(before);

    const cfgPath = path.join(o.p.work, "release.config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as { hub: Record<string, unknown> };
    const withAuth = async (auth: string) => {
      cfg.hub.auth = auth;
      await import("node:fs/promises").then((fs) => fs.writeFile(cfgPath, JSON.stringify(cfg)));
    };
    await withAuth("oidc");
    const { ACTIONS_ID_TOKEN_REQUEST_URL: _u, ACTIONS_ID_TOKEN_REQUEST_TOKEN: _t, ...noOidc } = o.env;
    expect(await checks({ ...noOidc, HF_TOKEN }, "--offline")).toMatchObject({ status: "fail", message: expect.stringContaining("`permissions: id-token: write`") as unknown });
    await withAuth("token");
    expect(await checks(o.env)).toMatchObject({ status: "skip", message: expect.stringMatching(/^no Hub token: set HF_TOKEN/) as unknown });
    expect(o.p.hub.exchanges.length).toBe(before);
  });
});
