// What a release publishes, as one manifest: the checkpoint's files; model.safetensors written
// from pytorch_model.bin beside it (weights.safetensors "add") or instead of it ("only"), into
// the output folder and never into the checkpoint; and manifest.json, every published file's
// path, size and sha256, sorted by path, one digest each: the list a model-signing tool signs.
// The Hub gets all of it, flat; the archive gets the same files in the checkpoint's own layout
// (converted safetensors beside the weights they come from), and starts with its own
// manifest.json listing them there.
// The checkpoint's own `.gitattributes` is repo plumbing, not part of the model: it is neither
// listed nor packed (as model signing leaves it out), and the Hub's `.gitattributes` is made from
// it, so what the manifests list is exactly what the Hub and the archive get.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { SafetensorsMode } from "../config.js";
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import { digestSafetensors, writeSafetensors, type ConversionProof } from "../checkpoint/safetensors-writer.js";
import type { Manifest, ManifestEntry } from "../checkpoint/types.js";
import { describeSet, loadWeightsSet, type SetTensor, type WeightsSet } from "../checkpoint/weight-sets.js";
import { requireSameTensors } from "../checkpoint/weights-compare.js";
import { ARCHIVE_MANIFEST, DEFAULT_TOP_FOLDER, inCheckpointLayout, normalizeManifest, renderManifestJson, toPublished } from "../pack/index.js";
import { assertOutsideCheckpoint } from "../pack/out-dir.js";
import { UsageError, UserError } from "../report.js";
import { assertWeightsPassChecks } from "../smoke/load-gate.js";
import { proveSameLogits, type LogitsComparison } from "../smoke/same-logits.js";

/** What became of the weights: the plan shows it, the report keeps it. */
export interface SafetensorsOutcome {
  mode: SafetensorsMode;
  /**
   * written: converted and proven here; kept: converted and proven by an earlier run from these
   * very weights, and unchanged on disk since; planned: a dry run's digests of what would be written;
   * own: the checkpoint has readable safetensors; off: weights.safetensors is off; none: no
   * pytorch_model.bin to convert.
   */
  action: "written" | "kept" | "planned" | "own" | "off" | "none";
  /** The converted set (`pytorch_model.bin`, or the index and its shard count). */
  from?: string;
  /** Folder the safetensors are (or would be) written to. */
  outDir?: string;
  /** The safetensors files published (repo paths), with size and sha256. */
  files: Array<{ path: string; size: number; sha256: string }>;
  /** Checkpoint files not published (`only`: the pickle). */
  dropped: string[];
  /** Tied names written once: dropped name -> kept name. */
  aliases: Record<string, string>;
  proof?: ConversionProof & { logits: LogitsComparison | { skipped: string } };
}

export interface PublishedFiles {
  /** Every file the Hub gets, manifest.json included, sorted by path (the Hub's `.gitattributes` is made by the publish). */
  hub: Manifest;
  /** The checkpoint's own `.gitattributes`, which the Hub's starts from. */
  gitattributesBase?: string;
  /** model.sig, when the release signs: published to the Hub (not listed in manifest.json) and attached to the GitHub Release. */
  signature?: { path: string; signer: string; reused: boolean };
  /**
   * What the archive holds: the Hub's files but manifest.json (the archive starts with its own),
   * each at its place in the checkpoint's own layout, every identical copy included.
   */
  archive: Manifest;
  safetensors: SafetensorsOutcome;
  /** Removes the temporary folder that holds the generated manifest.json. */
  dispose(): Promise<void>;
}

export interface PublishedOptions {
  ckpt: LoadedCheckpoint;
  /** The checkpoint's manifest (hashed by `check`). */
  manifest: Manifest;
  mode: SafetensorsMode;
  /** Where safetensors written from pytorch_model.bin go (`<github.outDir>/safetensors`). */
  outDir: string;
  /** Dry run: nothing is written; the plan gets the sha256 of what would be. */
  dryRun: boolean;
  /** Appended to the published card (README.md), which is otherwise the checkpoint's as it is. */
  cardSection?: string;
  onProgress?: (done: number, total: number) => void;
}

const GITATTRIBUTES = ".gitattributes";

/**
 * What the release writes into the output folder, at most: model.safetensors (about the size of
 * the weights it is written from) and the archive (weights barely compress).
 */
export function plannedLocalBytes(o: { ckpt: LoadedCheckpoint; manifest: Manifest; mode: SafetensorsMode; archive: boolean }): number {
  const torch = readable(o.ckpt, "torch");
  const converts = o.mode !== "off" && !!torch && !readable(o.ckpt, "safetensors");
  const sizeOf = new Map(o.manifest.map((e) => [e.path, e.size]));
  const weights = converts ? setFiles(torch!).reduce((a, f) => a + (sizeOf.get(f) ?? 0), 0) : 0;
  const dropped = new Set(o.mode === "only" && torch ? setFiles(torch) : []);
  const files = o.manifest.filter((e) => !dropped.has(e.path)).reduce((a, e) => a + e.size * Math.max(1, e.layout?.length ?? 1), 0);
  return weights + (o.archive ? files + weights : 0);
}

const readable = (ckpt: LoadedCheckpoint, format: WeightsSet["format"]) => ckpt.weightSets.find((s) => s.format === format && s.tensors);
const setFiles = (s: WeightsSet) => (s.sharded ? [s.path, ...s.files] : s.files);

export async function preparePublished(opts: PublishedOptions): Promise<PublishedFiles> {
  const { ckpt, manifest, mode } = opts;
  if (manifest.some((e) => e.path === ARCHIVE_MANIFEST)) {
    throw new UsageError(`the checkpoint has a file published as ${ARCHIVE_MANIFEST}: the release publishes its own ${ARCHIVE_MANIFEST} (every file's sha256); rename yours`);
  }
  const torch = readable(ckpt, "torch");
  const own = readable(ckpt, "safetensors");
  const dropped = mode === "only" && torch ? setFiles(torch) : [];
  // Generated files (manifest.json; a dry run's safetensors index) live here until the release ends.
  const staging = await mkdtemp(path.join(os.tmpdir(), "azbert-publish-"));
  const dispose = () => rm(staging, { recursive: true, force: true });
  try {
    let outcome: SafetensorsOutcome;
    let added: ManifestEntry[] = [];
    if (mode === "off") outcome = { mode, action: "off", files: [], dropped: [], aliases: {} };
    else if (own) outcome = { mode, action: "own", from: describeSet(own), files: [], dropped, aliases: {} };
    else if (!torch) outcome = { mode, action: "none", files: [], dropped: [], aliases: {} };
    else ({ outcome, added } = await convert(opts, torch, dropped, staging));

    const drop = new Set([...outcome.dropped, GITATTRIBUTES]);
    const card = manifest.find((e) => e.path === "README.md");
    if (card && opts.cardSection) {
      drop.add("README.md");
      const staged = await stagedText(staging, "README.md", `${(await readFile(card.source, "utf8")).replace(/\n*$/, "\n")}${opts.cardSection}`);
      added = [...added, { ...staged, ...(card.layout ? { layout: card.layout.map((c) => ({ path: c.path, source: staged.source })) } : {}) }];
    }
    const flat = normalizeManifest([...manifest.filter((e) => !drop.has(e.path)), ...added]);
    const ownAttributes = manifest.find((e) => e.path === GITATTRIBUTES);
    const gitattributesBase = ownAttributes ? await readFile(ownAttributes.source, "utf8") : undefined;
    const text = renderManifestJson({ version: 1, topFolder: DEFAULT_TOP_FOLDER, files: toPublished(flat) });
    const entry = await stagedText(staging, ARCHIVE_MANIFEST, text);
    const archive = normalizeManifest(inCheckpointLayout(flat));
    return { hub: normalizeManifest([...flat, entry]), ...(gitattributesBase !== undefined ? { gitattributesBase } : {}), archive, safetensors: outcome, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** pytorch_model.bin → safetensors in the output folder, proven; or, in a dry run, what would be written. */
async function convert(opts: PublishedOptions, torch: WeightsSet, dropped: string[], staging: string): Promise<{ outcome: SafetensorsOutcome; added: ManifestEntry[] }> {
  const { ckpt, mode, outDir } = opts;
  assertOutsideCheckpoint({ outDir, checkpointDir: ckpt.root, label: `the safetensors folder ${outDir}` });
  // Only weights that pass the checklist's weights checks are read for conversion.
  assertWeightsPassChecks(ckpt);
  const base = { mode, from: describeSet(torch), outDir, dropped };
  // In the archive the safetensors lie beside the weights they were written from.
  const folder = setFolder(opts.manifest, torch);
  const beside = (e: ManifestEntry): ManifestEntry => (folder ? { ...e, layout: [{ path: `${folder}/${e.path}`, source: e.source }] } : e);
  // Written by an earlier run from these very weights, and not touched since: nothing to convert.
  const kept = await keptConversion(outDir, sourcesOf(opts.manifest, torch));
  if (kept) {
    const files = kept.files.map((f) => ({ path: f.name, size: f.size, sha256: f.sha256 }));
    const added = await Promise.all(kept.files.map(async (f) => beside(await stampedEntry(f.name, path.join(outDir, f.name), f.sha256))));
    return { outcome: { ...base, action: "kept", files, aliases: kept.aliases, proof: kept.proof }, added };
  }
  if (opts.dryRun) {
    const d = await digestSafetensors(ckpt, { set: torch });
    const files = d.files.map((f) => ({ path: f.name, size: f.size, sha256: f.sha256 }));
    // The weights are never read in a dry run (LFS by name); the small, regular index is staged for the plan.
    const added = await Promise.all(
      d.files.map(async (f) => beside(f.text === undefined ? { path: f.name, size: f.size, sha256: f.sha256, source: path.join(outDir, f.name) } : await stagedText(staging, f.name, f.text))),
    );
    return { outcome: { ...base, action: "planned", files, aliases: d.aliases }, added };
  }
  const written = await writeSafetensors(ckpt, outDir, { set: torch, sha256: true, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  // Every tensor of the .bin is in what was written, or it is not published: transformers loads
  // model.safetensors first, and a dropped tensor would be initialised at random.
  const writtenSet = await loadWeightsSet(written.files.map((f) => f.path));
  if (!writtenSet?.tensors || !torch.tensors) throw new UserError(`the safetensors written from ${describeSet(torch)} cannot be read back: not published`, 1);
  await requireSameTensors(torch as WeightsSet & { tensors: SetTensor[] }, writtenSet as WeightsSet & { tensors: SetTensor[] });
  const logits = await proveSameLogits(ckpt, torch, written.files.map((f) => f.path));
  if ("identical" in logits && !logits.identical) {
    throw new UserError(`the CPU engine's logits differ between ${describeSet(torch)} and the safetensors written from it (max |Δ| ${logits.maxAbsDiff} on ${logits.masks} masks): not published`, 1);
  }
  const added = await Promise.all(written.files.map(async (f) => beside(await stampedEntry(path.basename(f.path), f.path, f.sha256!))));
  const files = added.map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 }));
  const proof = { ...written.proof, logits };
  await recordConversion(outDir, { version: 1, from: sourcesOf(opts.manifest, torch), files: added.map((e) => ({ name: e.path, size: e.size, sha256: e.sha256, mtimeNs: e.stamp!.mtimeNs, ino: e.stamp!.ino })), aliases: written.aliases, proof });
  return { outcome: { ...base, action: "written", files, aliases: written.aliases, proof }, added };
}

/** What a conversion was made from, and what it wrote: beside its outputs, so a rerun on the same weights converts nothing. */
interface ConversionRecord {
  version: 1;
  from: Array<{ path: string; size: number; sha256: string }>;
  files: Array<{ name: string; size: number; sha256: string; mtimeNs: string; ino: string }>;
  aliases: Record<string, string>;
  proof: NonNullable<SafetensorsOutcome["proof"]>;
}

export const CONVERSION_RECORD = "written-from.json";

/** The checkpoint folder (relative) that holds a weights set, in its own layout; "" at the top. */
function setFolder(manifest: Manifest, set: WeightsSet): string {
  const first = manifest.find((e) => e.path === setFiles(set)[0]);
  const where = first?.layout?.[0]?.path;
  return where ? path.posix.dirname(where).replace(/^\.$/, "") : "";
}

function sourcesOf(manifest: Manifest, torch: WeightsSet): ConversionRecord["from"] {
  const want = new Set(setFiles(torch));
  return manifest.filter((e) => want.has(e.path)).map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 }));
}

async function recordConversion(outDir: string, record: ConversionRecord): Promise<void> {
  const file = path.join(outDir, CONVERSION_RECORD);
  const tmp = `${file}.${process.pid}.partial`;
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(tmp, file);
}

/** The record of the last conversion into `outDir` when every output is as it wrote them (size, mtime, inode). */
async function unchangedConversion(outDir: string): Promise<ConversionRecord | undefined> {
  let record: ConversionRecord;
  try {
    record = JSON.parse(await readFile(path.join(outDir, CONVERSION_RECORD), "utf8")) as ConversionRecord;
  } catch {
    return undefined;
  }
  if (record.version !== 1 || !Array.isArray(record.files) || !record.files.length) return undefined;
  for (const f of record.files) {
    const st = await stat(path.join(outDir, f.name), { bigint: true }).catch(() => undefined);
    if (!st?.isFile() || Number(st.size) !== f.size || String(st.mtimeNs) !== f.mtimeNs || String(st.ino) !== f.ino) return undefined;
  }
  return record;
}

/** An earlier conversion from exactly these sources, its outputs untouched since. */
async function keptConversion(outDir: string, from: ConversionRecord["from"]): Promise<ConversionRecord | undefined> {
  const record = await unchangedConversion(outDir);
  return record && JSON.stringify(record.from) === JSON.stringify(from) ? record : undefined;
}

/** The safetensors files a conversion wrote into `outDir` and nothing changed since: name → path and sha256. */
export async function writtenSafetensors(outDir: string): Promise<Map<string, { file: string; sha256: string }>> {
  const record = await unchangedConversion(outDir);
  return new Map((record?.files ?? []).map((f) => [f.name, { file: path.join(outDir, f.name), sha256: f.sha256 }]));
}

async function stagedText(staging: string, name: string, text: string): Promise<ManifestEntry> {
  const file = path.join(staging, name);
  await writeFile(file, text);
  return stampedEntry(name, file, sha256Of(text));
}

/** A manifest entry with the file's stat data, so a publish can tell the file was not changed since. */
async function stampedEntry(repoPath: string, source: string, sha256: string): Promise<ManifestEntry> {
  const st = await stat(source, { bigint: true });
  return { path: repoPath, size: Number(st.size), sha256, source, stamp: { size: Number(st.size), mtimeNs: String(st.mtimeNs), ino: String(st.ino) } };
}

function sha256Of(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
