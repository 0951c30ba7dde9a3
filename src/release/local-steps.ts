// The local stages of a release, after the checklist: the smoke test, the files to publish
// (model.safetensors and manifest.json, with the disk they need), the archive, and the plan of
// every destination. Nothing here writes to a remote; the dry run is exactly these.
import { statfs } from "node:fs/promises";
import path from "node:path";
import { formatBytes } from "../util/format-bytes.js";
import { defaultCacheFile } from "../checkpoint/hash-cache.js";
import type { Manifest } from "../checkpoint/types.js";
import type { PackResult } from "../pack/index.js";
import { assertPackOutDir, SAFETENSORS_OUT } from "../pack/out-dir.js";
import { inCheckpointLayout } from "../pack/layout.js";
import { isOk, type CheckResult } from "../report.js";
import { smokeOptions } from "../smoke/options.js";
import { displayPath } from "../util/display-path.js";
import type { CheckContext } from "./checklist.js";
import type { PlanContext } from "./destination.js";
import { archiveOverLimit } from "./destinations/github.js";
import { signingPlan, verifySection } from "./signature.js";
import { Journal, manifestDigest } from "./journal.js";
import type { PipelineStep } from "./pipeline.js";
import { planProof, safetensorsLine } from "./plan.js";
import { plannedLocalBytes, preparePublished } from "./published.js";
import { tagName } from "./settings.js";
import type { LocalContext } from "./local-context.js";

export type { LocalContext } from "./local-context.js";


/** Every file the release publishes (the checkpoint's, model.safetensors, manifest.json); the checkpoint's before that is known. */
export function publishedManifest(ctx: Pick<LocalContext, "published" | "manifest">): Manifest {
  return ctx.published?.hub ?? ctx.manifest!;
}

export function smokeStep<C extends LocalContext>(): PipelineStep<C> {
  return {
    title: "Smoke test (fill-mask)",
    enabled: (c) => c.settings.release.stages.has("smoke"),
    skip: (c) => (!isOk(c.results) ? "checks failed" : false),
    run: async (c, out) => {
      // The inference engine is loaded only when the smoke stage runs; it reads the checkpoint
      // `check` read (with the Hub's card when the checkpoint has none, as `check` found it).
      const { runSmoke } = await import("../smoke/main.js");
      // A pass on exactly these files and cases (a rerun, a new card text) is carried over.
      const files = c.manifest?.filter((e) => e.path !== "README.md").map((e) => ({ path: e.path, sha256: e.sha256 }));
      c.smoke = await runSmoke({
        ...smokeOptions(c.settings.smoke, c.settings.checkpoint),
        checkpoint: c.ckpt!,
        ...(c.hubCard ? { hubCard: c.hubCard } : {}),
        ...(files ? { memo: { dir: path.dirname(defaultCacheFile()), files } } : {}),
        onCase: (r) => out.progress(`${r.status} ${r.text}`),
      });
      const passed = c.smoke.cases.filter((x) => x.status === "pass").length;
      const carried = c.smoke.carriedOver ? " (carried over: these very files and cases passed before)" : "";
      out.title(`Smoke test on ${c.smoke.device}: ${passed}/${c.smoke.cases.length} cases pass${carried}`);
      if (!c.smoke.ok) {
        const bad = c.smoke.cases.filter((x) => x.status === "fail").map((x) => `${x.text}: ${x.reason ?? "failed"}`);
        throw new Error(`smoke test failed:\n${bad.join("\n")}`);
      }
    },
  };
}

/** The disk the release writes to (safetensors, archive) holds what it will write, or the check says how much is missing. */
export async function checkLocalDisk(folder: string, bytes: number): Promise<CheckResult> {
  const id = "release.disk";
  const title = `${displayPath(folder)} has room for what the release writes (${formatBytes(bytes)})`;
  let at = path.resolve(folder);
  for (;;) {
    try {
      const fs = await statfs(at);
      const free = Number(fs.bavail) * Number(fs.bsize);
      return free >= bytes
        ? { id, title, status: "pass", message: `${formatBytes(free)} free` }
        : { id, title, status: "fail", message: `${displayPath(folder)} has ${formatBytes(free)} free, and the release writes ${formatBytes(bytes)} there (model.safetensors and the archive): free some space, or set github.outDir to a folder on a larger disk` };
    } catch {
      const up = path.dirname(at);
      if (up === at) return { id, title, status: "skip", message: `cannot tell the free space of ${displayPath(folder)}` };
      at = up;
    }
  }
}

export function publishedStep<C extends LocalContext>(): PipelineStep<C> {
  return {
    title: "Safetensors and the manifest to publish",
    enabled: (c) => ["hub", "pack", "github"].some((x) => c.settings.release.stages.has(x as never)),
    skip: (c) => (!isOk(c.results) || !c.manifest ? "checks failed" : false),
    run: async (c, out) => {
      const s = c.settings;
      const writesArchive = s.release.stages.has("pack") || s.release.stages.has("github");
      const bytes = plannedLocalBytes({ ckpt: c.ckpt!, manifest: c.manifest!, mode: s.weights.safetensors, archive: writesArchive });
      c.plan.local = { folder: s.github.outDir, bytes };
      const disk = await checkLocalDisk(s.github.outDir, bytes);
      c.results.push(disk);
      if (disk.status === "fail") throw new Error(disk.message);
      let last = 0;
      c.published = await preparePublished({
        ckpt: c.ckpt!,
        manifest: c.manifest!,
        mode: s.weights.safetensors,
        outDir: path.join(s.github.outDir, SAFETENSORS_OUT),
        dryRun: s.release.dryRun,
        cardSection: verifySection(s, signingPlan(s)),
        onProgress: (done, total) => {
          if (Date.now() - last < 100) return;
          last = Date.now();
          out.progress(`model.safetensors: ${formatBytes(done)} of ${formatBytes(total)} written and read back`);
        },
      });
      c.plan.safetensors = c.published.safetensors;
      out.title(safetensorsLine(c.published.safetensors));
      // Known now, before minutes of packing: an archive GitHub would refuse is not made.
      const tooLarge = s.release.stages.has("github") ? archiveOverLimit(s.github.archive, c.published.archive) : undefined;
      if (tooLarge) c.results.push(tooLarge);
    },
  };
}

/**
 * Packs only a checkpoint whose checks passed: an archive of a broken checkpoint helps nobody.
 * `files` picks what is packed (the release's published files); default: the checkpoint's manifest.
 */
export function packStep<C extends CheckContext & { pack?: PackResult }>(o: { archiveName: string; outDir: string; files?: (c: C) => Manifest | undefined; enabled?: (c: C) => boolean }): PipelineStep<C> {
  // The checkpoint as it lies on disk, its layout kept (the release passes what it publishes).
  const files = o.files ?? ((c: C) => (c.manifest ? inCheckpointLayout(c.manifest) : undefined));
  return {
    title: `Pack ${o.archiveName}`,
    ...(o.enabled ? { enabled: o.enabled } : {}),
    skip: (c) => (!isOk(c.results) || !files(c) ? "checks failed: not packing" : false),
    run: async (c, out) => {
      assertPackOutDir({ outDir: o.outDir, checkpointDir: c.settings.checkpoint.dir, archiveName: o.archiveName });
      let last = 0;
      const { packCheckpoint } = await import("../pack/index.js");
      c.pack = await packCheckpoint({
        manifest: files(c)!,
        outDir: o.outDir,
        archiveName: o.archiveName,
        keepUnchanged: true,
        onProgress: (p) => {
          if (Date.now() - last < 100) return;
          last = Date.now();
          out.progress(`${p.path}: ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`);
        },
      });
      const a = c.pack.archive;
      if (c.pack.kept) return out.title(`Kept ${displayPath(a.path)} (${c.pack.files} files, ${formatBytes(a.size)}): packed from the same files before, untouched since`);
      out.title(`Packed ${displayPath(a.path)} (${c.pack.files} files, ${formatBytes(a.size)}) with SHA256SUMS and manifest.json`);
    },
  };
}

export function planStep<C extends LocalContext>(): PipelineStep<C> {
  return {
    title: "Plan the remote steps",
    enabled: (c) => c.destinations.length > 0,
    skip: (c) => (!isOk(c.results) ? "checks failed" : false),
    run: async (c, out) => {
      const s = c.settings;
      const m = publishedManifest(c);
      const packed = c.published?.archive ?? m;
      if (s.release.dryRun && (s.release.stages.has("pack") || s.release.stages.has("github"))) {
        c.plan.pack = { archive: `${s.github.outDir}/${s.github.archive}`, files: packed.length, bytes: packed.reduce((a, e) => a + e.size, 0) };
      }
      // What an earlier run of this release recorded (read only: the dry run writes nothing).
      const recorded = await Journal.read(s.cwd, tagName(s), manifestDigest(m));
      const ctx: PlanContext = {
        settings: s,
        remotes: c.remotes,
        manifest: m,
        ...(c.published ? { published: c.published } : {}),
        ...(c.pack ? { pack: c.pack } : {}),
        ...(recorded ? { recorded } : {}),
        plan: c.plan,
      };
      for (const d of c.destinations) await d.plan(ctx);
      c.plan.proof = planProof(s, m);
      const hub = c.plan.hub && !("skipped" in c.plan.hub) ? `Hub: ${c.plan.hub.summary.add + c.plan.hub.summary.update} to upload (${formatBytes(c.plan.hub.summary.bytesToSend)})` : "";
      out.title(["Plan the remote steps", hub].filter(Boolean).join(": "));
    },
  };
}
