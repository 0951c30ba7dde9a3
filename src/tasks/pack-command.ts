// `azbert-release pack`: the checkpoint checks, then ckpt.tar.gz + SHA256SUMS + manifest.json
// in the output folder (its only side effect).
import path from "node:path";
import type { GlobalOptions } from "./options.js";
import { checkpointDir, loadConfig } from "../config.js";
import { formatBytes } from "../util/format-bytes.js";
import { readAndHashCheckpoint } from "../checkpoint/manifest.js";
import { isOk } from "../report.js";
import type { PackResult } from "../pack/index.js";
import { assertPackOutDir } from "../pack/out-dir.js";
import { checklistSteps, stageFailure, type CheckContext } from "../release/checklist.js";
import { packStep } from "../release/local-steps.js";
import { displayPath } from "../util/display-path.js";
import { printSummary } from "./check-command.js";
import { detectUi, stepRunner } from "./ui.js";

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
    await stepRunner(ui).run<PackContext>([...checklistSteps(ctx), packStep<PackContext>({ archiveName: config.github.archive, outDir })], ctx);
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

