// unpackVerified: safe extraction of a downloaded ckpt.tar.gz by node-tar, with its extraction
// guards on (strict: no `..`, no absolute paths, no extraction through a symbolic link, no link
// out of the folder) and ours in front of them, decided at each entry's header before a byte of
// it is written: only plain files and folders, one top folder, only the names of the manifest
// (the manifest.json the archive starts with, or one given), each at exactly its manifest size
// (node-tar never delivers more body than the header says, so nothing is written past it),
// nothing over an existing file. Every file is hashed as it is written; the archive itself is
// checked against SHA256SUMS. Extraction is synchronous (node-tar's UnpackSync fed by our
// reads), so when anything fails nothing is in flight and what was written is removed again.
// Every entry costs the same whatever came before it (the manifest's folders are a set), and
// reading stops at the end of the archive: what follows it is at most a few blocks of padding,
// so more than END_SLACK bytes after it is refused unread (`unpack /dev/zero` ends at once).
import { createHash } from "node:crypto";
import { createReadStream, existsSync, lstatSync, statfsSync, type Stats } from "node:fs";
import { mkdir, readFile, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { Minipass } from "minipass";
import * as tar from "tar";
import { UserError } from "../report.js";
import { formatBytes } from "../util/format-bytes.js";
import { normalizeManifest, parseManifestJson, parseSha256Sums, readManifestJson, type PublishedFile } from "./manifest-io.js";
import { ARCHIVE_MANIFEST } from "./pack.js";

export interface UnpackOptions {
  /** Expected files, or a manifest.json path. Default: the manifest.json at the start of the archive (which must then agree). */
  manifest?: readonly PublishedFile[] | string;
  /** SHA256SUMS to check the archive and its files against. Default: SHA256SUMS beside the archive, if there is one; false: none. */
  sums?: string | false;
}

export interface FileMismatch {
  path: string;
  expected: { size: number; sha256: string };
  actual: { size: number; sha256: string };
}

export interface UnpackResult {
  /** Every file of the manifest was in the archive with its sha256, and the archive matches SHA256SUMS. */
  ok: boolean;
  topFolder: string;
  archive: { name: string; size: number; sha256: string; expectedSha256?: string };
  /** The files extracted (to `destDir/<path>`); removed again when the result is not ok. */
  files: PublishedFile[];
  /** In the manifest, not in the archive. */
  missing: string[];
  mismatched: FileMismatch[];
  /** Where the expected files came from: "archive" (its manifest.json), "given", or a file path. */
  manifestSource: string;
  /** The SHA256SUMS used, if any. */
  sumsSource?: string;
}

interface Sums {
  source: string;
  archive?: string;
  /** `top/path` -> sha256 */
  files: Map<string, string>;
}

/** A manifest.json entry larger than this is refused at its header (a manifest of 100,000 files is about 15 MiB). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Bytes of the file allowed after the end of the archive (the rest of the gzip stream: its zero padding and trailer). */
export const END_SLACK = 1024 * 1024;

const NOT_ALLOWED: Record<string, string> = {
  SymbolicLink: "symbolic links are not allowed",
  Link: "hard links are not allowed",
  CharacterDevice: "character devices are not allowed",
  BlockDevice: "block devices are not allowed",
  FIFO: "FIFOs are not allowed",
};
const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/** The path's components, or why it is unsafe. `.` components and repeated slashes are dropped. */
export function splitEntryPath(p: string): { parts: string[] } | { reason: string } {
  if (p.length === 0) return { reason: "empty path" };
  if (p.includes("\0")) return { reason: "path contains NUL" };
  if (p.startsWith("/") || p.startsWith("\\") || /^[A-Za-z]:/.test(p)) return { reason: "absolute path" };
  if (p.includes("\\")) return { reason: "path contains a backslash" };
  const parts = p.split("/").filter((x) => x !== "");
  if (parts.includes("..")) return { reason: "path contains a '..' component" };
  // node-tar's strip would count a "." as the top folder and write one level deeper than checked here.
  if (parts.includes(".")) return { reason: "path contains a '.' component (not an archive `pack` writes; unpack it with tar)" };
  return { parts }; // never empty: a path that is not "" and does not start with "/" has a first component
}

/** Why the disk that holds `dir` (or would) cannot take `files`, or undefined when it can or cannot be told. */
function noRoomFor(files: readonly PublishedFile[], dir: string, label: string): string | undefined {
  const total = files.reduce((a, f) => a + f.size, 0);
  for (let at = dir; ; at = path.dirname(at)) {
    try {
      const st = statfsSync(at);
      const free = Number(st.bavail) * Number(st.bsize);
      return total > free ? `its files need ${formatBytes(total)} and ${label} has ${formatBytes(free)} free: nothing was written` : undefined;
    } catch {
      if (path.dirname(at) === at) return undefined;
    }
  }
}

async function loadSums(archive: string, sums: UnpackOptions["sums"]): Promise<Sums | undefined> {
  if (sums === false) return undefined;
  const file = sums ?? path.join(path.dirname(archive), "SHA256SUMS");
  if (sums === undefined && !existsSync(file)) return undefined;
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${file}: cannot read (${err.code ?? err.message})`, 2);
  });
  const lines = parseSha256Sums(text);
  const name = path.basename(archive);
  const files = new Map(lines.filter((l) => l.name.includes("/")).map((l) => [l.name, l.sha256]));
  const archiveLine = lines.find((l) => l.name === name);
  return { source: file, ...(archiveLine ? { archive: archiveLine.sha256 } : {}), files };
}

/** Hashes a file's bytes on their way to the disk (node-tar's `transform` hook). */
class HashingPassThrough extends Minipass<Buffer, Buffer> {
  private readonly hash = createHash("sha256");
  private size = 0;
  private finished = false;
  constructor(private readonly onEnd: (size: number, sha256: string) => void) {
    super();
  }
  override write(chunk: Buffer, cb?: () => void): boolean;
  override write(chunk: Buffer, encoding?: Minipass.Encoding, cb?: () => void): boolean;
  override write(chunk: Buffer, ...rest: unknown[]): boolean {
    this.hash.update(chunk);
    this.size += chunk.length;
    return super.write(chunk, ...(rest as [Minipass.Encoding, () => void]));
  }
  override end(cb?: () => void): this;
  override end(chunk: Buffer, cb?: () => void): this;
  override end(chunk: Buffer, encoding?: Minipass.Encoding, cb?: () => void): this;
  override end(...args: unknown[]): this {
    if (Buffer.isBuffer(args[0])) this.write(args.shift() as Buffer);
    if (!this.finished) {
      this.finished = true;
      this.onEnd(this.size, this.hash.digest("hex"));
    }
    return super.end(...(args as [() => void]));
  }
}

/** A refusal or failure, already worded for the user. */
class Refusal extends UserError {}

export async function unpackVerified(archive: string, destDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const name = path.basename(archive);
  await stat(archive).catch(() => {
    throw new UserError(`${archive}: no such file`, 2);
  });
  const given =
    typeof opts.manifest === "string"
      ? await readManifestJson(opts.manifest)
      : opts.manifest
        ? { topFolder: "", files: normalizeManifest(opts.manifest.map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 }))) }
        : undefined;
  const manifestSource = typeof opts.manifest === "string" ? opts.manifest : opts.manifest ? "given" : "archive";
  const sums = await loadSums(archive, opts.sums);

  const dest = path.resolve(destDir);
  const short = given ? noRoomFor(given.files, dest, destDir) : undefined;
  if (short) throw new UserError(`${name}: ${short}`);
  const madeDest = await mkdir(dest, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${destDir}: cannot create the folder (${err.code ?? err.message})`);
  });
  const createdDirs: string[] = madeDest ? [dest] : [];
  const created = new Set(createdDirs);
  const writtenFiles: string[] = [];

  let expected: Map<string, PublishedFile> | undefined;
  /** Every folder a manifest path lies in (`a`, `a/b` for `a/b/c`). */
  let expectedDirs = new Set<string>();
  const expect = (files: readonly PublishedFile[]): void => {
    // What may be written is what the manifest lists, each at exactly its size: refused up front
    // when the disk cannot hold it (node-tar's decompression-ratio guard is off: a checkpoint of
    // zeros packs past any ratio, and the sizes already bound what an archive can write).
    const short = noRoomFor(files, dest, destDir);
    if (short) throw new Refusal(`${name}: ${short}`);
    expected = new Map(files.map((f) => [f.path, f]));
    expectedDirs = new Set(files.flatMap((f) => f.path.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"))));
  };
  if (given) expect(given.files);
  let topFolder: string | undefined = given?.topFolder || undefined;
  let crossChecked = false;
  let entryIndex = 0;
  const seen = new Set<string>();
  /** node-tar strips the top folder off entry.path; messages name the path as stored. */
  const archivePaths = new WeakMap<object, string>();
  const actual = new Map<string, PublishedFile>();
  let failure: Refusal | undefined;
  let sawEndOfArchive = false;

  const refuse = (entry: string, reason: string): false => {
    fail(new Refusal(`${name}: refusing entry ${JSON.stringify(entry)}: ${reason}`));
    return false;
  };

  /** The archive's own manifest.json: it must agree with a given manifest; otherwise it is the manifest. */
  const adoptArchiveManifest = (text: string): void => {
    const inside = parseManifestJson(text, `${name}: ${ARCHIVE_MANIFEST}`);
    if (expected) {
      const diff = disagreement(inside.files, [...expected.values()]);
      if (diff) throw new Refusal(`${name}: its ${ARCHIVE_MANIFEST} and the ${manifestSource} manifest disagree on ${diff}`);
    } else {
      expect(inside.files);
    }
    topFolder ??= inside.topFolder || undefined;
  };

  /** SHA256SUMS, when there is one, must list the same files with the same hashes. */
  const crossCheckSums = (): void => {
    crossChecked = true;
    if (!sums || sums.files.size === 0 || !expected) return;
    const listed = [...sums.files].map(([n, sha256]) => {
      const slash = n.indexOf("/");
      if (n.slice(0, slash) !== topFolder) throw new Refusal(`${sums.source}: ${n} is not under the archive's top folder ${topFolder}/`);
      return { path: n.slice(slash + 1), sha256 };
    });
    const diff = disagreement(listed, [...expected.values()]);
    if (diff) throw new Refusal(`${sums.source} and the archive's manifest disagree on ${diff}`);
  };

  const filter = (entryPath: string, entry: tar.ReadEntry | Stats): boolean => {
    if (failure) return false;
    const e = entry as tar.ReadEntry;
    archivePaths.set(e, entryPath);
    const index = entryIndex++;
    const reason = NOT_ALLOWED[e.type];
    if (reason) return refuse(entryPath, reason);
    const isDir = e.type === "Directory";
    if (!isDir && !FILE_TYPES.has(e.type)) return refuse(entryPath, `unsupported entry type ${e.type}`);
    const split = splitEntryPath(entryPath);
    if ("reason" in split) return refuse(entryPath, split.reason);
    const parts = split.parts;
    if (index === 0 && !isDir && parts.length === 1 && parts[0] === ARCHIVE_MANIFEST) {
      if (e.size > MAX_MANIFEST_BYTES) return refuse(entryPath, `${e.size} bytes is too large for a manifest`);
      return true; // read by onReadEntry; node-tar's strip leaves it nothing to write
    }
    const [top, ...rest] = parts as [string, ...string[]];
    topFolder ??= top;
    if (top !== topFolder) return refuse(entryPath, `outside the top folder ${topFolder}/`);
    if (!expected) return refuse(entryPath, `the archive does not start with ${ARCHIVE_MANIFEST} and no manifest was given: nothing to verify it against`);
    try {
      if (!crossChecked) crossCheckSums();
    } catch (err) {
      fail(err as Refusal);
      return false;
    }
    if (rest.length === 0) return isDir ? true : refuse(entryPath, `a file where the top folder ${topFolder}/ should be`);
    const rel = rest.join("/");
    if (seen.has(rel)) return refuse(entryPath, "duplicate entry");
    const want = isDir ? undefined : expected.get(rel);
    if (isDir ? !expectedDirs.has(rel) : !want) return refuse(entryPath, `${rel} is not in the manifest`);
    if (want && e.size !== want.size) return refuse(entryPath, `${e.size} bytes, the manifest says ${want.size}`);
    const target = path.join(dest, ...rest);
    const existing = lstatOrUndefined(target);
    if (existing && !(isDir && existing.isDirectory())) return refuse(entryPath, `${target} already exists (extract into an empty folder)`);
    for (let i = 1; i <= rest.length; i++) {
      const d = path.join(dest, ...rest.slice(0, i));
      if ((i < rest.length || isDir) && !created.has(d) && !lstatOrUndefined(d)) {
        created.add(d);
        createdDirs.push(d);
      }
    }
    if (!isDir) writtenFiles.push(target);
    seen.add(rel);
    e.mode = isDir ? 0o755 : 0o644; // never the archive's setuid bits or odd permissions
    return true;
  };

  const unpacker = new tar.UnpackSync({
    cwd: dest,
    strip: 1,
    maxDecompressionRatio: Number.POSITIVE_INFINITY,
    strict: true,
    preserveOwner: false,
    noMtime: true,
    filter,
    onReadEntry: (entry) => {
      if (entry.path !== ARCHIVE_MANIFEST) return;
      const chunks: Buffer[] = [];
      entry.on("data", (c: Buffer) => chunks.push(c));
      entry.on("end", () => {
        try {
          adoptArchiveManifest(Buffer.concat(chunks).toString("utf8"));
        } catch (err) {
          fail(err instanceof Refusal ? err : new Refusal((err as Error).message));
        }
      });
    },
    transform: (entry) => {
      const rel = splitEntryPath(entry.path);
      const relPath = "parts" in rel ? rel.parts.join("/") : entry.path;
      const tap = new HashingPassThrough((size, sha256) => actual.set(relPath, { path: relPath, size, sha256 }));
      // node-tar pipes the entry through any Minipass stream; its type names only ReadEntry.
      return tap as unknown as tar.ReadEntry;
    },
  });
  function fail(err: Refusal): void {
    if (!failure) failure = err;
    unpacker.abort(err);
  }
  // After the end-of-archive blocks node-tar would keep whatever follows in memory (a few KiB
  // of gzip can inflate to gigabytes of zeros): stop the parser there.
  const endOfArchive = new Error("end of archive");
  unpacker.on("eof", () => {
    sawEndOfArchive = true;
    unpacker.abort(endOfArchive);
  });
  // node-tar skips a pax or long-name header over 1 MiB, inflating its body for nothing: refuse it.
  unpacker.on("ignoredEntry", (entry: tar.ReadEntry) => {
    if (entry.meta) fail(new Refusal(`${name}: refusing a metadata header of ${entry.size} bytes (${entry.path})`));
  });
  unpacker.on("error", (err: Error) => {
    if (err !== failure && err !== endOfArchive) fail(explainTarError(name, dest, err, archivePaths));
  });

  const archiveHash = createHash("sha256");
  let archiveSize = 0;
  /** Bytes read past the chunk in which the archive ended. */
  let afterEnd = 0;
  const input = createReadStream(archive, { highWaterMark: 1024 * 1024 });
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (sawEndOfArchive && (afterEnd += chunk.length) > END_SLACK) {
        fail(new Refusal(`${name}: more than ${END_SLACK / 1024 / 1024} MiB of data follows the end of the archive (an archive pack writes ends there)`));
        break;
      }
      archiveHash.update(chunk);
      archiveSize += chunk.length;
      if (failure) break;
      if (!sawEndOfArchive) feed(unpacker, chunk, () => sawEndOfArchive || !!failure);
    }
    if (!failure && !sawEndOfArchive) unpacker.end();
  } finally {
    input.destroy();
  }
  if (!failure && !expected) failure = new Refusal(`${name}: an empty archive, or not a tar.gz`);
  if (failure) {
    await removeWritten(writtenFiles, createdDirs);
    throw failure;
  }

  const missing: string[] = [];
  const mismatched: FileMismatch[] = [];
  for (const want of expected!.values()) {
    const got = actual.get(want.path);
    if (!got) missing.push(want.path);
    else if (got.sha256 !== want.sha256 || got.size !== want.size) mismatched.push({ path: want.path, expected: { size: want.size, sha256: want.sha256 }, actual: { size: got.size, sha256: got.sha256 } });
  }
  const sha256 = archiveHash.digest("hex");
  const ok = missing.length === 0 && mismatched.length === 0 && (!sums?.archive || sums.archive === sha256);
  if (!ok) await removeWritten(writtenFiles, createdDirs);
  return {
    ok,
    topFolder: topFolder ?? "",
    archive: { name, size: archiveSize, sha256, ...(sums?.archive ? { expectedSha256: sums.archive } : {}) },
    files: [...actual.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    missing,
    mismatched,
    manifestSource,
    ...(sums ? { sumsSource: sums.source } : {}),
  };
}

/**
 * Writes one read in slices: node-tar inflates each write whole before parsing it, so a slice
 * bounds the memory and time a decompression bomb gets before the parser can refuse it.
 */
function feed(unpacker: tar.UnpackSync, chunk: Buffer, stop: () => boolean): void {
  const SLICE = 16 * 1024;
  for (let i = 0; i < chunk.length && !stop(); i += SLICE) unpacker.write(chunk.subarray(i, i + SLICE));
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

async function removeWritten(files: readonly string[], dirs: readonly string[]): Promise<void> {
  for (const f of files) await rm(f, { force: true });
  for (const d of [...dirs].reverse()) await rmdir(d).catch(() => undefined);
}

/** The first path whose sha256 (or size, or presence) differs between two file lists, or undefined. */
function disagreement(a: readonly { path: string; sha256: string; size?: number }[], b: readonly { path: string; sha256: string; size?: number }[]): string | undefined {
  const bm = new Map(b.map((f) => [f.path, f]));
  for (const f of a) {
    const g = bm.get(f.path);
    if (!g) return `${f.path} (listed by one only)`;
    if (g.sha256 !== f.sha256 || (f.size !== undefined && g.size !== undefined && f.size !== g.size)) return `${f.path} (size or sha256)`;
    bm.delete(f.path);
  }
  const rest = [...bm.keys()][0];
  return rest === undefined ? undefined : `${rest} (listed by one only)`;
}

/** node-tar's errors and warnings (strict) in words that name the archive and the entry. */
function explainTarError(
  name: string,
  dest: string,
  err: Error & { code?: string; entry?: { path?: string }; symlink?: string },
  archivePaths: WeakMap<object, string>,
): Refusal {
  if (err instanceof Refusal) return err;
  const stored = err.entry ? (archivePaths.get(err.entry) ?? err.entry.path) : undefined;
  const entry = stored ? ` ${JSON.stringify(stored)}` : "";
  if (err.code === "TAR_SYMLINK_ERROR") {
    return new Refusal(`${name}: refusing entry${entry}: ${path.relative(dest, err.symlink ?? "") || err.symlink} in ${dest} is a symbolic link, and nothing is extracted through one`);
  }
  if (/unexpected end of file/i.test(err.message)) return new Refusal(`${name}: truncated archive (the gzip stream ends early)`);
  if (/^TAR_BAD_ARCHIVE: Truncated input/.test(err.message)) return new Refusal(`${name}: truncated archive:${entry} ends early`);
  if (/checksum failure/.test(err.message)) return new Refusal(`${name}: not a tar archive, or corrupt (header checksum failure)`);
  if (/Unrecognized archive format|incorrect header check/.test(err.message)) return new Refusal(`${name}: not a tar.gz archive`);
  return new Refusal(`${name}:${entry ? ` entry${entry}:` : ""} ${err.message.replace(/^TAR_[A-Z_]+: /, "")}`);
}

/** One line per problem, for messages and reports. */
export function describeUnpackProblems(r: UnpackResult): string[] {
  return [
    ...(r.archive.expectedSha256 && r.archive.expectedSha256 !== r.archive.sha256
      ? [`${r.archive.name}: sha256 ${r.archive.sha256.slice(0, 12)}…, SHA256SUMS says ${r.archive.expectedSha256.slice(0, 12)}…`]
      : []),
    ...r.missing.map((p) => `${p}: missing from the archive`),
    ...r.mismatched.map((m) => `${m.path}: sha256 ${m.actual.sha256.slice(0, 12)}…, the manifest says ${m.expected.sha256.slice(0, 12)}…`),
  ];
}

