// unpackVerified as a user meets it: what a good archive yields, where the expected files and
// SHA256SUMS come from, and each hostile or broken archive refused by name with nothing left in
// the output folder. Archives are written header by header so that every case is exact.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import * as tar from "tar";
import { afterAll, describe, expect, it } from "vitest";
import { describeUnpackProblems, MAX_MANIFEST_BYTES, splitEntryPath, unpackVerified, type UnpackOptions } from "../../../src/pack/unpack.js";
import { UserError } from "../../../src/report.js";
import { craftEntry, END_OF_ARCHIVE, type CraftedEntry } from "../../pack-helpers.js";

const tmp = mkdtempSync(path.join(tmpdir(), "azbert-unpack-unit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A new folder that exists (`made`) or a path that does not yet. */
const fresh = (name: string, made = true): string => {
  const d = path.join(tmp, `${n++}-${name}`);
  if (made) mkdirSync(d, { recursive: true });
  return d;
};
const sha = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** Every path under `dir`, folders with a trailing slash. */
function tree(dir: string, prefix = ""): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? [`${prefix}${d.name}/`, ...tree(dir, `${prefix}${d.name}/`)] : [`${prefix}${d.name}`]))
    .sort();
}

interface Body {
  path: string;
  data: string | Buffer;
}
const fileOf = (b: Body) => ({ path: b.path, size: Buffer.byteLength(b.data), sha256: sha(b.data) });
const manifestText = (files: readonly { path: string; size: number; sha256: string }[], topFolder = "ckpt"): string =>
  `${JSON.stringify({ version: 1, topFolder, files }, null, 2)}\n`;

/** Writes `name` (in a folder of its own) as gzip'd tar blocks of these entries; returns its path. */
function archive(name: string, entries: CraftedEntry[], tail: Buffer = Buffer.alloc(0)): string {
  const file = path.join(fresh("archive"), name);
  writeFileSync(file, Buffer.concat([zlib.gzipSync(Buffer.concat([...entries.map(craftEntry), END_OF_ARCHIVE]), { level: 1 }), tail]));
  return file;
}

/** An archive as pack writes it: manifest.json, the top folder, its folders and files. */
function packed(bodies: Body[], opts: { top?: string; manifest?: string; name?: string } = {}): string {
  const top = opts.top ?? "ckpt";
  const dirs = [...new Set(bodies.flatMap((b) => b.path.split("/").slice(0, -1).map((_, i, p) => p.slice(0, i + 1).join("/"))))].sort();
  return archive(opts.name ?? "ckpt.tar.gz", [
    { path: "manifest.json", data: opts.manifest ?? manifestText(bodies.map(fileOf), top) },
    { path: `${top}/`, type: "Directory" },
    ...dirs.map((d): CraftedEntry => ({ path: `${top}/${d}/`, type: "Directory" })),
    ...bodies.map((b): CraftedEntry => ({ path: `${top}/${b.path}`, data: b.data })),
  ]);
}

async function refusal(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

const BODIES: Body[] = [
  { path: "config.json", data: '{"hidden_size": 8}\n' },
  { path: "Vocab.txt", data: "a\nb\n" },
  { path: "sub/deep/weights.bin", data: Buffer.from([0, 1, 2, 3, 255]) },
  { path: "sub/notes.md", data: "# notes\n" },
];

describe("a well-formed archive", () => {
  it("unpacks against the manifest.json it starts with: every file, its size and sha256, in byte order", async () => {
    const a = packed(BODIES);
    const dest = fresh("good", false);
    const u = await unpackVerified(a, dest);
    expect(u.ok).toBe(true);
    expect(u.topFolder).toBe("ckpt");
    expect(u.manifestSource).toBe("archive");
    expect(u.missing).toEqual([]);
    expect(u.mismatched).toEqual([]);
    expect("sumsSource" in u).toBe(false); // no SHA256SUMS beside it: none used
    // Byte order: capitals before lowercase, "sub/deep/..." before "sub/notes.md".
    expect(u.files).toEqual(["Vocab.txt", "config.json", "sub/deep/weights.bin", "sub/notes.md"].map((p) => fileOf(BODIES.find((b) => b.path === p)!)));
    const bytes = readFileSync(a);
    expect(u.archive).toEqual({ name: "ckpt.tar.gz", size: bytes.length, sha256: sha(bytes) });
    expect(tree(dest)).toEqual(["Vocab.txt", "config.json", "sub/", "sub/deep/", "sub/deep/weights.bin", "sub/notes.md"]);
    for (const b of BODIES) expect(readFileSync(path.join(dest, b.path)).equals(Buffer.from(b.data))).toBe(true);
    expect(statSync(path.join(dest, "sub", "deep")).mode & 0o7777).toBe(0o755);
    expect(describeUnpackProblems(u)).toEqual([]);
  });

  it("folders get plain permissions whatever the archive claims", async () => {
    const body = { path: "sub/x", data: "x" };
    const a = archive("modes.tar.gz", [
      { path: "ckpt/", type: "Directory", mode: 0o7777 },
      { path: "ckpt/sub/", type: "Directory", mode: 0o7700 },
      { path: "ckpt/sub/x", data: "x", mode: 0o6755 },
    ]);
    const dest = fresh("modes-dest");
    expect((await unpackVerified(a, dest, { manifest: [fileOf(body)], sums: false })).ok).toBe(true);
    expect(statSync(path.join(dest, "sub")).mode & 0o7777).toBe(0o755);
    expect(statSync(path.join(dest, "sub", "x")).mode & 0o7777).toBe(0o644);
  });

  it("extracted files belong to whoever unpacks them and are dated now, not as the archive claims", async () => {
    // A header claiming another owner and a date in 1970.
    const h = new tar.Header({ path: "ckpt/x", type: "File", size: 5, mode: 0o644, mtime: new Date(0), uid: 4242, gid: 4343 });
    h.encode();
    const file = path.join(fresh("owner"), "owner.tar.gz");
    writeFileSync(file, zlib.gzipSync(Buffer.concat([h.block!, Buffer.from("pwned"), Buffer.alloc(507), END_OF_ARCHIVE])));
    const dest = fresh("owner-dest");
    const t0 = Date.now();
    expect((await unpackVerified(file, dest, { manifest: [fileOf({ path: "x", data: "pwned" })], sums: false })).ok).toBe(true);
    const st = statSync(path.join(dest, "x"));
    expect([st.uid, st.gid]).toEqual([process.getuid!(), process.getgid!()]);
    expect(st.mtimeMs).toBeGreaterThan(t0 - 60_000);
  });

  it("refuses '.' components: node-tar's strip would write the file a level deeper than checked, over a user's file", async () => {
    // What `tar czf x.tar.gz ./ckpt` makes: every entry starts with "./".
    const a = archive("dots.tar.gz", [
      { path: "./ckpt/", type: "Directory" },
      { path: "./ckpt/config.json", data: "pwned" },
    ]);
    const dest = fresh("dots");
    mkdirSync(path.join(dest, "ckpt"));
    writeFileSync(path.join(dest, "ckpt", "config.json"), "mine");
    const err = await refusal(unpackVerified(a, dest, { manifest: [fileOf({ path: "config.json", data: "pwned" })], sums: false }));
    expect(err.message).toBe(`dots.tar.gz: refusing entry "./ckpt/": path contains a '.' component (not an archive \`pack\` writes; unpack it with tar)`);
    expect(readFileSync(path.join(dest, "ckpt", "config.json"), "utf8")).toBe("mine");
    expect(tree(dest)).toEqual(["ckpt/", "ckpt/config.json"]);
    const inner = archive("inner-dot.tar.gz", [{ path: "ckpt/", type: "Directory" }, { path: "ckpt/./sub/x", data: "pwned" }]);
    const err2 = await refusal(unpackVerified(inner, fresh("inner-dot"), { manifest: [fileOf({ path: "sub/x", data: "pwned" })], sums: false }));
    expect(err2.message).toMatch(/^inner-dot\.tar\.gz: refusing entry "ckpt\/\.\/sub\/x": path contains a '\.' component/);
  });

  it("accepts a colon inside a name: only a leading drive letter is absolute", async () => {
    const body = { path: "step:100/w.bin", data: "w" };
    const dest = fresh("colon");
    expect((await unpackVerified(packed([body]), dest)).ok).toBe(true);
    expect(tree(dest)).toEqual(["step:100/", "step:100/w.bin"]);
  });

  it("hashes a file larger than one read and one parser slice exactly", async () => {
    const big = { path: "model.bin", data: randomBytes(3 * 1024 * 1024 + 123) };
    const a = packed([big, { path: "config.json", data: "{}" }]);
    const dest = fresh("big");
    const u = await unpackVerified(a, dest);
    expect(u.ok).toBe(true);
    expect(u.files).toContainEqual(fileOf(big));
    expect(u.archive.size).toBe(statSync(a).size);
    expect(u.archive.sha256).toBe(sha(readFileSync(a)));
    expect(readFileSync(path.join(dest, "model.bin")).equals(big.data)).toBe(true);
  });

  it("accepts a manifest.json of exactly the documented limit", async () => {
    const files = [fileOf(BODIES[0]!)];
    const text = manifestText(files);
    // JSON whitespace in a random mix: plain spaces would deflate past node-tar's bomb ratio.
    const ws = Buffer.from(" \n\t\r");
    const block = Buffer.from(randomBytes(64 * 1024).map((b) => ws[b & 3]!)).toString("latin1"); // longer than deflate's window
    const padded = text + block.repeat(256).slice(0, MAX_MANIFEST_BYTES - Buffer.byteLength(text));
    expect(Buffer.byteLength(padded)).toBe(16 * 1024 * 1024);
    const u = await unpackVerified(packed([BODIES[0]!], { manifest: padded }), fresh("limit"));
    expect(u.ok).toBe(true);
  });

  it("accepts the user's own empty folder where the archive has one, and leaves it there on failure", async () => {
    const dest = fresh("own-folder");
    mkdirSync(path.join(dest, "sub"));
    const good = await unpackVerified(packed([{ path: "sub/x", data: "x" }]), dest);
    expect(good.ok).toBe(true);
    rmSync(path.join(dest, "sub", "x"));
    // The same layout with a file whose bytes are not those of the manifest.
    const bad = await unpackVerified(packed([{ path: "sub/x", data: "y" }], { manifest: manifestText([fileOf({ path: "sub/x", data: "x" })]) }), dest);
    expect(bad.ok).toBe(false);
    expect(tree(dest)).toEqual(["sub/"]); // the user's folder stays, the file is gone
  });

  it("takes the top folder from the archive's manifest.json: any other top folder is refused", async () => {
    const a = packed(BODIES.slice(0, 1), { manifest: manifestText(BODIES.slice(0, 1).map(fileOf), "model") });
    const dest = fresh("top");
    expect((await refusal(unpackVerified(a, dest))).message).toBe('ckpt.tar.gz: refusing entry "ckpt/": outside the top folder model/');
    expect(tree(dest)).toEqual([]);
  });

  it("an archive whose manifest.json names no top folder takes its first folder", async () => {
    const files = BODIES.slice(0, 1).map(fileOf);
    const u = await unpackVerified(packed(BODIES.slice(0, 1), { top: "weights", manifest: JSON.stringify(files) }), fresh("plain-list"));
    expect(u).toMatchObject({ ok: true, topFolder: "weights" });
  });
});

describe("the expected files", () => {
  // An archive with no manifest.json (as GNU tar makes it): only a given manifest can vouch for it.
  const bare = (): string =>
    archive("bare.tar.gz", [
      { path: "ckpt/", type: "Directory" },
      { path: "ckpt/config.json", data: BODIES[0]!.data },
    ]);

  it("from a manifest file: its path is reported, and its top folder is the one accepted", async () => {
    const dir = fresh("mfile");
    const file = path.join(dir, "manifest.json");
    writeFileSync(file, manifestText([fileOf(BODIES[0]!)], "ckpt"));
    const u = await unpackVerified(bare(), fresh("mfile-dest"), { manifest: file, sums: false });
    expect(u).toMatchObject({ ok: true, topFolder: "ckpt", manifestSource: file });
    // The file's top folder holds even when the archive's own manifest.json names another.
    writeFileSync(file, manifestText([fileOf(BODIES[0]!)], "model"));
    const dest = fresh("mfile-dest2");
    expect((await refusal(unpackVerified(packed(BODIES.slice(0, 1)), dest, { manifest: file, sums: false }))).message).toBe(
      'ckpt.tar.gz: refusing entry "ckpt/": outside the top folder model/',
    );
    expect(tree(dest)).toEqual([]);
  });

  it("from a list: reported as given, the archive's first folder is the top folder", async () => {
    const u = await unpackVerified(bare(), fresh("given"), { manifest: [fileOf(BODIES[0]!)], sums: false });
    expect(u).toMatchObject({ ok: true, topFolder: "ckpt", manifestSource: "given" });
  });

  it("a missing manifest file is an error naming it", async () => {
    const missing = path.join(fresh("nomf"), "manifest.json");
    expect((await refusal(unpackVerified(bare(), fresh("nomf-dest"), { manifest: missing, sums: false }))).message).toMatch(/manifest\.json: not a readable manifest \(ENOENT\)/);
  });

  it.each<[string, (files: { path: string; size: number; sha256: string }[]) => { path: string; size: number; sha256: string }[], RegExp]>([
    ["a size", (f) => f.map((e) => (e.path === "config.json" ? { ...e, size: e.size + 1 } : e)), /disagree on config\.json \(size or sha256\)/],
    ["a file the archive lacks", (f) => [...f, { path: "extra.bin", size: 1, sha256: "e".repeat(64) }], /disagree on extra\.bin \(listed by one only\)/],
    ["a file only the archive has", (f) => f.filter((e) => e.path !== "Vocab.txt"), /disagree on Vocab\.txt \(listed by one only\)/],
  ])("refuses an archive whose manifest.json and the given manifest disagree on %s", async (_what, change, re) => {
    const dest = fresh("disagree", false);
    const err = await refusal(unpackVerified(packed(BODIES), dest, { manifest: change(BODIES.map(fileOf)), sums: false }));
    expect(err.message).toMatch(/^ckpt\.tar\.gz: its manifest\.json and the given manifest disagree on /);
    expect(err.message).toMatch(re);
    expect(existsSync(dest)).toBe(false); // the folder it made is gone again
  });

  it("agrees with a given manifest listing the same files in another order", async () => {
    const u = await unpackVerified(packed(BODIES), fresh("order"), { manifest: BODIES.map(fileOf).reverse(), sums: false });
    expect(u.ok).toBe(true);
  });

  it.each([
    ["not JSON", "{ files: ", /^ckpt\.tar\.gz: manifest\.json: not a readable manifest/],
    ["without a files list", '{"version": 1}', /^ckpt\.tar\.gz: manifest\.json: no "files" list/],
    ["with an unsafe path", manifestText([{ path: "../x", size: 1, sha256: "a".repeat(64) }]), /^ckpt\.tar\.gz: manifest\.json: manifest entry "\.\.\/x"/],
  ])("refuses an archive whose manifest.json is %s", async (_what, text, re) => {
    const dest = fresh("badmf");
    expect((await refusal(unpackVerified(packed(BODIES, { manifest: text }), dest, { sums: false }))).message).toMatch(re);
    expect(tree(dest)).toEqual([]);
  });
});

describe("SHA256SUMS", () => {
  const sumsFor = (a: string, lines: string[]): string => {
    const f = path.join(path.dirname(a), "SHA256SUMS");
    writeFileSync(f, lines.map((l) => `${l}\n`).join(""));
    return f;
  };
  const fileLines = (top = "ckpt") => BODIES.map((b) => `${sha(b.data)}  ${top}/${b.path}`);

  it("beside the archive is used: the archive's sha256 and every file's must match", async () => {
    const a = packed(BODIES);
    const f = sumsFor(a, [`${sha(readFileSync(a))}  ckpt.tar.gz`, ...fileLines()]);
    const u = await unpackVerified(a, fresh("sums"));
    expect(u).toMatchObject({ ok: true, sumsSource: f });
    expect(u.archive.expectedSha256).toBe(sha(readFileSync(a)));
    expect(describeUnpackProblems(u)).toEqual([]);
  });

  it("given by path is used, wherever it is; one with only other archives' lines checks nothing", async () => {
    const a = packed(BODIES);
    const f = path.join(fresh("elsewhere"), "SUMS.txt");
    writeFileSync(f, `${"0".repeat(64)}  other.tar.gz\n`);
    const u = await unpackVerified(a, fresh("sums-path"), { sums: f });
    expect(u).toMatchObject({ ok: true, sumsSource: f });
    expect("expectedSha256" in u.archive).toBe(false);
  });

  it("a given SHA256SUMS that cannot be read is a usage error naming it, before anything is made", async () => {
    const f = path.join(fresh("nosums"), "SHA256SUMS");
    const dest = fresh("nosums-dest", false);
    const err = await refusal(unpackVerified(packed(BODIES), dest, { sums: f }));
    expect(err.message).toBe(`${f}: cannot read (ENOENT)`);
    expect(err.exitCode).toBe(2);
    expect(existsSync(dest)).toBe(false);
  });

  it("sums: false ignores a SHA256SUMS beside the archive", async () => {
    const a = packed(BODIES);
    sumsFor(a, [`${"0".repeat(64)}  ckpt.tar.gz`, `${"1".repeat(64)}  ckpt/config.json`]);
    const u = await unpackVerified(a, fresh("nosums-used"), { sums: false });
    expect(u.ok).toBe(true);
    expect("sumsSource" in u).toBe(false);
  });

  it("an archive whose sha256 is not the one listed: not ok, described, and nothing left", async () => {
    const a = packed(BODIES);
    sumsFor(a, [`${"0".repeat(64)}  ckpt.tar.gz`]);
    const dest = fresh("badsum");
    const u = await unpackVerified(a, dest);
    expect(u.ok).toBe(false);
    expect(tree(dest)).toEqual([]);
    expect(describeUnpackProblems(u)).toEqual([`ckpt.tar.gz: sha256 ${sha(readFileSync(a)).slice(0, 12)}…, SHA256SUMS says 000000000000…`]);
  });

  it.each<[string, (lines: string[]) => string[], RegExp]>([
    ["misses a file", (l) => l.filter((x) => !x.endsWith("ckpt/sub/notes.md")), /SHA256SUMS and the archive's manifest disagree on sub\/notes\.md \(listed by one only\)/],
    ["lists a file more", (l) => [...l, `${"2".repeat(64)}  ckpt/extra.bin`], /SHA256SUMS and the archive's manifest disagree on extra\.bin \(listed by one only\)/],
    ["lists a file under another folder", (l) => [...l, `${"2".repeat(64)}  other/config.json`], /SHA256SUMS: other\/config\.json is not under the archive's top folder ckpt\/$/],
  ])("refuses before writing anything when SHA256SUMS %s", async (_what, change, re) => {
    const a = packed(BODIES);
    sumsFor(a, change(fileLines()));
    const dest = fresh("sums-refuse");
    expect((await refusal(unpackVerified(a, dest))).message).toMatch(re);
    expect(tree(dest)).toEqual([]);
  });

  it("refuses before writing anything when SHA256SUMS disagrees, even when the first entry is a file", async () => {
    const a = archive("ckpt.tar.gz", [
      { path: "manifest.json", data: manifestText([fileOf(BODIES[0]!)]) },
      { path: "ckpt/config.json", data: BODIES[0]!.data },
    ]);
    sumsFor(a, [`${"3".repeat(64)}  ckpt/config.json`]);
    const dest = fresh("sums-file-first");
    expect((await refusal(unpackVerified(a, dest))).message).toMatch(/disagree on config\.json \(size or sha256\)/);
    expect(tree(dest)).toEqual([]);
  });
});

describe("files that are not what the manifest says", () => {
  it("reports a changed file with both sizes and sha256, and a missing one, and removes everything it made", async () => {
    const want = [
      { path: "a/b/x", size: 5, sha256: sha("other") },
      { path: "a/y", size: 1, sha256: sha("y") },
    ];
    // No folder entries: the folders node-tar makes on the way are removed too.
    const a = archive("nodirs.tar.gz", [{ path: "ckpt/a/b/x", data: "pwned" }]);
    const dest = fresh("nodirs");
    const u = await unpackVerified(a, dest, { manifest: want, sums: false });
    expect(u.ok).toBe(false);
    expect(u.missing).toEqual(["a/y"]);
    expect(u.mismatched).toEqual([{ path: "a/b/x", expected: { size: 5, sha256: sha("other") }, actual: { size: 5, sha256: sha("pwned") } }]);
    expect(tree(dest)).toEqual([]);
    expect(describeUnpackProblems(u)).toEqual([`a/y: missing from the archive`, `a/b/x: sha256 ${sha("pwned").slice(0, 12)}…, the manifest says ${sha("other").slice(0, 12)}…`]);
  });

  it("an archive lacking a file of the manifest is not ok, and what it did write is removed", async () => {
    const a = archive("short.tar.gz", [{ path: "ckpt/x", data: "pwned" }]);
    const dest = fresh("short");
    const u = await unpackVerified(a, dest, { manifest: [fileOf({ path: "x", data: "pwned" }), fileOf({ path: "y", data: "y" })], sums: false });
    expect(u).toMatchObject({ ok: false, missing: ["y"], mismatched: [] });
    expect(tree(dest)).toEqual([]);
  });

  it("an archive with only a file whose bytes differ is not ok", async () => {
    const a = archive("changed.tar.gz", [{ path: "ckpt/x", data: "pwned" }]);
    const u = await unpackVerified(a, fresh("changed"), { manifest: [{ path: "x", size: 5, sha256: sha("other") }], sums: false });
    expect(u).toMatchObject({ ok: false, missing: [] });
    expect(u.mismatched.map((m) => m.path)).toEqual(["x"]);
  });

  it("an archive with no entries, checked against a given manifest, lacks every file and has no top folder", async () => {
    const a = archive("none.tar.gz", []);
    const dest = fresh("none");
    const u = await unpackVerified(a, dest, { manifest: [fileOf({ path: "x", data: "pwned" })], sums: false });
    expect(u).toMatchObject({ ok: false, topFolder: "", missing: ["x"], files: [] });
    expect(tree(dest)).toEqual([]);
  });
});

describe("which entry paths are safe to write", () => {
  // node-tar refuses an empty path and a header cannot hold a NUL, but a PAX record can: the rule holds for any path it is given.
  it.each([
    ["", "empty path"],
    ["ckpt/a\0b", "path contains NUL"],
    ["/etc/x", "absolute path"],
    ["ckpt/../x", "path contains a '..' component"],
  ])("%j is refused: %s", (p, reason) => {
    expect(splitEntryPath(p)).toEqual({ reason: expect.stringContaining(reason) });
  });

  it("a safe path is given as its components, repeated slashes dropped", () => {
    expect(splitEntryPath("ckpt")).toEqual({ parts: ["ckpt"] });
    expect(splitEntryPath("ckpt//sub/x/")).toEqual({ parts: ["ckpt", "sub", "x"] });
  });
});

describe("hostile or broken archives are refused by name, leaving nothing behind", () => {
  const X = { path: "x", size: 5, sha256: sha("pwned") };
  const opts: UnpackOptions = { manifest: [X], sums: false };
  // The last element, when there is one, rewrites the first header's type flag (node-tar cannot write it).
  it.each<[string, CraftedEntry[], string | RegExp, string?]>([
    ["a backslash in a path", [{ path: "ckpt\\x", data: "pwned" }], 'evil.tar.gz: refusing entry "ckpt\\\\x": path contains a backslash'],
    ["a path starting with a backslash", [{ path: "\\x", data: "pwned" }], 'evil.tar.gz: refusing entry "\\\\x": absolute path'],
    ["a drive-letter path", [{ path: "C:x", data: "pwned" }], 'evil.tar.gz: refusing entry "C:x": absolute path'],
    ["a path of only '.'", [{ path: "./", type: "Directory" }], `evil.tar.gz: refusing entry "./": path contains a '.' component (not an archive \`pack\` writes; unpack it with tar)`],
    ["a GNU dump folder", [{ path: "ckpt/", type: "Directory" }], 'evil.tar.gz: refusing entry "ckpt/": unsupported entry type GNUDumpDir', "D"],
    ["a file entry that names a link target", [{ path: "ckpt/x", data: "pwned", linkpath: "/etc/passwd" }], "evil.tar.gz: linkpath forbidden"],
    ["manifest.json after the first entry", [{ path: "ckpt/x", data: "pwned" }, { path: "manifest.json", data: "{}" }], 'evil.tar.gz: refusing entry "manifest.json": outside the top folder ckpt/'],
    ["a folder called manifest.json first", [{ path: "manifest.json/", type: "Directory" }, { path: "ckpt/x", data: "pwned" }], 'evil.tar.gz: refusing entry "ckpt/x": outside the top folder manifest.json/'],
    // node-tar's strict mode: its warning, worded with the entry as stored.
    ["a path with an empty component", [{ path: "ckpt//x", data: "pwned" }], 'evil.tar.gz: entry "ckpt//x": stripping / from absolute path'],
  ])("refuses %s", async (_name, entries, want, typeFlag) => {
    const blocks = entries.map(craftEntry);
    if (typeFlag) retype(blocks[0]!, typeFlag);
    const file = path.join(fresh("evil"), "evil.tar.gz");
    writeFileSync(file, zlib.gzipSync(Buffer.concat([...blocks, END_OF_ARCHIVE])));
    const dest = fresh("evil-dest", false);
    const err = await refusal(unpackVerified(file, dest, opts));
    if (typeof want === "string") expect(err.message).toBe(want);
    else expect(err.message).toMatch(want);
    expect(existsSync(dest)).toBe(false); // the output folder it made is removed again
  });

  it("refuses, leaving nothing, an archive without a manifest whose first entry only looks like one", async () => {
    // manifest.json/x is a file x under a top folder named manifest.json: nothing vouches for it.
    const a = archive("a.tar.gz", [{ path: "manifest.json/x", data: "pwned" }]);
    const dest = fresh("lookalike");
    expect((await refusal(unpackVerified(a, dest, { sums: false }))).message).toBe(
      'a.tar.gz: refusing entry "manifest.json/x": the archive does not start with manifest.json and no manifest was given: nothing to verify it against',
    );
    expect(tree(dest)).toEqual([]);
  });

  it("refuses a second entry for a folder", async () => {
    const a = archive("dup.tar.gz", [
      { path: "ckpt/", type: "Directory" },
      { path: "ckpt/sub/", type: "Directory" },
      { path: "ckpt/sub/", type: "Directory" },
    ]);
    const dest = fresh("dup");
    expect((await refusal(unpackVerified(a, dest, { manifest: [{ path: "sub/x", size: 1, sha256: sha("x") }], sums: false }))).message).toBe(
      'dup.tar.gz: refusing entry "ckpt/sub/": duplicate entry',
    );
    expect(tree(dest)).toEqual([]);
  });

  it("accepts folder entries for every folder on a manifest path, and refuses one at a file's place", async () => {
    const want = [{ path: "a/b/x", size: 5, sha256: sha("pwned") }];
    const ok = archive("dirs.tar.gz", [
      { path: "ckpt/", type: "Directory" },
      { path: "ckpt/a/", type: "Directory" },
      { path: "ckpt/a/b/", type: "Directory" },
      { path: "ckpt/a/b/x", data: "pwned" },
    ]);
    expect((await unpackVerified(ok, fresh("dirs"), { manifest: want, sums: false })).ok).toBe(true);
    const bad = archive("dirs2.tar.gz", [
      { path: "ckpt/", type: "Directory" },
      { path: "ckpt/a/b/x/", type: "Directory" },
    ]);
    const dest = fresh("dirs2");
    expect((await refusal(unpackVerified(bad, dest, { manifest: want, sums: false }))).message).toBe('dirs2.tar.gz: refusing entry "ckpt/a/b/x/": a/b/x is not in the manifest');
    expect(tree(dest)).toEqual([]);
  });

  it("refuses a folder where a file of the manifest is to be written", async () => {
    const dest = fresh("dir-in-way");
    mkdirSync(path.join(dest, "x"));
    const a = archive("a.tar.gz", [{ path: "ckpt/x", data: "pwned" }]);
    expect((await refusal(unpackVerified(a, dest, opts))).message).toBe(`a.tar.gz: refusing entry "ckpt/x": ${path.join(dest, "x")} already exists (extract into an empty folder)`);
    expect(tree(dest)).toEqual(["x/"]);
  });

  it("never writes an entry of a type tar does not know", async () => {
    const blocks = [craftEntry({ path: "ckpt/odd", data: "odd" }), craftEntry({ path: "ckpt/x", data: "pwned" })];
    retype(blocks[0]!, "Z");
    const file = path.join(fresh("odd"), "odd.tar.gz");
    writeFileSync(file, zlib.gzipSync(Buffer.concat([...blocks, END_OF_ARCHIVE])));
    const dest = fresh("odd-dest");
    const u = await unpackVerified(file, dest, opts);
    expect(u.ok).toBe(true);
    expect(tree(dest)).toEqual(["x"]);
  });

  it("allows up to 1 MiB after the end of the archive, and refuses more unread", async () => {
    const base = zlib.gzipSync(Buffer.concat([craftEntry({ path: "ckpt/x", data: "pwned" }), END_OF_ARCHIVE]));
    // What follows the end: a gzip member of zeros (as a gzip writer's padding), then more bytes.
    const padding = zlib.gzipSync(Buffer.alloc(256 * 1024), { level: 0 });
    const MiB = 1024 * 1024;
    const withTail = (total: number): string => {
      const file = path.join(fresh("tail"), "tail.tar.gz");
      writeFileSync(file, Buffer.concat([base, padding, Buffer.alloc(total - base.length - padding.length)]));
      return file;
    };
    // Reads are of 1 MiB: a file of 2 MiB has exactly 1 MiB after the read in which the archive ends.
    const fits = withTail(2 * MiB);
    const u = await unpackVerified(fits, fresh("tail-ok"), opts);
    expect(u.ok).toBe(true);
    expect(u.archive.size).toBe(2 * MiB);
    expect(u.archive.sha256).toBe(sha(readFileSync(fits)));
    const dest = fresh("tail-dest");
    const err = await refusal(unpackVerified(withTail(2 * MiB + 1), dest, opts));
    expect(err.message).toBe("tail.tar.gz: more than 1 MiB of data follows the end of the archive (an archive pack writes ends there)");
    expect(tree(dest)).toEqual([]);
  });

  it("refuses, before writing anything, an archive whose own manifest.json lists more than the disk holds", async () => {
    // A bomb vouches for itself: its manifest lists a petabyte of zeros. Every entry is held to its
    // manifest size, so what the manifest lists is all an archive can write; the disk is asked first.
    const listed = manifestText([{ path: "zeros.bin", size: 2 ** 50, sha256: "0".repeat(64) }]);
    const a = path.join(fresh("bomb"), "bomb.tar.gz");
    writeFileSync(a, zlib.gzipSync(Buffer.concat([craftEntry({ path: "manifest.json", data: listed }), craftEntry({ path: "ckpt/", type: "Directory" }), craftEntry({ path: "ckpt/zeros.bin", size: 1024 }), Buffer.alloc(1024), END_OF_ARCHIVE])));
    const dest = fresh("bomb-dest");
    const err = await refusal(unpackVerified(a, dest, { sums: false }));
    expect(err.message).toMatch(/^bomb\.tar\.gz: its files need 1024\.0 TiB and .+-bomb-dest has [\d.]+ [KMGT]iB free: nothing was written$/);
    expect(tree(dest)).toEqual([]);
    // A given manifest is held to the disk before the output folder is even made.
    const notMade = fresh("bomb-given", false);
    const given = await refusal(unpackVerified(a, notMade, { manifest: [{ path: "zeros.bin", size: 2 ** 50, sha256: "0".repeat(64) }], sums: false }));
    expect(given.message).toMatch(/^bomb\.tar\.gz: its files need .+ free: nothing was written$/);
    expect(existsSync(notMade)).toBe(false);
  });

  it("unpacks what pack writes even when it compresses past any ratio (a checkpoint of zeros)", async () => {
    // 64 MiB of zeros deflate about 1000 times smaller: a ratio guard would refuse our own archive.
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const bodies: Body[] = [{ path: "config.json", data: "{}\n" }, { path: "adapter.bin", data: zeros }];
    const a = path.join(fresh("zeros"), "ckpt.tar.gz");
    const top = "ckpt";
    const tarBytes = Buffer.concat([
      craftEntry({ path: "manifest.json", data: manifestText(bodies.map(fileOf), top) }),
      craftEntry({ path: `${top}/`, type: "Directory" }),
      ...bodies.flatMap((b) => [craftEntry({ path: `${top}/${b.path}`, size: Buffer.byteLength(b.data) }), Buffer.isBuffer(b.data) ? b.data : Buffer.from(b.data), Buffer.alloc((512 - (Buffer.byteLength(b.data) % 512)) % 512)]),
      END_OF_ARCHIVE,
    ]);
    writeFileSync(a, zlib.gzipSync(tarBytes, { level: 9 }));
    const dest = fresh("zeros-dest", false);
    const u = await unpackVerified(a, dest, { sums: false });
    expect(u.ok).toBe(true);
    expect(u.files.map((f) => [f.path, f.size])).toEqual([["adapter.bin", zeros.length], ["config.json", 3]]);
  });

  it.each<[string, () => Buffer, RegExp | string, UnpackOptions?]>([
    ["an archive cut inside a file", () => zlib.gzipSync(craftEntry({ path: "ckpt/x", data: "pwned" }).subarray(0, 515)), 'broken.tar.gz: truncated archive: "ckpt/x" ends early'],
    ["an empty file", () => Buffer.alloc(0), "broken.tar.gz: not a tar.gz archive"],
    ["a gzip stream that does not inflate", () => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(2000, 0x55)]), /^broken\.tar\.gz: zlib: /],
    ["an archive with no entries and no manifest", () => zlib.gzipSync(END_OF_ARCHIVE), "broken.tar.gz: an empty archive, or not a tar.gz", { sums: false }],
  ])("reports %s by name", async (_what, bytes, want, options = opts) => {
    const file = path.join(fresh("broken"), "broken.tar.gz");
    writeFileSync(file, bytes());
    const dest = fresh("broken-dest", false);
    const err = await refusal(unpackVerified(file, dest, options));
    if (typeof want === "string") expect(err.message).toBe(want);
    else expect(err.message).toMatch(want);
    expect(existsSync(dest)).toBe(false);
  });

  it("a missing archive is a usage error naming it", async () => {
    const missing = path.join(tmp, "nowhere", "ckpt.tar.gz");
    const err = await refusal(unpackVerified(missing, fresh("x")));
    expect(err.message).toBe(`${missing}: no such file`);
    expect(err.exitCode).toBe(2);
  });

  it("an output folder that cannot be made is an error naming it", async () => {
    const blocker = path.join(fresh("blocked"), "file");
    writeFileSync(blocker, "");
    const dest = path.join(blocker, "out");
    const err = await refusal(unpackVerified(packed(BODIES), dest, { sums: false }));
    expect(err.message).toMatch(new RegExp(`^${dest.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: cannot create the folder \\((ENOTDIR|EEXIST)\\)$`));
    expect(err.exitCode).toBe(1);
  });
});

/** Rewrites a ustar header's type flag and checksum. */
function retype(block: Buffer, flag: string): void {
  block.write(flag, 156, "ascii");
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
}
