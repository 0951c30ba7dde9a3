import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { DiskBlob } from "../../../src/util/file-body.js";
import { retryableErrorCode } from "../../../src/util/http.js";
import { createFileStreamingFetch } from "../../../src/util/http-transport.js";

const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-file-fetch-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

it("a storage host that takes the whole body and never answers: the PUT fails as ETIMEDOUT (retried like a dropped connection), not a hang", async () => {
  const file = path.join(dir, "weights.bin");
  await writeFile(file, Buffer.alloc(3 << 20, 7));
  let received = 0;
  const server = http.createServer((req) => req.on("data", (c: Buffer) => (received += c.length)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/put`;
    const f = createFileStreamingFetch({ idleTimeoutMs: 300 });
    const started = performance.now();
    const e = await f(url, { method: "PUT", body: await DiskBlob.fromFile(file) }).catch((x: unknown) => x);
    expect(retryableErrorCode(e)).toBe("ETIMEDOUT");
    expect(String((e as Error).cause)).toMatch(/no byte sent or received for 300 ms/);
    expect(received).toBe(3 << 20);
    expect(performance.now() - started).toBeLessThan(5000);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
