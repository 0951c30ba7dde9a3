import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureReleaseTag, pushRelease } from "../src/git/index.js";
import {
  createGitHubClient,
  deleteDraftRelease,
  GitHubError,
  parseGitHubRemoteUrl,
  publishDraftRelease,
  renderReleaseNotes,
  resolveGitHubRepo,
  stageDraftRelease,
  verifyGitHubAccess,
  verifyOriginIsReleaseRepository,
  type LocalAsset,
} from "../src/github/index.js";
import { createHash } from "node:crypto";
import { loadConfig } from "../src/config.js";
import { packCheckpoint, type PackResult } from "../src/pack/index.js";
import { connectRemotes } from "../src/release/remotes.js";
import { resolveSettings } from "../src/release/settings.js";
import { githubProblems } from "../src/release/destinations/github.js";
import { UserError } from "../src/report.js";
import { startFakeGitHub, type FakeGitHub } from "./github-server/server.js";
import { commitFile, git, makeRepo, type Fixture } from "./git-helpers.js";
import { manifestOf } from "./pack-helpers.js";

const CKPT = path.resolve(import.meta.dirname, "fixtures", "azbert-tiny");
const TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
const tmp = mkdtempSync(path.join(tmpdir(), "azbert-gh-"));
let packed: PackResult;
const fixtures: Fixture[] = [];
/** The tests' own global git config (test/helpers/hermetic-env.ts); a test may swap it for a moment. */
const savedGlobal = process.env.GIT_CONFIG_GLOBAL!;
let gh: FakeGitHub | undefined;

beforeAll(async () => {
  packed = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: path.join(tmp, "out") });
});
afterEach(async () => {
  await gh?.close();
  gh = undefined;
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const f of fixtures) rmSync(f.root, { recursive: true, force: true });
});

/**
 * The local GitHub serving azbert/azbert from a repository's bare origin. Without `repo`: a new
 * repository whose release tag v0.1.0 is pushed (`tagged: false`: not pushed).
 */
async function server(opts: Parameters<typeof startFakeGitHub>[0] = {}, from: { repo?: Fixture; tagged?: boolean } = {}): Promise<FakeGitHub & { repo: Fixture; head: string }> {
  let repo = from.repo;
  if (!repo) {
    repo = makeRepo();
    fixtures.push(repo);
    if (from.tagged !== false) {
      git(repo.work, "tag", "-a", "v0.1.0", "-m", "Release v0.1.0");
      git(repo.work, "push", "-q", "origin", "v0.1.0");
    }
  }
  const head = git(repo.work, "rev-parse", "HEAD");
  gh = await startFakeGitHub({ token: TOKEN, repos: { "azbert/azbert": repo.origin }, ...opts });
  return Object.assign(gh, { repo, head });
}

type StageOpts = Parameters<typeof stageDraftRelease>[0];

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const asset = (file: string, name: string, contentType: string): LocalAsset => ({ path: file, name, size: readFileSync(file).length, sha256: sha256(file), contentType });

function client(s: FakeGitHub, token = TOKEN) {
  return createGitHubClient({ token, baseUrl: s.url, retryDelayMs: 0 });
}

function stageOpts(s: FakeGitHub, over: Partial<StageOpts> = {}): StageOpts {
  return {
    client: client(s),
    owner: "azbert",
    repo: "azbert",
    tag: "v0.1.0",
    targetCommitish: "main",
    name: "azbert v0.1.0",
    body: "notes",
    assets: [asset(packed.archive.path, "ckpt.tar.gz", "application/gzip"), asset(packed.sha256sums, "SHA256SUMS", "text/plain")],
    retryDelayMs: 0,
    ...over,
  };
}

function publishOpts(s: FakeGitHub & { head: string }, releaseId: number, over: Partial<Parameters<typeof publishDraftRelease>[0]> = {}) {
  return { client: client(s), owner: "azbert", repo: "azbert", releaseId, tag: "v0.1.0", commit: s.head, name: "azbert v0.1.0", body: "final notes", ...over };
}

describe("repository resolution", () => {
  it.each([
    ["https://github.com/azbert/azbert.git", "azbert", "azbert"],
    ["https://github.com/azbert/azbert", "azbert", "azbert"],
    ["https://x-access-token:ghs_secret@github.com/o/r.git", "o", "r"],
    ["git@github.com:o/r.git", "o", "r"],
    ["ssh://git@github.com/o/r.git", "o", "r"],
    ["ssh://git@ghe.example.com:2222/team/model.git", "team", "model"],
    ["https://ghe.example.com/team/model/", "team", "model"],
  ])("parses %s", (url, owner, repo) => {
    expect(parseGitHubRemoteUrl(url)).toEqual({ owner, repo });
  });
  it("rejects what is not owner/name", () => {
    expect(parseGitHubRemoteUrl("/srv/git/origin.git")).toBeUndefined();
    expect(parseGitHubRemoteUrl("https://github.com/only")).toBeUndefined();
  });
  it("GITHUB_REPOSITORY wins over the remote; errors are usage errors without secrets", () => {
    expect(resolveGitHubRepo({ env: { GITHUB_REPOSITORY: "a/b" }, remoteUrl: "git@github.com:o/r.git" })).toEqual({ owner: "a", repo: "b" });
    expect(resolveGitHubRepo({ remoteUrl: "git@github.com:o/r.git" })).toEqual({ owner: "o", repo: "r" });
    let err: unknown;
    try {
      resolveGitHubRepo({ remoteUrl: "https://u:hunter2hunter2@example.com/x" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as Error).message).not.toContain("hunter2");
  });
});

describe("verifyGitHubAccess", () => {
  it("passes with a good token, fails with a fix otherwise, skips offline", async () => {
    const s = await server();
    const client = createGitHubClient({ token: TOKEN, baseUrl: s.url, retryDelayMs: 0 });
    expect(await verifyGitHubAccess({ client, owner: "azbert", repo: "azbert" })).toEqual({ id: "github.access", title: "the GitHub token may create releases in azbert/azbert", status: "pass" });
    expect((await verifyGitHubAccess({ client, owner: "azbert", repo: "nope" })).message).toMatch(/azbert\/nope not found with this token \(404\)/);
    const bad = createGitHubClient({ token: "ghp_badbadbadbadbadbadbadbadbad000", baseUrl: s.url, retryDelayMs: 0 });
    expect((await verifyGitHubAccess({ client: bad, owner: "azbert", repo: "azbert" })).message).toMatch(/^GITHUB_TOKEN was refused \(401\)/);
    expect((await verifyGitHubAccess({ owner: "azbert", repo: "azbert" })).message).toMatch(/^GITHUB_TOKEN is not set/);
    expect((await verifyGitHubAccess({ owner: "azbert", repo: "azbert", offline: true })).status).toBe("skip");
  });

  it("a read-only token (permissions.push false) fails with what it lacks, and GitHub refuses its writes", async () => {
    const readOnly = "ghp_readonlyreadonlyreadonlyreadonly00";
    const s = await server({ readOnlyTokens: [readOnly] });
    const client = createGitHubClient({ token: readOnly, baseUrl: s.url, retryDelayMs: 0 });
    expect(await verifyGitHubAccess({ client, owner: "azbert", repo: "azbert" })).toEqual({
      id: "github.access",
      title: "the GitHub token may create releases in azbert/azbert",
      status: "fail",
      message: "the token can read azbert/azbert but not write to it: it needs contents: write to create releases",
    });
    const err = (await stageDraftRelease({ ...stageOpts(s), client }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(GitHubError);
    expect(err.message).toMatch(/^GitHub: creating the draft release v0\.1\.0 failed \(403\): .* — the token needs contents: write$/);
    expect(s.releases.size).toBe(0);
  });
});

describe("renderReleaseNotes", () => {
  it("renders the Hub commit, checklist summary and smoke table as Markdown", () => {
    const md = renderReleaseNotes({
      hubCommitUrl: "https://huggingface.co/azbert/azbert/commit/abc123",
      hubTag: "v0.1.0",
      checks: [
        { id: "files.required", title: "required files present", status: "pass" },
        { id: "card.metadata", title: "model card has metadata", status: "warn", message: "README.md: no license | field" },
        { id: "hub.token", title: "HF token", status: "skip", message: "offline" },
      ],
      smoke: {
        ok: true,
        device: "cpu",
        engine: "onnxruntime",
        cases: [{ text: "Proof by [MASK] that a|b", expect: ["induction"], status: "pass", masks: [{ top: [{ token: "induction", score: 0.931 }, { token: "contradiction", score: 0.03 }] }] }],
      },
    });
    expect(md).toContain("- Hugging Face Hub: [`v0.1.0`](https://huggingface.co/azbert/azbert/commit/abc123) in [huggingface.co/azbert/azbert](https://huggingface.co/azbert/azbert)");
    expect(md).toContain("mkdir ckpt && tar xzf ckpt.tar.gz -C ckpt --strip-components=1");
    expect(md).toContain("1 passed · 1 warning · 1 skipped");
    expect(md).toContain("- ⚠️ **model card has metadata**: README.md: no license \\| field");
    expect(md).toContain("| Proof by [MASK] that a\\|b | induction | induction (0.93), contradiction (0.03) | ✅ pass |");
    expect(md).toContain("Fill-mask: 1/1 cases pass (device `cpu`, engine `onnxruntime`).");
    expect(renderReleaseNotes({ checks: [] })).toContain("Not run.");
  });

  it("released by the workflow that attests them: the notes say how to check the attestation", () => {
    const attested = renderReleaseNotes({ checks: [], attestedRepository: "castorini/azbert" });
    expect(attested).toContain("## Provenance");
    expect(attested).toContain("```sh\ngh attestation verify ckpt.tar.gz --repo castorini/azbert\n```");
    // A release made elsewhere has no attestation: the notes do not promise one.
    expect(renderReleaseNotes({ checks: [] })).not.toContain("gh attestation verify");
  });
});

describe("push and GitHub release", () => {
  it("lands the branch and tag in the bare origin and the release with its assets in the API; a rerun changes nothing", async () => {
    const f = makeRepo();
    fixtures.push(f);
    const head = commitFile(f.work, "CHANGELOG.md", "## 0.1.0\n");
    const t = await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" });
    expect(t).toEqual({ tag: "v0.1.0", commit: head, created: true, annotated: true });
    const p = await pushRelease({ cwd: f.work, tag: "v0.1.0" });
    expect(p).toMatchObject({ commit: head, branch: { name: "main", status: "pushed" }, tag: { name: "v0.1.0", status: "pushed" } });
    expect(git(f.origin, "rev-parse", "refs/heads/main")).toBe(head);
    expect(git(f.origin, "rev-parse", "refs/tags/v0.1.0^{commit}")).toBe(head);
    expect(git(f.origin, "cat-file", "-t", "refs/tags/v0.1.0")).toBe("tag");

    const s = await server({}, { repo: f });
    const d = await stageDraftRelease(stageOpts(s));
    expect(d).toMatchObject({ draft: "created", uploaded: ["ckpt.tar.gz", "SHA256SUMS"], unchanged: [] });
    // A draft is invisible: not found by tag, its assets not downloadable by their public URL.
    const c = client(s);
    await expect(c.request("GET /repos/{owner}/{repo}/releases/tags/{tag}", { owner: "azbert", repo: "azbert", tag: "v0.1.0" })).rejects.toMatchObject({ status: 404 });
    expect((await fetch(`${s.url}/azbert/azbert/releases/download/v0.1.0/ckpt.tar.gz`, { redirect: "manual" })).status).toBe(404);
    const [rel] = [...s.releases.values()];
    expect(rel).toMatchObject({ id: d.releaseId, tag_name: "v0.1.0", name: "azbert v0.1.0", body: "notes", draft: true });
    const assets = s.assetsOf("v0.1.0");
    expect(assets.map((a) => a.name)).toEqual(["ckpt.tar.gz", "SHA256SUMS"]);
    expect(assets[0]!.bytes.equals(readFileSync(packed.archive.path))).toBe(true);
    expect(assets[0]!.content_type).toBe("application/gzip");
    expect(assets[0]!.label).toBe(`ckpt.tar.gz (sha256 ${packed.archive.sha256})`);
    expect(assets[1]!.bytes.equals(readFileSync(packed.sha256sums))).toBe(true);
    // As on GitHub, the bytes went to the upload host named by the release's upload_url.
    expect(s.requests.filter((q) => q.method === "POST").map((q) => `${q.host} ${q.path}`)).toEqual([
      "api /repos/azbert/azbert/releases",
      `uploads /repos/azbert/azbert/releases/${d.releaseId}/assets`,
      `uploads /repos/azbert/azbert/releases/${d.releaseId}/assets`,
    ]);
    // Staging the same draft again changes nothing.
    const writesBefore = s.writes().length;
    expect(await stageDraftRelease(stageOpts(s))).toMatchObject({ draft: "resumed", uploaded: [], unchanged: ["ckpt.tar.gz", "SHA256SUMS"], releaseId: d.releaseId });
    expect(s.writes().length).toBe(writesBefore);

    // Published in one step: notes and visibility together.
    const published = await publishDraftRelease(publishOpts(s, d.releaseId));
    expect(published).toEqual({ releaseId: d.releaseId, url: `${s.url}/azbert/azbert/releases/tag/v0.1.0`, immutable: false });
    expect(rel).toMatchObject({ draft: false, body: "final notes" });
    expect((await fetch(`${s.url}/azbert/azbert/releases/download/v0.1.0/ckpt.tar.gz`, { redirect: "manual" })).status).toBe(302);

    // Rerun: nothing new anywhere, and a published release is never given assets again.
    const refsBefore = git(f.origin, "for-each-ref");
    const writesAfter = s.writes().length;
    expect(await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" })).toMatchObject({ created: false, annotated: true });
    expect(await pushRelease({ cwd: f.work, tag: "v0.1.0" })).toMatchObject({ branch: { status: "unchanged" }, tag: { status: "unchanged" } });
    expect(git(f.origin, "for-each-ref")).toBe(refsBefore);
    await expect(stageDraftRelease(stageOpts(s))).rejects.toThrow(/already has a published release v0\.1\.0: it is not touched/);
    expect(s.writes().length).toBe(writesAfter);
    expect(s.releases.size).toBe(1);
  });

  it("creates a lightweight tag when no committer identity is configured (CI runners)", async () => {
    const f = makeRepo();
    fixtures.push(f);
    git(f.work, "config", "--unset", "user.email");
    process.env.GIT_CONFIG_GLOBAL = "/dev/null";
    try {
      const t = await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" });
      expect(t).toMatchObject({ created: true, annotated: false });
      expect(git(f.work, "cat-file", "-t", "refs/tags/v0.1.0")).toBe("commit");
    } finally {
      process.env.GIT_CONFIG_GLOBAL = savedGlobal;
    }
  });

  it("tags are signed when the user's config says so (tag.gpgsign with an ssh key)", async () => {
    const f = makeRepo();
    fixtures.push(f);
    const key = path.join(f.root, "key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", `${key}.pub`], ["tag.gpgsign", "true"]]) git(f.work, "config", k!, v!);
    expect(await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" })).toMatchObject({ created: true, annotated: true });
    expect(git(f.work, "cat-file", "-p", "refs/tags/v0.1.0")).toMatch(/^Release v0\.1\.0\n-----BEGIN SSH SIGNATURE-----/m);
  });

  it("tags that must be signed but cannot be: an error naming tag.gpgsign and the fix, and no tag", async () => {
    const f = makeRepo();
    fixtures.push(f);
    git(f.work, "config", "tag.gpgsign", "true");
    git(f.work, "config", "gpg.program", "false");
    const err = (await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /^cannot create the release tag v0\.1\.0: tag\.gpgsign is true, so it must be signed, and git could not sign it: .*gpg failed to sign.*\. Set up your signing key, or create the tag yourself \(`git tag -s v0\.1\.0 -m "Release v0\.1\.0"`\) and run the release again, or turn signing off for this repository \(`git config tag\.gpgsign false`\)$/,
    );
    // No identity at all: that is what the message says is missing.
    git(f.work, "config", "--unset", "user.email");
    process.env.GIT_CONFIG_GLOBAL = "/dev/null";
    try {
      await expect(ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" })).rejects.toThrow(/git has no committer identity to sign it with \(user\.name, user\.email\)/);
    } finally {
      process.env.GIT_CONFIG_GLOBAL = savedGlobal;
    }
    expect(git(f.work, "tag", "-l")).toBe("");
  });

  it("never forces: a moved origin or a tag elsewhere fails with a fix", async () => {
    const f = makeRepo();
    fixtures.push(f);
    const other = f.other();
    commitFile(other, "theirs.txt", "x");
    git(other, "push", "-q", "origin", "main");
    commitFile(f.work, "mine.txt", "y");
    await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" });
    const before = git(f.origin, "for-each-ref");
    await expect(pushRelease({ cwd: f.work, tag: "v0.1.0" })).rejects.toThrow(/git push to origin failed: .*origin\/main moved: `git pull`, then release/);
    expect(git(f.origin, "for-each-ref")).toBe(before); // atomic: the tag did not land either

    const g = makeRepo();
    fixtures.push(g);
    const o2 = g.other();
    git(o2, "tag", "v0.1.0");
    git(o2, "push", "-q", "origin", "v0.1.0");
    commitFile(g.work, "next.txt", "n");
    await expect(ensureReleaseTag({ cwd: g.work, tag: "v0.1.0" })).resolves.toMatchObject({ created: true });
    await expect(pushRelease({ cwd: g.work, tag: "v0.1.0" })).rejects.toThrow(/tag v0\.1\.0 already exists on origin at [0-9a-f]{7}, not at HEAD/);
  });

  it("pushes exactly the release branch and tag, whatever push.followTags would add", async () => {
    const f = makeRepo();
    fixtures.push(f);
    git(f.work, "config", "push.followTags", "true");
    git(f.work, "tag", "-a", "-m", "not for publishing", "wip-internal");
    commitFile(f.work, "release.txt", "r");
    await ensureReleaseTag({ cwd: f.work, tag: "v0.1.0" });
    await pushRelease({ cwd: f.work, tag: "v0.1.0" });
    expect(git(f.origin, "tag", "-l").split("\n")).toEqual(["v0.1.0"]);
    expect(git(f.origin, "rev-parse", "main")).toBe(git(f.work, "rev-parse", "HEAD"));
  });

  it("CI tag build: detached HEAD already on origin/main, tag pushed by CI: nothing to push", async () => {
    const f = makeRepo();
    fixtures.push(f);
    git(f.work, "tag", "v0.1.0");
    git(f.work, "push", "-q", "origin", "v0.1.0");
    const other = f.other();
    commitFile(other, "later.txt", "x");
    git(other, "push", "-q", "origin", "main");
    git(f.work, "fetch", "-q", "origin");
    git(f.work, "checkout", "-q", "--detach", "v0.1.0");
    const p = await pushRelease({ cwd: f.work, tag: "v0.1.0" });
    expect(p.branch).toMatchObject({ status: "unchanged", detail: expect.stringMatching(/already contains HEAD/) });
    expect(p.tag.status).toBe("unchanged");
  });

  it("a draft an earlier run left: its notes updated, an asset that differs replaced, the matching one kept", async () => {
    const s = await server();
    const first = await stageDraftRelease(stageOpts(s));
    const sums = path.join(tmp, "SHA256SUMS");
    const original = readFileSync(packed.sha256sums, "utf8");
    writeFileSync(sums, original.replace(/^./, (c) => (c === "0" ? "1" : "0"))); // same size, other bytes
    const r = await stageDraftRelease(stageOpts(s, { body: "new notes", assets: [asset(packed.archive.path, "ckpt.tar.gz", "application/gzip"), asset(sums, "SHA256SUMS", "text/plain")] }));
    expect(r).toMatchObject({ draft: "resumed", releaseId: first.releaseId, uploaded: ["SHA256SUMS"], unchanged: ["ckpt.tar.gz"] });
    expect(s.releases.get(first.releaseId)?.body).toBe("new notes");
    const assets = s.assetsOf("v0.1.0");
    expect(assets).toHaveLength(2);
    expect(assets.find((a) => a.name === "SHA256SUMS")!.bytes.toString("utf8")).toBe(readFileSync(sums, "utf8"));
    expect(s.writes().filter((w) => w.method === "DELETE")).toHaveLength(1);
  });

  it("without digests (an older GitHub Enterprise), an asset is held to its size: one of another size is replaced", async () => {
    const s = await server({ digests: false });
    await stageDraftRelease(stageOpts(s));
    for (const a of s.assets.values()) a.label = null;
    const writes = s.writes().length;
    expect(await stageDraftRelease(stageOpts(s))).toMatchObject({ uploaded: [], unchanged: ["ckpt.tar.gz", "SHA256SUMS"] });
    expect(s.writes().length).toBe(writes);
    const grown = path.join(tmp, "SHA256SUMS.grown");
    writeFileSync(grown, `${readFileSync(packed.sha256sums, "utf8")}\n`);
    expect(await stageDraftRelease(stageOpts(s, { assets: [asset(packed.archive.path, "ckpt.tar.gz", "application/gzip"), asset(grown, "SHA256SUMS", "text/plain")] }))).toMatchObject({
      uploaded: ["SHA256SUMS"],
      unchanged: ["ckpt.tar.gz"],
    });
  });

  it("publishing refuses a tag GitHub does not have (GitHub would make it from a branch) or has elsewhere, and leaves the draft a draft", async () => {
    const s = await server({}, { tagged: false });
    const d = await stageDraftRelease(stageOpts(s));
    const writes = s.writes().length;
    await expect(publishDraftRelease(publishOpts(s, d.releaseId))).rejects.toThrow(
      /^GitHub: azbert\/azbert has no tag v0\.1\.0: push it first \(GitHub would create it from a branch, which is not what was checked\)$/,
    );
    expect(s.writes().length).toBe(writes);
    expect(s.releases.get(d.releaseId)?.draft).toBe(true);
    // What GitHub itself does with a published release of a missing tag: a lightweight tag at the default branch, silently.
    commitFile(s.repo.work, "later.txt", "x");
    git(s.repo.work, "push", "-q", "origin", "main");
    await client(s).request("POST /repos/{owner}/{repo}/releases", { owner: "azbert", repo: "azbert", tag_name: "v9.9.9" });
    expect(git(s.repo.origin, "rev-parse", "refs/tags/v9.9.9")).toBe(git(s.repo.origin, "rev-parse", "main"));
    // A tag at another commit than the one released is refused too.
    git(s.repo.work, "tag", "v0.1.0", s.head);
    git(s.repo.work, "push", "-q", "origin", "v0.1.0");
    const moved = git(s.repo.work, "rev-parse", "HEAD");
    await expect(publishDraftRelease(publishOpts(s, d.releaseId, { commit: moved }))).rejects.toThrow(
      new RegExp(`^GitHub: tag v0\\.1\\.0 of azbert/azbert points at ${s.head.slice(0, 7)}, not at the released commit ${moved.slice(0, 7)}$`),
    );
    // Withdrawing removes the draft; a published release is never deleted this way.
    expect(await deleteDraftRelease({ client: client(s), owner: "azbert", repo: "azbert", releaseId: d.releaseId })).toBe("deleted");
    expect(s.releases.has(d.releaseId)).toBe(false);
    const published = [...s.releases.values()].find((r) => r.tag_name === "v9.9.9")!;
    await expect(deleteDraftRelease({ client: client(s), owner: "azbert", repo: "azbert", releaseId: published.id })).rejects.toThrow(/is published: it is never deleted/);
  });

  it("an upload that broke off (asset state starter) is replaced, on retry and on a rerun", async () => {
    const s = await server();
    s.fault({ host: "uploads", method: "POST", path: /\/assets$/, status: 502, leaveStarterAsset: true });
    const r = await stageDraftRelease(stageOpts(s));
    expect(r.uploaded).toEqual(["ckpt.tar.gz", "SHA256SUMS"]);
    expect(s.assetsOf("v0.1.0").map((a) => `${a.name}:${a.state}`).sort()).toEqual(["SHA256SUMS:uploaded", "ckpt.tar.gz:uploaded"]);
    // A starter asset left by an earlier run (same name) is deleted and uploaded again.
    const archive = s.assetsOf("v0.1.0").find((a) => a.name === "ckpt.tar.gz")!;
    Object.assign(archive, { state: "starter", size: 0 });
    const again = await stageDraftRelease(stageOpts(s));
    expect(again).toMatchObject({ uploaded: ["ckpt.tar.gz"], unchanged: ["SHA256SUMS"] });
    expect(s.assetsOf("v0.1.0").find((a) => a.name === "ckpt.tar.gz")!.bytes.equals(readFileSync(packed.archive.path))).toBe(true);
  });

  it("verification compares the release, the tag's commit on GitHub and the assets with what was recorded", async () => {
    const s = await server();
    const d = await stageDraftRelease(stageOpts(s));
    writeFileSync(path.join(s.repo.work, "release.config.json"), JSON.stringify({ github: { repository: "azbert/azbert" } }));
    const settings = await resolveSettings({ config: loadConfig({ cwd: s.repo.work }), overrides: { tag: "v0.1.0" }, env: { GITHUB_TOKEN: TOKEN, GITHUB_API_URL: s.url, AZBERT_RELEASE_RETRY_DELAY_MS: "1" } });
    const run = { remotes: await connectRemotes(settings) };
    const archive = d.assets.find((a) => a.name === "ckpt.tar.gz")!;
    const recorded = { commit: s.head, assets: [{ name: archive.name, size: archive.size, sha256: archive.sha256 }] };
    expect((await githubProblems(settings, run, recorded)).problems).toEqual(["the GitHub Release v0.1.0 of azbert/azbert is a draft, not published"]);
    await publishDraftRelease(publishOpts(s, d.releaseId));
    expect((await githubProblems(settings, run, recorded)).problems).toEqual([]);
    expect((await githubProblems(settings, run, { ...recorded, assets: [{ ...recorded.assets[0]!, size: archive.size + 1 }] })).problems).toEqual([
      `GitHub asset ckpt.tar.gz is ${archive.size} bytes, not ${archive.size + 1}`,
    ]);
    // Someone moved the tag on GitHub: the release no longer marks the released commit.
    const later = commitFile(s.repo.work, "later.txt", "x");
    git(s.repo.work, "push", "-q", "origin", "main");
    git(s.repo.work, "push", "-q", "--force", "origin", `${later}:refs/tags/v0.1.0`);
    expect((await githubProblems(settings, run, recorded)).problems).toEqual([`tag v0.1.0 of azbert/azbert points at ${later.slice(0, 7)}, not at the released commit ${s.head.slice(0, 7)}`]);
    s.releases.clear();
    expect((await githubProblems(settings, run, recorded)).problems).toEqual(["azbert/azbert has no GitHub Release v0.1.0"]);
  });

  it("retries a 5xx on the API and on an upload, once each, then succeeds", async () => {
    const s = await server();
    s.fault({ method: "GET", path: /\/releases\/tags\//, occurrence: 1, status: 502 });
    s.fault({ host: "uploads", method: "POST", path: /\/assets$/, occurrence: 1, status: 503 });
    const logs: string[] = [];
    const r = await stageDraftRelease(stageOpts(s, { log: (m: string) => logs.push(m) }));
    expect(r.uploaded).toEqual(["ckpt.tar.gz", "SHA256SUMS"]);
    const tagLookups = s.requests.filter((q) => q.path.includes("/releases/tags/"));
    expect(tagLookups.map((q) => q.status)).toEqual([502, 404]);
    const uploads = s.requests.filter((q) => q.host === "uploads");
    expect(uploads.map((q) => [q.query.name, q.status])).toEqual([
      ["ckpt.tar.gz", 503],
      ["ckpt.tar.gz", 201],
      ["SHA256SUMS", 201],
    ]);
    expect(s.assetsOf("v0.1.0")).toHaveLength(2);
    expect(s.assetsOf("v0.1.0")[0]!.bytes.equals(readFileSync(packed.archive.path))).toBe(true);
    expect(logs.join("\n")).toMatch(/uploading ckpt\.tar\.gz failed \(503\), retry 1\/3/);
  });

  it("gives up after bounded retries with a UserError", async () => {
    const s = await server();
    s.fault({ method: "GET", path: /\/releases\/tags\//, occurrence: 1, times: 10, status: 500 });
    const opts = stageOpts(s, { client: createGitHubClient({ token: TOKEN, baseUrl: s.url, retries: 2, retryDelayMs: 0 }) });
    await expect(stageDraftRelease(opts)).rejects.toThrow(/GitHub: looking up the release for v0\.1\.0 failed \(500\)/);
    expect(s.requests.filter((q) => q.path.includes("/releases/tags/"))).toHaveLength(3);
  });

  it("a bad token fails with a hint and never shows the token", async () => {
    const s = await server();
    const bad = "ghp_wrongwrongwrongwrongwrongwrong0000";
    const err = (await stageDraftRelease(stageOpts(s, { client: client(s, bad) })).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/\(401\).*check GITHUB_TOKEN/);
    expect(err.message).not.toContain(bad);
    expect(s.releases.size).toBe(0);
  });
});

describe("GitHub immutable releases (the local GitHub as github.com behaves)", () => {
  it("once published: no asset added or deleted, the tag neither moved nor deleted; deleted, its tag can never be used again", async () => {
    const s = await server({ immutableReleases: true });
    const c = client(s);
    const d = await stageDraftRelease(stageOpts(s));
    // Drafts stay mutable: assets can still change before publishing.
    expect(s.assetsOf("v0.1.0")).toHaveLength(2);
    expect((await c.request("GET /repos/{owner}/{repo}/immutable-releases", { owner: "azbert", repo: "azbert" })).data).toMatchObject({ enabled: true });
    const p = await publishDraftRelease(publishOpts(s, d.releaseId));
    expect(p.immutable).toBe(true);
    const rel = (await c.request("GET /repos/{owner}/{repo}/releases/{release_id}", { owner: "azbert", repo: "azbert", release_id: d.releaseId })).data as { immutable: boolean };
    expect(rel.immutable).toBe(true);
    // Assets are locked: uploading and deleting answer 422, as GitHub does.
    const upload = await fetch(`${s.uploadsUrl}/repos/azbert/azbert/releases/${d.releaseId}/assets?name=extra.txt`, {
      method: "POST",
      headers: { authorization: `token ${TOKEN}`, "content-type": "text/plain" },
      body: "extra",
    });
    expect(upload.status).toBe(422);
    expect(((await upload.json()) as { message: string }).message).toBe("Cannot upload assets to an immutable release.");
    const one = s.assetsOf("v0.1.0")[0]!;
    await expect(c.request("DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}", { owner: "azbert", repo: "azbert", asset_id: one.id })).rejects.toMatchObject({ status: 422 });
    // Only the title and the notes may change; the tag and the draft state may not.
    await c.request("PATCH /repos/{owner}/{repo}/releases/{release_id}", { owner: "azbert", repo: "azbert", release_id: d.releaseId, body: "edited notes" });
    await expect(c.request("PATCH /repos/{owner}/{repo}/releases/{release_id}", { owner: "azbert", repo: "azbert", release_id: d.releaseId, tag_name: "v0.1.1" })).rejects.toMatchObject({ status: 422 });
    // The tag is locked: neither the git refs API nor a push may move or delete it.
    await expect(c.request("DELETE /repos/{owner}/{repo}/git/refs/{ref}", { owner: "azbert", repo: "azbert", ref: "tags/v0.1.0" })).rejects.toMatchObject({ status: 422 });
    const moved = commitFile(s.repo.work, "later.txt", "x");
    const pushTag = (ref: string) => {
      try {
        execFileSync("git", ["push", "--force", "origin", ref], { cwd: s.repo.work, stdio: ["ignore", "pipe", "pipe"] });
        return "pushed";
      } catch (e) {
        return String((e as { stderr?: Buffer }).stderr);
      }
    };
    expect(pushTag(`${moved}:refs/tags/v0.1.0`)).toMatch(/GH013: Repository rule violations found for refs\/tags\/v0\.1\.0[\s\S]*cannot be moved or deleted/);
    expect(git(s.repo.origin, "rev-parse", "refs/tags/v0.1.0^{commit}")).toBe(s.head);

    // Deleted, the release burns its tag: a new release of it is refused at publishing, naming immutability.
    await c.request("DELETE /repos/{owner}/{repo}/releases/{release_id}", { owner: "azbert", repo: "azbert", release_id: d.releaseId });
    const again = await stageDraftRelease(stageOpts(s));
    await expect(publishDraftRelease(publishOpts(s, again.releaseId))).rejects.toThrow(/the tag was used by an immutable release \(deleted since\), and such a tag can never be used again\. Bump the version/);
    expect(s.releases.get(again.releaseId)?.draft).toBe(true);
  });

  it("a burned tag: deleting it works, creating it again does not, by push (GH013) or by the refs API", async () => {
    const s = await server({ immutableReleases: true });
    const c = client(s);
    const d = await stageDraftRelease(stageOpts(s));
    await publishDraftRelease(publishOpts(s, d.releaseId));
    await c.request("DELETE /repos/{owner}/{repo}/releases/{release_id}", { owner: "azbert", repo: "azbert", release_id: d.releaseId });
    expect(s.burnedTags.has("azbert/azbert:v0.1.0")).toBe(true);
    const push = (ref: string) => {
      try {
        execFileSync("git", ["push", "origin", ref], { cwd: s.repo.work, stdio: ["ignore", "pipe", "pipe"] });
        return "pushed";
      } catch (e) {
        return String((e as { stderr?: Buffer }).stderr);
      }
    };
    expect(push(":refs/tags/v0.1.0")).toBe("pushed");
    expect(push(`${s.head}:refs/tags/v0.1.0`)).toMatch(/GH013[\s\S]*Cannot create ref due to creations being restricted/);
    await expect(c.request("POST /repos/{owner}/{repo}/git/refs", { owner: "azbert", repo: "azbert", ref: "refs/tags/v0.1.0", sha: s.head })).rejects.toMatchObject({ status: 422 });
    expect(git(s.repo.origin, "tag", "-l")).toBe("");
  });
});

describe("the git remote is the GitHub repository of the Release", () => {
  it("passes for the repository's own remote; a fork or a push URL elsewhere fails before anything is written, naming both", async () => {
    const s = await server();
    const opts = { cwd: s.repo.work, remote: "origin", owner: "azbert", repo: "azbert", apiUrl: s.url, client: client(s) };
    expect(await verifyOriginIsReleaseRepository(opts)).toMatchObject({ id: "git.origin-repository", status: "pass" });
    const fork = makeRepo();
    fixtures.push(fork);
    git(s.repo.work, "remote", "set-url", "--push", "origin", `file://${fork.origin}`);
    const r = await verifyOriginIsReleaseRepository(opts);
    expect(r.status).toBe("fail");
    expect(r.message).toContain(`origin points at file://${fork.origin}, not at azbert/azbert`);
    git(s.repo.work, "remote", "set-url", "--push", "--delete", "origin", ".*");
    git(s.repo.work, "remote", "set-url", "origin", "https://github.com/someone/azbert.git");
    expect((await verifyOriginIsReleaseRepository({ ...opts, apiUrl: "https://api.github.com", client: undefined })).message).toMatch(
      /^origin points at https:\/\/github\.com\/someone\/azbert\.git, not at azbert\/azbert/,
    );
    git(s.repo.work, "remote", "set-url", "origin", "git@github.com:Azbert/azbert.git");
    expect((await verifyOriginIsReleaseRepository({ ...opts, apiUrl: "https://api.github.com", client: undefined })).status).toBe("pass");
  });
});
