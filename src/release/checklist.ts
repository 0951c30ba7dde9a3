// The checklist as steps: read the checkpoint once, run every checklist group, hash the manifest,
// then the destinations' preflights. Every other stage starts from what this leaves in the
// context. Work that waits on other processes or threads starts as early as it can and is awaited
// in the checklist's order: the environment checks (git, git-lfs) once the hashing has begun, the
// hashing (worker threads) as soon as the weights index gives the scan plan, while the checkpoint
// checks run here.
import { CHECKPOINT_CHECKS } from "../checks/index.js";
import { formatBytes } from "../util/format-bytes.js";
import { useHubCard, type HubCardLookup, type LoadedCheckpoint } from "../checkpoint/load.js";
import { readAndHashCheckpoint, type CheckpointRead } from "../checkpoint/manifest.js";
import type { Manifest } from "../checkpoint/types.js";
import type { CheckResult } from "../report.js";
import { displayPath } from "../util/display-path.js";
import { redact } from "../util/redact.js";
import type { PipelineStep } from "./pipeline.js";
import type { CheckpointSettings } from "./settings.js";

/** A group of checks of the machine or a remote (a destination's preflight), run after the checkpoint's. */
export interface CheckGroup {
  title: string;
  run: () => Promise<CheckResult[]>;
}

export interface CheckContext {
  /** The resolved settings of the command (only the checkpoint's are read here). */
  readonly settings: { readonly checkpoint: CheckpointSettings };
  results: CheckResult[];
  ckpt?: LoadedCheckpoint;
  manifest?: Manifest;
  environment?: readonly CheckGroup[];
  /** What the Hub repo keeps as its card, asked only when the checkpoint has none. */
  hubCard?: () => Promise<HubCardLookup>;
  /** The checkpoint being read and hashed: started by the command as early as it can, else by the first step. */
  read?: CheckpointRead;
}

/** A promise awaited later: its failure is reported where it is awaited, never as "unhandled". */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function group<Ctx extends CheckContext>(title: string, run: (ctx: Ctx) => Promise<CheckResult[]> | CheckResult[]): PipelineStep<Ctx> {
  return {
    title,
    run: async (ctx, out) => {
      const results = (await run(ctx)).map(contractFields);
      ctx.results.push(...results);
      out.results(results);
    },
  };
}

export function checklistSteps<Ctx extends CheckContext>(ctx: Ctx): PipelineStep<Ctx>[] {
  const groups = ctx.environment ?? [];
  let environment: Promise<CheckResult[]>[] | undefined;
  const read = (c: Ctx) => (c.read ??= readAndHashCheckpoint(c.settings.checkpoint.dir, { modelCard: c.settings.checkpoint.modelCard }));
  return [
    {
      title: `Read checkpoint ${displayPath(ctx.settings.checkpoint.dir)}`,
      run: async (c, out) => {
        // The environment checks start git processes: once the hashing has begun, not before.
        await read(c).hashing;
        environment = groups.map((g) => started(g.run()));
        // The read that hashes the weights also scans them for NaN/Inf (ckpt.finite, for weights.finite).
        const ckpt = await read(c).checkpoint;
        if (!ckpt.modelCard && c.hubCard) await useHubCard(ckpt, await c.hubCard());
        c.ckpt = ckpt;
        const total = ckpt.files.reduce((s, f) => s + f.size, 0);
        // The card in use is said whenever it is not the checkpoint's own README.md.
        const own = c.settings.checkpoint.modelCard;
        const card = ckpt.modelCard?.origin === "hub" ? `; model card: ${ckpt.modelCard.path}` : own ? `; model card: ${displayPath(own)}` : "";
        out.title(`Read checkpoint ${displayPath(c.settings.checkpoint.dir)}: ${ckpt.files.length} files, ${formatBytes(total)}${card}`);
      },
    },
    ...CHECKPOINT_CHECKS.filter((g) => g.after !== "manifest").map((g) => group<Ctx>(g.title, (c) => g.run(c.ckpt!))),
    {
      title: "Hash files for the manifest",
      skip: (c) => (!c.ckpt?.files.length ? "no files" : false),
      run: async (c, out) => {
        let last = 0;
        const r = read(c);
        r.onProgress = (p) => {
          const now = Date.now();
          if (now - last < 100 && p.totalBytes < p.totalSize) return;
          last = now;
          out.progress(`${p.file}: ${formatBytes(p.totalBytes)} of ${formatBytes(p.totalSize)}`);
        };
        c.manifest = await r.manifest;
        const hashed = r.cache.hashedFiles;
        out.title(`Manifest: ${c.manifest.length} files hashed (sha256), ${hashed ? `${hashed} read` : "all from the cache"}`);
      },
    },
    ...CHECKPOINT_CHECKS.filter((g) => g.after === "manifest").map((g) => group<Ctx>(g.title, (c) => g.run(c.ckpt!))),
    ...groups.map((g, i) => group<Ctx>(g.title, () => environment?.[i] ?? g.run())),
  ];
}

/** A stage that stopped with an error instead of a result: reported as a failed check, redacted. */
export function stageFailure(e: unknown): CheckResult {
  return { id: "stage.error", title: "every stage completed", status: "fail", message: redact(e instanceof Error ? e.message : String(e)) };
}

/** Check functions may return extra data beside the result; the report carries only the contract's fields. */
function contractFields(r: CheckResult): CheckResult {
  return { id: r.id, title: r.title, status: r.status, ...(r.message ? { message: r.message } : {}) };
}
