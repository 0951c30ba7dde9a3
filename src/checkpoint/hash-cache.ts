// sha256 of checkpoint files, with a cache keyed the way git's index keys its stat data
// (path, size, mtime, ctime, inode), so an unchanged 50 GB checkpoint is hashed once.
// The cache lives in the user's cache folder, never in the work tree.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { FileStamp } from "./types.js";

interface Entry {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  sha256: string;
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

  private async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    if (!this.file) return;
    try {
      const data = JSON.parse(await readFile(this.file, "utf8")) as Record<string, Entry>;
      for (const [k, v] of Object.entries(data)) this.entries.set(k, v);
    } catch {
      // Missing or unreadable cache: start empty, it is only a cache.
    }
  }

  /** sha256 of `file`, from the cache when its stat data is unchanged. */
  async sha256(file: string, onBytes?: (n: number) => void): Promise<string> {
    await this.load();
    const key = path.resolve(file);
    const st = await stat(key, { bigint: true });
    const cur = { size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
    const hit = this.entries.get(key);
    if (hit && hit.size === cur.size && hit.mtimeNs === cur.mtimeNs && hit.ctimeNs === cur.ctimeNs && hit.ino === cur.ino) {
      onBytes?.(cur.size);
      return hit.sha256;
    }
    const sha256 = await hashFile(key, onBytes);
    this.hashedFiles++;
    this.entries.set(key, { ...cur, sha256 });
    this.dirty = true;
    return sha256;
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
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(Object.fromEntries(this.entries)));
    await rename(tmp, this.file);
    this.dirty = false;
  }
}

export function hashFile(file: string, onBytes?: (n: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    const s = createReadStream(file, { highWaterMark: 1 << 20 });
    s.on("data", (chunk) => {
      h.update(chunk as Buffer);
      onBytes?.((chunk as Buffer).length);
    });
    s.on("error", reject);
    s.on("end", () => resolve(h.digest("hex")));
  });
}
