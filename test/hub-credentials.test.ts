// Credentials through the CLI, the way a user runs it: a token is never printed (any shape, any
// base64 form, in any output, report, step summary or journal), never sent in clear text off
// this machine, and given to git for the Hub's own origin only.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/release/journal.js";
import { clearSecrets, registerSecret } from "../src/util/redact.js";
import { runCli } from "./helpers/cli.js";
import { cleanups, git, HF_TOKEN, makeProject, REPO_ID } from "./helpers/release-project.js";
import { isolateGit } from "./hub-server/index.js";

isolateGit(); // every git this file starts: no user or system config, a fixed identity

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Every form of `token` that must never appear. */
function leaks(text: string, token: string): string[] {
  const forms = [token, b64(token), ...["hf_user:", "x-access-token:", "user:"].map((u) => b64(`${u}${token}`))];
  return forms.filter((f) => text.includes(f));
}

/** A GitHub API that echoes the credential back in its error, in clear and in base64 (as some proxies do). */
async function echoingGitHub(): Promise<string> {
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? "";
    const token = auth.replace(/^(token|Bearer)\s+/i, "");
    res.writeHead(400, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ message: `credential ${token} is not allowed here (${b64(`x-access-token:${token}`)}; ${auth})` }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("tokens are never printed", () => {
  it.each([
    ["ghp_", "ghp_0123456789abcdefABCDEF0123456789abcd"],
    ["ghs_", "ghs_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"],
    ["github_pat_", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN"],
    ["40-hex classic", "0123456789abcdef0123456789abcdef01234567"],
    ["arbitrary", "Zq8-not.a+known/shape"],
  ])("a %s GitHub token echoed by the server: redacted in the message, --json, stderr and the step summary", async (_shape, token) => {
    const p = await makeProject();
    const summary = path.join(p.root, "step-summary.md");
    const env = { GITHUB_TOKEN: token, GITHUB_API_URL: await echoingGitHub(), GITHUB_STEP_SUMMARY: summary };
    const r = await runCli(["release", "--dry-run", "--json"], { cwd: p.work, env: { ...p.env, ...env } });
    const report = JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; message?: string }> };
    const access = report.checks.find((c) => c.id === "github.access")!;
    expect(access.status).toBe("fail");
    expect(access.message).toMatch(/^cannot reach GitHub: credential \*\*\* is not allowed here \(\*\*\*; (token|Bearer) \*\*\*\)/);
    const all = [r.stdout, r.stderr, readFileSync(summary, "utf8")].join("\n");
    expect(leaks(all, token)).toEqual([]);
    expect(leaks(all, HF_TOKEN)).toEqual([]);
  });

  it("the journal is written through the redactor", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "journal-"));
    const token = "0123456789abcdef0123456789abcdef01234567";
    try {
      registerSecret(token);
      execFileSync("git", ["init", "-q", dir]);
      const j = await Journal.open(dir, "v1.0.0", "digest");
      const destination = { kind: "hub", endpoint: "https://example.test", repoId: "ns/name", revision: "main", transport: "api", mode: "commit" } as const;
      // A result whose strings carry the token (an echoing server) and a presigned URL.
      await j.record("hub", destination, { url: `https://example.test/x?sig=abc`, note: `echo ${token} / ${b64(`x-access-token:${token}`)}` } as never);
      const text = await readFile(j.file, "utf8");
      expect(leaks(text, token)).toEqual([]);
      expect(text).not.toContain("sig=abc");
    } finally {
      clearSecrets();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("plain http off loopback is refused before any request", () => {
  it.each([
    ["HF_ENDPOINT", "http://hub.example.test"],
    ["GITHUB_API_URL", "http://10.1.2.3:8080/api/v3"],
  ])("%s=%s: exit 2, saying the token would travel unencrypted", async (name, url) => {
    const p = await makeProject();
    for (const args of [["check"], ["release", "--dry-run"]]) {
      const r = await runCli(args, { cwd: p.work, env: { ...p.env, [name]: url } });
      expect(r.code).toBe(2);
      const host = new URL(url).host;
      expect(r.stderr).toBe(
        `azbert-release: ${name}=${new URL(url).origin} is plain http: the token would travel unencrypted to ${host}. Use https (plain http is allowed only for loopback addresses such as localhost or 127.0.0.1, for testing)\n`,
      );
      expect(r.stdout).toBe(""); // no checklist ran: nothing was contacted
    }
    expect(p.hub.requests).toEqual([]);
  });
});

describe("the git transport through the CLI", () => {
  it("the dry run checks git ls-remote of hgf with the scoped credential and says so in the plan", async () => {
    const p = await makeProject();
    // A repo that does not exist yet: created through the API first, then cloned.
    const fresh = await p.release("--dry-run", "--transport", "git");
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain(`git transport: ${p.hub.url}/${REPO_ID} does not exist yet: it would be created through the API, then cloned with git`);

    // A private repo: git must authenticate, through the helper scoped to the Hub's origin.
    await p.hub.createRepo(REPO_ID, { private: true });
    const head = await p.hub.store.branchHead(REPO_ID, "main");
    const mark = p.hub.requests.length;
    const r = await p.release("--dry-run", "--transport", "git", "--json");
    expect(r.code, r.stderr).toBe(0);
    const plan = (JSON.parse(r.stdout) as { plan: { hub: { git: { status: string; head: string; url: string; credentialOrigin: string } } } }).plan.hub.git;
    expect(plan).toEqual({ status: "reachable", head, url: `${p.hub.url}/${REPO_ID}`, credentialOrigin: p.hub.url });
    const refs = p.hub.requests.slice(mark).filter((x) => x.path === `/${REPO_ID}/info/refs`);
    expect(refs.map((x) => [x.status, x.authorization])).toEqual([
      [401, false],
      [200, true],
    ]);
    const human = await p.release("--dry-run", "--transport", "git");
    expect(human.stdout).toContain(`git transport: git ls-remote of hgf (${p.hub.url}/${REPO_ID}) answered (branch head ${head!.slice(0, 12)}); the Hub token is offered to ${p.hub.url} only`);
    expect(leaks(`${r.stdout}${r.stderr}${human.stdout}${human.stderr}`, HF_TOKEN)).toEqual([]);
  });

  it.each(["git", "api"])("release --yes --only hub --transport %s to a new repo: published, the storage host never saw a token", async (transport) => {
    const p = await makeProject();
    const r = await p.release("--yes", "--only", "hub", "--transport", transport, "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { steps: Array<{ id: string; status: string; transport?: string }> };
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual(["hub:done", "verify.download:done", "hub-tag:done", "verify:done"]);
    expect(report.steps[0]!.transport).toBe(transport);
    // Two LFS objects (pytorch_model.bin, model.safetensors), both sent to storage only, once: the
    // release commit on main reuses what the staged commit uploaded.
    expect(p.hub.requests.filter((x) => x.method === "PUT" && !x.path.startsWith("/api/")).map((x) => x.origin)).toEqual(["storage", "storage"]);
    // Created private, made public once released.
    expect(p.hub.requests.filter((x) => x.method === "PUT" && x.path === `/api/models/${REPO_ID}/settings`)).toHaveLength(1);
    expect((await p.hub.store.meta(REPO_ID)).private).toBe(false);
    expect(p.hub.storageAuthorizations).toEqual([]);
    expect(git(p.hub.repoDir(REPO_ID), "rev-parse", "refs/tags/v1.2.0^{commit}")).toBe(git(p.hub.repoDir(REPO_ID), "rev-parse", "main"));
    expect(leaks(`${r.stdout}${r.stderr}`, HF_TOKEN)).toEqual([]);
  });
});
