// The git transport against the local Hub over git smart HTTP, with the Hub's topology: LFS bytes
// go to a separate storage host that refuses (and records) any Authorization header.
import { execFileSync } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRetryFetch, publishHubApi, publishHubGit, verifyHubRevision, type PublishGitOptions } from "../src/hub/index.js";
import { buildManifest, cleanupScratch, cloneWithLfs, manifestHashes, SAMPLE_CKPT, scratchCopy, treeHashes } from "./hub-helpers.js";
import { startHubServer, type HubServer } from "./hub-server/index.js";
import { git, hermeticGitEnv, isolateGit } from "./hub-server/git.js";

isolateGit(); // every git this file starts: no user or system config, a fixed identity

const TOKEN = "hf_writeTokenGGGGGGGGGGGGGGGGGGGG";
const READ = "hf_readTokenRRRRRRRRRRRRRRRRRRRRR";
let hub: HubServer;
let tmp: string;
const api = (repoId: string) => ({ endpoint: hub.url, repoId, token: TOKEN, fetch: createRetryFetch({ maxAttempts: 2, baseDelayMs: 5 }) });

beforeAll(async () => {
  hub = await startHubServer({ tokens: { [TOKEN]: { user: "alice", role: "write" }, [READ]: { user: "alice", role: "read" } } });
  tmp = await mkdtemp(path.join(os.tmpdir(), "hub-git-test-"));
});
afterAll(async () => {
  await hub?.stop();
  await cleanupScratch();
  await rm(tmp, { recursive: true, force: true });
});

/** A project work tree whose `hgf` remote is the Hub repo over HTTP. */
async function project(repoId: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, "proj-"));
  await git(["init", "-q", dir]);
  await git(["remote", "add", "hgf", `${hub.url}/${repoId}`], { cwd: dir });
  return dir;
}

async function options(repoId: string, extra: Partial<PublishGitOptions> = {}): Promise<PublishGitOptions> {
  return {
    cwd: await project(repoId),
    remote: "hgf",
    endpoint: hub.url,
    repoId,
    token: TOKEN,
    manifest: await buildManifest(SAMPLE_CKPT),
    tag: "v1.2.0",
    createRepo: true,
    fetch: createRetryFetch({ maxAttempts: 2, baseDelayMs: 5 }),
    env: hermeticGitEnv(),
    ...extra,
  };
}

describe("git transport over smart HTTP, LFS on a separate storage host", () => {
  it("creates a missing repo through the API, publishes, re-publishes as a no-op, updates one file, refuses races, tags", async () => {
    const repoId = "alice/git-transport";
    expect(hub.store.exists(repoId)).toBe(false);
    const warnings: string[] = [];
    const opts = await options(repoId, { private: true, onWarning: (w: string) => warnings.push(w) });
    const manifest = opts.manifest;
    const mark = hub.requests.length;

    const first = await publishHubGit(opts);
    expect(first.status).toBe("done");
    expect(first.tag).toEqual({ tag: "v1.2.0", status: "created", commit: first.commit });
    expect(await hub.store.branchHead(repoId, "main")).toBe(first.commit);
    expect((await hub.store.meta(repoId)).private).toBe(true);
    // the repo was created through the API before git touched it; git and git-lfs spoke HTTP to the Hub
    const run = hub.requests.slice(mark);
    expect(run.findIndex((r) => r.path === "/api/repos/create")).toBeLessThan(run.findIndex((r) => r.path.endsWith("/info/refs")));
    expect(run.some((r) => r.path.endsWith("/git-receive-pack") && r.status === 200)).toBe(true);
    // the weights went to the storage host, without the token
    expect(run.filter((r) => r.method === "PUT").map((r) => [r.origin, r.status])).toEqual([["storage", 200]]);
    expect(hub.storageAuthorizations).toEqual([]);

    // the Hub API sees exactly our bytes; a git clone with LFS gives them back
    const v = await verifyHubRevision({ ...api(repoId), revision: first.commit, manifest, gitattributes: first.plan.gitattributes });
    expect(v.mismatches).toEqual([]);
    const clone = await cloneWithLfs(hub.repoDir(repoId));
    const got = await treeHashes(clone);
    delete got[".gitattributes"];
    expect(got).toEqual(manifestHashes(manifest));
    await rm(clone, { recursive: true, force: true });

    // the API transport agrees: nothing to do
    const viaApi = await publishHubApi({ ...api(repoId), manifest, tag: "v1.2.0" });
    expect(viaApi.status).toBe("unchanged");
    expect(viaApi.tag?.status).toBe("unchanged");

    // no-op
    const again = await publishHubGit(opts);
    expect(again.status).toBe("unchanged");
    expect(again.commit).toBe(first.commit);
    expect(again.tag?.status).toBe("unchanged");

    // one changed file, and one new file with the same bytes as the weights (one LFS object)
    const dir = await scratchCopy();
    await writeFile(path.join(dir, "config.json"), '{"hidden_size": 8}\n');
    await copyFile(path.join(dir, "pytorch_model.bin"), path.join(dir, "events.out.tfevents.copy"));
    const changed = await buildManifest(dir);
    const second = await publishHubGit({ ...opts, manifest: changed, tag: "v1.2.1" });
    expect(second.uploaded).toEqual(["config.json", "events.out.tfevents.copy"]);
    expect((await verifyHubRevision({ ...api(repoId), revision: second.commit, manifest: changed })).ok).toBe(true);

    // a tag already elsewhere is refused
    const e1 = await publishHubGit({ ...opts, manifest: changed, tag: "v1.2.0" }).catch((e: Error) => e);
    expect((e1 as Error).message).toMatch(/tag v1\.2\.0 already exists/);

    // someone pushed after the plan was shown → refused, nothing overwritten
    const racer = await hub.store.commit(repoId, "main", { summary: "racer" }, [{ kind: "file", path: "RACE.md", content: Buffer.from("y\n") }]);
    const e2 = await publishHubGit({ ...opts, tag: "v1.2.2", plan: second.plan }).catch((e: Error) => e);
    expect((e2 as Error).message).toMatch(/moved since the plan/);
    expect(await hub.store.branchHead(repoId, "main")).toBe(racer.commitOid);

    // someone pushes between our clone and our push: the push is rejected (no force), nothing overwritten
    let racer2 = "";
    const bare = hub.repoDir(repoId);
    const racing = await publishHubGit({
      ...opts,
      tag: "v1.3.0",
      onProgress: (e) => {
        if (e.phase !== "uploading" || racer2) return;
        const env = hermeticGitEnv();
        const tree = execFileSync("git", ["rev-parse", "main^{tree}"], { cwd: bare, env }).toString().trim();
        racer2 = execFileSync("git", ["commit-tree", tree, "-p", "main", "-m", "racer 2"], { cwd: bare, env }).toString().trim();
        execFileSync("git", ["update-ref", "refs/heads/main", racer2], { cwd: bare, env });
      },
    }).catch((e: Error) => e);
    expect(racer2).toMatch(/^[0-9a-f]{40}$/);
    expect((racing as Error).message).toMatch(/rejected: the branch moved/);
    expect(await hub.store.branchHead(repoId, "main")).toBe(racer2);
    expect(warnings).toEqual([]);

    // force is explicit and loud
    const forced = await publishHubGit({ ...opts, tag: "v1.3.0", force: true });
    expect(forced.status).toBe("done");
    expect(warnings.join("\n")).toMatch(/force-pushing alice\/git-transport@main/);
    expect((await verifyHubRevision({ ...api(repoId), revision: forced.commit, manifest })).ok).toBe(true);
    expect(hub.storageAuthorizations).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it("the token is in no git command line and no URL; the user's credential helpers never see it", async () => {
    // Every git (and the git git-lfs runs) goes through a wrapper that logs its arguments.
    const bin = path.join(tmp, "bin");
    const log = path.join(tmp, "git-argv.log");
    const store = path.join(tmp, "user-credential-store");
    await mkdir(bin, { recursive: true });
    const realGit = execFileSync("sh", ["-c", "command -v git"]).toString().trim();
    await writeFile(path.join(bin, "git"), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${log}"\nexec "${realGit}" "$@"\n`);
    await chmod(path.join(bin, "git"), 0o755);
    const globalConfig = path.join(tmp, "user-gitconfig-helper");
    await writeFile(globalConfig, `[credential]\n\thelper = store --file ${store}\n`);
    const env = { ...hermeticGitEnv(), PATH: `${bin}:${process.env.PATH}`, GIT_CONFIG_GLOBAL: globalConfig };
    // two files with the same bytes in one commit: one LFS object
    const dir = await scratchCopy();
    await copyFile(path.join(dir, "pytorch_model.bin"), path.join(dir, "events.out.tfevents.copy"));
    const res = await publishHubGit(await options("alice/argv", { env, private: true, manifest: await buildManifest(dir) }));
    expect(res.status).toBe("done");
    expect(res.uploaded).toContain("events.out.tfevents.copy");
    const argv = await readFile(log, "utf8");
    expect(argv).toMatch(/\bpush\b/);
    expect(argv).toMatch(/lfs push/);
    expect(argv).not.toContain(TOKEN);
    expect(argv).not.toMatch(/:\/\/[^/\s]*@/); // no user info in any URL
    await expect(readFile(store, "utf8")).rejects.toThrow(); // the user's helper was never asked to store it
    expect(hub.storageAuthorizations).toEqual([]);
  });

  it("works whatever the user's global git config says: signing required, hooks that fail, no identity", async () => {
    const hooks = path.join(tmp, "failing-hooks");
    await mkdir(hooks, { recursive: true });
    for (const h of ["pre-commit", "commit-msg", "post-commit", "pre-push", "reference-transaction"]) {
      await writeFile(path.join(hooks, h), "#!/bin/sh\necho hook ran >&2\nexit 1\n", { mode: 0o755 });
    }
    const globalConfig = path.join(tmp, "user-gitconfig-signing");
    await writeFile(globalConfig, `[commit]\n\tgpgsign = true\n[tag]\n\tgpgsign = true\n\tforceSignAnnotated = true\n[gpg]\n\tprogram = false\n[core]\n\thooksPath = ${hooks}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_GLOBAL: globalConfig, GIT_CONFIG_NOSYSTEM: "1" };
    for (const k of ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"]) delete env[k];
    // the config does make an ordinary signed commit fail here
    const probe = await mkdtemp(path.join(tmp, "probe-"));
    await git(["init", "-q", probe], { env });
    const plain = await git(["-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "--allow-empty", "-m", "x"], { cwd: probe, env, okCodes: [1, 128] });
    expect(plain.code).not.toBe(0);

    const res = await publishHubGit(await options("alice/signing", { env }));
    expect(res.status).toBe("done");
    expect(res.tag?.status).toBe("created");
    const head = await hub.store.branchHead("alice/signing", "main");
    expect(head).toBe(res.commit);
    const author = execFileSync("git", ["log", "-1", "--format=%an <%ae>", head!], { cwd: hub.repoDir("alice/signing"), env: hermeticGitEnv() }).toString().trim();
    expect(author).toBe("azbert-release <azbert-release@users.noreply.huggingface.co>");
  });

  it("a read-only token: git-lfs is refused, the message says so and carries no secret, nothing lands", async () => {
    const repoId = "alice/read-only";
    await hub.createRepo(repoId, { private: true });
    const before = await hub.store.branchHead(repoId, "main");
    const err = await publishHubGit(await options(repoId, { token: READ })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^git-lfs could not upload the LFS files of alice\/read-only \(.*Authorization error.*\): the token must be allowed to write to the repo. Nothing was pushed$/);
    expect(`${(err as Error).message}\n${(err as Error).stack}`).not.toContain(READ);
    expect(`${(err as Error).message}`).not.toContain(Buffer.from(`hf_user:${READ}`).toString("base64"));
    expect(await hub.store.branchHead(repoId, "main")).toBe(before);
    expect(hub.storageAuthorizations).toEqual([]);
  });
});
