// The manifest that travels beside the archive (manifest.json) and SHA256SUMS: path, size and
// sha256 only — never the absolute source paths of the machine that packed it.
import { readFile } from "node:fs/promises";
import type { Manifest } from "../checkpoint/types.js";
import { UserError } from "../report.js";

export interface PublishedFile {
  path: string;
  size: number;
  sha256: string;
}

export interface ManifestJson {
  /** Format version of this file. */
  version: 1;
  /** The single top folder of the archive (what `--strip-components=1` removes). */
  topFolder: string;
  archive?: PublishedFile;
  files: PublishedFile[];
}

const SHA_RE = /^[0-9a-f]{64}$/;

/** Byte-wise (not locale) order: the same on every machine. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * A manifest path must be relative, POSIX, without `.`/`..`/empty components: it becomes a path
 * inside the archive and, on the user's machine, a path under the extraction folder.
 */
export function checkManifestPath(p: string): string | undefined {
  if (p.length === 0) return "empty path";
  if (p.includes("\\")) return "contains a backslash";
  if (p.includes("\0")) return "contains a NUL byte";
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return "is absolute";
  if (p.endsWith("/")) return "ends with /";
  for (const part of p.split("/")) {
    if (part === "") return "has an empty component (//)";
    if (part === "." || part === "..") return `has a '${part}' component`;
  }
  return undefined;
}

/** Validates and sorts manifest entries; throws a UserError naming the bad entry. */
export function normalizeManifest<T extends { path: string; size: number; sha256: string }>(manifest: readonly T[]): T[] {
  const seen = new Set<string>();
  for (const e of manifest) {
    const why = checkManifestPath(e.path);
    if (why) throw new UserError(`manifest entry ${JSON.stringify(e.path)} ${why}`);
    if (seen.has(e.path)) throw new UserError(`manifest lists ${e.path} twice`);
    seen.add(e.path);
    if (!Number.isSafeInteger(e.size) || e.size < 0) throw new UserError(`manifest entry ${e.path}: bad size ${e.size}`);
    if (!SHA_RE.test(e.sha256)) throw new UserError(`manifest entry ${e.path}: sha256 is not 64 lowercase hex digits`);
  }
  // A file may not also be a directory of another file (a and a/b).
  for (const e of manifest) {
    const parts = e.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (seen.has(dir)) throw new UserError(`manifest lists ${dir} as a file and as the folder of ${e.path}`);
    }
  }
  return [...manifest].sort((a, b) => comparePaths(a.path, b.path));
}

export function toPublished(manifest: Manifest | readonly PublishedFile[]): PublishedFile[] {
  return manifest.map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 }));
}

export function renderManifestJson(m: ManifestJson): string {
  const ordered: ManifestJson = {
    version: 1,
    topFolder: m.topFolder,
    ...(m.archive ? { archive: { path: m.archive.path, size: m.archive.size, sha256: m.archive.sha256 } } : {}),
    files: m.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
  };
  return JSON.stringify(ordered, null, 2) + "\n";
}

/** `sha256sum -c` format: `<hex>  <name>` (two spaces: text mode, as sha256sum writes). */
export function renderSha256Sums(lines: readonly { name: string; sha256: string }[]): string {
  return lines.map((l) => `${l.sha256}  ${l.name}\n`).join("");
}

export function parseSha256Sums(text: string): { name: string; sha256: string }[] {
  const out: { name: string; sha256: string }[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new UserError(`SHA256SUMS: cannot parse line ${JSON.stringify(line)}`);
    out.push({ sha256: m[1]!.toLowerCase(), name: m[2]! });
  }
  return out;
}

/** Parses a manifest.json written by packCheckpoint (or a plain array of {path,size,sha256}); `label` names it in errors. */
export function parseManifestJson(text: string, label: string): ManifestJson {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${label}: not a readable manifest (${(err as Error).message})`);
  }
  const files = Array.isArray(data) ? data : (data as { files?: unknown } | null)?.files;
  if (!Array.isArray(files)) throw new UserError(`${label}: no "files" list`);
  const topFolder = Array.isArray(data) ? "" : String((data as { topFolder?: unknown }).topFolder ?? "");
  if (topFolder && checkManifestPath(topFolder)) throw new UserError(`${label}: topFolder ${JSON.stringify(topFolder)} ${checkManifestPath(topFolder)}`);
  if (topFolder.includes("/")) throw new UserError(`${label}: topFolder ${JSON.stringify(topFolder)} must be a plain folder name`);
  const parsed = files.map((f: unknown, i: number) => {
    const o = f as Record<string, unknown> | null;
    if (typeof o?.path !== "string" || typeof o.size !== "number" || typeof o.sha256 !== "string") {
      throw new UserError(`${label}: files[${i}] needs path, size and sha256`);
    }
    return { path: o.path, size: o.size, sha256: o.sha256.toLowerCase() };
  });
  try {
    return { version: 1, topFolder, files: normalizeManifest(parsed) };
  } catch (err) {
    throw new UserError(`${label}: ${(err as Error).message}`);
  }
}

/** Reads a manifest.json file (see parseManifestJson). */
export async function readManifestJson(file: string): Promise<ManifestJson> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new UserError(`${file}: not a readable manifest (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseManifestJson(text, file);
}
