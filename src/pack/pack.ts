// packCheckpoint: a byte-reproducible ckpt.tar.gz (+ SHA256SUMS, manifest.json) written by
// node-tar from the manifest. Nothing of the packing machine reaches the archive: an explicit,
// byte-sorted entry list (node-tar would follow readdir order), `portable` (no uid/gid/uname/
// atime/ctime, and a gzip header without OS or time), one fixed mtime and fixed modes.
// The archive starts with manifest.json (path, size and sha256 of every file: what `unpack`
// verifies against); `tar xzf --strip-components=1` skips it and restores the checkpoint alone.
// Deflate uses zlib's Z_RLE strategy by default: on float tensors it is as small as the default
// strategy in about a third of the time (bench/pack.ts). Each output is written to a temporary
// file beside it and renamed over it (src/util/atomic-write.ts): a link at `out/SHA256SUMS` (a
// repository can track one) is replaced, its target never written.
import { createHash, type Hash } from "node:crypto";
import { mkdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import * as tar from "tar";
import type { Manifest, ManifestEntry } from "../checkpoint/types.js";
import { UserError } from "../report.js";
import { openTempBeside, writeFileAtomic, type TempFile } from "../util/atomic-write.js";
import { checkManifestPath, comparePaths, normalizeManifest, renderManifestJson, renderSha256Sums } from "./manifest-io.js";
import { packRecordName } from "./out-dir.js";

export type CompressionStrategy = "default" | "rle" | "filtered" | "huffman";

/** The manifest entry at the start of every archive (outside the top folder). */
export const ARCHIVE_MANIFEST = "manifest.json";

/** The archive's single top folder unless told otherwise. */
export const DEFAULT_TOP_FOLDER = "ckpt";

export interface PackProgress {
  /** Archive path of the file being written (without the top folder). */
  path: string;
  fileBytes: number;
  fileSize: number;
  /** Payload bytes written so far / in total (file contents only). */
  bytesDone: number;
  bytesTotal: number;
}

export interface PackOptions {
  manifest: Manifest;
  outDir: string;
  /** The archive's single top folder (what `--strip-components=1` removes). */
  topFolder?: string;
  archiveName?: string;
  /** gzip level, 1..9. Default 6 (GNU gzip's). */
  level?: number;
  /** Deflate strategy for the whole archive. Default "rle" (weights dominate a checkpoint). */
  strategy?: CompressionStrategy;
  /** Entry mtime (seconds). Default 0; pass a SOURCE_DATE_EPOCH if wanted. */
  mtime?: number;
  /** Hash the bytes as they are archived and fail if they differ from the manifest. Default true. */
  verifySources?: boolean;
  onProgress?: (p: PackProgress) => void;
  /** Read size per chunk; default 1 MiB. */
  chunkSize?: number;
  /**
   * Keep the archive already in `outDir` when it was packed from the same files with the same
   * settings and is untouched since (size, mtime, inode): nothing is read or written. A pack with
   * it records what it packed beside the archive. Default false.
   */
  keepUnchanged?: boolean;
}

export interface PackedFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

export interface PackResult {
  archive: PackedFile;
  sha256sums: string;
  manifestJson: string;
  topFolder: string;
  files: number;
  /** Bytes of file payload archived. */
  bytesIn: number;
  /** The archive in the folder was already this one (keepUnchanged): it was not packed again. */
  kept?: boolean;
}

/** What an archive was packed from, beside it: the same pack again is the archive already there. */
interface PackRecord {
  version: 1;
  settings: { topFolder: string; level: number; strategy: CompressionStrategy; mtime: number };
  files: Array<{ path: string; size: number; sha256: string }>;
  archive: { size: number; sha256: string; mtimeNs: string; ino: string };
}

const STRATEGY: Record<CompressionStrategy, number> = {
  default: zlib.constants.Z_DEFAULT_STRATEGY,
  rle: zlib.constants.Z_RLE,
  filtered: zlib.constants.Z_FILTERED,
  huffman: zlib.constants.Z_HUFFMAN_ONLY,
};

/** Passed through to zlib (minizlib's type omits them): memLevel 9 gives larger blocks and better
 * Huffman tables on tensors (~0.1% smaller than 8); larger output chunks mean fewer writes. */
const ZLIB_TUNING: zlib.ZlibOptions = { memLevel: 9, chunkSize: 256 * 1024 };

/** node-tar stores a second path to the same inode as a hard link; an archive of ours holds whole files only. */
class NoHardLinks extends Map<`${number}:${number}`, string> {
  override set(): this {
    return this;
  }
}

function checkName(name: string, what: string): void {
  if (name.includes("/") || checkManifestPath(name)) throw new UserError(`${what} ${JSON.stringify(name)} must be a plain file name`);
}

function changedMessage(f: ManifestEntry, what: string): string {
  return `${f.path} changed since the manifest was made: ${what} — rebuild the manifest`;
}

/** Every source must still be the regular file, of the size, that the manifest describes. */
async function checkSources(files: readonly ManifestEntry[]): Promise<void> {
  for (const f of files) {
    const st = await stat(f.source).catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`${f.path}: cannot read ${f.source} (${err.code ?? err.message})`);
    });
    if (!st.isFile()) throw new UserError(`${f.path}: ${f.source} is not a regular file`);
    if (st.size !== f.size) throw new UserError(changedMessage(f, `${st.size} bytes on disk, ${f.size} in the manifest`));
  }
}

/**
 * node-tar archives paths as it finds them under its cwd: a staging folder lays the sources out at
 * their archive paths (symbolic links, followed when read) next to the archive's manifest.json.
 * Returns the entry list: manifest.json, then folders and files in byte order, each folder first.
 */
async function stageEntries(stage: string, topFolder: string, files: readonly ManifestEntry[], manifestText: string): Promise<string[]> {
  await mkdir(path.join(stage, topFolder), { recursive: true });
  await writeFile(path.join(stage, ARCHIVE_MANIFEST), manifestText);
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  for (const d of dirs) await mkdir(path.join(stage, topFolder, d), { recursive: true });
  for (const f of files) await symlink(path.resolve(f.source), path.join(stage, topFolder, f.path));
  const entries = [...[...dirs].map((d) => `${d}/`), ...files.map((f) => f.path)].sort(comparePaths);
  return [ARCHIVE_MANIFEST, `${topFolder}/`, ...entries.map((e) => `${topFolder}/${e}`)];
}

/** Hashes a file's payload as node-tar reads it (its chunks end with the zero padding, not hashed). */
interface SourceTap {
  file: ManifestEntry;
  hash?: Hash;
  seen: number;
}

export async function packCheckpoint(opts: PackOptions): Promise<PackResult> {
  const topFolder = opts.topFolder ?? DEFAULT_TOP_FOLDER;
  const archiveName = opts.archiveName ?? "ckpt.tar.gz";
  const level = opts.level ?? 6;
  const mtime = opts.mtime ?? 0;
  const verify = opts.verifySources ?? true;
  checkName(topFolder, "topFolder");
  checkName(archiveName, "archiveName");
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new UserError(`gzip level must be 1..9, got ${level}`);
  const files = normalizeManifest(opts.manifest);
  if (files.length === 0) throw new UserError("nothing to pack: the manifest is empty");
  await checkSources(files);

  await mkdir(opts.outDir, { recursive: true });
  const archivePath = path.join(opts.outDir, archiveName);
  const stage = path.join(opts.outDir, `.${archiveName}.${process.pid}.stage`);
  const published = files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  const settings: PackRecord["settings"] = { topFolder, level, strategy: opts.strategy ?? "rle", mtime };
  const recordFile = path.join(opts.outDir, packRecordName(archiveName));
  if (opts.keepUnchanged) {
    const archive = await keptArchive(recordFile, archivePath, settings, published);
    if (archive) return { ...(await writeSums(opts.outDir, { path: archivePath, name: archiveName, ...archive }, topFolder, published)), files: files.length, bytesIn: 0, kept: true };
  }
  // The record of an earlier pack goes first: an archive half replaced is never taken for it.
  await rm(recordFile, { force: true });
  const bytesTotal = files.reduce((s, f) => s + f.size, 0);
  let bytesDone = 0;

  const byEntry = new Map(files.map((f) => [`${topFolder}/${f.path}`, f]));
  const taps: SourceTap[] = [];
  let failure: unknown;
  const fail = (err: unknown): void => {
    failure ??= err;
  };
  const tapSource = (entry: tar.WriteEntry, f: ManifestEntry): void => {
    const tap: SourceTap = { file: f, seen: 0, ...(verify ? { hash: createHash("sha256") } : {}) };
    taps.push(tap);
    const write = entry.write.bind(entry) as (chunk: Buffer) => boolean;
    entry.write = ((chunk: Buffer) => {
      const n = Math.min(chunk.length, f.size - tap.seen);
      if (n > 0) {
        tap.hash?.update(n === chunk.length ? chunk : chunk.subarray(0, n));
        tap.seen += n;
        bytesDone += n;
        opts.onProgress?.({ path: f.path, fileBytes: tap.seen, fileSize: f.size, bytesDone, bytesTotal });
        if (tap.seen === f.size && tap.hash) {
          const got = tap.hash.digest("hex");
          if (got !== f.sha256) fail(new UserError(changedMessage(f, `sha256 ${got.slice(0, 12)}… on disk, ${f.sha256.slice(0, 12)}… in the manifest`)));
        }
      }
      return write(chunk);
    }) as typeof entry.write;
  };

  let out: TempFile | undefined;
  const archiveHash = createHash("sha256");
  let archiveSize = 0;
  try {
    await rm(stage, { recursive: true, force: true }); // a crashed run's, if one had this pid
    const list = await stageEntries(stage, topFolder, files, renderManifestJson({ version: 1, topFolder, files: published }));
    const packer = tar.c(
      {
        cwd: stage,
        portable: true,
        strict: true,
        follow: true,
        noDirRecurse: true,
        mtime: new Date(mtime * 1000),
        linkCache: new NoHardLinks(),
        maxReadSize: opts.chunkSize ?? 1024 * 1024,
        gzip: { level, strategy: STRATEGY[opts.strategy ?? "rle"], ...ZLIB_TUNING },
        onWriteEntry: (entry) => {
          if (!entry.stat) return;
          entry.stat.mode = entry.type === "Directory" ? 0o755 : 0o644;
          entry.noMtime = false; // portable mode leaves folders without a time: give them the fixed one
          const f = byEntry.get(entry.path);
          if (!f) return;
          if (entry.stat.size !== f.size) fail(new UserError(changedMessage(f, `${entry.stat.size} bytes on disk, ${f.size} in the manifest`)));
          tapSource(entry, f);
          if (f.size === 0) opts.onProgress?.({ path: f.path, fileBytes: 0, fileSize: 0, bytesDone, bytesTotal });
        },
      },
      list,
    );
    out = await openTempBeside(archivePath);
    try {
      for await (const chunk of packer) {
        if (failure) throw failure;
        archiveHash.update(chunk);
        archiveSize += chunk.length;
        await out.handle.write(chunk);
      }
    } catch (err) {
      throw failure ?? explainPackError(err, stage, byEntry);
    }
    if (failure) throw failure;
    // Every payload byte went through a tap: a node-tar that read files some other way must not pass unverified.
    const untapped = files.filter((f) => !taps.some((t) => t.file === f && t.seen === f.size));
    if (untapped.length) throw new Error(`pack: ${untapped[0]!.path} was archived without being verified`);
    await out.commit();
    out = undefined;
  } catch (err) {
    await out?.discard();
    throw err;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }

  const archive: PackedFile = { path: archivePath, name: archiveName, size: archiveSize, sha256: archiveHash.digest("hex") };
  const written = await writeSums(opts.outDir, archive, topFolder, published);
  if (opts.keepUnchanged) {
    const st = await stat(archivePath, { bigint: true });
    const record: PackRecord = { version: 1, settings, files: published, archive: { size: archive.size, sha256: archive.sha256, mtimeNs: String(st.mtimeNs), ino: String(st.ino) } };
    await writeFileAtomic(recordFile, `${JSON.stringify(record)}\n`);
  }
  return { ...written, files: files.length, bytesIn: bytesTotal };
}

/** SHA256SUMS and manifest.json for `archive`; a file that already says it is left as it is. */
async function writeSums(outDir: string, archive: PackedFile, topFolder: string, published: PackRecord["files"]): Promise<Pick<PackResult, "archive" | "sha256sums" | "manifestJson" | "topFolder">> {
  const sums = renderSha256Sums([{ name: archive.name, sha256: archive.sha256 }, ...published.map((f) => ({ name: `${topFolder}/${f.path}`, sha256: f.sha256 }))]);
  const sha256sums = path.join(outDir, "SHA256SUMS");
  const manifestJson = path.join(outDir, "manifest.json");
  const manifestText = renderManifestJson({ version: 1, topFolder, archive: { path: archive.name, size: archive.size, sha256: archive.sha256 }, files: published });
  for (const [file, text] of [[sha256sums, sums], [manifestJson, manifestText]] as const) {
    if ((await readFile(file, "utf8").catch(() => undefined)) !== text) await writeFileAtomic(file, text);
  }
  return { archive, sha256sums, manifestJson, topFolder };
}

/** The archive in the folder, when its record says it was packed from `files` with `settings` and it is untouched since. */
async function keptArchive(recordFile: string, archivePath: string, settings: PackRecord["settings"], files: PackRecord["files"]): Promise<{ size: number; sha256: string } | undefined> {
  let record: PackRecord;
  try {
    record = JSON.parse(await readFile(recordFile, "utf8")) as PackRecord;
  } catch {
    return undefined;
  }
  if (record.version !== 1 || JSON.stringify(record.settings) !== JSON.stringify(settings) || JSON.stringify(record.files) !== JSON.stringify(files)) return undefined;
  const st = await stat(archivePath, { bigint: true }).catch(() => undefined);
  const a = record.archive;
  if (!st?.isFile() || Number(st.size) !== a.size || String(st.mtimeNs) !== a.mtimeNs || String(st.ino) !== a.ino) return undefined;
  return { size: a.size, sha256: a.sha256 };
}

/** node-tar's read errors name the staged path: say which checkpoint file and what happened. */
function explainPackError(err: unknown, stage: string, byEntry: Map<string, ManifestEntry>): unknown {
  const e = err as NodeJS.ErrnoException & { path?: string };
  if (err instanceof UserError || typeof e?.path !== "string") return err;
  const f = byEntry.get(path.relative(stage, e.path).split(path.sep).join("/"));
  if (!f) return err;
  if (e.message === "encountered unexpected EOF") return new UserError(`${f.path} shrank while being packed (${f.source})`);
  if (e.message === "did not encounter expected EOF") return new UserError(`${f.path} grew while being packed (${f.source})`);
  return new UserError(`${f.path}: cannot read ${f.source} (${e.code ?? e.message})`);
}
