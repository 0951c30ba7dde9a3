// sha256 of checkpoint files, with a cache keyed the way git's index keys its stat data
// (path, size, mtime, ctime, inode), so an unchanged 50 GB checkpoint is hashed once. The same
// read scans a weights file's float tensors for NaN and Inf (finite-scan.ts), and the result is
// cached beside the hash under the same key: a warm rerun reads nothing.
// The cache lives in the user's cache folder, never in the work tree.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import type { FileStamp } from "./types.js";

import { CHUNK_BUFFERS, CHUNK_BYTES, FiniteScanner, type FiniteScan, type ScanPlan } from "./finite-scan.js";
import { openRegularFile } from "./regular-file.js";

interface Entry {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  sha256: string;
  /** The non-finite scan of the file's float tensors, for the plan it names. */
  scan?: FiniteScan;
}

/** What hashes a file off this thread (HashPool). */
export interface FileDigester {
  digest(file: string, size: number, opts?: DigestOptions): Promise<FileDigest>;
}

export interface FileDigest {
  sha256: string;
  /** Present when a scan plan was given. */
  scan?: FiniteScan;
}

export interface DigestOptions {
  onBytes?: (n: number) => void;
  /** Also scan these float ranges for NaN and Inf, in the same read. */
  plan?: ScanPlan;
  /** Stops the read (between chunks). */
  signal?: AbortSignal;
}

export interface CachedDigestOptions extends DigestOptions {
  /** Hash a file that must be read on this pool (large files go to worker threads). */
  pool?: FileDigester;
}

export function defaultCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.AZBERT_RELEASE_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "azbert-release");
  return path.join(base, "sha256-cache.json");
}

export class HashCache {
  private entries = new Map<string, Entry>();
  private dirty = false;
  private loaded = false;
  /** Files actually read and hashed in this process (the rest came from the cache). */
  hashedFiles = 0;

  constructor(readonly file: string | null = defaultCacheFile()) {}

  /**
   * Reads the cache file once. The lookups are synchronous (a small file, a stat): a digest that
   * must read its file is handed to its reader (a worker thread) at once, not after the calling
   * thread's other work lets an I/O callback run.
   */
  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    if (!this.file) return;
    try {
      const data = JSON.parse(readFileSync(this.file, "utf8")) as Record<string, Entry>;
      for (const [k, v] of Object.entries(data)) this.entries.set(k, v);
    } catch {
      // Missing or unreadable cache: start empty, it is only a cache.
    }
  }

  /** sha256 of `file`, from the cache when its stat data is unchanged. */
  async sha256(file: string, onBytes?: (n: number) => void): Promise<string> {
    return (await this.digest(file, onBytes ? { onBytes } : {})).sha256;
  }

  /**
   * sha256 of `file` and, with a plan, its non-finite scan; from the cache when the stat data is
   * unchanged and the cached scan answers the same plan. Otherwise one read does both.
   */
  async digest(file: string, opts: CachedDigestOptions = {}): Promise<FileDigest> {
    this.load();
    const key = path.resolve(file);
    const st = statSync(key, { bigint: true });
    const cur = { size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
    const hit = this.entries.get(key);
    const sameFile = hit && hit.size === cur.size && hit.mtimeNs === cur.mtimeNs && hit.ctimeNs === cur.ctimeNs && hit.ino === cur.ino;
    if (hit && sameFile && (!opts.plan || hit.scan?.plan === opts.plan.key)) {
      opts.onBytes?.(cur.size);
      return { sha256: hit.sha256, ...(opts.plan && hit.scan ? { scan: hit.scan } : {}) };
    }
    const { pool, ...read } = opts;
    const d = pool ? await pool.digest(key, cur.size, read) : await digestFile(key, read);
    this.hashedFiles++;
    // A scan made for another plan stays valid only while it is the same file.
    const scan = d.scan ?? (sameFile ? hit?.scan : undefined);
    this.entries.set(key, { ...cur, sha256: d.sha256, ...(scan ? { scan } : {}) });
    this.dirty = true;
    return d;
  }

  /** Whether the cache holds the sha256 of `file` as it is now (same stat data): no read needed. */
  isFresh(file: string): boolean {
    this.load();
    const key = path.resolve(file);
    const hit = this.entries.get(key);
    if (!hit) return false;
    try {
      const st = statSync(key, { bigint: true });
      return hit.size === Number(st.size) && hit.mtimeNs === String(st.mtimeNs) && hit.ctimeNs === String(st.ctimeNs) && hit.ino === String(st.ino);
    } catch {
      return false;
    }
  }

  /** The sha256 the cache holds for `file` (check isFresh first), undefined when none. */
  cachedSha256(file: string): string | undefined {
    this.load();
    return this.entries.get(path.resolve(file))?.sha256;
  }

  /** The stat data `file` had when sha256() last answered for it (undefined before). */
  stamp(file: string): FileStamp | undefined {
    const e = this.entries.get(path.resolve(file));
    return e ? { size: e.size, mtimeNs: e.mtimeNs, ino: e.ino } : undefined;
  }

  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    // Forget files that are gone (temporary checkouts), so the cache does not grow forever.
    for (const key of [...this.entries.keys()]) if (!existsSync(key)) this.entries.delete(key);
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries)));
    this.dirty = false;
  }
}

export async function hashFile(file: string, onBytes?: (n: number) => void): Promise<string> {
  return (await digestFile(file, onBytes ? { onBytes } : {})).sha256;
}

/**
 * Reads `file` once (a regular file only): sha256 of every byte and, with a plan, the non-finite
 * scan of its float ranges. The next chunk is read while the current one is hashed and scanned.
 */
export async function digestFile(file: string, opts: DigestOptions = {}): Promise<FileDigest> {
  const scanner = opts.plan ? new FiniteScanner(opts.plan) : undefined;
  const buffers = scanner?.buffers ?? Array.from({ length: CHUNK_BUFFERS }, () => Buffer.allocUnsafeSlow(CHUNK_BYTES));
  const h = createHash("sha256");
  const fh = await openRegularFile(file);
  let pending: Promise<{ bytesRead: number }> | undefined;
  try {
    let pos = 0;
    let k = 0;
    pending = fh.read(buffers[0]!, 0, CHUNK_BYTES, 0);
    for (;;) {
      const { bytesRead } = await pending;
      pending = undefined;
      if (bytesRead === 0) break;
      opts.signal?.throwIfAborted();
      const chunk = buffers[k]!.subarray(0, bytesRead);
      const at = pos;
      pos += bytesRead;
      k = (k + 1) % buffers.length;
      pending = fh.read(buffers[k]!, 0, CHUNK_BYTES, pos);
      h.update(chunk);
      scanner?.update(chunk, at);
      opts.onBytes?.(bytesRead);
    }
  } finally {
    await pending?.catch(() => undefined);
    await fh.close();
  }
  return { sha256: h.digest("hex"), ...(scanner ? { scan: scanner.result() } : {}) };
}
