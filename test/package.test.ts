// The toolkit as a package a model repository adopts: `npm pack` of this repository, installed
// into a fresh repository shaped like azbert's own (the model card is the repository's README.md,
// the checkpoint nested under ckpt/, a Python project with no package.json), then `init`,
// `check --tag`, `smoke`, a dry run, a full release against the local Hub and GitHub, and a rerun
// that changes nothing. Nothing of this repository but the packed tarball is used.
import { validateWorkflow } from "@action-validator/core";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot, sampleCkpt } from "./helpers/cli.js";
import { TEST_GIT_IDENTITY } from "./helpers/git-identity.js";
import { startFakeGitHub, type FakeGitHub } from "./github-server/server.js";
import { startHubServer, type HubServer } from "./hub-server/index.js";

const HF_TOKEN = "hf_packageTestWriter0123456789";
const GH_TOKEN = "ghp_packageTestTokenForLocalGitHub01";
const REPO_ID = "azbert/azbert-tiny";
const VERSION = (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

const root = mkdtempSync(path.join(os.tmpdir(), "azbert-package-"));
let cli = "";
let hub: HubServer;
let gh: FakeGitHub;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...TEST_GIT_IDENTITY, ...env } });
}
const git = (cwd: string, ...args: string[]) => sh("git", args, cwd).trim();

beforeAll(async () => {
  // The tarball as `npm pack` makes it (prepack and postpack as npm runs them; dist/ is built by `npm test`).
  const out = path.join(root, "pack");
  mkdirSync(out);
  sh(process.execPath, ["tools/bundle-runtime.mjs", "prepack"], repoRoot);
  try {
    sh("npm", ["pack", "--ignore-scripts", "--pack-destination", out], repoRoot);
  } finally {
    sh(process.execPath, ["tools/bundle-runtime.mjs", "postpack"], repoRoot);
  }
  const tarball = path.join(out, readdirSync(out).find((f) => f.endsWith(".tgz"))!);
  // Installed where a user would: its own folder, with none of this repository on the way.
  const tools = path.join(root, "tools");
  sh("npm", ["install", "--prefix", tools, "--no-audit", "--no-fund", "--prefer-offline", tarball], root, { npm_config_onnxruntime_node_install: "" });
  cli = path.join(tools, "node_modules", ".bin", "azbert-release");
  hub = await startHubServer({ tokens: { [HF_TOKEN]: { user: "azbert", role: "write" } } });
}, 240_000);

afterAll(async () => {
  await hub?.stop();
  await gh?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A repository as azbert's is: README.md the card (with its Hub link), ckpt/math-tokenizer/, ckpt/2-2-0/encoder.ckpt/, test.txt, a script; pushed to a bare origin. */
function seedRepository(name: string): { work: string; origin: string } {
  const work = path.join(root, name);
  const origin = path.join(root, `${name}-origin.git`);
  sh("git", ["init", "-q", "--bare", "-b", "main", origin], root);
  sh("git", ["init", "-q", "-b", "main", work], root);
  const tok = path.join(work, "ckpt", "math-tokenizer");
  const enc = path.join(work, "ckpt", "2-2-0", "encoder.ckpt");
  mkdirSync(tok, { recursive: true });
  mkdirSync(enc, { recursive: true });
  for (const f of ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]) cpSync(path.join(sampleCkpt, f), path.join(tok, f));
  for (const f of ["config.json", "pytorch_model.bin"]) cpSync(path.join(sampleCkpt, f), path.join(enc, f));
  writeFileSync(path.join(work, "README.md"), `${readFileSync(path.join(sampleCkpt, "README.md"), "utf8")}\nThe model is mirrored at https://huggingface.co/${REPO_ID}.\n`);
  writeFileSync(path.join(work, "test.txt"), "0\tProof by [MASK] that the sum converges.\n");
  writeFileSync(path.join(work, "upload2hgf.sh"), "#!/bin/sh\ngit push -f hgf tmp:main\n");
  git(work, "add", "-A");
  git(work, "commit", "-qm", "azbert");
  git(work, "remote", "add", "origin", `file://${origin}`);
  git(work, "push", "-q", "-u", "origin", "main");
  return { work, origin };
}

/** The installed CLI, in a child process: asynchronously, as the local servers answer from this one. */
function run(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cli, args, { cwd, env: { ...process.env, ...TEST_GIT_IDENTITY, CI: "true", NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the toolkit as a package, in a model repository", () => {
  it("init finds the nested checkpoint, the card and the Hub repo, writes the config, the workflow and .gitignore, and never overwrites without --force", async () => {
    const { work } = seedRepository("adopt");
    const first = await run(work, ["init"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Checkpoint: ckpt$/m);
    expect(first.stdout).toMatch(new RegExp(`^Hub repo: ${REPO_ID} \\(from a link in README\\.md\\)$`, "m"));
    expect(first.stdout).toMatch(/^Model card: README\.md$/m);
    expect(JSON.parse(readFileSync(path.join(work, "release.config.json"), "utf8"))).toEqual({ checkpoint: "ckpt", hub: { repoId: REPO_ID }, github: { outDir: "out" } });
    expect(readFileSync(path.join(work, ".gitignore"), "utf8")).toMatch(/^\/out\/$/m);
    const workflow = readFileSync(path.join(work, ".github", "workflows", "release.yml"), "utf8");
    // The validator's schema (0.6.0, the newest) predates the `attestations` permission; the rest is checked as written.
    expect(validateWorkflow(workflow.replace(/^ +attestations: write\n/m, "")).errors).toEqual([]);
    const wf = parse(workflow) as { on: Record<string, unknown>; jobs: Record<string, { permissions?: Record<string, string>; steps: Array<{ run?: string; env?: Record<string, string> }> }> };
    expect(Object.keys(wf.on).sort()).toEqual(["pull_request", "push"]);
    expect(wf.jobs.check!.steps.map((s) => s.run).filter(Boolean)).toEqual([`npx --yes azbert-release@${VERSION} check --offline`]);
    const release = wf.jobs.release!;
    expect(release.permissions).toMatchObject({ contents: "write", "id-token": "write" });
    const step = release.steps.find((s) => s.run?.includes(" release --yes"));
    expect(step?.run).toBe(`npx --yes azbert-release@${VERSION} release --yes`);
    // Trusted Publishing: no Hub token secret in the job; init says what to set on the Hub.
    expect(step?.env).toEqual({ GITHUB_TOKEN: "${{ github.token }}" });
    expect(first.stdout).toMatch(new RegExp(`On the Hub \\(${REPO_ID} → Settings → Trusted Publishers\\), add: provider GitHub Actions, repository <owner>/<name> of this GitHub repository, workflow release\\.yml, ref refs/tags/v\\*`));
    // Never the toolkit's own tests.
    expect(workflow).not.toMatch(/npm (ci|test)/);
    // Again: nothing is replaced, nothing added twice.
    const again = await run(work, ["init"]);
    expect(again.stdout).toMatch(/^kept release\.config\.json \(it exists: --force replaces it\)$/m);
    expect(readFileSync(path.join(work, ".gitignore"), "utf8").match(/\/out\//g)).toHaveLength(1);
    writeFileSync(path.join(work, "release.config.json"), "{}\n");
    expect((await run(work, ["init", "--force"])).stdout).toMatch(/^wrote release\.config\.json$/m);
    expect(JSON.parse(readFileSync(path.join(work, "release.config.json"), "utf8")).checkpoint).toBe("ckpt");
  });

  it("check --tag, smoke, a dry run, a full release and a rerun that changes nothing", async () => {
    const { work, origin } = seedRepository("release");
    expect((await run(work, ["init"])).code).toBe(0);
    git(work, "add", "-A");
    git(work, "commit", "-qm", "adopt azbert-release");
    git(work, "push", "-q", "origin", "main");
    gh = await startFakeGitHub({ token: GH_TOKEN, repos: { "azbert/azbert": origin } });
    const env = { HF_TOKEN, HF_ENDPOINT: hub.url, GITHUB_TOKEN: GH_TOKEN, GITHUB_API_URL: gh.url, GITHUB_REPOSITORY: "azbert/azbert", AZBERT_RELEASE_RETRY_DELAY_MS: "5", AZBERT_RELEASE_CACHE_DIR: path.join(root, "cache") };

    const check = await run(work, ["check", "--offline", "--tag", "v1.0.0", "--json"]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const checks = (JSON.parse(check.stdout) as { checks: Array<{ id: string; status: string; message?: string }> }).checks;
    expect(checks.find((c) => c.id === "git.tag-version")).toMatchObject({ status: "pass", message: "v1.0.0, from --tag; no package.json to compare with" });
    expect(checks.find((c) => c.id === "card.widget")?.status).toBe("pass");

    const smoke = await run(work, ["smoke", "--json"]);
    expect(smoke.code, smoke.stderr).toBe(0);
    expect((JSON.parse(smoke.stdout) as { cases: unknown[] }).cases).toHaveLength(5);

    const dry = await run(work, ["release", "--dry-run", "--tag", "v1.0.0"], env);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Dry run: nothing was changed\. Run `npx azbert-release release` to publish\./);

    const rel = await run(work, ["release", "--yes", "--tag", "v1.0.0"], env);
    expect(rel.code, rel.stdout + rel.stderr).toBe(0);
    const hubRepo = hub.repoDir(REPO_ID);
    const onHub = git(hubRepo, "ls-tree", "--name-only", "v1.0.0").split("\n").sort();
    expect(onHub).toEqual([".gitattributes", "README.md", "added_tokens.json", "config.json", "manifest.json", "model.safetensors", "pytorch_model.bin", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]);
    // The card published is the repository's README.md.
    expect(git(hubRepo, "show", "v1.0.0:README.md")).toContain(`mirrored at https://huggingface.co/${REPO_ID}`);
    expect([...gh.releases.values()].map((r) => [r.tag_name, r.draft])).toEqual([["v1.0.0", false]]);
    expect(existsSync(path.join(work, "out", "ckpt.tar.gz"))).toBe(true);

    const before = { hub: hub.requests.filter((r) => !["GET", "HEAD"].includes(r.method)).length, gh: gh.writes().length, refs: git(origin, "for-each-ref") };
    const again = await run(work, ["release", "--yes", "--tag", "v1.0.0"], env);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/v1\.0\.0 is already released and verified: nothing to do/);
    expect({ hub: hub.requests.filter((r) => !["GET", "HEAD"].includes(r.method)).length, gh: gh.writes().length, refs: git(origin, "for-each-ref") }).toEqual(before);
    for (const out of [rel.stdout, rel.stderr, again.stdout]) expect(out).not.toContain(HF_TOKEN);

    // The archive as a user unpacks it (the README's usage) is the checkpoint in its own layout:
    // every file where it lies in ckpt/, the card at the top, the safetensors beside the weights.
    const asset = gh.assetsOf("v1.0.0").find((a) => a.name === "ckpt.tar.gz")!;
    const restored = path.join(root, "restored");
    mkdirSync(restored);
    writeFileSync(path.join(root, "ckpt.tar.gz"), asset.bytes);
    sh("tar", ["xzf", path.join(root, "ckpt.tar.gz"), "-C", restored, "--strip-components=1"], root);
    const filesUnder = (dir: string): string[] => (readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{ isFile(): boolean; parentPath: string; name: string }>).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
    const ckptFiles = filesUnder(path.join(work, "ckpt"));
    expect(filesUnder(restored)).toEqual(["README.md", ...ckptFiles, "2-2-0/encoder.ckpt/model.safetensors"].sort());
    for (const f of ckptFiles) expect(readFileSync(path.join(restored, f)).equals(readFileSync(path.join(work, "ckpt", f))), f).toBe(true);
    // The card as the Hub has it (the release appends how to verify it).
    expect(readFileSync(path.join(restored, "README.md"), "utf8")).toBe(`${git(hubRepo, "show", "v1.0.0:README.md")}\n`);
    expect(readFileSync(path.join(restored, "README.md"), "utf8")).toContain(readFileSync(path.join(work, "README.md"), "utf8"));
    const hubManifest = JSON.parse(git(hubRepo, "show", "v1.0.0:manifest.json")) as { files: Array<{ path: string; sha256: string }> };
    const sha = createHash("sha256").update(readFileSync(path.join(restored, "2-2-0/encoder.ckpt/model.safetensors"))).digest("hex");
    expect(hubManifest.files.find((f) => f.path === "model.safetensors")?.sha256).toBe(sha);

    // `verify --tag` holds the flat Hub copy and the nested archive to one another.
    const verify = await run(work, ["verify", "--tag", "v1.0.0"], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);

    // The tag-push workflow on a fresh checkout: no journal, no out/, no hash cache. It finds the
    // release complete from the remotes alone and writes nothing.
    rmSync(path.join(work, ".git", "azbert-release"), { recursive: true, force: true });
    rmSync(path.join(work, "out"), { recursive: true, force: true });
    rmSync(path.join(root, "cache"), { recursive: true, force: true });
    const fresh = await run(work, ["release", "--yes", "--tag", "v1.0.0"], env);
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(fresh.stdout).toMatch(/v1\.0\.0 is already released and verified: nothing to do/);
    expect({ hub: hub.requests.filter((r) => !["GET", "HEAD"].includes(r.method)).length, gh: gh.writes().length, refs: git(origin, "for-each-ref") }).toEqual(before);
  });
});


