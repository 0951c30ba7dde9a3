import { describe, expect, it } from "vitest";
import { buildGitattributes, gitattributesPatternToRegExp, lfsPatterns, matchesLfsPattern } from "../../../src/hub/gitattributes.js";
import { hubWritePermission } from "../../../src/hub/whoami-check.js";
import { normalizeRemoteUrl, remoteMatchesRepo } from "../../../src/hub/remote-check.js";

describe("gitattributes", () => {
  it("globs match like git", () => {
    expect(gitattributesPatternToRegExp("*.bin").test("a/b/model.bin")).toBe(true);
    expect(gitattributesPatternToRegExp("events.out.*").test("logs/events.out.tfevents.1")).toBe(true);
    expect(gitattributesPatternToRegExp("saved_model/**/*").test("saved_model/x/y.pb")).toBe(true);
    expect(gitattributesPatternToRegExp("saved_model/**/*").test("other/saved_model/y.pb")).toBe(false);
    expect(matchesLfsPattern("vocab.txt", ["*.bin"])).toBe(false);
    expect(matchesLfsPattern("weird data.dat", ["weird[[:space:]]data.dat"])).toBe(true);
    expect(matchesLfsPattern("a*b.dat", ["a\\*b.dat"])).toBe(true);
    expect(matchesLfsPattern("axb.dat", ["a\\*b.dat"])).toBe(false);
  });
  it("builds the Hub default plus the release rules plus uncovered LFS files; idempotent", () => {
    const ga = buildGitattributes(undefined, ["weird data.dat"]);
    expect(lfsPatterns(ga)).toEqual(expect.arrayContaining(["*.bin", "*.safetensors", "events.out.*", "weird[[:space:]]data.dat"]));
    expect(buildGitattributes(ga, ["weird data.dat"])).toBe(ga);
    const user = "*.txt text\n";
    expect(buildGitattributes(user)).toBe("*.txt text\n*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\nevents.out.* filter=lfs diff=lfs merge=lfs -text\n");
  });
});

describe("hubWritePermission", () => {
  const who = (accessToken: object, orgs: string[] = []) => ({ name: "alice", orgs: orgs.map((name) => ({ name })), auth: { accessToken } });
  it("classic roles", () => {
    expect(hubWritePermission(who({ role: "write" }), "alice/m").ok).toBe(true);
    expect(hubWritePermission(who({ role: "write" }, ["lab"]), "lab/m").ok).toBe(true);
    expect(hubWritePermission(who({ role: "write" }), "bob/m")).toMatchObject({ ok: false });
    expect(hubWritePermission(who({ role: "read" }), "alice/m").detail).toMatch(/read-only/);
  });
  it("fine-grained scopes", () => {
    const fg = (scoped: object[]) => who({ role: "fineGrained", fineGrained: { scoped } });
    expect(hubWritePermission(fg([{ entity: { type: "user", name: "alice" }, permissions: ["repo.write"] }]), "alice/m").ok).toBe(true);
    expect(hubWritePermission(fg([{ entity: { type: "user", name: "alice" }, permissions: ["repo.content.read"] }]), "alice/m").detail).toMatch(/lacks the permission repo\.write/);
    const repoOnly = fg([{ entity: { type: "model", name: "alice/m" }, permissions: ["repo.write"] }]);
    expect(hubWritePermission(repoOnly, "alice/m").ok).toBe(true);
    expect(hubWritePermission(repoOnly, "alice/m", true).ok).toBe(false);
  });
});

describe("remote URLs", () => {
  it("normalizes and matches", () => {
    expect(normalizeRemoteUrl("https://user:pw@huggingface.co/ns/m.git")).toEqual({ host: "huggingface.co", path: "ns/m" });
    expect(normalizeRemoteUrl("git@hf.co:ns/m")).toEqual({ host: "hf.co", path: "ns/m" });
    expect(remoteMatchesRepo("http://127.0.0.1:8080/ns/m", "http://127.0.0.1:8080", "ns/m")).toBe(true);
    expect(remoteMatchesRepo("https://huggingface.co/ns/m2", "https://huggingface.co", "ns/m")).toBe(false);
  });
});
