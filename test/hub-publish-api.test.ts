import { randomBytes } from "node:crypto";
import { appendFile, copyFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRetryFetch, planHubPublish, publishHubApi, verifyHubRevision, type HubProgressEvent } from "../src/hub/index.js";
import { buildManifest, cleanupScratch, cloneWithLfs, manifestHashes, SAMPLE_CKPT, scratchCopy, treeHashes } from "./hub-helpers.js";
import { isolateGit, startHubServer, type HubServer } from "./hub-server/index.js";

isolateGit(); // every git this file starts: no user or system config, a fixed identity

const TOKEN = "hf_writeTokenAAAAAAAAAAAAAAAAAAAA";
let hub: HubServer;
const fast = (maxAttempts = 5) => createRetryFetch({ maxAttempts, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 50 });
let n = 0;
const newRepo = () => `alice/azbert-${++n}`;
const WHOLE_SECOND = 1_700_000_000;

beforeAll(async () => {
  hub = await startHubServer({ tokens: { [TOKEN]: { user: "alice", role: "write" } } });
});
afterAll(async () => {
  // Whatever happened above, the LFS storage host never saw the Hub token.
  expect(hub.storageAuthorizations).toEqual([]);
  await hub?.stop();
  await cleanupScratch();
});

const since = (mark: number) => hub.requests.slice(mark);
const writes = (mark: number) => since(mark).filter((r) => r.method === "PUT" || /\/commit\//.test(r.path) || /objects\/batch$/.test(r.path));

describe("publish through the API to the local Hub", () => {
  it("first publish, no-op re-publish, then one changed file → one commit with only it", async () => {
    const repoId = newRepo();
    const manifest = await buildManifest(SAMPLE_CKPT);
    const opts = { endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), manifest, tag: "v1.2.0", createRepo: true, private: true };

    const plan0 = await planHubPublish(opts);
    expect(plan0.repoExists).toBe(false);
    expect(plan0.parentCommit).toBeNull();
    expect(plan0.entries.every((e) => e.action === "add")).toBe(true);
    expect(plan0.entries.find((e) => e.path === "pytorch_model.bin")?.storage).toBe("lfs");
    expect(plan0.entries.find((e) => e.path === "vocab.txt")?.storage).toBe("regular");

    const events: string[] = [];
    const progress: HubProgressEvent[] = [];
    const first = await publishHubApi({ ...opts, onProgress: (e) => (events.push(`${e.phase}:${e.path ?? ""}`), progress.push(e)) });
    const bin = manifest.find((e) => e.path === "pytorch_model.bin")!;
    const binUp = progress.filter((e) => e.phase === "uploading" && e.path === "pytorch_model.bin");
    expect(binUp.at(-1)).toMatchObject({ fileBytes: bin.size, fileSize: bin.size });
    const total = first.plan.summary.bytesToSend;
    expect(progress.at(-1)).toMatchObject({ phase: "done", uploadedBytes: total, totalBytes: total });
    expect(Math.max(...progress.map((e) => e.uploadedBytes))).toBe(total);
    expect(first.status).toBe("done");
    expect(first.tag).toEqual({ tag: "v1.2.0", status: "created", commit: first.commit });
    expect(first.uploaded).toContain("pytorch_model.bin");
    expect(events).toContain("uploading:pytorch_model.bin");
    // Every sha256 came from the manifest: nothing is hashed again, one LFS batch call, one PUT per object.
    expect(events.filter((e) => e.startsWith("hashing"))).toEqual([]);
    expect(progress.every((e) => e.hashedBytes === 0)).toBe(true);
    const firstRun = hub.requests.filter((r) => r.path.startsWith(`/${repoId}.git/`) || r.path.includes(`/${repoId}/`));
    expect(firstRun.filter((r) => r.path.endsWith("/objects/batch"))).toHaveLength(1);
    expect(firstRun.filter((r) => r.method === "PUT").map((r) => r.origin)).toEqual(["storage"]);
    const v = await verifyHubRevision({ ...opts, revision: first.commit, gitattributes: first.plan.gitattributes });
    expect(v.mismatches).toEqual([]);
    expect(v.ok).toBe(true);

    // the Hub's git repo, cloned with LFS, is the checkpoint byte for byte
    const clone = await cloneWithLfs(hub.repoDir(repoId));
    const got = await treeHashes(clone);
    delete got[".gitattributes"];
    expect(got).toEqual(manifestHashes(manifest));
    await rm(clone, { recursive: true, force: true });

    // no-op: no commit, nothing sent, tag already there
    const mark = hub.requests.length;
    const again = await publishHubApi(opts);
    expect(again.status).toBe("unchanged");
    expect(again.commit).toBe(first.commit);
    expect(again.tag?.status).toBe("unchanged");
    expect(writes(mark)).toEqual([]);
    expect(await hub.store.branchHead(repoId, "main")).toBe(first.commit);

    // one changed file
    const dir = await scratchCopy();
    await writeFile(path.join(dir, "tokenizer_config.json"), '{"do_lower_case": true}\n');
    const changed = await buildManifest(dir);
    const plan2 = await planHubPublish({ ...opts, manifest: changed });
    expect(plan2.entries.filter((e) => e.action !== "unchanged").map((e) => [e.path, e.action])).toEqual([["tokenizer_config.json", "update"]]);
    const mark2 = hub.requests.length;
    const third = await publishHubApi({ ...opts, manifest: changed, tag: "v1.2.1", plan: plan2 });
    expect(third.status).toBe("done");
    expect(third.uploaded).toEqual(["tokenizer_config.json"]);
    expect(since(mark2).filter((r) => r.method === "PUT")).toEqual([]);
    expect(since(mark2).filter((r) => /\/commit\//.test(r.path))).toHaveLength(1);
    expect(await hub.store.branchHead(repoId, "main")).toBe(third.commit);
    expect((await verifyHubRevision({ ...opts, manifest: changed, revision: third.commit })).ok).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });

  it("tree pagination: a small page size still lists every file", async () => {
    const paged = await startHubServer({ tokens: { [TOKEN]: { user: "alice", role: "write" } }, treePageSize: 2 });
    try {
      const manifest = await buildManifest(SAMPLE_CKPT);
      const opts = { endpoint: paged.url, repoId: "alice/paged", token: TOKEN, fetch: fast(), manifest, createRepo: true };
      const res = await publishHubApi(opts);
      const mark = paged.requests.length;
      const plan = await planHubPublish(opts);
      expect(plan.noop).toBe(true);
      expect(plan.summary.unchanged).toBe(manifest.length + 1);
      expect(paged.requests.slice(mark).filter((r) => /\/tree\//.test(r.path)).length).toBeGreaterThanOrEqual(5);
      expect((await verifyHubRevision({ ...opts, revision: res.commit })).checked).toBe(manifest.length);
    } finally {
      await paged.stop();
    }
  });

  it("multipart transfer for a file over the chunk size: parts go in parallel", async () => {
    const mp = await startHubServer({ tokens: { [TOKEN]: { user: "alice", role: "write" } }, multipartChunkSize: 100_000 });
    try {
      const manifest = await buildManifest(SAMPLE_CKPT);
      const opts = { endpoint: mp.url, repoId: "alice/multipart", token: TOKEN, fetch: fast(), manifest, createRepo: true };
      mp.holdStoragePuts(4);
      const res = await publishHubApi(opts);
      expect(mp.storagePeakPuts).toBe(4);
      expect(res.uploaded).toContain("pytorch_model.bin");
      const parts = mp.requests.filter((r) => r.method === "PUT" && r.path.startsWith("/lfs-storage/multipart/"));
      expect(parts).toHaveLength(Math.ceil(578110 / 100_000));
      expect(mp.requests.filter((r) => r.method === "POST" && /\/complete$/.test(r.path) && r.status === 200)).toHaveLength(1);
      expect((await verifyHubRevision({ ...opts, revision: res.commit })).ok).toBe(true);
      const clone = await cloneWithLfs(mp.repoDir("alice/multipart"));
      const got = await treeHashes(clone);
      expect(got["pytorch_model.bin"]).toBe(manifest.find((e) => e.path === "pytorch_model.bin")!.sha256);
      await rm(clone, { recursive: true, force: true });
      expect(mp.storageAuthorizations).toEqual([]);
    } finally {
      await mp.stop();
    }
  });

  it("useXet goes through the library's own commit (which hashes again); a Hub without Xet keeps it on LFS", async () => {
    const repoId = newRepo();
    const manifest = await buildManifest(SAMPLE_CKPT);
    const phases: string[] = [];
    const res = await publishHubApi({ endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), manifest, createRepo: true, useXet: true, onProgress: (e) => phases.push(`${e.phase}:${e.path ?? ""}`) });
    expect(res.status).toBe("done");
    expect(phases).toContain("hashing:pytorch_model.bin");
    expect((await verifyHubRevision({ endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), revision: res.commit, manifest })).ok).toBe(true);
  });

  it("a 429 (Retry-After) then success", async () => {
    const repoId = newRepo();
    const manifest = await buildManifest(SAMPLE_CKPT);
    hub.inject({ kind: "429", method: "POST", path: `/api/models/${repoId}/preupload/`, retryAfter: "1" });
    hub.inject({ kind: "503", method: "POST", path: `/api/models/${repoId}/commit/` });
    const retries: string[] = [];
    const f = createRetryFetch({ baseDelayMs: 5, maxRetryAfterMs: 50, onRetry: (i) => retries.push(`${i.reason} ${i.method}`) });
    const res = await publishHubApi({ endpoint: hub.url, repoId, token: TOKEN, fetch: f, manifest, createRepo: true });
    expect(res.status).toBe("done");
    expect(retries).toEqual(["429 POST", "503 POST"]);
    const pre = hub.requests.filter((r) => r.path === `/api/models/${repoId}/preupload/main`);
    expect(pre.map((r) => r.status)).toEqual([429, 200]);
  });

  it("upload progress counts the bytes as they are sent, not when each PUT is done", async () => {
    const dir = await scratchCopy();
    const size = 12 * 1024 * 1024; // three reads of the file-backed body
    await writeFile(path.join(dir, "pytorch_model.bin"), randomBytes(size)); // the publish reads bytes, not tensors
    const manifest = await buildManifest(dir);
    const progress: HubProgressEvent[] = [];
    const r = await publishHubApi({ endpoint: hub.url, repoId: newRepo(), token: TOKEN, fetch: fast(), manifest, createRepo: true, onProgress: (e) => progress.push(e) });
    const big = progress.filter((e) => e.phase === "uploading" && e.path === "pytorch_model.bin").map((e) => e.fileBytes!);
    expect(big.some((b) => b > 0 && b < size), big.join(",")).toBe(true);
    expect(big).toEqual([...big].sort((a, b) => a - b)); // only forward, without a retry
    expect(big.at(-1)).toBe(size);
    expect(progress.at(-1)).toMatchObject({ phase: "done", uploadedBytes: r.plan.summary.bytesToSend });
  });

  it("a connection dropped mid-upload: retried in place; with retries exhausted, a re-run re-sends nothing already stored", async () => {
    const dir = await scratchCopy();
    for (const name of ["extra-a.bin", "extra-b.bin", "extra-c.bin"]) await writeFile(path.join(dir, name), randomBytes(300_000));
    const manifest = await buildManifest(dir);
    const big = manifest.find((e) => e.path === "pytorch_model.bin")!;

    // 1. dropped once, the retrying fetch re-sends the (file-backed) Blob body
    const repo1 = newRepo();
    hub.inject({ kind: "drop", method: "PUT", path: new RegExp(`/lfs-storage/basic/${repo1}/${big.sha256}/`), afterBytes: 100_000 });
    const sent: HubProgressEvent[] = [];
    const ok = await publishHubApi({ endpoint: hub.url, repoId: repo1, token: TOKEN, fetch: fast(), manifest, createRepo: true, onProgress: (e) => sent.push(e) });
    expect(ok.status).toBe("done");
    // The progress counts what is on its way: the bytes of the dropped attempt are not counted twice.
    expect(Math.max(...sent.map((e) => e.uploadedBytes))).toBe(ok.plan.summary.bytesToSend);
    const puts1 = hub.requests.filter((r) => r.method === "PUT" && r.path.includes(`/${repo1}/${big.sha256}/`));
    expect(puts1.map((r) => r.status)).toEqual([-1, 200]);

    // 2. no retries: the publish fails, nothing is committed; the re-run sends only what is missing
    const repo2 = newRepo();
    hub.inject({ kind: "drop", method: "PUT", path: new RegExp(`/lfs-storage/basic/${repo2}/${big.sha256}/`), afterBytes: 100_000 });
    const opts = { endpoint: hub.url, repoId: repo2, token: TOKEN, manifest, createRepo: true };
    const err = await publishHubApi({ ...opts, fetch: fast(1) }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/network error|re-run/);
    await hub.idle();
    const head = await hub.store.branchHead(repo2, "main");
    const tree = await hub.store.tree(repo2, head!, { recursive: true });
    expect(tree.map((t) => t.path)).toEqual([".gitattributes"]); // only the initial commit
    const lfsFiles = manifest.filter((e) => e.path.endsWith(".bin"));
    const storedAfterFail = new Set<string>();
    for (const e of lfsFiles) if (await hub.store.hasObject(repo2, e.sha256, e.size)) storedAfterFail.add(e.sha256);
    expect(storedAfterFail.has(big.sha256)).toBe(false);

    const mark = hub.requests.length;
    const rerun = await publishHubApi({ ...opts, fetch: fast() });
    expect(rerun.status).toBe("done");
    const putOids = since(mark)
      .filter((r) => r.method === "PUT")
      .map((r) => r.path.split("/")[5]!);
    expect(putOids).toContain(big.sha256);
    for (const oid of putOids) expect(storedAfterFail.has(oid)).toBe(false);
    expect(rerun.deduplicated.sort()).toEqual(lfsFiles.filter((e) => storedAfterFail.has(e.sha256)).map((e) => e.path).sort());
    expect((await verifyHubRevision({ ...opts, revision: rerun.commit })).ok).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["rewritten in place, same size", "its modification time changed", async (file: string) => writeFile(file, randomBytes(578110))],
    ["grown by a byte", "578111 bytes now, 578110 when hashed", async (file: string) => appendFile(file, "x")],
    [
      "replaced by another file with the same size and time",
      "it was replaced by another file",
      async (file: string) => {
        await copyFile(file, `${file}.new`);
        await utimes(`${file}.new`, WHOLE_SECOND, WHOLE_SECOND);
        await rename(`${file}.new`, file);
      },
    ],
  ])("a file %s after the manifest was made: refused before any byte is sent", async (_name, why, change) => {
    const repoId = newRepo();
    const dir = await scratchCopy();
    await utimes(path.join(dir, "pytorch_model.bin"), WHOLE_SECOND, WHOLE_SECOND); // a time a copy can be given exactly
    const manifest = await buildManifest(dir);
    const mark = hub.requests.length;
    await change(path.join(dir, "pytorch_model.bin"));
    const err = await publishHubApi({ endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), manifest, createRepo: true }).catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `pytorch_model.bin (${why}): changed on disk since its sha256 was computed; nothing was uploaded. Run the release again to hash the new contents`,
    );
    expect(since(mark).filter((r) => r.method === "PUT" || /objects\/batch$|\/preupload\/|\/commit\//.test(r.path))).toEqual([]);
    const head = await hub.store.branchHead(repoId, "main");
    expect((await hub.store.tree(repoId, head!, { recursive: true })).map((t) => t.path)).toEqual([".gitattributes"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("several LFS files upload in parallel, at most four PUTs at once", async () => {
    const dir = await scratchCopy();
    for (const name of ["a", "b", "c", "d", "e"]) await writeFile(path.join(dir, `extra-${name}.bin`), randomBytes(200_000));
    const manifest = await buildManifest(dir);
    hub.holdStoragePuts(4);
    const res = await publishHubApi({ endpoint: hub.url, repoId: newRepo(), token: TOKEN, fetch: fast(), manifest, createRepo: true });
    expect(hub.storagePeakPuts).toBe(4);
    expect(res.uploaded.filter((p) => p.endsWith(".bin")).sort()).toEqual(["extra-a.bin", "extra-b.bin", "extra-c.bin", "extra-d.bin", "extra-e.bin", "pytorch_model.bin"]);
    expect((await verifyHubRevision({ endpoint: hub.url, repoId: res.plan.repoId, token: TOKEN, fetch: fast(), revision: res.commit, manifest })).ok).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });

  it("a release tag already on another commit is an error; createPr opens a PR without touching main", async () => {
    const repoId = newRepo();
    const manifest = await buildManifest(SAMPLE_CKPT);
    const base = { endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), manifest, createRepo: true };
    const first = await publishHubApi({ ...base, tag: "v1.0.0" });
    const dir = await scratchCopy();
    await writeFile(path.join(dir, "README.md"), "# v2\n");
    const changed = await buildManifest(dir);
    const e = await publishHubApi({ ...base, manifest: changed, tag: "v1.0.0" }).catch((x: Error) => x);
    expect((e as Error).message).toMatch(/tag v1\.0\.0 already exists .* points at [0-9a-f]{12}.*Nothing was committed/);
    const head = await hub.store.branchHead(repoId, "main");
    expect(head).toBe(first.commit); // refused before committing
    await writeFile(path.join(dir, "README.md"), "# v3\n");
    const changed3 = await buildManifest(dir);
    const pr = await publishHubApi({ ...base, manifest: changed3, tag: "v3.0.0", createPr: true });
    expect(pr.pullRequestUrl).toMatch(/\/discussions\/\d+$/);
    expect(pr.tag).toBeUndefined();
    expect(await hub.store.branchHead(repoId, "main")).toBe(head);
    expect((await verifyHubRevision({ ...base, manifest: changed3, revision: pr.commit })).ok).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });

  it("a pull request commit whose answer is lost is not sent again: one pull request, and an error", async () => {
    const repoId = newRepo();
    const manifest = await buildManifest(SAMPLE_CKPT);
    await publishHubApi({ endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), manifest, createRepo: true });
    // A gateway that loses the Hub's answer to the first commit POST: the commit was made.
    let lost = 0;
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === "POST" && /\/commit\//.test(String(input)) && lost++ === 0) {
        await res.body?.cancel();
        return new Response("gateway timeout", { status: 504 });
      }
      return res;
    };
    const changed = manifest.filter((e) => e.path !== "vocab.txt");
    const mark = hub.requests.length;
    const e = await publishHubApi({ endpoint: hub.url, repoId, token: TOKEN, manifest: changed, prune: true, createPr: true, fetch: createRetryFetch({ fetch: lossy, baseDelayMs: 1 }) }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    expect(since(mark).filter((r) => r.method === "POST" && /\/commit\//.test(r.path))).toHaveLength(1);
  });

  it("a stale parent commit is refused, not overwritten", async () => {
    const repoId = newRepo();
    const manifest = await buildManifest(SAMPLE_CKPT);
    const base = { endpoint: hub.url, repoId, token: TOKEN, fetch: fast(), manifest, createRepo: true };
    await publishHubApi(base);
    const dir = await scratchCopy();
    await writeFile(path.join(dir, "README.md"), "# changed\n");
    const changed = await buildManifest(dir);
    const plan = await planHubPublish({ ...base, manifest: changed });

    // someone pushes after the plan was shown
    const other = await hub.store.commit(repoId, "main", { summary: "concurrent" }, [{ kind: "file", path: "NOTES.md", content: Buffer.from("x\n") }]);
    const e1 = await publishHubApi({ ...base, manifest: changed, plan }).catch((e: Error) => e);
    expect((e1 as Error).message).toMatch(/moved since the plan|changed on the Hub/);
    expect(await hub.store.branchHead(repoId, "main")).toBe(other.commitOid);

    // someone pushes between our preupload and our commit: the Hub answers 412
    let pushed = false;
    const racing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!pushed && String(input).includes("/preupload/")) {
        pushed = true;
        await hub.store.commit(repoId, "main", { summary: "racer" }, [{ kind: "file", path: "RACE.md", content: Buffer.from("y\n") }]);
      }
      return res;
    };
    const e2 = await publishHubApi({ ...base, manifest: changed, fetch: racing }).catch((e: Error) => e);
    expect((e2 as Error).message).toMatch(/412/);
    const head = await hub.store.branchHead(repoId, "main");
    const tree = await hub.store.tree(repoId, head!, { recursive: true });
    expect(tree.map((t) => t.path)).toContain("RACE.md");
    const readme = tree.find((t) => t.path === "README.md")!;
    expect(readme.size).not.toBe(changed.find((e) => e.path === "README.md")!.size);
    await rm(dir, { recursive: true, force: true });
  });
});
