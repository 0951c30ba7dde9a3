// The one error type the weight-file readers throw (re-exported by weights.ts). Kept in its own
// module so the readers can import it without an import cycle through the dispatcher.
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { openRegularFile } from "./regular-file.js";

export type WeightsErrorCode =
  /** The file is a git-lfs pointer, not the weights. */
  | "lfs-pointer"
  /** The file is shorter than its own structure says (interrupted download or copy). */
  | "truncated"
  /** The structure is inconsistent: bad signatures, CRC mismatch, overlapping or impossible offsets. */
  | "corrupt"
  /** The pickle imports something that is not a tensor type; nothing was executed. */
  | "unsafe-pickle"
  /** A valid file in a layout this reader does not handle (legacy torch format, nested dicts, compressed entries...). */
  | "unsupported"
  /** The file could not be opened or read (missing, a directory, no permission). */
  | "unreadable"
  /** A tensor asked for by name is not in the index. */
  | "missing-tensor"
  /** Valid weights in the other format than the file name promises (safetensors bytes in pytorch_model.bin). */
  | "format-mismatch";

/** An expected failure reading a weights file: `message` starts with the file's base name. */
export class WeightsError extends Error {
  readonly code: WeightsErrorCode;
  /** The path as given to the reader. */
  readonly file: string;

  constructor(code: WeightsErrorCode, file: string, problem: string) {
    super(`${path.basename(file)}${code === "lfs-pointer" ? " " : ": "}${problem}`);
    this.name = "WeightsError";
    this.code = code;
    this.file = file;
  }
}

/** Turns an fs error (ENOENT, EISDIR, EACCES, ...) into a WeightsError; anything else is rethrown as is. */
export function rethrowIo(file: string, err: unknown): never {
  if (err instanceof WeightsError) throw err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (!(e instanceof Error) || typeof e.code !== "string" || typeof e.syscall !== "string") throw err;
  const why: Record<string, string> = {
    ENOENT: "no such file",
    EISDIR: "is a directory, not a file",
    EACCES: "permission denied",
    EPERM: "permission denied",
    ENOTDIR: "a parent of the path is not a directory",
    ELOOP: "too many levels of symbolic links",
    ENOTREG: `is ${(e as { kind?: string }).kind ?? "not a regular file"}, not a regular file: only regular files are read`,
  };
  throw new WeightsError("unreadable", file, `cannot read: ${why[e.code] ?? `${e.code} during ${e.syscall}`}`);
}

/** Opens `file`, hands its handle and size to `read`, and closes it; fs errors become WeightsErrors. */
export async function withWeightsFile<T>(file: string, read: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
  const fh = await openWeightsFile(file);
  try {
    const { size } = await fh.stat();
    return await read(fh, size);
  } catch (err) {
    rethrowIo(file, err);
  } finally {
    await fh.close();
  }
}

/** Opens a weights file for reading; a missing, unreadable or non-regular file (a FIFO...) becomes a WeightsError. */
export async function openWeightsFile(file: string): Promise<FileHandle> {
  try {
    return await openRegularFile(file);
  } catch (err) {
    rethrowIo(file, err);
  }
}
