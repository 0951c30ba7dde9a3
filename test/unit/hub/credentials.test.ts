import { describe, expect, it } from "vitest";
import { checkHubToken, hubTokenPath, resolveHubCredentials } from "../../../src/hub/credentials.js";

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
