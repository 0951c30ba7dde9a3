// A model folder as the reference serializes it: every regular file under it, hidden ones
// included, except the ignored paths (a path and everything under it); a symbolic link is an
// error unless links are allowed, and then a linked file is hashed as its target while a linked
// folder is not entered. Whole files are hashed through the project's hash cache (a 50 GB
// checkpoint is read once, on worker threads); shards are hashed by range, streaming.
import { createHash } from "node:crypto";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { HashCache } from "../checkpoint/hash-cache.js";
import { buildManifest, type HashProgress } from "../checkpoint/manifest.js";
import { fileKind, openRegularFile } from "../checkpoint/regular-file.js";
import { UserError } from "../report.js";
import { GIT_PATHS, type ModelFile, type Resource } from "./format.js";

export interface FolderFile {
  /** Relative to the folder, `/`-separated. */
  path: string;
  /** Absolute path on disk. */
  source: string;
  size: number;
}

export interface WalkOptions {
  /** Relative paths left out, each with everything under it. */
  ignorePaths: readonly string[];
  allowSymlinks: boolean;
}

/** An ignore entry as the reference records it: relative, no `./` prefix, no trailing `/`. */
export function normalizeIgnorePath(p: string): string {
  const parts = p.split(/[\\/]+/).filter((c) => c !== "" && c !== ".");
  return parts.join("/");
}

function isIgnored(rel: string, ignore: readonly string[]): boolean {
  return ignore.some((ig) => ig === "" || rel === ig || rel.startsWith(`${ig}/`));
}

/** The model's name as the reference takes it from the folder argument: its last component, resolved when that is empty or `..`. */
export async function modelNameOf(dirArg: string): Promise<string> {
  const last = dirArg.split("/").filter((c) => c !== "" && c !== ".").pop();
  if (last && last !== "..") return last;
  return path.basename(await realpath(dirArg));
}

/** Every file of the folder the signature covers, sorted by path. */
export async function listModelFiles(root: string, opts: WalkOptions): Promise<FolderFile[]> {
  const ignore = opts.ignorePaths.map(normalizeIgnorePath);
  const rootStat = await stat(root).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`${root}: ${e.code === "ENOENT" ? "no such folder" : e.message}`, 2);
  });
  if (!rootStat.isDirectory()) throw new UserError(`${root} is not a folder: a signature covers a model folder`, 2);
  const files: FolderFile[] = [];
  const walk = async (dir: string, relDir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      if (isIgnored(rel, ignore)) continue;
      const abs = path.join(dir, e.name);
      let st = await lstat(abs);
      if (st.isSymbolicLink()) {
        if (!opts.allowSymlinks) {
          throw new UserError(`${abs} is a symbolic link: model signatures refuse links unless --allow-symlinks is given (a linked file is then signed as its target)`);
        }
        st = await stat(abs).catch(() => {
          throw new UserError(`${abs} is a symbolic link to nothing (a broken link): remove it or point it at the file`);
        });
        if (st.isDirectory()) continue; // the reference does not enter linked folders
      } else if (st.isDirectory()) {
        await walk(abs, rel);
        continue;
      }
      if (!st.isFile()) throw new UserError(`${abs} is ${fileKind(st)}: a model folder holds only files and folders`);
      files.push({ path: rel, source: abs, size: st.size });
    }
  };
  await walk(root, "");
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface HashOptions {
  cache?: HashCache;
  onProgress?: (p: HashProgress) => void;
  signal?: AbortSignal;
}

/** sha256 of every file, through the hash cache: unchanged files are not read again. */
export async function hashFolderFiles(files: readonly FolderFile[], opts: HashOptions = {}): Promise<ModelFile[]> {
  const manifest = await buildManifest(
    files.map((f) => ({ repoPath: f.path, source: f.source, size: f.size })),
    { cache: opts.cache ?? new HashCache(), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) },
  );
  return manifest.map((m) => ({ path: m.path, sha256: m.sha256, size: m.size }));
}

const SHARD_CHUNK = 1 << 20;

/** The shards of one file (`path:start:end`, each at most `shardSize` bytes; none for an empty file), read once. */
export async function hashFileShards(file: FolderFile, shardSize: number, signal?: AbortSignal): Promise<Resource[]> {
  if (file.path.includes(":")) throw new UserError(`${file.source}: a file whose name holds ":" cannot be signed in shards (the shard name path:start:end would be ambiguous)`, 2);
  const out: Resource[] = [];
  const fh = await openRegularFile(file.source);
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.allocUnsafe(SHARD_CHUNK);
    for (let start = 0; start < size; start += shardSize) {
      const end = Math.min(start + shardSize, size);
      const h = createHash("sha256");
      for (let pos = start; pos < end; ) {
        signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, 0, Math.min(SHARD_CHUNK, end - pos), pos);
        if (bytesRead === 0) throw new UserError(`${file.source} shrank while it was read: sign it again once nothing writes to it`);
        h.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      out.push({ name: `${file.path}:${start}:${end}`, algorithm: `sha256-sharded-${shardSize}`, digest: h.digest("hex") });
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** The ignore list a folder signature records: the given paths (the signature's own name first), then git's. */
export function ignoreListFor(paths: readonly string[], ignoreGitPaths = true): string[] {
  const list: string[] = [];
  for (const p of [...paths, ...(ignoreGitPaths ? GIT_PATHS : [])]) {
    const n = normalizeIgnorePath(p);
    if (n && !list.includes(n)) list.push(n);
  }
  return list;
}
