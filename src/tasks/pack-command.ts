// `azbert-release pack`: the checkpoint checks, then ckpt.tar.gz + SHA256SUMS + manifest.json
// in the output folder (its only side effect).
import path from "node:path";
import type { GlobalOptions } from "../cli.js";
import { checkpointDir, loadConfig } from "../config.js";
import { formatBytes } from "../checkpoint/discover.js";
import { readAndHashCheckpoint } from "../checkpoint/manifest.js";
import type { Manifest } from "../checkpoint/types.js";
import { isOk } from "../report.js";
import type { PackResult } from "../pack/index.js";
import { assertPackOutDir } from "../pack/out-dir.js";
import { checkTasks, displayPath, stageFailure, type CheckContext } from "./check.js";
import { printSummary } from "./check-command.js";
import { detectUi, makeListr, type Task } from "./ui.js";

interface PackContext extends CheckContext {
  pack?: PackResult;
}

export async function runPackCommand(opts: GlobalOptions & { out?: string }): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const checkpoint = { dir: checkpointDir(config, opts.ckpt), modelCard: config.modelCard };
  const outDir = opts.out ? path.resolve(opts.out) : config.github.outDir;
  // A usage error, before the checks run: the folder is wrong whatever the checkpoint holds.
  assertPackOutDir({
    outDir,
    checkpointDir: checkpoint.dir,
    archiveName: config.github.archive,
    label: opts.out ? `--out ${opts.out}` : `github.outDir ${displayPath(outDir)}`,
  });
  const ctx: PackContext = { settings: { checkpoint }, results: [], read: readAndHashCheckpoint(checkpoint.dir, { modelCard: checkpoint.modelCard }) };
  const ui = detectUi(!!opts.json);
  try {
    await makeListr<PackContext>([...checkTasks(ctx), packTask({ archiveName: config.github.archive, outDir })], ui, ctx).run();
  } catch (e) {
    ctx.results.push(stageFailure(e));
  } finally {
    ctx.read!.cancel();
  }
  const ok = isOk(ctx.results) && !!ctx.pack;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok, checks: ctx.results, ...(ctx.pack ? { archive: ctx.pack.archive } : {}) }, null, 2)}\n`);
  } else if (!ok) {
    printSummary({ ok, checks: ctx.results });
  } else {
    const a = ctx.pack!.archive;
    process.stdout.write(`\n${displayPath(a.path)}  ${formatBytes(a.size)}  sha256 ${a.sha256}\n`);
  }
  return ok ? 0 : 1;
}

/**
 * Packs only a checkpoint whose checks passed: an archive of a broken checkpoint helps nobody.
 * `files` picks what is packed (the release's published files); default: the checkpoint's manifest.
 */
export function packTask<Ctx extends PackContext>({ archiveName, outDir, files = (c) => c.manifest }: { archiveName: string; outDir: string; files?: (c: Ctx) => Manifest | undefined }): import("listr2").ListrTask<Ctx> {
  return {
    title: `Pack ${archiveName}`,
    skip: (c: Ctx) => (!isOk(c.results) || !files(c) ? "checks failed: not packing" : false),
    task: async (c: Ctx, task: Task<Ctx>) => {
      assertPackOutDir({ outDir, checkpointDir: c.settings.checkpoint.dir, archiveName });
      let last = 0;
      const { packCheckpoint } = await import("../pack/index.js");
      c.pack = await packCheckpoint({
        manifest: files(c)!,
        outDir,
        archiveName,
        onProgress: (p) => {
          if (Date.now() - last < 100) return;
          last = Date.now();
          task.output = `${p.path}: ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`;
        },
      });
      const a = c.pack.archive;
      task.title = `Packed ${displayPath(a.path)} (${c.pack.files} files, ${formatBytes(a.size)}) with SHA256SUMS and manifest.json`;
    },
  };
}
