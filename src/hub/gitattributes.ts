// Which files go to LFS, and the `.gitattributes` that says so (part of the desired state).
import { open } from "node:fs/promises";

/** 10 MiB: the Hub refuses regular (non-LFS) files from this size on. */
export const LFS_SIZE_THRESHOLD = 10 * 1024 * 1024;

/** Always LFS, whatever their size or content. */
export const RELEASE_LFS_PATTERNS = ["*.bin", "*.safetensors", "events.out.*"] as const;

/** What the Hub writes into a new model repo's `.gitattributes`. */
export const HUB_DEFAULT_LFS_PATTERNS = [
  "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
  "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
  "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
  "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
] as const;

const LFS_ATTRS = "filter=lfs diff=lfs merge=lfs -text";

/** gitattributes glob → RegExp. A pattern without `/` matches the basename at any depth. */
export function gitattributesPatternToRegExp(pattern: string): RegExp {
  const anchored = pattern.includes("/");
  const glob = pattern.replace(/^\//, "");
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (glob.startsWith("[[:space:]]", i)) {
      re += "\\s";
      i += 10;
    } else if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
      if (glob[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < glob.length) re += glob[++i]!.replace(/[.+^${}()|[\]\\*?]/g, "\\$&");
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(anchored ? `^${re}$` : `(^|/)${re}$`);
}

/** Patterns of `text` whose last matching line sets `filter=lfs`. */
export function lfsPatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && /(^|\s)filter=lfs(\s|$)/.test(l))
    .map((l) => l.split(/\s+/)[0]!);
}

export function matchesLfsPattern(repoPath: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => gitattributesPatternToRegExp(p).test(repoPath));
}

/** Escape a literal path for a gitattributes line (what `git lfs track --filename` does). */
export function escapeGitattributesPath(p: string): string {
  return p.replace(/([\\*?[\]#])/g, "\\$1").replace(/ /g, "[[:space:]]");
}

/** First 512 bytes contain a NUL: the Hub's (and git's) binary sniff. */
export async function isBinaryFile(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return buf.subarray(0, bytesRead).includes(0);
  } finally {
    await fh.close();
  }
}

/** The Hub's rule plus ours: ≥10 MiB, binary, or matching an LFS pattern. */
export async function isLfsEntry(entry: { path: string; size: number; source: string }, patterns: readonly string[]): Promise<boolean> {
  if (entry.size >= LFS_SIZE_THRESHOLD) return true;
  if (matchesLfsPattern(entry.path, patterns)) return true;
  return isBinaryFile(entry.source);
}

/**
 * The `.gitattributes` to publish: `base` (the checkpoint's own, else the remote's, else the
 * Hub's default) with the release patterns appended when missing, and one explicit line per
 * LFS-bound file no pattern covers (so the git transport and the Hub agree on every file).
 */
export function buildGitattributes(base: string | undefined, extraLfsPaths: readonly string[] = []): string {
  let text = base ?? HUB_DEFAULT_LFS_PATTERNS.map((p) => `${p} ${LFS_ATTRS}`).join("\n") + "\n";
  if (text && !text.endsWith("\n")) text += "\n";
  const have = lfsPatterns(text);
  const add: string[] = [];
  for (const p of RELEASE_LFS_PATTERNS) if (!have.includes(p)) add.push(`${p} ${LFS_ATTRS}`);
  const patterns = [...have, ...RELEASE_LFS_PATTERNS];
  for (const p of [...extraLfsPaths].sort()) {
    if (!matchesLfsPattern(p, patterns)) add.push(`${escapeGitattributesPath(p)} ${LFS_ATTRS}`);
  }
  return add.length ? text + add.join("\n") + "\n" : text;
}
