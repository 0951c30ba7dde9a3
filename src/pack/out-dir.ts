// Where pack may write: not inside the checkpoint (the archive would be published with the model
// and nested into the next pack), and not into a folder that holds anything but pack's own
// outputs (a config with "outDir": "/" once wrote three files to /).
import { lstatSync, readdirSync, realpathSync } from "node:fs";
import path from "node:path";
import { UserError } from "../report.js";

/** What a pack leaves in its folder: the archive, SHA256SUMS, manifest.json, and its own temporary files. */
export function isPackOutput(name: string, archiveName: string): boolean {
  if (name === archiveName || name === "SHA256SUMS" || name === "manifest.json") return true;
  const prefix = `.${archiveName}.`;
  return name.startsWith(prefix) && /^\d+\.(partial|stage)$/.test(name.slice(prefix.length));
}

/** The real path of p, following symbolic links of the part that exists. */
function realPath(p: string): string {
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

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** Refuses (exit 2) an output folder inside the checkpoint or holding unrelated files. */
export function assertPackOutDir(opts: { outDir: string; checkpointDir: string; archiveName: string; label?: string }): void {
  const what = opts.label ?? `the output folder ${opts.outDir}`;
  const out = realPath(opts.outDir);
  const ckpt = realPath(opts.checkpointDir);
  if (isInside(out, ckpt)) {
    throw new UserError(
      `${what} is inside the checkpoint folder ${opts.checkpointDir}: the archive would be published with the model and packed into the next archive — choose a folder outside it (the default is out/)`,
      2,
    );
  }
  let st;
  try {
    st = lstatSync(out);
  } catch {
    return; // created by pack
  }
  if (!st.isDirectory()) throw new UserError(`${what} is not a folder`, 2);
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
