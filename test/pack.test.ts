import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { END_OF_ARCHIVE, packCheckpoint, padding, tarHeader, unpackVerified } from "../src/pack/index.js";
import { UserError } from "../src/report.js";
import { manifestOf } from "./pack-helpers.js";

const CKPT = path.resolve(import.meta.dirname, "..", "ckpt");
const tmp = mkdtempSync(path.join(tmpdir(), "azbert-pack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => {
  const d = path.join(tmp, `${n++}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
};
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

function listTree(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listTree(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

describe("packCheckpoint", () => {
  it("gives byte-identical archives on every run, whatever the mtimes and permissions", async () => {
    const a = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: fresh("a") });
    const b = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: fresh("b") });
    const copy = fresh("copy");
    cpSync(CKPT, copy, { recursive: true });
    for (const [i, f] of readdirSync(copy).entries()) {
      utimesSync(path.join(copy, f), 1_000_000 + i * 7777, 2_000_000_000 - i);
      chmodSync(path.join(copy, f), i % 2 ? 0o600 : 0o755);
    }
    const c = await packCheckpoint({ manifest: manifestOf(copy), outDir: fresh("c") });
    const bytes = readFileSync(a.archive.path);
    expect(readFileSync(b.archive.path).equals(bytes)).toBe(true);
    expect(readFileSync(c.archive.path).equals(bytes)).toBe(true);
    expect(a.archive.sha256).toBe(sha(bytes));
    expect(a.archive.size).toBe(bytes.length);
    expect(readFileSync(c.sha256sums, "utf8")).toBe(readFileSync(a.sha256sums, "utf8"));
    expect(readFileSync(c.manifestJson, "utf8")).toBe(readFileSync(a.manifestJson, "utf8"));
    // Fixed gzip header: no name, mtime 0, OS = Unix; a valid member.
    expect([...bytes.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    const tarBytes = zlib.gunzipSync(bytes);
    expect(tarBytes.length % 512).toBe(0);
  });

  it("extracts with GNU tar --strip-components=1 to the checkpoint, byte for byte; sha256sum -c passes", async () => {
    const out = fresh("out");
    const r = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: out });
    const listing = execFileSync("tar", ["tvzf", r.archive.path], { encoding: "utf8" }).trim().split("\n");
    expect(listing[0]).toMatch(/^drwxr-xr-x 0\/0 +0 1970-01-01 00:00 ckpt\/$/);
    for (const line of listing.slice(1)) expect(line).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 ckpt\/[^/]+$/);
    const names = listing.slice(1).map((l) => l.split(" ").pop());
    expect(names).toEqual([...names].sort());

    mkdirSync(path.join(out, "ckpt"));
    execFileSync("tar", ["xzf", "ckpt.tar.gz", "-C", "ckpt", "--strip-components=1"], { cwd: out });
    const got = listTree(path.join(out, "ckpt")).sort();
    expect(got).toEqual(readdirSync(CKPT).sort());
    for (const f of got) expect(readFileSync(path.join(out, "ckpt", f)).equals(readFileSync(path.join(CKPT, f)))).toBe(true);
    // The model card's instructions, then `sha256sum -c SHA256SUMS` in the download folder.
    const check = execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" });
    expect(check).toContain("ckpt.tar.gz: OK");
    expect(check.trim().split("\n")).toHaveLength(got.length + 1);
  });

  it("writes manifest.json with path, size and sha256 only (no absolute source paths)", async () => {
    const r = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: fresh("mj") });
    const text = readFileSync(r.manifestJson, "utf8");
    expect(text).not.toContain(CKPT);
    const mj = JSON.parse(text) as { topFolder: string; archive: { sha256: string }; files: Record<string, unknown>[] };
    expect(mj.topFolder).toBe("ckpt");
    expect(mj.archive.sha256).toBe(r.archive.sha256);
    for (const f of mj.files) expect(Object.keys(f)).toEqual(["path", "size", "sha256"]);
  });

  it("handles nested and long paths (GNU tar agrees)", async () => {
    const src = fresh("nested");
    const long = `${"d".repeat(60)}/${"e".repeat(70)}/${"f".repeat(120)}.txt`;
    mkdirSync(path.join(src, path.dirname(long)), { recursive: true });
    writeFileSync(path.join(src, long), "long\n");
    mkdirSync(path.join(src, "sub"));
    writeFileSync(path.join(src, "sub", "a.json"), "{}\n");
    writeFileSync(path.join(src, "sub-b.txt"), "b\n");
    const manifest = [long, "sub/a.json", "sub-b.txt"].map((p) => {
      const bytes = readFileSync(path.join(src, p));
      return { path: p, size: bytes.length, sha256: sha(bytes), source: path.join(src, p) };
    });
    const out = fresh("nested-out");
    const r = await packCheckpoint({ manifest, outDir: out, topFolder: "model" });
    const x = fresh("nested-x");
    execFileSync("tar", ["xzf", r.archive.path, "-C", x, "--strip-components=1"]);
    expect(listTree(x).sort()).toEqual([long, "sub-b.txt", "sub/a.json"].sort());
    const u = await unpackVerified(r.archive.path, fresh("nested-u"));
    expect(u.ok).toBe(true);
    expect(u.topFolder).toBe("model");
  });

  it("fails, naming the file, when a file changed since the manifest was made", async () => {
    const src = fresh("changed");
    cpSync(CKPT, src, { recursive: true });
    const manifest = manifestOf(src);
    writeFileSync(path.join(src, "config.json"), readFileSync(path.join(src, "config.json"), "utf8").replace("{", "{ "));
    const err = await packCheckpoint({ manifest, outDir: fresh("changed-out") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^config\.json changed since the manifest was made/);
    const same = readFileSync(path.join(src, "vocab.txt"));
    writeFileSync(path.join(src, "vocab.txt"), Buffer.from(same.map((b, i) => (i === 0 ? b ^ 1 : b))));
    const m2 = manifestOf(src).map((e) => (e.path === "vocab.txt" ? { ...e, sha256: sha(same) } : e));
    await expect(packCheckpoint({ manifest: m2, outDir: fresh("changed-out2") })).rejects.toThrow(/vocab\.txt changed since the manifest was made: sha256/);
  });

  it("reports progress up to the total", async () => {
    const seen: number[] = [];
    const m = manifestOf(CKPT);
    await packCheckpoint({ manifest: m, outDir: fresh("progress"), chunkSize: 64 * 1024, onProgress: (p) => seen.push(p.bytesDone) });
    const total = m.reduce((s, e) => s + e.size, 0);
    expect(seen.at(-1)).toBe(total);
    expect(seen.every((v, i) => i === 0 || v >= seen[i - 1]!)).toBe(true);
    expect(seen.length).toBeGreaterThan(m.length);
  });

  it("rejects unsafe manifest paths", async () => {
    const [e] = manifestOf(CKPT);
    await expect(packCheckpoint({ manifest: [{ ...e!, path: "../x" }], outDir: fresh("bad") })).rejects.toThrow(/"\.\.\/x" has a '\.\.' component/);
    await expect(packCheckpoint({ manifest: [{ ...e!, path: "/abs" }], outDir: fresh("bad") })).rejects.toThrow(/is absolute/);
  });
});

describe("unpackVerified", () => {
  it("round-trips against manifest.json beside the archive, and reports missing, extra and changed files", async () => {
    const out = fresh("u");
    const r = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: out });
    const dest = fresh("u-dest");
    const u = await unpackVerified(r.archive.path, dest);
    expect(u).toMatchObject({ ok: true, topFolder: "ckpt", missing: [], extra: [], mismatched: [], manifestSource: r.manifestJson });
    for (const f of readdirSync(CKPT)) expect(readFileSync(path.join(dest, f)).equals(readFileSync(path.join(CKPT, f)))).toBe(true);

    // Against SHA256SUMS only.
    rmSync(r.manifestJson);
    expect((await unpackVerified(r.archive.path, fresh("u-sums"))).ok).toBe(true);

    const m = manifestOf(CKPT);
    const tampered = [
      ...m.filter((e) => e.path !== "vocab.txt").map((e) => (e.path === "config.json" ? { ...e, size: e.size + 1 } : e)),
      { path: "model.safetensors", size: 1, sha256: "0".repeat(64), source: "" },
    ];
    const bad = await unpackVerified(r.archive.path, fresh("u-bad"), { manifest: tampered });
    expect(bad.ok).toBe(false);
    expect(bad.missing).toEqual(["model.safetensors"]);
    expect(bad.extra).toEqual(["vocab.txt"]);
    expect(bad.mismatched.map((x) => x.path)).toEqual(["config.json"]);
  });

  it("reads archives made by GNU tar (gnu format, long names)", async () => {
    const src = fresh("gnu-ok");
    cpSync(CKPT, path.join(src, "ckpt"), { recursive: true });
    const long = `${"n".repeat(150)}.json`;
    writeFileSync(path.join(src, "ckpt", long), "{}\n");
    execFileSync("tar", ["czf", "gnu.tar.gz", "ckpt"], { cwd: src });
    const u = await unpackVerified(path.join(src, "gnu.tar.gz"), fresh("gnu-ok-dest"), { manifest: manifestOf(path.join(src, "ckpt")) });
    expect(u).toMatchObject({ ok: true, topFolder: "ckpt", missing: [], extra: [] });
    expect(u.files.map((f) => f.path)).toContain(long);
  });

  it("refuses to extract over existing files", async () => {
    const r = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: fresh("ow") });
    const dest = fresh("ow-dest");
    writeFileSync(path.join(dest, "config.json"), "mine");
    await expect(unpackVerified(r.archive.path, dest)).rejects.toThrow(/config\.json: it already exists/);
    expect(readFileSync(path.join(dest, "config.json"), "utf8")).toBe("mine");
    expect(readdirSync(dest)).toEqual(["config.json"]);
  });

  // Crafted archives: raw headers (our writer does not validate) and GNU tar.
  function rawArchive(entries: { path: string; data?: string; type?: "file" | "dir" }[]): string {
    const parts: Buffer[] = [];
    for (const e of entries) {
      const data = Buffer.from(e.data ?? "");
      parts.push(tarHeader({ path: e.path, type: e.type ?? "file", size: data.length }));
      if ((e.type ?? "file") === "file") parts.push(data, padding(data.length));
    }
    parts.push(END_OF_ARCHIVE);
    const file = path.join(fresh("crafted"), "evil.tar.gz");
    writeFileSync(file, zlib.gzipSync(Buffer.concat(parts)));
    return file;
  }
  const anyManifest = [{ path: "x", size: 1, sha256: "0".repeat(64) }];

  it.each([
    ["a '..' component", [{ path: "ckpt/" , type: "dir" as const }, { path: "ckpt/../x", data: "pwned" }], /refusing entry "ckpt\/\.\.\/x": path contains a '\.\.' component/],
    ["a leading ../", [{ path: "../x", data: "pwned" }], /refusing entry "\.\.\/x": path contains a '\.\.' component/],
    ["an absolute path", [{ path: "/tmp/azbert-evil", data: "pwned" }], /refusing entry "\/tmp\/azbert-evil": absolute path/],
    ["a duplicate", [{ path: "ckpt/a", data: "1" }, { path: "ckpt/a", data: "2" }], /refusing entry "ckpt\/a": duplicate entry/],
    ["a second top folder", [{ path: "ckpt/a", data: "1" }, { path: "other/b", data: "2" }], /refusing entry "other\/b": outside the top folder ckpt\//],
  ])("refuses %s", async (_name, entries, re) => {
    const dest = fresh("evil-dest");
    await expect(unpackVerified(rawArchive(entries), dest, { manifest: anyManifest })).rejects.toThrow(re);
    expect(listTree(dest)).toEqual([]); // nothing left behind
  });

  it("refuses symlinks, hard links and absolute paths in archives made by GNU tar", async () => {
    const src = fresh("gnu");
    mkdirSync(path.join(src, "ckpt"));
    writeFileSync(path.join(src, "ckpt", "config.json"), "{}");
    execFileSync("ln", ["-s", "/etc/passwd", path.join(src, "ckpt", "vocab.txt")]);
    execFileSync("tar", ["czf", "sym.tar.gz", "ckpt"], { cwd: src });
    await expect(unpackVerified(path.join(src, "sym.tar.gz"), fresh("d"), { manifest: anyManifest })).rejects.toThrow(
      /refusing entry "ckpt\/vocab\.txt": symbolic links are not allowed/,
    );
    rmSync(path.join(src, "ckpt", "vocab.txt"));
    execFileSync("ln", [path.join(src, "ckpt", "config.json"), path.join(src, "ckpt", "hard.json")]);
    execFileSync("tar", ["czf", "hard.tar.gz", "ckpt"], { cwd: src });
    await expect(unpackVerified(path.join(src, "hard.tar.gz"), fresh("d"), { manifest: anyManifest })).rejects.toThrow(/hard links are not allowed/);
    execFileSync("tar", ["czPf", "abs.tar.gz", path.join(src, "ckpt", "config.json")], { cwd: src });
    await expect(unpackVerified(path.join(src, "abs.tar.gz"), fresh("d"), { manifest: anyManifest })).rejects.toThrow(/absolute path/);
  });

  it("reports a corrupt or truncated archive as a UserError", async () => {
    const r = await packCheckpoint({ manifest: manifestOf(CKPT), outDir: fresh("trunc") });
    const bytes = readFileSync(r.archive.path);
    writeFileSync(r.archive.path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const err = await unpackVerified(r.archive.path, fresh("trunc-dest")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(statSync(r.archive.path).size).toBeLessThan(bytes.length);
  });
});
