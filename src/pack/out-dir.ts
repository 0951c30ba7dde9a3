// Where pack may write: not inside the checkpoint (the archive would be published with the model
// and nested into the next pack), and not into a folder that holds anything but pack's own
// outputs (a config with "outDir": "/" once wrote three files to /).
import { lstatSync, readdirSync, realpathSync } from "node:fs";
import path from "node:path";
import { UserError } from "../report.js";
import { isTempNameOf } from "../util/atomic-write.js";

/** The output folder's sub-folder for safetensors written from pytorch_model.bin (`convert`, and the release). */
export const SAFETENSORS_OUT = "safetensors";

/** The record of what the archive was packed from (src/pack/pack.ts: a rerun of the same pack writes nothing). */
export function packRecordName(archiveName: string): string {
  return `.${archiveName}.packed-from.json`;
}

/** What a pack leaves in its folder: the archive, SHA256SUMS, manifest.json, the record of what it packed, and its own temporary files; also the safetensors folder the release writes beside them, and `sign`'s model.sig. */
export function isPackOutput(name: string, archiveName: string): boolean {
  const outputs = [archiveName, "SHA256SUMS", "manifest.json", "model.sig", packRecordName(archiveName)];
  if (outputs.includes(name) || name === SAFETENSORS_OUT) return true;
  if (outputs.some((o) => isTempNameOf(name, o))) return true;
  const prefix = `.${archiveName}.`;
  return name.startsWith(prefix) && /^\d+\.stage$/.test(name.slice(prefix.length));
}

export function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** The real path of p, following symbolic links of the part that exists. */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const missing: string[] = [];
  for (let cur = abs; ; cur = path.dirname(cur)) {
    try {
      return path.join(realpathSync(cur), ...missing.reverse());
    } catch {
      if (path.dirname(cur) === cur) return abs;
      missing.push(path.basename(cur));
    }
  }
}

/** Whether `child` is `parent` or lies under it (both as given: resolve links with realPath first). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** Refuses (exit 2) an output folder inside the checkpoint: what is written there would be published with the model. */
export function assertOutsideCheckpoint(opts: { outDir: string; checkpointDir: string; label?: string }): void {
  if (!isInside(realPath(opts.outDir), realPath(opts.checkpointDir))) return;
  throw new UserError(
    `${opts.label ?? `the output folder ${opts.outDir}`} is inside the checkpoint folder ${opts.checkpointDir}: the archive would be published with the model and packed into the next archive — choose a folder outside it (the default is out/)`,
    2,
  );
}

/** Refuses (exit 2) an output folder inside the checkpoint or holding unrelated files. */
export function assertPackOutDir(opts: { outDir: string; checkpointDir: string; archiveName: string; label?: string }): void {
  const what = opts.label ?? `the output folder ${opts.outDir}`;
  assertOutsideCheckpoint({ ...opts, label: what });
  const out = realPath(opts.outDir);
  const st = lstatOrUndefined(out);
  if (!st) return; // created by pack
  if (!st.isDirectory()) throw new UserError(`${what} is not a folder`, 2);
  // The release and convert write into out/safetensors/: a link there would take their writes (and the removal of stale shards) elsewhere.
  const sub = lstatOrUndefined(path.join(out, SAFETENSORS_OUT));
  if (sub && !sub.isDirectory()) {
    throw new UserError(`${what} holds ${SAFETENSORS_OUT} as ${sub.isSymbolicLink() ? "a symbolic link" : "something other than a folder"}: safetensors are written there, and never through a link; remove it`, 2);
  }
  const unrelated = readdirSync(out)
    .filter((n) => !isPackOutput(n, opts.archiveName))
    .sort();
  if (unrelated.length) {
    const shown = unrelated.slice(0, 5).join(", ") + (unrelated.length > 5 ? `, … (${unrelated.length} in all)` : "");
    throw new UserError(
      `${what} holds files pack did not write (${shown}): use an empty folder, or one that holds only ${opts.archiveName}, SHA256SUMS and manifest.json`,
      2,
    );
  }
}
