// Writes that stay in their folder. An output is written to a new temporary file beside it
// (created exclusively: never an existing file, never through a link planted at that name) and
// renamed over the target when complete; rename replaces a symbolic link at the target, it never
// follows one. So a `SHA256SUMS` committed as a link to ~/.bashrc is replaced, and ~/.bashrc is
// untouched; and a reader never sees half a file. An append (the GitHub step summary, which
// belongs to the runner) refuses a link instead.
import { constants, createWriteStream, type WriteStream } from "node:fs";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../report.js";

let counter = 0;

/** The temporary name of `file` while it is written: `.<name>.<pid>-<n>.partial` in the same folder. */
export function tempNameBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${++counter}.partial`);
}

/** Whether `name` is a temporary file tempNameBeside() makes for `target` (a crashed run's, say). */
export function isTempNameOf(name: string, target: string): boolean {
  const prefix = `.${target}.`;
  return name.startsWith(prefix) && /^\d+-\d+\.partial$/.test(name.slice(prefix.length));
}

export interface TempFile {
  /** Where the bytes go until commit(). */
  readonly path: string;
  readonly handle: FileHandle;
  /** A write stream on the file (closes the handle when it ends). */
  stream(): WriteStream;
  /** Renames the temporary file over the target (the handle must be closed, or is closed here). */
  commit(): Promise<void>;
  /** Removes the temporary file. */
  discard(): Promise<void>;
}

/** A new temporary file beside `file`, to be renamed over it: created exclusively, so no link is followed. */
export async function openTempBeside(file: string): Promise<TempFile> {
  const tmp = tempNameBeside(file);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o644);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => undefined);
  };
  return {
    path: tmp,
    handle,
    stream() {
      closed = true; // the stream owns the handle now
      return createWriteStream("", { fd: handle, autoClose: true, flush: false } as Parameters<typeof createWriteStream>[1]);
    },
    async commit() {
      await close();
      await rename(tmp, file);
    },
    async discard() {
      await close();
      await rm(tmp, { force: true });
    },
  };
}

/** Writes `data` to `file` through a temporary file renamed over it: a link at `file` is replaced, never followed. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const t = await openTempBeside(file);
  try {
    await t.handle.writeFile(data);
    await t.commit();
  } catch (e) {
    await t.discard();
    throw e;
  }
}

/** Appends `text` to `file` (created if missing), refusing a symbolic link there: an append cannot be a rename. */
export async function appendNoFollow(file: string, text: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") throw new UserError(`${file} is a symbolic link: refusing to write through it`);
    throw e;
  }
  try {
    await fh.appendFile(text);
  } finally {
    await fh.close();
  }
}
