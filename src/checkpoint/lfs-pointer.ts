// git-lfs pointer files: what a clone without `git lfs pull` leaves in place of the weights.
// https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md
import { openRegularFile } from "./regular-file.js";

/** Pointer files are under 200 bytes; the spec caps them at 1024. */
export const LFS_POINTER_MAX_BYTES = 1024;

const VERSION_LINES = ["version https://git-lfs.github.com/spec/v1", "version https://hawser.github.com/spec/v1"];

export interface LfsPointer {
  /** `sha256:<64 hex>` as written in the pointer. */
  oid: string;
  /** Size in bytes of the real file. */
  size: number;
}

/** True when `head` starts like a git-lfs pointer (even a malformed one). */
export function looksLikeLfsPointer(head: Uint8Array): boolean {
  const start = Buffer.from(head.subarray(0, 64)).toString("latin1");
  return VERSION_LINES.some((v) => start.startsWith(v));
}

/** Parses the first bytes of a file as a git-lfs pointer; null when it is not a (well-formed) one. */
export function parseLfsPointer(head: Uint8Array): LfsPointer | null {
  if (!looksLikeLfsPointer(head)) return null;
  const text = Buffer.from(head.subarray(0, LFS_POINTER_MAX_BYTES)).toString("utf8");
  let oid: string | undefined;
  let size: number | undefined;
  for (const line of text.split("\n")) {
    const m = /^oid (sha256:[0-9a-f]{64})$/.exec(line);
    if (m) oid = m[1];
    const s = /^size (\d{1,16})$/.exec(line);
    if (s) size = Number(s[1]);
  }
  return oid !== undefined && size !== undefined ? { oid, size } : null;
}

/** Reads at most the first 1 KiB of `file`; returns the pointer's oid and size, or null. */
export async function readLfsPointer(file: string): Promise<LfsPointer | null> {
  const fh = await openRegularFile(file);
  try {
    const buf = Buffer.alloc(LFS_POINTER_MAX_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parseLfsPointer(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}
