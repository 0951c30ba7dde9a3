// unpackVerified: safe extraction of a downloaded ckpt.tar.gz. Refuses anything that could
// write outside the destination or is not a plain file/folder, strips the single top folder,
// and checks every file against the manifest (size and sha256), reporting missing/extra files.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, open, readFile, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import type { Manifest } from "../checkpoint/types.js";
import { UserError } from "../report.js";
import { normalizeManifest, parseSha256Sums, readManifestJson, type PublishedFile } from "./manifest-io.js";
import { BLOCK, decodeHeader, isZeroBlock, parsePax } from "./tar-format.js";

export interface UnpackOptions {
  /** Entries or a path to manifest.json / SHA256SUMS. Default: manifest.json, else SHA256SUMS, beside the archive. */
  manifest?: Manifest | readonly PublishedFile[] | string;
  /** Expected top folder; default: whatever the archive's first entry uses. */
  topFolder?: string;
}

export interface FileMismatch {
  path: string;
  expected: { size: number; sha256?: string };
  actual: { size: number; sha256: string };
}

export interface UnpackResult {
  ok: boolean;
  topFolder: string;
  /** Where each file went is `destDir/<path>`. */
  files: PublishedFile[];
  /** In the manifest, not in the archive. */
  missing: string[];
  /** In the archive, not in the manifest. */
  extra: string[];
  mismatched: FileMismatch[];
  /** Where the manifest came from ("given", or a file path). */
  manifestSource: string;
}

interface Expected {
  path: string;
  size?: number;
  sha256: string;
}

const MAX_META = 1024 * 1024;

/** Pull-based byte reader over an async iterable of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    }
    return this.buf.length >= n;
  }
  /** Exactly n bytes, or undefined at a clean end of stream. */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.buf.length === 0) return undefined;
      throw new Error("truncated archive");
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Up to n bytes (at least 1): for streaming file data. */
  async readSome(n: number): Promise<Buffer> {
    if (!(await this.fill(1))) throw new Error("truncated archive");
    const take = Math.min(n, this.buf.length);
    const out = this.buf.subarray(0, take);
    this.buf = this.buf.subarray(take);
    return out;
  }
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.readSome(left)).length;
  }
}

const LINK_TYPES: Record<string, string> = {
  "1": "hard links are not allowed",
  "2": "symbolic links are not allowed",
  "3": "character devices are not allowed",
  "4": "block devices are not allowed",
  "6": "FIFOs are not allowed",
  K: "links are not allowed",
};

/** Why a stored path is unsafe, or undefined. Returns the cleaned components otherwise. */
function cleanPath(p: string): { parts: string[] } | { reason: string } {
  if (p.length === 0) return { reason: "empty path" };
  if (p.includes("\0")) return { reason: "path contains NUL" };
  if (p.startsWith("/") || p.startsWith("\\") || /^[A-Za-z]:/.test(p)) return { reason: "absolute path" };
  if (p.includes("\\")) return { reason: "path contains a backslash" };
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.some((x) => x === "..")) return { reason: "path contains a '..' component" };
  if (parts.length === 0) return { reason: "empty path" };
  return { parts };
}

async function loadExpected(archive: string, m: UnpackOptions["manifest"]): Promise<{ expected: Expected[]; source: string; topFolder?: string }> {
  if (m !== undefined && typeof m !== "string") {
    return { expected: normalizeManifest(m.map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 }))), source: "given" };
  }
  const candidates = typeof m === "string" ? [m] : [path.join(path.dirname(archive), "manifest.json"), path.join(path.dirname(archive), "SHA256SUMS")];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    if (path.basename(file) === "SHA256SUMS" || !file.endsWith(".json")) {
      const lines = parseSha256Sums(await readFile(file, "utf8"));
      const archiveName = path.basename(archive);
      const expected: Expected[] = [];
      let top: string | undefined;
      for (const l of lines) {
        if (l.name === archiveName || !l.name.includes("/")) continue;
        const slash = l.name.indexOf("/");
        top ??= l.name.slice(0, slash);
        expected.push({ path: l.name.slice(slash + 1), sha256: l.sha256 });
      }
      return { expected, source: file, topFolder: top };
    }
    const mj = await readManifestJson(file);
    return { expected: mj.files, source: file, topFolder: mj.topFolder || undefined };
  }
  throw new UserError(`no manifest to verify ${archive} against: pass one, or put manifest.json or SHA256SUMS beside the archive`);
}

export async function unpackVerified(archive: string, destDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const { expected, source, topFolder: manifestTop } = await loadExpected(archive, opts.manifest);
  let topFolder = opts.topFolder ?? manifestTop;
  await stat(archive).catch(() => {
    throw new UserError(`${archive}: no such file`);
  });
  await mkdir(destDir, { recursive: true });
  const dest = path.resolve(destDir);

  const created: string[] = [];
  const createdDirs: string[] = [];
  const seen = new Map<string, "file" | "dir">();
  const actual = new Map<string, PublishedFile>();
  const refuse = (entry: string, reason: string): never => {
    throw new UserError(`${path.basename(archive)}: refusing entry ${JSON.stringify(entry)}: ${reason}`);
  };
  const ensureDir = async (rel: string[]): Promise<void> => {
    let cur = dest;
    for (const part of rel) {
      cur = path.join(cur, part);
      try {
        await mkdir(cur);
        createdDirs.push(cur);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        if (!(await stat(cur)).isDirectory()) throw new UserError(`${cur} exists and is not a folder`);
      }
    }
  };

  const input = createReadStream(archive, { highWaterMark: 1024 * 1024 });
  const gunzip = zlib.createGunzip();
  input.on("error", (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  const reader = new ByteReader(gunzip[Symbol.asyncIterator]());

  try {
    let pax = new Map<string, string>();
    let longName: string | undefined;
    for (;;) {
      const block = await reader.read(BLOCK).catch((err: Error) => {
        throw new UserError(`${path.basename(archive)}: ${err.message}`);
      });
      if (!block || isZeroBlock(block)) break;
      let h;
      try {
        h = decodeHeader(block);
      } catch (err) {
        throw new UserError(`${path.basename(archive)}: ${(err as Error).message}`);
      }
      const padded = Math.ceil(h.size / BLOCK) * BLOCK;
      if (h.typeflag === "x" || h.typeflag === "g" || h.typeflag === "L") {
        if (h.size > MAX_META) refuse(h.path, "metadata header too large");
        const data = (await reader.read(padded)) ?? Buffer.alloc(0);
        const body = data.subarray(0, h.size);
        if (h.typeflag === "x") pax = parsePax(body);
        else if (h.typeflag === "L") longName = body.toString("utf8").replace(/\0+$/, "");
        // "g" (global pax, e.g. git archive's commit comment): nothing in it applies to us.
        continue;
      }
      const entryPath = pax.get("path") ?? longName ?? h.path;
      const size = pax.has("size") ? Number(pax.get("size")) : h.size;
      pax = new Map();
      longName = undefined;

      const linkReason = LINK_TYPES[h.typeflag];
      if (linkReason) refuse(entryPath, linkReason);
      if (h.typeflag !== "0" && h.typeflag !== "7" && h.typeflag !== "5") refuse(entryPath, `unsupported entry type '${h.typeflag}'`);
      const cleaned = cleanPath(entryPath);
      if ("reason" in cleaned) return refuse(entryPath, cleaned.reason);
      const [top, ...rest] = cleaned.parts;
      topFolder ??= top;
      if (top !== topFolder) refuse(entryPath, `outside the top folder ${topFolder}/`);
      const isDir = h.typeflag === "5";
      if (rest.length === 0) {
        if (!isDir) refuse(entryPath, `a file where the top folder ${topFolder}/ should be`);
        continue;
      }
      const rel = rest.join("/");
      if (seen.has(rel)) refuse(entryPath, "duplicate entry");
      for (let i = 1; i < rest.length; i++) {
        if (seen.get(rest.slice(0, i).join("/")) === "file") refuse(entryPath, `${rest.slice(0, i).join("/")} is a file`);
      }
      seen.set(rel, isDir ? "dir" : "file");
      if (isDir) {
        await ensureDir(rest);
        await reader.skip(padded);
        continue;
      }
      await ensureDir(rest.slice(0, -1));
      const target = path.join(dest, ...rest);
      const fh = await open(target, "wx", 0o644).catch((err: NodeJS.ErrnoException) => {
        throw new UserError(`cannot create ${target}: ${err.code === "EEXIST" ? "it already exists (extract into an empty folder)" : err.message}`);
      });
      created.push(target);
      const hash = createHash("sha256");
      try {
        let left = size;
        while (left > 0) {
          const chunk = await reader.readSome(Math.min(left, 4 * 1024 * 1024));
          hash.update(chunk);
          await fh.write(chunk);
          left -= chunk.length;
        }
      } catch (err) {
        throw err instanceof UserError ? err : new UserError(`${path.basename(archive)}: ${(err as Error).message} in ${entryPath}`);
      } finally {
        await fh.close();
      }
      await reader.skip(padded - size);
      actual.set(rel, { path: rel, size, sha256: hash.digest("hex") });
    }
  } catch (err) {
    input.destroy();
    gunzip.destroy();
    for (const f of created) await rm(f, { force: true });
    for (const d of createdDirs.reverse()) await rmdir(d).catch(() => undefined);
    if (err instanceof UserError) throw err;
    throw new UserError(`${path.basename(archive)}: ${(err as Error).message}`);
  }
  input.destroy();

  const missing: string[] = [];
  const mismatched: FileMismatch[] = [];
  const expectedPaths = new Set(expected.map((e) => e.path));
  for (const e of expected) {
    const a = actual.get(e.path);
    if (!a) missing.push(e.path);
    else if ((e.size !== undefined && a.size !== e.size) || a.sha256 !== e.sha256) {
      mismatched.push({ path: e.path, expected: { size: e.size ?? a.size, sha256: e.sha256 }, actual: { size: a.size, sha256: a.sha256 } });
    }
  }
  const extra = [...actual.keys()].filter((p) => !expectedPaths.has(p)).sort();
  return {
    ok: missing.length === 0 && extra.length === 0 && mismatched.length === 0,
    topFolder: topFolder ?? "",
    files: [...actual.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    missing,
    extra,
    mismatched,
    manifestSource: source,
  };
}

/** One line per problem, for messages and reports. */
export function describeUnpackProblems(r: UnpackResult): string[] {
  return [
    ...r.missing.map((p) => `${p}: missing from the archive`),
    ...r.extra.map((p) => `${p}: in the archive but not in the manifest`),
    ...r.mismatched.map((m) =>
      m.actual.size !== m.expected.size
        ? `${m.path}: ${m.actual.size} bytes, the manifest says ${m.expected.size}`
        : `${m.path}: sha256 ${m.actual.sha256.slice(0, 12)}…, the manifest says ${(m.expected.sha256 ?? "").slice(0, 12)}…`,
    ),
  ];
}
