import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  checkGitLfs,
  checkHubRemote,
  checkHubRepo,
  checkHubWhoami,
  createRetryFetch,
  ensureHubRemote,
  publishHubApi,
  publishHubGit,
} from "../src/hub/index.js";
import { buildManifest, SAMPLE_CKPT } from "./hub-helpers.js";
import { isolateGit, startHubServer, type HubServer } from "./hub-server/index.js";

isolateGit(); // every git this file starts: no user or system config, a fixed identity

const WRITE = "hf_writeTokenWWWWWWWWWWWWWWWWWWWW";
const READ = "hf_readOnlyTokenRRRRRRRRRRRRRRRRRR";
const FG_NS = "hf_fineGrainedNamespaceFFFFFFFFFFF";
const FG_OTHER = "hf_fineGrainedOtherRepoOOOOOOOOOOO";
const BAD = "hf_notAValidTokenXXXXXXXXXXXXXXXXX";
let hub: HubServer;
const f = createRetryFetch({ maxAttempts: 2, baseDelayMs: 5 });

beforeAll(async () => {
  hub = await startHubServer({
    tokens: {
      [WRITE]: { user: "alice", role: "write", orgs: ["azlab"] },
      [READ]: { user: "alice", role: "read", orgs: ["azlab"] },
      [FG_NS]: { user: "alice", role: "fineGrained", scoped: [{ entity: { type: "org", name: "azlab" }, permissions: ["repo.content.read", "repo.write"] }] },
      [FG_OTHER]: { user: "alice", role: "fineGrained", scoped: [{ entity: { type: "model", name: "azlab/other" }, permissions: ["repo.write"] }] },
    },
  });
  await hub.createRepo("azlab/azbert", { private: true });
});
afterAll(async () => hub?.stop());

const target = (token?: string, repoId = "azlab/azbert") => ({ endpoint: hub.url, repoId, token, fetch: f });
const uploadsOrCommits = (mark: number) =>
  hub.requests.slice(mark).filter((r) => r.method === "PUT" || /\/commit\/|objects\/batch|\/preupload\//.test(r.path));

describe("whoami preflight", () => {
  it("passes for a write token and a fine-grained token with repo.write on the org", async () => {
    expect((await checkHubWhoami(target(WRITE))).status).toBe("pass");
    const fg = await checkHubWhoami(target(FG_NS));
    expect(fg.status).toBe("pass");
    expect(fg.message).toMatch(/repo\.write on azlab/);
  });
  it("fails and names the missing permission", async () => {
    const ro = await checkHubWhoami(target(READ));
    expect(ro.status).toBe("fail");
    expect(ro.message).toMatch(/read-only.*write role.*repo\.write/);
    const other = await checkHubWhoami(target(FG_OTHER));
    expect(other.status).toBe("fail");
    expect(other.message).toMatch(/lacks the permission repo\.write on "azlab"/);
    const bad = await checkHubWhoami(target(BAD));
    expect(bad.status).toBe("fail");
    expect(bad.message).toMatch(/rejected the token \(401\)/);
    expect(JSON.stringify([ro, other, bad])).not.toMatch(/hf_[A-Za-z]{6,}/);
  });
  it("skips without a token, saying what to set", async () => {
    const r = await checkHubWhoami(target(undefined));
    expect(r.status).toBe("skip");
    expect(r.message).toMatch(/HF_TOKEN/);
  });
});

describe("a bad or read-only token fails before any upload", () => {
  it.each([
    ["bad", BAD, /refused the token \(401\)/],
    ["read-only", READ, /may not write to azlab\/azbert \(403\)/],
  ])("%s token", async (_name, token, re) => {
    const manifest = await buildManifest(SAMPLE_CKPT);
    const headBefore = await hub.store.branchHead("azlab/azbert", "main");
    expect(headBefore).toMatch(/^[0-9a-f]{40}$/);
    const mark = hub.requests.length;
    const check = await checkHubWhoami(target(token));
    expect(check.status).toBe("fail");
    // and even if the caller ignores the check, publish stops before sending a byte
    const err = await publishHubApi({ ...target(token), token, manifest }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain(token);
    expect(uploadsOrCommits(mark).filter((r) => r.status === 200 || r.method === "PUT" || /commit|batch/.test(r.path))).toEqual([]);
    expect(await hub.store.branchHead("azlab/azbert", "main")).toBe(headBefore); // no commit was made
  });
});

describe("repo preflight", () => {
  it("reports exists / will be created", async () => {
    const exists = await checkHubRepo(target(WRITE));
    expect(exists.status).toBe("pass");
    expect(exists.message).toMatch(/exists \(private, main at [0-9a-f]{12}\)/);
    const missing = await checkHubRepo({ ...target(WRITE, "azlab/new-one"), create: { private: true } });
    expect(missing.status).toBe("pass");
    expect(missing.message).toMatch(/will create it \(private\)/);
    const refused = await checkHubRepo({ ...target(WRITE, "azlab/new-one"), create: false });
    expect(refused.status).toBe("fail");
  });
});

describe("git remote preflight", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "proj-"));
    execFileSync("git", ["init", "-q", dir]);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  const o = () => ({ cwd: dir, remote: "hgf", endpoint: "https://huggingface.co", repoId: "azlab/azbert" });

  it("missing → warn, ensureHubRemote adds it, then pass", async () => {
    const r = await checkHubRemote(o());
    expect(r.status).toBe("warn");
    // The title states the rule, the message what was found: they never contradict.
    expect(r.title).toBe('git remote "hgf" must point at the Hub repo https://huggingface.co/azlab/azbert');
    expect(r.message).toBe('there is no remote "hgf" yet: the release will add it');
    expect((await ensureHubRemote(o())).status).toBe("added");
    expect((await checkHubRemote(o())).status).toBe("pass");
    expect((await ensureHubRemote(o())).status).toBe("unchanged");
  });
  it("accepts .git, user@ and hf.co forms; a mismatch fails without printing credentials", async () => {
    for (const url of ["https://huggingface.co/azlab/azbert.git", "https://alice:hf_secretSECRETsecret@huggingface.co/azlab/azbert", "https://hf.co/azlab/azbert/", "git@hf.co:azlab/azbert"]) {
      execFileSync("git", ["remote", "set-url", "hgf", url], { cwd: dir });
      expect((await checkHubRemote(o())).status, url).toBe("pass");
    }
    execFileSync("git", ["remote", "set-url", "hgf", "https://alice:hf_secretSECRETsecret@huggingface.co/azlab/other"], { cwd: dir });
    const r = await checkHubRemote(o());
    expect(r.status).toBe("fail");
    expect(r.message).toMatch(/^"hgf" points at https:\/\/huggingface\.co\/azlab\/other: fix it with `git remote set-url hgf https:\/\/huggingface\.co\/azlab\/azbert`/);
    expect(r.message).not.toMatch(/secret|alice:/);
    await expect(ensureHubRemote(o())).rejects.toThrow(/not https:\/\/huggingface.co\/azlab\/azbert/);
  });
  it("git-lfs is found", async () => {
    const r = await checkGitLfs({ transport: "git" });
    expect(r.status).toBe("pass");
    expect(r.message).toMatch(/git-lfs\/3/);
  });
});

describe("no token or presigned signature in any output", () => {
  it("errors, stdout and stderr stay clean through failures on presigned URLs and git", async () => {
    const manifest = await buildManifest(SAMPLE_CKPT);
    const out: string[] = [];
    const spyOut = vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    const spyErr = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    const messages: string[] = [];
    const signatures: string[] = [];
    const spy: typeof fetch = async (input, init) => {
      const u = String(input);
      const sig = /X-Amz-Signature=([0-9a-f]+)/.exec(u);
      if (sig) signatures.push(sig[1]!);
      return fetch(input, init);
    };
    // An endpoint that hangs up on every connection (not a port assumed to be closed).
    const hangUp = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, "127.0.0.1", resolve));
    const dead = `127.0.0.1:${(hangUp.address() as AddressInfo).port}`;
    try {
      hub.inject({ kind: "500", method: "PUT", path: "/lfs-storage/basic/azlab/azbert/", times: 10 });
      const e1 = await publishHubApi({ ...target(WRITE), token: WRITE, manifest, fetch: createRetryFetch({ maxAttempts: 2, baseDelayMs: 1, fetch: spy }) }).catch((e: Error) => e);
      messages.push((e1 as Error).message, String((e1 as Error).stack));
      const e2 = await publishHubGit({ cwd: process.cwd(), remote: "hgf", remoteUrl: `https://hf_user:${WRITE}@${dead}/azlab/azbert`, endpoint: `https://${dead}`, repoId: "azlab/azbert", token: WRITE, manifest }).catch(
        (e: Error) => e,
      );
      messages.push((e2 as Error).message, String((e2 as Error).stack));
    } finally {
      spyOut.mockRestore();
      spyErr.mockRestore();
      await new Promise<void>((resolve) => hangUp.close(() => resolve()));
    }
    expect(signatures.length).toBeGreaterThan(0);
    const all = [...messages, ...out].join("\n");
    expect(all).toMatch(/Hub failed \(500\)/);
    expect(all).not.toContain(WRITE);
    expect(all).not.toContain(Buffer.from(`hf_user:${WRITE}`).toString("base64"));
    for (const s of signatures) expect(all).not.toContain(s);
    expect(all).not.toMatch(/X-Amz-Signature=/);
  });
});
