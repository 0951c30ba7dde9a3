// Finds the files of a checkpoint folder, flat or nested, and flattens them to the repo paths
// they will have on the Hub: the old release script did `cp $(find ckpt -type f) .`, so the
// original azbert layout (ckpt/math-tokenizer/vocab.txt, ckpt/2-2-0/encoder.ckpt/config.json)
// publishes as vocab.txt and config.json at the repo root.
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import type { CheckpointFile } from "./types.js";

export interface InventoryProblem {
  severity: "error" | "warn";
  code: "name-clash" | "symlink-escape" | "broken-symlink" | "large-unknown" | "unknown-file" | "not-a-folder";
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

/**
 * Walks `root` without following symlinks out of it, flattens, and reports clashes.
 * `sameContent` decides whether two files that land on one name are identical duplicates.
 */
export async function discoverCheckpoint(
  rootDir: string,
  sameContent: (a: CheckpointFile, b: CheckpointFile) => Promise<boolean>,
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
        if (tst.isFile()) found.push({ repoPath: path.posix.basename(rel), source: target, size: tst.size });
      } else if (entry.isFile()) {
        const fst = await lstat(full);
        found.push({ repoPath: entry.name, source: full, size: fst.size });
      }
    }
  }
  await walk(root);

  const byName = new Map<string, CheckpointFile[]>();
  for (const f of found) byName.set(f.repoPath, [...(byName.get(f.repoPath) ?? []), f]);
  const files: CheckpointFile[] = [];
  for (const [name, group] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const first = group[0]!;
    // One representative per distinct content: identical duplicates collapse into one.
    const distinct: CheckpointFile[] = [first];
    for (const other of group.slice(1)) {
      let dup = false;
      for (const d of distinct) {
        if (other.source === d.source || (other.size === d.size && (await sameContent(d, other)))) {
          dup = true;
          break;
        }
      }
      if (!dup) distinct.push(other);
    }
    if (distinct.length > 1) {
      const where = distinct.map((f) => path.relative(root, f.source) || f.source).join(" and ");
      problems.push({ severity: "error", code: "name-clash", message: `${where} would ${distinct.length > 2 ? "all" : "both"} be published as ${name} but differ; rename or remove all but one` });
      continue;
    }
    files.push(first);
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

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
