import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRetryFetch, publishHubApi, publishHubGit, verifyHubRevision } from "../src/hub/index.js";
import { buildManifest, cleanupScratch, cloneWithLfs, manifestHashes, SAMPLE_CKPT, scratchCopy, treeHashes } from "./hub-helpers.js";
import { startHubServer, type HubServer } from "./hub-server/index.js";
import { git } from "./hub-server/git.js";

const TOKEN = "hf_writeTokenGGGGGGGGGGGGGGGGGGGG";
let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer({ tokens: { [TOKEN]: { user: "alice", role: "write" } } });
});
afterAll(async () => {
  await hub?.stop();
  await cleanupScratch();
});

describe("git transport against a real bare repo with git-lfs", () => {
  it("publishes, re-publishes as a no-op, updates one file, refuses a non-fast-forward, tags", async () => {
    const repoId = "alice/git-transport";
    await hub.createRepo(repoId);
    const bare = hub.repoDir(repoId);
    const manifest = await buildManifest(SAMPLE_CKPT);
    const warnings: string[] = [];
    const opts = { cwd: process.cwd(), remote: "hgf", remoteUrl: `file://${bare}`, endpoint: hub.url, repoId, manifest, tag: "v1.2.0", onWarning: (w: string) => warnings.push(w) };

    const userBranch = (await git(["rev-parse", "--abbrev-ref", "HEAD"], { okCodes: [128] })).stdout.toString();
    const first = await publishHubGit(opts);
    expect(first.status).toBe("done");
    expect(first.tag).toEqual({ tag: "v1.2.0", status: "created", commit: first.commit });
    expect(await hub.store.branchHead(repoId, "main")).toBe(first.commit);
    // the user's checkout was not touched
    expect((await git(["rev-parse", "--abbrev-ref", "HEAD"], { okCodes: [128] })).stdout.toString()).toBe(userBranch);

    // the Hub API sees exactly our bytes; a git clone with LFS gives them back
    const api = { endpoint: hub.url, repoId, token: TOKEN, fetch: createRetryFetch({ maxAttempts: 2 }) };
    const v = await verifyHubRevision({ ...api, revision: first.commit, manifest, gitattributes: first.plan.gitattributes });
    expect(v.mismatches).toEqual([]);
    const clone = await cloneWithLfs(bare);
    const got = await treeHashes(clone);
    delete got[".gitattributes"];
    expect(got).toEqual(manifestHashes(manifest));
    await rm(clone, { recursive: true, force: true });

    // the API transport agrees: nothing to do
    const viaApi = await publishHubApi({ ...api, manifest, tag: "v1.2.0" });
    expect(viaApi.status).toBe("unchanged");
    expect(viaApi.tag?.status).toBe("unchanged");

    // no-op
    const again = await publishHubGit(opts);
    expect(again.status).toBe("unchanged");
    expect(again.commit).toBe(first.commit);
    expect(again.tag?.status).toBe("unchanged");

    // one changed file
    const dir = await scratchCopy();
    await writeFile(path.join(dir, "config.json"), '{"hidden_size": 8}\n');
    const changed = await buildManifest(dir);
    const second = await publishHubGit({ ...opts, manifest: changed, tag: "v1.2.1" });
    expect(second.uploaded).toEqual(["config.json"]);
    expect((await verifyHubRevision({ ...api, revision: second.commit, manifest: changed })).ok).toBe(true);

    // a stale plan/tag elsewhere is refused
    const e1 = await publishHubGit({ ...opts, manifest: changed, tag: "v1.2.0" }).catch((e: Error) => e);
    expect((e1 as Error).message).toMatch(/tag v1\.2\.0 already exists/);

    // someone pushes between our clone and our push → rejected, not overwritten (simulated by a plan on an old head)
    const racer = await hub.store.commit(repoId, "main", { summary: "racer" }, [{ kind: "file", path: "RACE.md", content: Buffer.from("y\n") }]);
    const e2 = await publishHubGit({ ...opts, manifest, tag: "v1.2.2", plan: second.plan }).catch((e: Error) => e);
    expect((e2 as Error).message).toMatch(/moved since the plan/);
    expect(await hub.store.branchHead(repoId, "main")).toBe(racer.commitOid);

    // someone pushes between our clone and our push: the push is rejected (no force), nothing overwritten
    let racer2 = "";
    const racing = await publishHubGit({
      ...opts,
      manifest,
      tag: "v1.3.0",
      onProgress: (e) => {
        if (e.phase !== "uploading" || racer2) return;
        const env = { ...process.env, GIT_AUTHOR_NAME: "r", GIT_AUTHOR_EMAIL: "r@x", GIT_COMMITTER_NAME: "r", GIT_COMMITTER_EMAIL: "r@x" };
        const tree = execFileSync("git", ["rev-parse", "main^{tree}"], { cwd: bare, env }).toString().trim();
        racer2 = execFileSync("git", ["commit-tree", tree, "-p", "main", "-m", "racer 2"], { cwd: bare, env }).toString().trim();
        execFileSync("git", ["update-ref", "refs/heads/main", racer2], { cwd: bare, env });
      },
    }).catch((e: Error) => e);
    expect(racer2).toMatch(/^[0-9a-f]{40}$/);
    expect((racing as Error).message).toMatch(/rejected: the branch moved/);
    expect(await hub.store.branchHead(repoId, "main")).toBe(racer2);
    expect(warnings).toEqual([]);

    // the remote named in the project's git repo is used; force is explicit and loud
    const proj = await mkdtemp(path.join(os.tmpdir(), "proj-"));
    execFileSync("git", ["init", "-q", proj]);
    execFileSync("git", ["remote", "add", "hgf", `file://${bare}`], { cwd: proj });
    const forced = await publishHubGit({ ...opts, remoteUrl: undefined, cwd: proj, manifest, tag: "v1.3.0", force: true });
    expect(forced.status).toBe("done");
    expect(warnings.join("\n")).toMatch(/force-pushing alice\/git-transport@main/);
    expect((await verifyHubRevision({ ...api, revision: forced.commit, manifest })).ok).toBe(true);
    await rm(proj, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });
});
