// A release-ready project for end-to-end tests: a clone with a local bare `origin`, the local
// Hub and the local GitHub API, plus snapshots of everything a release could change.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { startFakeGitHub, type FakeGitHub } from "../github-server/server.js";
import { startHubServer, type HubServer, type HubServerOptions } from "../hub-server/index.js";
import { proveSafetensors } from "../../src/checkpoint/safetensors-writer.js";
import { readWeights } from "../../src/checkpoint/weights.js";
import { cloneWithLfs, treeHashes } from "../hub-helpers.js";
import { binPath, repoRoot, runCli, sampleCkpt } from "./cli.js";
import { TEST_GIT_IDENTITY } from "./git-identity.js";

export const HF_TOKEN = "hf_e2eWriterToken0123456789";
export const GH_TOKEN = "ghp_e2eTokenForTheLocalGitHubApi0123";
export const REPO_ID = "azbert/azbert-tiny";
export const TAG = "v1.2.0";

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...TEST_GIT_IDENTITY } }).trim();
}

export interface Project {
  root: string;
  work: string;
  origin: string;
  hub: HubServer;
  gh: FakeGitHub;
  env: NodeJS.ProcessEnv;
  release(...args: string[]): ReturnType<typeof runCli>;
}

/** Teardown work; the test file runs it after each test. */
export const cleanups: Array<() => Promise<void> | void> = [];

/** `hub`: options of the local Hub beyond the writer token (Trusted Publishers, a token lifetime). */
export async function makeProject(o: { hub?: Partial<HubServerOptions> } = {}): Promise<Project> {
  const root = mkdtempSync(path.join(os.tmpdir(), "azbert-e2e-"));
  const origin = path.join(root, "origin.git");
  const work = path.join(root, "work");
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", origin]);
  execFileSync("git", ["init", "-q", "-b", "main", work]);
  cpSync(sampleCkpt, path.join(work, "ckpt"), { recursive: true });
  cpSync(path.join(repoRoot, "test", "fixtures", "smoke-expectations.json"), path.join(work, "smoke-expectations.json"));
  writeFileSync(path.join(work, "package.json"), JSON.stringify({ name: "azbert-tiny-release", version: "1.2.0", private: true }, null, 2));
  writeFileSync(
    path.join(work, "release.config.json"),
    JSON.stringify({
      checkpoint: "ckpt",
      hub: { repoId: REPO_ID, remote: "hgf", revision: "main", transport: "api" },
      github: { remote: "origin", branch: "main", archive: "ckpt.tar.gz", outDir: "out" },
      smoke: { device: "cpu", topK: 5, expectations: "smoke-expectations.json" },
    }),
  );
  writeFileSync(path.join(work, ".gitignore"), "out/\n");
  git(work, "add", "-A");
  git(work, "-c", "user.email=e2e@azbert.local", "-c", "user.name=e2e", "commit", "-qm", "azbert-tiny 1.2.0");
  git(work, "remote", "add", "origin", `file://${origin}`);
  git(work, "push", "-q", "-u", "origin", "main");
  const hub = await startHubServer({ ...o.hub, tokens: { [HF_TOKEN]: { user: "azbert", role: "write" }, ...o.hub?.tokens } });
  // GitHub's azbert/azbert is the bare repository `origin` pushes to: its tags are GitHub's.
  const gh = await startFakeGitHub({ token: GH_TOKEN, repos: { "azbert/azbert": origin } });
  cleanups.push(() => hub.stop(), () => gh.close(), () => rmSync(root, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    HF_TOKEN,
    HF_ENDPOINT: hub.url,
    GITHUB_TOKEN: GH_TOKEN,
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: "azbert/azbert",
    AZBERT_RELEASE_CACHE_DIR: path.join(root, "cache"),
    AZBERT_RELEASE_RETRY_DELAY_MS: "5",
    GIT_AUTHOR_NAME: "e2e",
    GIT_AUTHOR_EMAIL: "e2e@azbert.local",
    GIT_COMMITTER_NAME: "e2e",
    GIT_COMMITTER_EMAIL: "e2e@azbert.local",
  };
  return { root, work, origin, hub, gh, env, release: (...args) => runCli(["release", ...args], { cwd: work, env }) };
}

/** A release running in the background: its output as it comes, and a way to wait for a line. */
export interface RunningRelease {
  /** Resolves with the output so far once `re` matches it (rejects if the process ends first). */
  waitFor(re: RegExp): Promise<string>;
  signal(sig: NodeJS.Signals): void;
  exit: Promise<{ code: number | null; output: string }>;
}

export function startRelease(p: Project, ...args: string[]): RunningRelease {
  const child = spawn(process.execPath, [binPath, "release", ...args], { cwd: p.work, env: { ...process.env, CI: "true", NO_COLOR: "1", ...p.env } });
  let output = "";
  const waiters: Array<{ re: RegExp; resolve: (s: string) => void; reject: (e: Error) => void }> = [];
  const onData = (d: Buffer) => {
    output += d.toString();
    for (const w of [...waiters]) if (w.re.test(output)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(output));
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exit = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on("close", (code) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`the release ended (code ${code}) before printing ${w.re}:\n${output}`));
      resolve({ code, output });
    }),
  );
  return {
    waitFor: (re) => (re.test(output) ? Promise.resolve(output) : new Promise((resolve, reject) => waiters.push({ re, resolve, reject }))),
    signal: (sig) => void child.kill(sig),
    exit,
  };
}

/** The journal of the release of TAG, as the file holds it. */
export function readJournal(p: Project): { entries: Array<{ step: string; destination: Record<string, string>; result: Record<string, unknown> }> } {
  return JSON.parse(readFileSync(path.join(p.work, ".git", "azbert-release", `journal-${TAG}.json`), "utf8")) as ReturnType<typeof readJournal>;
}

/** Everything a release could change, local and remote. */
export function snapshot(p: Project) {
  const hubRepo = p.hub.repoDir(REPO_ID);
  const hubExists = existsSync(hubRepo);
  return {
    originRefs: git(p.origin, "for-each-ref", "--format=%(refname) %(objectname)"),
    workStatus: git(p.work, "status", "--porcelain", "--ignored"),
    workRemotes: git(p.work, "remote", "-v"),
    workTags: git(p.work, "tag", "-l"),
    workHead: git(p.work, "rev-parse", "HEAD"),
    outExists: existsSync(path.join(p.work, "out")),
    hubRefs: hubExists ? git(hubRepo, "for-each-ref", "--format=%(refname) %(objectname)") : "(no repo)",
    hubWrites: p.hub.requests.filter((r) => !["GET", "HEAD"].includes(r.method)).length,
    githubWrites: p.gh.writes().length,
    releases: [...p.gh.releases.values()].map((r) => r.tag_name),
    assets: [...p.gh.assets.values()].map((a) => `${a.name}:${a.size}`).sort(),
  };
}

/** The Hub commit's subject for a release of the source commit `head`. */
export function releaseSubject(head: string): string {
  return `Release ${TAG} (azbert/azbert@${head.slice(0, 7)})`;
}

/** The state a finished release must leave, whatever happened on the way. */
export async function expectReleased(p: Project) {
  const hubRepo = p.hub.repoDir(REPO_ID);
  const hubMain = git(hubRepo, "rev-parse", "refs/heads/main");
  // One release commit on the Hub (on top of the repo's initial commit, if the Hub made one).
  const log = git(hubRepo, "log", "--format=%s", "main").split("\n");
  const head = git(p.work, "rev-parse", "HEAD");
  // It names the source it was released from, and links that commit on GitHub.
  expect(log.filter((s) => s === releaseSubject(head))).toHaveLength(1);
  expect(git(hubRepo, "log", "-1", "--format=%b", `refs/tags/${TAG}^{commit}`)).toBe(`Source: ${p.gh.url}/azbert/azbert/commit/${head}`);
  expect(git(hubRepo, "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(hubMain);
  // A clone of the Hub repo, with LFS, is the checkpoint byte for byte, plus model.safetensors
  // (equal to pytorch_model.bin tensor for tensor) and manifest.json (every other file's sha256).
  const clone = await cloneWithLfs(hubRepo);
  cleanups.push(() => rmSync(clone, { recursive: true, force: true }));
  const got = await treeHashes(clone);
  const { [".gitattributes"]: _ga, ["model.safetensors"]: safetensors, ["manifest.json"]: manifest, ["README.md"]: _card, ["model.sig"]: _sig, ...checkpoint } = got;
  const { ["README.md"]: _sampleCard, ...sample } = await treeHashes(sampleCkpt);
  expect(checkpoint).toEqual(sample);
  // The card as it is, and a section on how to verify the release after it.
  const card = readFileSync(path.join(clone, "README.md"), "utf8");
  expect(card.startsWith(readFileSync(path.join(sampleCkpt, "README.md"), "utf8").replace(/\n*$/, "\n"))).toBe(true);
  expect(card).toMatch(/\n## Verify this model\n[\s\S]*npx azbert-release verify --tag v1\.2\.0/);
  expect(safetensors).toMatch(/^[0-9a-f]{64}$/);
  const bin = await readWeights(path.join(sampleCkpt, "pytorch_model.bin"));
  expect(await proveSafetensors(bin, path.join(clone, "model.safetensors"))).toMatchObject({ tensors: 47, aliases: 2 });
  expect(manifest).toMatch(/^[0-9a-f]{64}$/);
  const listed = (JSON.parse(readFileSync(path.join(clone, "manifest.json"), "utf8")) as { files: Array<{ path: string; sha256: string }> }).files;
  const { ["manifest.json"]: _self, [".gitattributes"]: _ga2, ["model.sig"]: _sig2, ...published } = got;
  expect(Object.fromEntries(listed.map((f) => [f.path, f.sha256]))).toEqual(published);
  expect(listed.map((f) => f.path)).toEqual(Object.keys(published).sort());
  expect(readFileSync(path.join(clone, ".gitattributes"), "utf8")).toMatch(/\*\.bin filter=lfs/);
  // The tag on origin marks the released commit.
  expect(git(p.origin, "rev-parse", `refs/tags/${TAG}^{commit}`)).toBe(head);
  expect(git(p.origin, "rev-parse", "refs/heads/main")).toBe(head);
  // One GitHub release with the archive we packed, byte for byte.
  expect([...p.gh.releases.values()].map((r) => r.tag_name)).toEqual([TAG]);
  const assets = p.gh.assetsOf(TAG);
  // The signature, when the release signs, is attached beside them (release-signing.test.ts).
  expect(assets.map((a) => a.name).filter((n) => n !== "model.sig").sort()).toEqual(["SHA256SUMS", "ckpt.tar.gz", "manifest.json"]);
  const archive = readFileSync(path.join(p.work, "out", "ckpt.tar.gz"));
  expect(createHash("sha256").update(assets.find((a) => a.name === "ckpt.tar.gz")!.bytes).digest("hex")).toBe(createHash("sha256").update(archive).digest("hex"));
  const release = [...p.gh.releases.values()][0]!;
  expect(release.draft).toBe(false);
  expect(release.body).toContain(hubMain.slice(0, 7));
  // Nothing staged is left: no staging branch on the Hub, and a repo the release created is public.
  expect(git(hubRepo, "for-each-ref", "--format=%(refname)", "refs/heads/")).toBe("refs/heads/main");
  expect((await p.hub.store.meta(REPO_ID)).private).toBe(false);
}

