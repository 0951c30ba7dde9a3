// The local Hub answers what @huggingface/hub sends, and enforces what the real Hub enforces.
import { createHash, randomBytes } from "node:crypto";
import { createRepo, fileExists, listFiles, repoExists, uploadFiles, whoAmI, downloadFile } from "@huggingface/hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHubServer, type HubServer } from "./hub-server/index.js";

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
    const ranged = await fetch(`${hub.url}/bob/lib/resolve/main/w.bin`, { headers: { Range: "bytes=10-19", Authorization: `Bearer ${W}` } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("Content-Range")).toBe("bytes 10-19/50000");
    expect(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(10, 20))).toBe(true);
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
    expect((await fetch(href.replace(/Signature=./, "Signature=0"), { method: "PUT", body: bytes })).status).toBe(403);
    expect((await fetch(href, { method: "PUT", body: bytes, headers: { Authorization: `Bearer ${W}` } })).status).toBe(400);
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
