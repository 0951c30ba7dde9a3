// Checkpoint files are read only when they are regular files: opening a FIFO named
// pytorch_model.bin blocks until someone writes to it, and /dev/zero never ends. Opening with
// O_NONBLOCK never blocks on a FIFO, and fstat on the open handle says what the path really is, with
// no window between a stat and the open for the file to be swapped.
import { constants, type Stats } from "node:fs";
import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";

const NONBLOCK = constants.O_NONBLOCK ?? 0;

/** What a non-regular file is, in words. */
export function fileKind(st: Pick<Stats, "isFIFO" | "isCharacterDevice" | "isBlockDevice" | "isSocket">): string {
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** The error a non-regular file gives: an fs-style error (`code`, `syscall`) the callers already map. */
function notRegular(file: string, st: Stats): NodeJS.ErrnoException {
  if (st.isDirectory()) return Object.assign(new Error(`EISDIR: illegal operation on a directory, open '${file}'`), { code: "EISDIR", syscall: "open", path: file });
  return Object.assign(new Error(`${file} is ${fileKind(st)}, not a regular file`), { code: "ENOTREG", syscall: "open", path: file, kind: fileKind(st) });
}

/** Opens `file` for reading when it is a regular file; throws an fs-style error otherwise (ENOENT, EISDIR, ENOTREG...). */
export async function openRegularFile(file: string): Promise<FileHandle> {
  const fh = await open(file, constants.O_RDONLY | NONBLOCK);
  let st: Stats;
  try {
    st = await fh.stat();
  } catch (err) {
    await fh.close();
    throw err;
  }
  if (!st.isFile()) {
    await fh.close();
    throw notRegular(file, st);
  }
  return fh;
}

/** The whole of a regular file, at most `maxBytes` of it (more is an error with code EFBIG). */
export async function readRegularFile(file: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  const fh = await openRegularFile(file);
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) {
      throw Object.assign(new Error(`${file} is ${size} bytes, more than ${maxBytes}`), { code: "EFBIG", syscall: "read", path: file, size });
    }
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** A short reason in words for an fs error from the functions above (for messages). */
export function describeReadError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { kind?: string };
  switch (e?.code) {
    case "ENOENT":
      return "no such file";
    case "EISDIR":
      return "is a directory, not a file";
    case "ENOTREG":
      return `is ${e.kind ?? "not a regular file"}, not a regular file: only regular files are read`;
    case "EACCES":
    case "EPERM":
      return "permission denied";
    default:
      return e instanceof Error ? e.message : String(err);
  }
}

/**
 * The entries of `dir` (links followed) that are neither regular files nor folders: FIFOs, devices,
 * sockets, each with what it is. A reader that opens files by name (transformers, onnxruntime)
 * would block on a FIFO or read a device forever.
 */
export async function irregularEntries(dir: string): Promise<Array<{ name: string; kind: string }>> {
  const out: Array<{ name: string; kind: string }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() || entry.isDirectory()) continue;
    const st = await stat(path.join(dir, entry.name)).catch(() => null);
    if (st && !st.isFile() && !st.isDirectory()) out.push({ name: entry.name, kind: fileKind(st) });
  }
  return out;
}
