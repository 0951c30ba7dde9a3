// The local Hub answers what @huggingface/hub sends, and enforces what the real Hub enforces.
import { createHash, randomBytes } from "node:crypto";
import { createRepo, fileDownloadInfo, fileExists, listFiles, repoExists, uploadFiles, whoAmI, downloadFile } from "@huggingface/hub";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolateGit, startHubServer, type HubServer } from "./hub-server/index.js";
import { git } from "./hub-server/git.js";

isolateGit(); // every git this file starts: no user or system config, a fixed identity

const W = "hf_serverWriteTokenAAAAAAAAAAAAAA";
const R = "hf_serverReadTokenBBBBBBBBBBBBBBB";
let hub: HubServer;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  hub = await startHubServer({ tokens: { [W]: { user: "bob", role: "write" }, [R]: { user: "bob", role: "read" } } });
});
afterAll(async () => hub?.stop());

describe("local Hub server", () => {
  it("speaks the library's whoAmI / createRepo / repoExists / uploadFiles / listFiles / fileExists / downloadFile", async () => {
    const c = { hubUrl: hub.url, accessToken: W };
    expect((await whoAmI(c)).name).toBe("bob");
    const repo = { type: "model" as const, name: "bob/lib" };
    expect(await repoExists({ repo, ...c })).toBe(false);
    await createRepo({ repo, ...c });
    await expect(createRepo({ repo, ...c })).rejects.toMatchObject({ statusCode: 409 });
    expect(await repoExists({ repo, ...c })).toBe(true);
    const big = randomBytes(50_000);
    await uploadFiles({ repo, ...c, useXet: false, files: [{ path: "a.txt", content: new Blob(["hello\n"]) }, { path: "w.bin", content: new Blob([big]) }] });
    const files = [];
    for await (const f of listFiles({ repo, ...c, recursive: true })) files.push(f);
    expect(files.find((f) => f.path === "w.bin")?.lfs).toMatchObject({ oid: sha(big), size: 50_000 });
    expect(files.find((f) => f.path === "a.txt")?.lfs).toBeUndefined();
    expect(await fileExists({ repo, ...c, path: "w.bin" })).toBe(true);
    expect(await fileExists({ repo, ...c, path: "nope.bin" })).toBe(false);
    const blob = await downloadFile({ repo, ...c, path: "w.bin" });
    expect(Buffer.from(await blob!.arrayBuffer()).equals(big)).toBe(true);
    // fetch followed the redirect to the storage host and dropped the Authorization header on the way
    const ranged = await fetch(`${hub.url}/bob/lib/resolve/main/w.bin`, { headers: { Range: "bytes=10-19", Authorization: `Bearer ${W}` } });
    expect(ranged.status).toBe(206);
    expect(ranged.url.startsWith(hub.storageUrl)).toBe(true);
    expect(ranged.headers.get("Content-Range")).toBe("bytes 10-19/50000");
    expect(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(10, 20))).toBe(true);
    expect(hub.storageAuthorizations).toEqual([]);
  });

  it("resolve: LFS files redirect to the storage host, regular files come from the Hub, as the Hub answers", async () => {
    await hub.createRepo("bob/resolve");
    const weights = randomBytes(30_000);
    const c = { hubUrl: hub.url, accessToken: W, repo: { type: "model" as const, name: "bob/resolve" } };
    const out = await uploadFiles({ ...c, useXet: false, files: [{ path: "README.md", content: new Blob(["# hello\n"]) }, { path: "w.bin", content: new Blob([weights]) }] });
    const commit = out!.commit.oid;
    const auth = { Authorization: `Bearer ${W}` };
    const tree = await (await fetch(`${hub.url}/api/models/bob/resolve/tree/main`, { headers: auth })).json() as Array<{ path: string; oid: string }>;

    // LFS: 302 to a presigned URL on another origin, with what huggingface_hub reads from it
    const lfs = await fetch(`${hub.url}/bob/resolve/resolve/main/w.bin`, { headers: auth, redirect: "manual" });
    expect(lfs.status).toBe(302);
    const location = new URL(lfs.headers.get("Location")!);
    expect(location.origin).toBe(hub.storageUrl);
    expect(location.origin).not.toBe(hub.url);
    expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(lfs.headers.get("X-Linked-ETag")).toBe(`"${sha(weights)}"`);
    expect(lfs.headers.get("X-Linked-Size")).toBe("30000");
    expect(lfs.headers.get("X-Repo-Commit")).toBe(commit);
    const fromStorage = await fetch(location, { headers: { Range: "bytes=-5" } });
    expect(fromStorage.status).toBe(206);
    expect(fromStorage.headers.get("ETag")).toBe(`"${sha(weights)}"`);
    expect(fromStorage.headers.get("Content-Range")).toBe("bytes 29995-29999/30000");
    expect(Buffer.from(await fromStorage.arrayBuffer()).equals(weights.subarray(29995))).toBe(true);
    // the storage host takes the signature only: a token there is refused, and recorded
    const withToken = await fetch(location, { headers: auth });
    expect(withToken.status).toBe(400);
    expect(await withToken.text()).toMatch(/Only one auth mechanism allowed/);
    expect(hub.storageAuthorizations).toEqual([{ method: "GET", path: location.pathname, scheme: "Bearer" }]);
    hub.storageAuthorizations.splice(0);

    // regular file: 200 from the Hub with its git blob id as ETag; ranges; HEAD
    const readme = await fetch(`${hub.url}/bob/resolve/resolve/${commit}/README.md`, { headers: auth, redirect: "manual" });
    expect(readme.status).toBe(200);
    expect(readme.headers.get("ETag")).toBe(`"${tree.find((t) => t.path === "README.md")!.oid}"`);
    expect(readme.headers.get("X-Repo-Commit")).toBe(commit);
    expect(await readme.text()).toBe("# hello\n");
    const part = await fetch(`${hub.url}/bob/resolve/resolve/main/README.md`, { headers: { ...auth, Range: "bytes=2-4" } });
    expect([part.status, part.headers.get("Content-Range"), await part.text()]).toEqual([206, "bytes 2-4/8", "hel"]);
    const head = await fetch(`${hub.url}/bob/resolve/resolve/main/README.md`, { method: "HEAD", headers: auth });
    expect([head.status, head.headers.get("Content-Length")]).toEqual([200, "8"]);
    // /raw/ of an LFS file is its pointer, as on the Hub
    expect(await (await fetch(`${hub.url}/bob/resolve/raw/main/w.bin`, { headers: auth })).text()).toMatch(/^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:/);
    // what is missing says what is missing
    const missing = await fetch(`${hub.url}/bob/resolve/resolve/main/nope.bin`, { headers: auth });
    expect([missing.status, missing.headers.get("X-Error-Code")]).toEqual([404, "EntryNotFound"]);
    const badRev = await fetch(`${hub.url}/bob/resolve/resolve/nope/README.md`, { headers: auth });
    expect([badRev.status, badRev.headers.get("X-Error-Code")]).toEqual([404, "RevisionNotFound"]);
    expect(await fileDownloadInfo({ ...c, path: "w.bin" })).toMatchObject({ size: 30_000, etag: `"${sha(weights)}"` });

    // the test hook: damage after the commit; the listing still names the committed ids
    await hub.corrupt("bob/resolve", "w.bin");
    await hub.corrupt("bob/resolve", "README.md");
    const bad = Buffer.from(await (await downloadFile({ ...c, path: "w.bin" }))!.arrayBuffer());
    expect(bad.length).toBe(30_000);
    expect(sha(bad)).not.toBe(sha(weights));
    expect(await (await fetch(`${hub.url}/bob/resolve/resolve/main/README.md`, { headers: auth })).text()).not.toBe("# hello\n");
    const after = await (await fetch(`${hub.url}/api/models/bob/resolve/tree/main`, { headers: auth })).json();
    expect(after).toEqual(tree);
    expect(hub.storageAuthorizations).toEqual([]);
  });

  it("git smart HTTP: Basic auth with the token as password; private repos and pushes need it; a repo must exist", async () => {
    await hub.createRepo("bob/private-git", { private: true });
    const tmp = await mkdtemp(path.join(os.tmpdir(), "hub-git-http-"));
    try {
      const url = `${hub.url}/bob/private-git`;
      const anon = await git(["ls-remote", url], { okCodes: [128] });
      expect(anon.code).toBe(128);
      expect(anon.stderr).toMatch(/could not read Username|Authentication failed/);
      // a credential helper (not a URL, not argv) gives the token, as a client must
      const helper = (token: string) => ["-c", `credential.helper=!f() { echo username=any; echo password=$${token === W ? "HUB_W" : "HUB_R"}; }; f`];
      process.env.HUB_W = W;
      process.env.HUB_R = R;
      const ok = await git([...helper(R), "ls-remote", url]);
      expect(ok.stdout.toString()).toMatch(/refs\/heads\/main/);
      await git([...helper(R), "clone", "-q", url, path.join(tmp, "c")]);
      await writeFile(path.join(tmp, "c", "x.txt"), "x\n");
      await git(["add", "x.txt"], { cwd: path.join(tmp, "c") });
      await git(["commit", "-qm", "x"], { cwd: path.join(tmp, "c") });
      const refused = await git([...helper(R), "push", "origin", "HEAD:main"], { cwd: path.join(tmp, "c"), okCodes: [128] });
      expect(refused.code).toBe(128);
      expect(refused.stderr).toMatch(/403/);
      await git([...helper(W), "push", "-q", "origin", "HEAD:main"], { cwd: path.join(tmp, "c") });
      expect(await hub.store.branchHead("bob/private-git", "main")).toBe((await git(["rev-parse", "HEAD"], { cwd: path.join(tmp, "c") })).stdout.toString().trim());
      // an LFS pointer whose object was never uploaded is refused, like on the Hub
      await writeFile(path.join(tmp, "c", "w.bin"), `version https://git-lfs.github.com/spec/v1\noid sha256:${"a".repeat(64)}\nsize 12\n`);
      await git(["add", "w.bin"], { cwd: path.join(tmp, "c") });
      await git(["commit", "-qm", "pointer only"], { cwd: path.join(tmp, "c") });
      const noObject = await git([...helper(W), "push", "origin", "HEAD:main"], { cwd: path.join(tmp, "c"), okCodes: [1] });
      expect(noObject.stderr).toMatch(/w\.bin: LFS object a{64} \(12 bytes\) was never uploaded/);
      const missing = await git([...helper(W), "ls-remote", `${hub.url}/bob/never-created`], { okCodes: [128] });
      expect(missing.stderr).toMatch(/not found/);
    } finally {
      delete process.env.HUB_W;
      delete process.env.HUB_R;
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("checks authorization on every endpoint: 401 bad token, 403 read-only writes", async () => {
    await hub.createRepo("bob/auth");
    const bad = { Authorization: "Bearer hf_nopeNOPEnopeNOPE" };
    const ro = { Authorization: `Bearer ${R}`, "Content-Type": "application/json" };
    const endpoints: Array<[string, string, string | undefined]> = [
      ["GET", "/api/whoami-v2", undefined],
      ["GET", "/api/models/bob/auth", undefined],
      ["GET", "/api/models/bob/auth/tree/main?recursive=true", undefined],
      ["POST", "/api/models/bob/auth/preupload/main", JSON.stringify({ files: [] })],
      ["POST", "/api/models/bob/auth/commit/main", JSON.stringify({ key: "header", value: { summary: "x" } })],
      ["POST", "/bob/auth.git/info/lfs/objects/batch", JSON.stringify({ operation: "upload", objects: [] })],
      ["POST", "/api/models/bob/auth/tag/main", JSON.stringify({ tag: "t" })],
      ["HEAD", "/bob/auth/raw/main/.gitattributes", undefined],
    ];
    for (const [method, p, body] of endpoints) {
      expect((await fetch(hub.url + p, { method, headers: bad, body })).status, `${method} ${p}`).toBe(401);
    }
    for (const [method, p, body] of endpoints.filter(([m]) => m === "POST")) {
      expect((await fetch(hub.url + p, { method, headers: ro, body })).status, `${method} ${p}`).toBe(403);
    }
    expect((await fetch(`${hub.url}/api/repos/create`, { method: "POST", headers: ro, body: JSON.stringify({ name: "x", type: "model" }) })).status).toBe(403);
  });

  it("presigned PUTs: signature checked, no Authorization accepted, bytes must hash to the oid", async () => {
    await hub.createRepo("bob/lfs");
    const bytes = randomBytes(1000);
    const oid = sha(bytes);
    const batch = await fetch(`${hub.url}/bob/lfs.git/info/lfs/objects/batch`, {
      method: "POST",
      headers: { Authorization: `Bearer ${W}`, "Content-Type": "application/vnd.git-lfs+json" },
      body: JSON.stringify({ operation: "upload", transfers: ["basic"], objects: [{ oid, size: 1000 }] }),
    });
    const href = ((await batch.json()) as { objects: Array<{ actions: { upload: { href: string } } }> }).objects[0]!.actions.upload.href;
    expect(href).toMatch(/X-Amz-Signature=/);
    const forged = href.replace(/Signature=(.)/, (_m, c: string) => `Signature=${c === "0" ? "1" : "0"}`); // one character off
    expect((await fetch(forged, { method: "PUT", body: bytes })).status).toBe(403);
    expect(new URL(href).origin).toBe(hub.storageUrl);
    expect((await fetch(href, { method: "PUT", body: bytes, headers: { Authorization: `Bearer ${W}` } })).status).toBe(400);
    expect(hub.storageAuthorizations.map((a) => a.scheme)).toEqual(["Bearer"]);
    hub.storageAuthorizations.splice(0);
    expect((await fetch(href, { method: "PUT", body: randomBytes(1000) })).status).toBe(400);
    expect(await hub.store.hasObject("bob/lfs", oid, 1000)).toBe(false);
    // a commit naming an object that was never uploaded is refused
    const commit = (line: object) =>
      fetch(`${hub.url}/api/models/bob/lfs/commit/main`, {
        method: "POST",
        headers: { Authorization: `Bearer ${W}`, "Content-Type": "application/x-ndjson" },
        body: [{ key: "header", value: { summary: "s" } }, line].map((x) => JSON.stringify(x)).join("\n"),
      });
    expect((await commit({ key: "lfsFile", value: { path: "w.bin", algo: "sha256", size: 1000, oid } })).status).toBe(422);
    expect((await fetch(href, { method: "PUT", body: bytes })).status).toBe(200);
    expect(await hub.store.hasObject("bob/lfs", oid, 1000)).toBe(true);
    expect((await commit({ key: "lfsFile", value: { path: "w.bin", algo: "sha256", size: 1000, oid } })).status).toBe(200);
    // a stale parentCommit → 412
    const stale = await fetch(`${hub.url}/api/models/bob/lfs/commit/main`, {
      method: "POST",
      headers: { Authorization: `Bearer ${W}`, "Content-Type": "application/x-ndjson" },
      body: JSON.stringify({ key: "header", value: { summary: "s", parentCommit: "0".repeat(40) } }),
    });
    expect(stale.status).toBe(412);
    const err = await fetch(`${hub.url}/api/models/bob/lfs/tree/nope`, { headers: { Authorization: `Bearer ${W}` } });
    expect(err.status).toBe(404);
    expect(err.headers.get("X-Error-Code")).toBe("RevisionNotFound");
  });
});
