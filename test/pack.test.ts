import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import * as tar from "tar";
import { afterAll, describe, expect, it } from "vitest";
import { packCheckpoint, unpackVerified } from "../src/pack/index.js";
import { END_SLACK, MAX_MANIFEST_BYTES } from "../src/pack/unpack.js";
import { UserError } from "../src/report.js";
import { craftArchive, craftEntry, END_OF_ARCHIVE, manifestOf, zeroMembers, type CraftedEntry } from "./pack-helpers.js";

const CKPT = path.resolve(import.meta.dirname, "fixtures", "azbert-tiny");
const tmp = mkdtempSync(path.join(tmpdir(), "azbert-pack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => {
  const d = path.join(tmp, `${n++}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
};
const sha = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
/** GNU tar, with listings in UTC whatever the machine's time zone. */
const gnuTar = (args: string[], cwd?: string): string => execFileSync("tar", args, { encoding: "utf8", env: { ...process.env, TZ: "UTC" }, ...(cwd ? { cwd } : {}) });

function listTree(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listTree(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

async function failure(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

describe("packCheckpoint", () => {
  it("gives byte-identical archives on every run, whatever the mtimes and permissions", async () => {
    const a = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("a") });
    const b = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("b") });
    const copy = fresh("copy");
    cpSync(CKPT, copy, { recursive: true });
    for (const [i, f] of readdirSync(copy).entries()) {
      utimesSync(path.join(copy, f), 1_000_000 + i * 7777, 2_000_000_000 - i);
      chmodSync(path.join(copy, f), i % 2 ? 0o600 : 0o755);
    }
    const c = await packCheckpoint({ manifest: await manifestOf(copy), outDir: fresh("c") });
    const bytes = readFileSync(a.archive.path);
    expect(readFileSync(b.archive.path).equals(bytes)).toBe(true);
    expect(readFileSync(c.archive.path).equals(bytes)).toBe(true);
    expect(a.archive.sha256).toBe(sha(bytes));
    expect(a.archive.size).toBe(bytes.length);
    expect(readFileSync(c.sha256sums, "utf8")).toBe(readFileSync(a.sha256sums, "utf8"));
    expect(readFileSync(c.manifestJson, "utf8")).toBe(readFileSync(a.manifestJson, "utf8"));
    // A gzip header without name or time (mtime 0), OS "unknown" (portable); a valid member.
    expect([...bytes.subarray(0, 8)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    expect(bytes[9]).toBe(255);
    expect(zlib.gunzipSync(bytes).length % 512).toBe(0);
    // Nothing of the packing machine: no user or group name, owner 0, no access or change times.
    const headers: tar.ReadEntry[] = [];
    await tar.t({ file: a.archive.path, onReadEntry: (e) => headers.push(e) });
    expect(headers.map((h) => [h.uname ?? "", h.gname ?? "", h.uid ?? 0, h.gid ?? 0, h.atime, h.ctime, h.mtime?.getTime()])).toEqual(
      headers.map(() => ["", "", 0, 0, undefined, undefined, 0]),
    );
  });

  it("extracts with GNU tar --strip-components=1 to the checkpoint, byte for byte; sha256sum -c passes", async () => {
    const out = fresh("out");
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: out });
    const listing = gnuTar(["tvzf", r.archive.path]).trim().split("\n");
    expect(listing[0]).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 manifest\.json$/);
    expect(listing[1]).toMatch(/^drwxr-xr-x 0\/0 +0 1970-01-01 00:00 ckpt\/$/);
    for (const line of listing.slice(2)) expect(line).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 ckpt\/[^/]+$/);
    const names = listing.slice(2).map((l) => l.split(" ").pop()!);
    expect(names).toEqual([...names].sort());

    mkdirSync(path.join(out, "ckpt"));
    gnuTar(["xzf", "ckpt.tar.gz", "-C", "ckpt", "--strip-components=1"], out);
    const got = listTree(path.join(out, "ckpt")).sort();
    expect(got).toEqual(readdirSync(CKPT).sort()); // the archive's manifest.json is not among them
    for (const f of got) expect(readFileSync(path.join(out, "ckpt", f)).equals(readFileSync(path.join(CKPT, f)))).toBe(true);
    // The model card's instructions, then `sha256sum -c SHA256SUMS` in the download folder.
    const check = execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" });
    expect(check).toContain("ckpt.tar.gz: OK");
    expect(check.trim().split("\n")).toHaveLength(got.length + 1);
  });

  it("starts the archive with manifest.json and writes one beside it: path, size and sha256 only", async () => {
    const manifest = await manifestOf(CKPT);
    const r = await packCheckpoint({ manifest, outDir: fresh("mj") });
    const text = readFileSync(r.manifestJson, "utf8");
    expect(text).not.toContain(CKPT);
    const mj = JSON.parse(text) as { topFolder: string; archive: { sha256: string }; files: Record<string, unknown>[] };
    expect(mj.topFolder).toBe("ckpt");
    expect(mj.archive.sha256).toBe(r.archive.sha256);
    for (const f of mj.files) expect(Object.keys(f)).toEqual(["path", "size", "sha256"]);
    const inside = JSON.parse(gnuTar(["xzf", r.archive.path, "-O", "manifest.json"])) as { topFolder: string; files: unknown[]; archive?: unknown };
    expect(inside).toEqual({ version: 1, topFolder: "ckpt", files: manifest.map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 })) });
  });

  it("handles nested and long paths (GNU tar agrees)", async () => {
    const src = fresh("nested");
    const long = `${"d".repeat(60)}/${"e".repeat(70)}/${"f".repeat(120)}.txt`;
    mkdirSync(path.join(src, path.dirname(long)), { recursive: true });
    writeFileSync(path.join(src, long), "long\n");
    mkdirSync(path.join(src, "sub"));
    writeFileSync(path.join(src, "sub", "a.json"), "{}\n");
    writeFileSync(path.join(src, "sub-b.txt"), "b\n");
    const out = fresh("nested-out");
    const r = await packCheckpoint({ manifest: await manifestOf(src), outDir: out, topFolder: "model" });
    const x = fresh("nested-x");
    gnuTar(["xzf", r.archive.path, "-C", x, "--strip-components=1"]);
    expect(listTree(x).sort()).toEqual([long, "sub-b.txt", "sub/a.json"].sort());
    const u = await unpackVerified(r.archive.path, fresh("nested-u"));
    expect(u).toMatchObject({ ok: true, topFolder: "model", missing: [], mismatched: [] });
  });

  it("stores hard-linked sources as whole files, never as links", async () => {
    const src = fresh("hard");
    writeFileSync(path.join(src, "a.bin"), "same bytes\n");
    linkSync(path.join(src, "a.bin"), path.join(src, "b.bin"));
    const r = await packCheckpoint({ manifest: await manifestOf(src), outDir: fresh("hard-out") });
    expect(gnuTar(["tvzf", r.archive.path])).not.toMatch(/^h|link to/m);
    expect((await unpackVerified(r.archive.path, fresh("hard-u"))).ok).toBe(true);
  });

  it("fails, naming the file, when a file changed since the manifest was made", async () => {
    const src = fresh("changed");
    cpSync(CKPT, src, { recursive: true });
    const manifest = await manifestOf(src);
    writeFileSync(path.join(src, "config.json"), readFileSync(path.join(src, "config.json"), "utf8").replace("{", "{ "));
    const out = fresh("changed-out");
    const err = await failure(packCheckpoint({ manifest, outDir: out }));
    expect(err.message).toMatch(/^config\.json changed since the manifest was made: \d+ bytes on disk, \d+ in the manifest/);
    const same = readFileSync(path.join(src, "vocab.txt"));
    writeFileSync(path.join(src, "vocab.txt"), Buffer.from(same.map((b, i) => (i === 0 ? b ^ 1 : b))));
    const m2 = (await manifestOf(src)).map((e) => (e.path === "vocab.txt" ? { ...e, sha256: sha(same) } : e));
    const err2 = await failure(packCheckpoint({ manifest: m2, outDir: out }));
    expect(err2.message).toMatch(/^vocab\.txt changed since the manifest was made: sha256 [0-9a-f]{12}… on disk/);
    expect(readdirSync(out)).toEqual([]); // no archive, no temporary files
  });

  it("fails, naming the file, when a source is missing or not a file", async () => {
    const [e] = await manifestOf(CKPT);
    const gone = { ...e!, source: path.join(tmp, "no-such-file") };
    expect((await failure(packCheckpoint({ manifest: [gone], outDir: fresh("gone") }))).message).toMatch(/^README\.md: cannot read .*no-such-file \(ENOENT\)/);
    expect((await failure(packCheckpoint({ manifest: [{ ...e!, source: tmp }], outDir: fresh("dir") }))).message).toMatch(/is not a regular file/);
  });

  it("reports progress up to the total", async () => {
    const seen: number[] = [];
    const m = await manifestOf(CKPT);
    await packCheckpoint({ manifest: m, outDir: fresh("progress"), chunkSize: 64 * 1024, onProgress: (p) => seen.push(p.bytesDone) });
    const total = m.reduce((s, e) => s + e.size, 0);
    expect(seen.at(-1)).toBe(total);
    expect(seen.every((v, i) => i === 0 || v >= seen[i - 1]!)).toBe(true);
    expect(seen.length).toBeGreaterThan(m.length);
  });

  it("rejects unsafe manifest paths", async () => {
    const [e] = await manifestOf(CKPT);
    await expect(packCheckpoint({ manifest: [{ ...e!, path: "../x" }], outDir: fresh("bad") })).rejects.toThrow(/"\.\.\/x" has a '\.\.' component/);
    await expect(packCheckpoint({ manifest: [{ ...e!, path: "/abs" }], outDir: fresh("bad") })).rejects.toThrow(/is absolute/);
  });
});

describe("unpackVerified", () => {
  it("round-trips against the archive's manifest and SHA256SUMS beside it", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("u") });
    const dest = fresh("u-dest");
    const u = await unpackVerified(r.archive.path, dest);
    expect(u).toMatchObject({ ok: true, topFolder: "ckpt", missing: [], mismatched: [], manifestSource: "archive", sumsSource: r.sha256sums });
    expect(u.archive).toEqual({ name: "ckpt.tar.gz", size: r.archive.size, sha256: r.archive.sha256, expectedSha256: r.archive.sha256 });
    expect(listTree(dest).sort()).toEqual(readdirSync(CKPT).sort());
    for (const f of readdirSync(CKPT)) {
      expect(readFileSync(path.join(dest, f)).equals(readFileSync(path.join(CKPT, f)))).toBe(true);
      expect(statSync(path.join(dest, f)).mode & 0o777).toBe(0o644);
    }
  });

  it("removes what it unpacked when the archive does not match SHA256SUMS", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("sums") });
    writeFileSync(r.sha256sums, readFileSync(r.sha256sums, "utf8").replace(r.archive.sha256, "0".repeat(64)));
    const dest = path.join(fresh("sums-dest"), "new");
    const u = await unpackVerified(r.archive.path, dest);
    expect(u.ok).toBe(false);
    expect(u.archive.expectedSha256).toBe("0".repeat(64));
    expect(existsSync(dest)).toBe(false);
  });

  it("refuses, before writing anything, when SHA256SUMS and the archive's manifest disagree", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("sums2") });
    const sums = readFileSync(r.sha256sums, "utf8").split("\n");
    writeFileSync(r.sha256sums, sums.map((l) => (l.endsWith("ckpt/vocab.txt") ? `${"1".repeat(64)}  ckpt/vocab.txt` : l)).join("\n"));
    const dest = fresh("sums2-dest");
    expect((await failure(unpackVerified(r.archive.path, dest))).message).toMatch(/SHA256SUMS and the archive's manifest disagree on vocab\.txt/);
    expect(listTree(dest)).toEqual([]);
  });

  it("checks a given manifest: missing and changed files are reported, and nothing is left", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("given") });
    const m = (await manifestOf(CKPT)).map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 }));
    // The archive's own manifest.json must agree with a given one.
    const other = m.map((e) => (e.path === "config.json" ? { ...e, sha256: "0".repeat(64) } : e));
    expect((await failure(unpackVerified(r.archive.path, fresh("given-x"), { manifest: other, sums: false }))).message).toMatch(
      /its manifest\.json and the given manifest disagree on config\.json/,
    );

    // An archive without a manifest.json (GNU tar): the given manifest is all there is.
    const src = fresh("given-src");
    cpSync(CKPT, path.join(src, "ckpt"), { recursive: true });
    gnuTar(["czf", "gnu.tar.gz", "ckpt"], src);
    const archive = path.join(src, "gnu.tar.gz");
    const dest = fresh("given-dest");
    const u = await unpackVerified(archive, dest, {
      manifest: [...other, { path: "model.safetensors", size: 1, sha256: "0".repeat(64) }],
      sums: false,
    });
    expect(u.ok).toBe(false);
    expect(u.missing).toEqual(["model.safetensors"]);
    expect(u.mismatched.map((x) => x.path)).toEqual(["config.json"]);
    expect(listTree(dest)).toEqual([]);
  });

  it("refuses a file that is not in the manifest, or not of its size, at its header", async () => {
    const src = fresh("extra-src");
    cpSync(CKPT, path.join(src, "ckpt"), { recursive: true });
    gnuTar(["czf", "gnu.tar.gz", "ckpt"], src);
    const m = await manifestOf(CKPT);
    const dest = fresh("extra-dest");
    const noVocab = m.filter((e) => e.path !== "vocab.txt");
    expect((await failure(unpackVerified(path.join(src, "gnu.tar.gz"), dest, { manifest: noVocab, sums: false }))).message).toMatch(
      /refusing entry "ckpt\/vocab\.txt": vocab\.txt is not in the manifest/,
    );
    const bigger = m.map((e) => (e.path === "config.json" ? { ...e, size: e.size - 1 } : e));
    expect((await failure(unpackVerified(path.join(src, "gnu.tar.gz"), dest, { manifest: bigger, sums: false }))).message).toMatch(
      /refusing entry "ckpt\/config\.json": \d+ bytes, the manifest says \d+/,
    );
    expect(listTree(dest)).toEqual([]);
  });

  it("reads archives made by GNU tar (gnu and posix formats, long names)", async () => {
    const src = fresh("gnu-ok");
    cpSync(CKPT, path.join(src, "ckpt"), { recursive: true });
    const long = `${"n".repeat(150)}.json`;
    writeFileSync(path.join(src, "ckpt", long), "{}\n");
    const manifest = await manifestOf(path.join(src, "ckpt"));
    for (const format of ["gnu", "posix"]) {
      gnuTar(["czf", `${format}.tar.gz`, `--format=${format}`, "ckpt"], src);
      const u = await unpackVerified(path.join(src, `${format}.tar.gz`), fresh(`gnu-ok-${format}`), { manifest, sums: false });
      expect(u).toMatchObject({ ok: true, topFolder: "ckpt", missing: [], mismatched: [] });
      expect(u.files.map((f) => f.path)).toContain(long);
    }
  });

  it("reads a pax size with a ustar size of 0 (how files of 8 GiB and more are stored)", async () => {
    const body = "bytes whose size only the pax header carries\n";
    const dir = fresh("pax");
    const archive = craftArchive(path.join(dir, "pax.tar.gz"), [
      { path: "ckpt/", type: "Directory" },
      { path: "ckpt/big.bin", data: body, size: 0, pax: { size: body.length } },
      { path: "ckpt/after.txt", data: "after\n" },
    ]);
    const manifest = [
      { path: "after.txt", size: 6, sha256: sha("after\n") },
      { path: "big.bin", size: body.length, sha256: sha(body) },
    ];
    const dest = fresh("pax-dest");
    expect((await unpackVerified(archive, dest, { manifest, sums: false })).ok).toBe(true);
    expect(readFileSync(path.join(dest, "big.bin"), "utf8")).toBe(body);
    // GNU tar reads the same archive the same way.
    const g = fresh("pax-gnu");
    gnuTar(["xzf", archive, "-C", g]);
    expect(readFileSync(path.join(g, "ckpt", "big.bin"), "utf8")).toBe(body);
  });

  it("refuses a 1 GiB file that is not in the manifest at its header, before writing it", async () => {
    const dir = fresh("huge");
    const archive = path.join(dir, "huge.tar.gz");
    const GiB = 1024 * 1024 * 1024;
    // Header, then 64 gzip members of 16 MiB of zeros: 1 GiB of body from about 1 MB of file.
    writeFileSync(archive, Buffer.concat([zlib.gzipSync(craftEntry({ path: "ckpt/huge.bin", size: GiB })), zeroMembers(64), zlib.gzipSync(END_OF_ARCHIVE)]));
    const dest = fresh("huge-dest");
    const t0 = performance.now();
    const err = await failure(unpackVerified(archive, dest, { manifest: [{ path: "config.json", size: 2, sha256: sha("{}") }], sums: false }));
    expect(err.message).toMatch(/refusing entry "ckpt\/huge\.bin": huge\.bin is not in the manifest/);
    expect(listTree(dest)).toEqual([]);
    // Generous bound: the refusal comes at the header, not after inflating and writing 1 GiB.
    expect(performance.now() - t0).toBeLessThan(15_000);
  });

  it("refuses a manifest.json over 16 MiB (the documented limit) at its header, before reading it", async () => {
    expect(MAX_MANIFEST_BYTES).toBe(16 * 1024 * 1024);
    const dir = fresh("big-manifest");
    const archive = path.join(dir, "ckpt.tar.gz");
    const body = Buffer.alloc(16 * 1024 * 1024 + 1, 0x20); // JSON whitespace, were it read
    writeFileSync(archive, zlib.gzipSync(Buffer.concat([craftEntry({ path: "manifest.json", data: body }), craftEntry({ path: "ckpt/", type: "Directory" }), END_OF_ARCHIVE])));
    const err = await failure(unpackVerified(archive, fresh("big-manifest-dest"), { sums: false }));
    expect(err.message).toBe(`ckpt.tar.gz: refusing entry "manifest.json": ${16 * 1024 * 1024 + 1} bytes is too large for a manifest`);
  });

  it("stops at the end-of-archive marker: gigabytes of zeros after it are neither inflated nor read, and refused", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("tail") });
    writeFileSync(r.archive.path, Buffer.concat([readFileSync(r.archive.path), zeroMembers(256)])); // 4 GiB after the end
    const dest = fresh("tail-dest");
    const t0 = performance.now();
    const e = await failure(unpackVerified(r.archive.path, dest, { sums: false }));
    expect(e.message).toBe(`ckpt.tar.gz: more than ${END_SLACK / 1024 / 1024} MiB of data follows the end of the archive (an archive pack writes ends there)`);
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(readdirSync(dest)).toEqual([]); // what it had unpacked is removed again
  });

  it("refuses to extract over existing files", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("ow") });
    const dest = fresh("ow-dest");
    writeFileSync(path.join(dest, "config.json"), "mine");
    expect((await failure(unpackVerified(r.archive.path, dest))).message).toMatch(/refusing entry "ckpt\/config\.json": .*config\.json already exists/);
    expect(readFileSync(path.join(dest, "config.json"), "utf8")).toBe("mine");
    expect(readdirSync(dest)).toEqual(["config.json"]); // the files before it were removed again
  });

  it("never extracts through a symbolic link in the destination (node-tar's guard)", async () => {
    const src = fresh("through");
    mkdirSync(path.join(src, "sub"));
    writeFileSync(path.join(src, "sub", "a.json"), "{}\n");
    const r = await packCheckpoint({ manifest: await manifestOf(src), outDir: fresh("through-out") });
    const dest = fresh("through-dest");
    const elsewhere = fresh("elsewhere");
    symlinkSync(elsewhere, path.join(dest, "sub"));
    // Our archive has a folder entry for sub/: refused as existing before node-tar sees it.
    expect((await failure(unpackVerified(r.archive.path, dest))).message).toMatch(/refusing entry "ckpt\/sub\/": .*sub already exists/);
    // An archive of the file alone: node-tar's guard refuses to create it through the link.
    mkdirSync(path.join(src, "ckpt"));
    cpSync(path.join(src, "sub"), path.join(src, "ckpt", "sub"), { recursive: true });
    gnuTar(["czf", "file-only.tar.gz", "ckpt/sub/a.json"], src);
    const err = await failure(unpackVerified(path.join(src, "file-only.tar.gz"), dest, { manifest: await manifestOf(path.join(src, "ckpt")), sums: false }));
    expect(err.message).toMatch(/refusing entry "ckpt\/sub\/a\.json": sub in .* is a symbolic link, and nothing is extracted through one/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  // Hostile archives, header by header.
  const manifest = [{ path: "x", size: 5, sha256: sha("pwned") }];
  it.each<[string, CraftedEntry[], RegExp]>([
    ["a '..' component", [{ path: "ckpt/", type: "Directory" }, { path: "ckpt/../x", data: "pwned" }], /refusing entry "ckpt\/\.\.\/x": path contains a '\.\.' component/],
    ["a leading ../", [{ path: "../x", data: "pwned" }], /refusing entry "\.\.\/x": path contains a '\.\.' component/],
    ["an absolute path", [{ path: "/tmp/azbert-evil", data: "pwned" }], /refusing entry "\/tmp\/azbert-evil": absolute path/],
    ["a duplicate", [{ path: "ckpt/x", data: "pwned" }, { path: "ckpt/x", data: "pwned" }], /refusing entry "ckpt\/x": duplicate entry/],
    ["a second top folder", [{ path: "ckpt/x", data: "pwned" }, { path: "other/x", data: "pwned" }], /refusing entry "other\/x": outside the top folder ckpt\//],
    ["a symbolic link", [{ path: "ckpt/x", type: "SymbolicLink", linkpath: "/etc/passwd" }], /refusing entry "ckpt\/x": symbolic links are not allowed/],
    ["a hard link out of the folder", [{ path: "ckpt/x", type: "Link", linkpath: "/etc/passwd" }], /refusing entry "ckpt\/x": hard links are not allowed/],
    ["a device", [{ path: "ckpt/x", type: "CharacterDevice" }], /refusing entry "ckpt\/x": character devices are not allowed/],
    ["a FIFO", [{ path: "ckpt/x", type: "FIFO" }], /refusing entry "ckpt\/x": FIFOs are not allowed/],
    ["a file where the top folder should be", [{ path: "ckpt", data: "pwned" }], /refusing entry "ckpt": a file where the top folder ckpt\/ should be/],
    ["a folder that is not in the manifest", [{ path: "ckpt/", type: "Directory" }, { path: "ckpt/bin/", type: "Directory" }], /refusing entry "ckpt\/bin\/": bin is not in the manifest/],
    ["a metadata header too large to read", [{ path: "ckpt/x", data: "pwned", pax: { path: "ckpt/x" + "y".repeat(2 * 1024 * 1024) } }], /metadata header of \d+ bytes/],
  ])("refuses %s", async (_name, entries, re) => {
    const dest = fresh("evil-dest");
    const archive = craftArchive(path.join(fresh("crafted"), "evil.tar.gz"), entries);
    await expect(unpackVerified(archive, dest, { manifest, sums: false })).rejects.toThrow(re);
    expect(listTree(dest)).toEqual([]); // nothing left behind
    expect(existsSync("/tmp/azbert-evil")).toBe(false);
  });

  it("extracts files with plain permissions, whatever modes the archive claims", async () => {
    const archive = craftArchive(path.join(fresh("modes"), "modes.tar.gz"), [{ path: "ckpt/x", data: "pwned", mode: 0o4777 }]);
    const dest = fresh("modes-dest");
    expect((await unpackVerified(archive, dest, { manifest, sums: false })).ok).toBe(true);
    expect(statSync(path.join(dest, "x")).mode & 0o7777).toBe(0o644);
  });

  it("refuses an archive that does not start with manifest.json when no manifest is given", async () => {
    const archive = craftArchive(path.join(fresh("nomf"), "a.tar.gz"), [{ path: "ckpt/x", data: "pwned" }]);
    expect((await failure(unpackVerified(archive, fresh("nomf-dest"), { sums: false }))).message).toMatch(/does not start with manifest\.json and no manifest was given/);
  });

  it("reports a truncated, corrupt or non-gzip archive as a UserError naming the archive and the problem", async () => {
    const r = await packCheckpoint({ manifest: await manifestOf(CKPT), outDir: fresh("trunc") });
    const bytes = readFileSync(r.archive.path);
    writeFileSync(r.archive.path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const dest = fresh("trunc-dest");
    expect((await failure(unpackVerified(r.archive.path, dest, { sums: false }))).message).toMatch(/^ckpt\.tar\.gz: truncated archive/);
    expect(listTree(dest)).toEqual([]);

    const tarBytes = Buffer.concat([craftEntry({ path: "ckpt/x", data: "pwned" }), END_OF_ARCHIVE]);
    tarBytes[148] = 0x37; // the header checksum no longer matches
    const corrupt = path.join(fresh("corrupt"), "corrupt.tar.gz");
    writeFileSync(corrupt, zlib.gzipSync(tarBytes));
    expect((await failure(unpackVerified(corrupt, fresh("corrupt-dest"), { manifest, sums: false }))).message).toMatch(/^corrupt\.tar\.gz: not a tar archive, or corrupt/);

    const text = path.join(fresh("text"), "notes.tar.gz");
    writeFileSync(text, "this is not an archive\n".repeat(100));
    expect((await failure(unpackVerified(text, fresh("text-dest"), { manifest, sums: false }))).message).toMatch(/^notes\.tar\.gz: not a tar archive, or corrupt/);
  });
});
