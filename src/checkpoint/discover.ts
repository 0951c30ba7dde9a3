// Finds the files of a checkpoint folder, flat or nested, and flattens them to the repo paths
// they will have on the Hub: the old release script did `cp $(find ckpt -type f) .`, so the
// original azbert layout (ckpt/math-tokenizer/vocab.txt, ckpt/2-2-0/encoder.ckpt/config.json)
// publishes as vocab.txt and config.json at the repo root. Each file keeps where it lies in the
// checkpoint (`layout`): the archive restores that layout, identical copies included.
import { formatBytes } from "../util/format-bytes.js";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { hasUnsafeChars, printable, unsafeCharKind } from "../util/printable.js";
import { fileKind } from "./regular-file.js";
import type { CheckpointFile } from "./types.js";

export interface InventoryProblem {
  severity: "error" | "warn";
  code: "name-clash" | "symlink-escape" | "broken-symlink" | "large-unknown" | "unknown-file" | "not-a-folder" | "unsafe-name" | "not-a-file";
  message: string;
}

export interface Discovery {
  root: string;
  files: CheckpointFile[];
  problems: InventoryProblem[];
}

/** Files a BERT checkpoint repo carries, beside which nothing needs explaining. */
export const REQUIRED_FILES = [
  "config.json",
  "added_tokens.json",
  "special_tokens_map.json",
  "tokenizer_config.json",
  "vocab.txt",
  "tokenizer.json",
] as const;
export const WEIGHT_FILES = ["pytorch_model.bin", "model.safetensors"] as const;

const ALLOWED_EXTRA: RegExp[] = [
  /^README\.md$/,
  /^events\.out\.tfevents\..+/,
  /^\.gitattributes$/,
  /^pytorch_model-\d{5}-of-\d{5}\.bin$/,
  /^model-\d{5}-of-\d{5}\.safetensors$/,
  /\.index\.json$/,
];

/** An unknown file this large is most likely an accident (an optimizer state, a dataset). */
export const LARGE_UNKNOWN_BYTES = 10 * 1024 * 1024;

export function isKnownCheckpointFile(name: string): boolean {
  return (
    (REQUIRED_FILES as readonly string[]).includes(name) ||
    (WEIGHT_FILES as readonly string[]).includes(name) ||
    ALLOWED_EXTRA.some((re) => re.test(name))
  );
}

/** Files that land on one name listed in a message: the first few and a count. */
const CLASH_LISTED = 3;

/**
 * Walks `root` without following symlinks out of it, flattens, and reports clashes.
 * `digest` gives a file's content hash: files that land on one name and share it are identical
 * duplicates. It is asked only for files whose name and size collide.
 */
export async function discoverCheckpoint(
  rootDir: string,
  digest: (f: CheckpointFile) => Promise<string>,
  opts: { followLinksOutside?: boolean } = {},
): Promise<Discovery> {
  const root = path.resolve(rootDir);
  const problems: InventoryProblem[] = [];
  const st = await stat(root).catch(() => null);
  if (!st?.isDirectory()) {
    return { root, files: [], problems: [{ severity: "error", code: "not-a-folder", message: `${rootDir}: checkpoint folder not found` }] };
  }
  const realRoot = await realpath(root);
  const found: CheckpointFile[] = [];

  async function walk(dir: string): Promise<void> {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      // A .git folder, or the .git file of a submodule or worktree, is never part of the checkpoint.
      if (entry.name === ".git") continue;
      const full = path.join(dir, entry.name);
      const rel = path.relative(root, full).split(path.sep).join("/");
      if (hasUnsafeChars(entry.name)) {
        // Never read, listed or published: the name could forge a SHA256SUMS line or a terminal's output.
        problems.push({
          severity: "error",
          code: "unsafe-name",
          message: `${printable(rel)}: the name holds ${unsafeCharKind(entry.name)}, which could forge lines in SHA256SUMS and logs or rewrite a terminal; rename it`,
        });
        continue;
      }
      if (entry.isDirectory()) {
        await walk(full);
      } else if (entry.isSymbolicLink()) {
        const target = await realpath(full).catch(() => null);
        if (target === null) {
          problems.push({ severity: "error", code: "broken-symlink", message: `${rel}: symlink points to a file that does not exist` });
          continue;
        }
        // Reading a local copy (smoke on a Hub cache snapshot, whose files link into ../blobs) may
        // follow such a link; publishing never does.
        if (!opts.followLinksOutside && target !== realRoot && !target.startsWith(realRoot + path.sep)) {
          // Never followed: publishing it would upload a file from outside the checkpoint.
          problems.push({ severity: "error", code: "symlink-escape", message: `${rel}: symlink points outside the checkpoint folder (to ${target}); copy the file in or remove the link` });
          continue;
        }
        const tst = await lstat(target);
        // A link to a folder inside the checkpoint: its files are walked there already.
        if (tst.isFile()) found.push({ repoPath: path.posix.basename(rel), source: target, size: tst.size, layout: [{ path: rel, source: target }] });
        else if (!tst.isDirectory()) problems.push(notAFile(rel, tst));
      } else if (entry.isFile()) {
        const fst = await lstat(full);
        found.push({ repoPath: entry.name, source: full, size: fst.size, layout: [{ path: rel, source: full }] });
      } else {
        problems.push(notAFile(rel, await lstat(full)));
      }
    }
  }
  await walk(root);

  const byName = new Map<string, CheckpointFile[]>();
  for (const f of found) {
    const group = byName.get(f.repoPath);
    if (group) group.push(f);
    else byName.set(f.repoPath, [f]);
  }
  const files: CheckpointFile[] = [];
  for (const [name, group] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const first = group[0]!;
    const distinct = group.length === 1 ? group : await distinctContents(group, digest);
    if (distinct.length > 1) {
      const shown = distinct.slice(0, CLASH_LISTED).map((f) => path.relative(root, f.source) || f.source);
      const where = distinct.length > CLASH_LISTED ? `${shown.join(", ")} and ${distinct.length - CLASH_LISTED} more files` : shown.join(" and ");
      problems.push({ severity: "error", code: "name-clash", message: `${where} would ${distinct.length > 2 ? "all" : "both"} be published as ${name} but differ; rename or remove all but one` });
      continue;
    }
    // The archive keeps every copy at its place in the checkpoint; the Hub gets one.
    files.push(group.length === 1 ? first : { ...first, layout: group.flatMap((f) => f.layout ?? []) });
    if (!isKnownCheckpointFile(name)) {
      const rel = path.relative(root, first.source) || name;
      if (first.size > LARGE_UNKNOWN_BYTES) {
        problems.push({ severity: "error", code: "large-unknown", message: `${rel}: unexpected ${formatBytes(first.size)} file would be uploaded to the Hub; remove it or move it out of the checkpoint folder` });
      } else {
        problems.push({ severity: "warn", code: "unknown-file", message: `${rel}: not a file a BERT checkpoint usually carries; it will be published as ${name}` });
      }
    }
  }
  return { root, files, problems };
}

/** One representative per distinct content (by size, then digest): identical duplicates collapse into one. */
async function distinctContents(group: CheckpointFile[], digest: (f: CheckpointFile) => Promise<string>): Promise<CheckpointFile[]> {
  const bySize = new Map<number, CheckpointFile[]>();
  for (const f of group) {
    const same = bySize.get(f.size);
    if (same) same.push(f);
    else bySize.set(f.size, [f]);
  }
  const distinct = new Map<string, CheckpointFile>();
  for (const f of group) {
    const key = bySize.get(f.size)!.length === 1 ? `size:${f.size}` : `sha256:${await digest(f)}`;
    if (!distinct.has(key)) distinct.set(key, f);
  }
  return [...distinct.values()];
}

function notAFile(rel: string, st: Parameters<typeof fileKind>[0]): InventoryProblem {
  return { severity: "error", code: "not-a-file", message: `${rel}: is ${fileKind(st)}, not a regular file; it is never read or published: remove it` };
}
