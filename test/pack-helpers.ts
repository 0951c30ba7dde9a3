// Test helpers for the archive: the manifest of a folder (by the project's own manifest code) and
// hostile archives built the way an attacker would, header by header.
import { readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import * as tar from "tar";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { buildManifest } from "../src/checkpoint/manifest.js";
import type { CheckpointFile, Manifest } from "../src/checkpoint/types.js";

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(dir, `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

/** The manifest of every file under `dir` (nested paths kept), hashed without a shared cache. */
export async function manifestOf(dir: string): Promise<Manifest> {
  const files: CheckpointFile[] = listFiles(dir).map((rel) => {
    const source = path.resolve(dir, rel);
    return { repoPath: rel, source, size: statSync(source).size };
  });
  return buildManifest(files, { cache: new HashCache(null) });
}

export interface CraftedEntry {
  path: string;
  type?: "File" | "Directory" | "SymbolicLink" | "Link" | "CharacterDevice" | "FIFO";
  data?: Buffer | string;
  /** The size the header claims (default: the data's length). */
  size?: number;
  linkpath?: string;
  mode?: number;
  /** Records of a pax header written before the entry (e.g. { size: 12 } with size: 0). */
  pax?: { size?: number; path?: string };
}

/** One entry's blocks: optional pax header, the ustar header, the data padded to 512. */
export function craftEntry(e: CraftedEntry): Buffer {
  const data = Buffer.from(e.data ?? "");
  const type = e.type ?? "File";
  const parts: Buffer[] = [];
  if (e.pax) parts.push(new tar.Pax({ ...e.pax, mtime: new Date(0) }).encode());
  const h = new tar.Header({
    path: e.path,
    type,
    size: e.size ?? (type === "File" ? data.length : 0),
    mode: e.mode ?? (type === "Directory" ? 0o755 : 0o644),
    mtime: new Date(0),
    uid: 0,
    gid: 0,
    ...(e.linkpath ? { linkpath: e.linkpath } : {}),
  });
  h.encode();
  parts.push(h.block!, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  return Buffer.concat(parts);
}

export const END_OF_ARCHIVE = Buffer.alloc(1024);

/** A gzip'd tar of the entries, ending with the end-of-archive blocks. */
export function craftArchive(file: string, entries: CraftedEntry[]): string {
  writeFileSync(file, zlib.gzipSync(Buffer.concat([...entries.map(craftEntry), END_OF_ARCHIVE])));
  return file;
}

/**
 * `count` gzip members of 16 MiB of zeros each: what an attacker appends to inflate to gigabytes
 * from a few hundred KiB (gzip readers read concatenated members as one stream).
 */
export function zeroMembers(count: number): Buffer {
  const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: count }, () => member));
}
