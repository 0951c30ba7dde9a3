import { describe, expect, it } from "vitest";
import { checkHubToken, chooseHubAuth, hubTokenPath, resolveHubCredentials } from "../../../src/hub/credentials.js";
import { trustedPublishingPermission } from "../../../src/hub/whoami-check.js";

const files = (m: Record<string, string>) => (p: string) => m[p];

describe("resolveHubCredentials", () => {
  it("HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the token file", () => {
    const f = files({ "/home/u/.cache/huggingface/token": "hf_fromFile123\n" });
    expect(resolveHubCredentials({ HF_TOKEN: "hf_a123456", HUGGING_FACE_HUB_TOKEN: "hf_b123456" }, "/home/u", f)).toMatchObject({ token: "hf_a123456", tokenSource: "HF_TOKEN" });
    expect(resolveHubCredentials({ HUGGING_FACE_HUB_TOKEN: "hf_b123456" }, "/home/u", f)).toMatchObject({ token: "hf_b123456", tokenSource: "HUGGING_FACE_HUB_TOKEN" });
    expect(resolveHubCredentials({}, "/home/u", f)).toMatchObject({ token: "hf_fromFile123", tokenSource: "token-file" });
    expect(resolveHubCredentials({ HF_TOKEN: "  " }, "/home/u", files({})).token).toBeUndefined();
  });
  it("honours HF_TOKEN_PATH, HF_HOME, XDG_CACHE_HOME", () => {
    expect(hubTokenPath({ HF_TOKEN_PATH: "~/t" }, "/h")).toBe("/h/t");
    expect(hubTokenPath({ HF_HOME: "/data/hf" }, "/h")).toBe("/data/hf/token");
    expect(hubTokenPath({ XDG_CACHE_HOME: "/c" }, "/h")).toBe("/c/huggingface/token");
    expect(hubTokenPath({}, "/h")).toBe("/h/.cache/huggingface/token");
  });
  it("endpoint from HF_ENDPOINT without trailing slash, default huggingface.co", () => {
    expect(resolveHubCredentials({}, "/h", files({})).endpoint).toBe("https://huggingface.co");
    expect(resolveHubCredentials({ HF_ENDPOINT: "http://127.0.0.1:8080/" }, "/h", files({})).endpoint).toBe("http://127.0.0.1:8080");
  });
  it("the check never shows the token; no token → skip saying what to set", () => {
    const pass = checkHubToken(resolveHubCredentials({ HF_TOKEN: "hf_secretValue99" }, "/h", files({})));
    expect(pass.status).toBe("pass");
    expect(JSON.stringify(pass)).not.toContain("hf_secretValue99");
    const skip = checkHubToken(resolveHubCredentials({}, "/h", files({})));
    expect(skip.status).toBe("skip");
    expect(skip.message).toMatch(/HF_TOKEN/);
    const bad = checkHubToken(resolveHubCredentials({ HF_TOKEN: "nothfsecret" }, "/h", files({})));
    expect(bad.status).toBe("fail");
    expect(bad.message).not.toContain("nothfsecret");
  });
});

describe("hub.auth: which Hub token a run uses", () => {
  const actions = { ACTIONS_ID_TOKEN_REQUEST_URL: "https://token.actions.example/_apis/token?api-version=2.0", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "request-token" };
  const oidc = { requestUrl: actions.ACTIONS_ID_TOKEN_REQUEST_URL, requestToken: actions.ACTIONS_ID_TOKEN_REQUEST_TOKEN };
  it("auto: a configured token wins; without one, Trusted Publishing when the job has an OIDC token; else none", () => {
    expect(chooseHubAuth("auto", { token: "hf_x123456" }, actions)).toEqual({ kind: "token" });
    expect(chooseHubAuth("auto", {}, actions)).toEqual({ kind: "oidc", oidc });
    expect(chooseHubAuth("auto", {}, { ACTIONS_ID_TOKEN_REQUEST_URL: actions.ACTIONS_ID_TOKEN_REQUEST_URL })).toEqual({ kind: "none" });
    expect(chooseHubAuth("auto", {}, {})).toEqual({ kind: "none" });
  });
  it("oidc: always the exchange, a configured token notwithstanding; without the Actions variables, an error naming the permission to add", () => {
    expect(chooseHubAuth("oidc", { token: "hf_x123456" }, actions)).toEqual({ kind: "oidc", oidc });
    const e = chooseHubAuth("oidc", { token: "hf_x123456" }, {});
    expect(e.kind).toBe("error");
    expect(e.kind === "error" && e.message).toMatch(/ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are unset\): give the release job `permissions: id-token: write`/);
  });
  it("token: never the exchange", () => {
    expect(chooseHubAuth("token", {}, actions)).toEqual({ kind: "none" });
    expect(chooseHubAuth("token", { token: "hf_x123456" }, actions)).toEqual({ kind: "token" });
  });
  it("the hub.token check of Trusted Publishing: passes naming the repo, fails with the reason there is no token, skips offline", () => {
    const base = { endpoint: "https://huggingface.co", tokenPath: "/h/t", tokenSource: "oidc" as const, oidcResource: "azbert/azbert-tiny" };
    const pass = checkHubToken({ ...base, token: "hf_jwt_exchanged" });
    expect(pass).toMatchObject({ status: "pass", message: "Trusted Publishing (OIDC) for azbert/azbert-tiny: the Hub exchanged this job's OIDC token for a token of that repo, endpoint https://huggingface.co" });
    expect(JSON.stringify(pass)).not.toContain("hf_jwt_exchanged");
    expect(checkHubToken({ ...base, tokenError: "the Hub refused this job's OIDC token" })).toMatchObject({ status: "fail", message: "the Hub refused this job's OIDC token" });
    expect(checkHubToken(base)).toMatchObject({ status: "skip" });
  });
  it("a Trusted Publishing token may write to its repo, which must exist (it cannot create one)", () => {
    expect(trustedPublishingPermission("azbert/azbert-tiny")).toMatchObject({ ok: true });
    expect(trustedPublishingPermission("azbert/azbert-tiny", true)).toMatchObject({ ok: false, detail: expect.stringMatching(/create the repo on the Hub, add this workflow as its Trusted Publisher/) as unknown });
  });
});
