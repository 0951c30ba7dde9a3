// `azbert-release convert [--out DIR]`: pytorch_model.bin (single or sharded) written as
// safetensors by the project's own reader into an output folder, with the proof: every tensor read
// back byte-identical, every dropped name an alias of a kept one, at most 1% larger, and the CPU
// engine's logits identical on both. The checkpoint itself is written to only when --out names it.
import { existsSync } from "node:fs";
import path from "node:path";
import type { GlobalOptions } from "./options.js";
import { formatBytes } from "../util/format-bytes.js";
import { loadCheckpoint, type LoadedCheckpoint } from "../checkpoint/load.js";
import { isSafetensorsOutput, torchWeightsSet, writeSafetensors, type SafetensorsConversion } from "../checkpoint/safetensors-writer.js";
import { describeSet } from "../checkpoint/weight-sets.js";
import { checkpointDir, loadConfig } from "../config.js";
import { isInside, lstatOrUndefined, realPath, SAFETENSORS_OUT } from "../pack/out-dir.js";
import { UserError } from "../report.js";
import { assertWeightsPassChecks } from "../smoke/load-gate.js";
import { proveSameLogits, type LogitsComparison } from "../smoke/same-logits.js";
import { displayPath } from "../util/display-path.js";

export interface ConvertCliOptions {
  out?: string;
}

export interface ConvertReport {
  ok: boolean;
  source: string;
  outDir: string;
  files: SafetensorsConversion["files"];
  aliases: SafetensorsConversion["aliases"];
  proof: SafetensorsConversion["proof"] & { logits: LogitsComparison | { skipped: string } };
}

/** What the user named: `--out DIR`, or the default beside the archive. */
const outLabel = (opts: ConvertCliOptions, outDir: string) => (opts.out ? `--out ${opts.out}` : `the output folder ${displayPath(outDir)}`);

/**
 * The output folder must be a folder (or not exist yet), and not a symbolic link: the writes,
 * and the removal of stale shards, stay where the user pointed.
 */
function checkOutFolder(outDir: string, label: string): void {
  const st = lstatOrUndefined(outDir);
  if (!st) return;
  if (st.isSymbolicLink()) throw new UserError(`${label} is a symbolic link: name the folder it points to, so that nothing is written through a link`, 2);
  if (!st.isDirectory()) throw new UserError(`${label} is not a folder`, 2);
}

/** A write the file system refused (read-only, no room, no permission): the folder and the reason, not a stack. */
function writeFailure(e: unknown, label: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (e instanceof UserError || typeof err?.code !== "string" || !/^E[A-Z]+$/.test(err.code)) return e;
  return new UserError(`${label}: cannot write ${err.path ? displayPath(err.path) : "there"} (${err.code}: ${err.message.replace(/^E[A-Z]+: /, "").replace(/, \w+ '.*'$/, "")})`, 1, { cause: e });
}

/** Where the files may go: not a folder inside the checkpoint (they would be published twice), nor over its own safetensors. */
function checkOutDir(ckpt: LoadedCheckpoint, outDir: string): void {
  // Links resolved: an --out that is a link into the checkpoint is inside it.
  const [out, root] = [realPath(outDir), realPath(ckpt.root)];
  if (out !== root && isInside(out, root)) {
    throw new UserError(`--out ${outDir} is inside the checkpoint folder ${ckpt.root}: the files would be published as part of the model; choose a folder outside it (or the checkpoint folder itself)`, 2);
  }
  if (out === root) {
    const existing = ckpt.files.filter((f) => isSafetensorsOutput(f.repoPath));
    if (existing.length) {
      throw new UserError(`${ckpt.root} already has ${existing.map((f) => f.repoPath).join(", ")}; remove it or write the conversion elsewhere with --out`, 2);
    }
  }
}

export async function runConvertCommand(opts: GlobalOptions & ConvertCliOptions): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const ckptDir = checkpointDir(config, opts.ckpt);
  if (!existsSync(ckptDir)) throw new UserError(`${ckptDir}: checkpoint folder not found`, 2);
  const outDir = opts.out ? path.resolve(opts.out) : path.join(config.github.outDir, SAFETENSORS_OUT);
  const label = outLabel(opts, outDir);
  const ckpt = await loadCheckpoint(ckptDir, { modelCard: config.modelCard });
  checkOutDir(ckpt, outDir);
  checkOutFolder(outDir, label);
  assertWeightsPassChecks(ckpt);
  const source = torchWeightsSet(ckpt);
  const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
  log(`Converting ${describeSet(source)} to safetensors in ${displayPath(outDir)}`);
  const result = await writeSafetensors(ckpt, outDir, { set: source }).catch((e: unknown) => {
    throw writeFailure(e, label);
  });
  const logits = await proveSameLogits(ckpt, source, result.files.map((f) => f.path));
  const ok = !("identical" in logits) || logits.identical;
  const report: ConvertReport = { ok, source: describeSet(source), outDir, files: result.files, aliases: result.aliases, proof: { ...result.proof, logits } };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const p = result.proof;
    for (const f of result.files) log(`  wrote ${displayPath(f.path)} (${formatBytes(f.size)})`);
    log(`  ${p.tensorsCompared} tensors read back byte-identical to ${describeSet(source)} (${formatBytes(p.bytesCompared)})`);
    const aliases = Object.entries(result.aliases);
    log(`  ${aliases.length ? `${aliases.length} tied names written once (${aliases.map(([a, k]) => `${a} -> ${k}`).join(", ")}), recorded in __metadata__` : "no tied names"}`);
    log(`  size: ${formatBytes(p.writtenBytes)}, ${p.sizeRatio.toFixed(4)}x the .bin (${formatBytes(p.sourceBytes)})`);
    log(
      "identical" in logits
        ? `  CPU engine logits on ${logits.masks} masks: ${logits.identical ? "identical" : `DIFFER (max |Δ| ${logits.maxAbsDiff})`}`
        : `  CPU engine logits not compared: ${logits.skipped}`,
    );
    log(ok ? "Converted and proven equal." : "Conversion FAILED: the logits differ.");
  }
  return ok ? 0 : 1;
}
