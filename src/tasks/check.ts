// The `check` stage: read the checkpoint once, run every checklist group, hash the manifest.
// Every other stage starts from what this leaves in the context. Work that waits on other
// processes or threads starts as early as it can and is awaited in the checklist's order: the
// environment checks (git, git-lfs) at once, the hashing (worker threads) as soon as the weights
// index gives the scan plan, while the checkpoint checks run here.
import type { ListrTask } from "listr2";
import { CHECKPOINT_CHECKS } from "../checks/index.js";
import { formatBytes } from "../checkpoint/discover.js";
import { useHubCard, type HubCardLookup, type LoadedCheckpoint } from "../checkpoint/load.js";
import { readAndHashCheckpoint, type CheckpointRead } from "../checkpoint/manifest.js";
import type { Manifest } from "../checkpoint/types.js";
import type { CheckGroup } from "../release/environment-checks.js";
import type { CheckpointSettings } from "../release/settings.js";
import type { CheckResult } from "../report.js";
import { displayPath } from "../util/display-path.js";
import { redact } from "../util/redact.js";
import { resultTasks, type Task } from "./ui.js";

export interface CheckContext {
  /** The resolved settings of the command (only the checkpoint's are read here). */
  readonly settings: { readonly checkpoint: CheckpointSettings };
  results: CheckResult[];
  ckpt?: LoadedCheckpoint;
  manifest?: Manifest;
  /** Extra groups of environment checks (git, git-lfs, remotes, credentials), run after the checkpoint's. */
  environment?: readonly CheckGroup[];
  /** What the Hub repo keeps as its card, asked only when the checkpoint has none. */
  hubCard?: () => Promise<HubCardLookup>;
  /** The checkpoint being read and hashed: started by the command as early as it can, else by the first task. */
  read?: CheckpointRead;
}

/** A promise awaited later: its failure is reported where it is awaited, never as "unhandled". */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function group<Ctx extends CheckContext>(title: string, run: (ctx: Ctx) => Promise<CheckResult[]> | CheckResult[]): ListrTask<Ctx> {
  return {
    title,
    task: async (ctx: Ctx, task: Task<Ctx>) => {
      const results = await run(ctx);
      ctx.results.push(...results);
      return task.newListr(resultTasks<Ctx>(results), { exitOnError: false });
    },
  };
}

export function checkTasks<Ctx extends CheckContext>(ctx: Ctx): ListrTask<Ctx>[] {
  const groups = ctx.environment ?? [];
  let environment: Promise<CheckResult[]>[] | undefined;
  const read = (c: Ctx) => (c.read ??= readAndHashCheckpoint(c.settings.checkpoint.dir, { modelCard: c.settings.checkpoint.modelCard }));
  return [
    {
      title: `Read checkpoint ${displayPath(ctx.settings.checkpoint.dir)}`,
      task: async (c: Ctx, task: Task<Ctx>) => {
        // The environment checks start git processes: once the hashing has begun, not before.
        await read(c).hashing;
        environment = groups.map((g) => started(g.run()));
        // The read that hashes the weights also scans them for NaN/Inf (ckpt.finite, for weights.finite).
        const ckpt = await read(c).checkpoint;
        if (!ckpt.modelCard && c.hubCard) await useHubCard(ckpt, await c.hubCard());
        c.ckpt = ckpt;
        const total = ckpt.files.reduce((s, f) => s + f.size, 0);
        const card = ckpt.modelCard?.origin === "hub" ? `; model card: ${ckpt.modelCard.path}` : "";
        task.title = `Read checkpoint ${displayPath(c.settings.checkpoint.dir)}: ${ckpt.files.length} files, ${formatBytes(total)}${card}`;
      },
    },
    ...CHECKPOINT_CHECKS.filter((g) => g.after !== "manifest").map((g) => group<Ctx>(g.title, (c) => g.run(c.ckpt!))),
    {
      title: "Hash files for the manifest",
      skip: (c: Ctx) => !c.ckpt?.files.length,
      task: async (c: Ctx, task: Task<Ctx>) => {
        let last = 0;
        const r = read(c);
        r.onProgress = (p) => {
          const now = Date.now();
          if (now - last < 100 && p.totalBytes < p.totalSize) return;
          last = now;
          task.output = `${p.file}: ${formatBytes(p.totalBytes)} of ${formatBytes(p.totalSize)}`;
        };
        c.manifest = await r.manifest;
        const hashed = r.cache.hashedFiles;
        task.title = `Manifest: ${c.manifest.length} files hashed (sha256), ${hashed ? `${hashed} read` : "all from the cache"}`;
      },
    },
    ...CHECKPOINT_CHECKS.filter((g) => g.after === "manifest").map((g) => group<Ctx>(g.title, (c) => g.run(c.ckpt!))),
    ...groups.map((g, i) => group<Ctx>(g.title, () => environment?.[i] ?? g.run())),
  ];
}

export { displayPath };

/** A stage that stopped with an error instead of a result: reported as a failed check, redacted. */
export function stageFailure(e: unknown): CheckResult {
  return { id: "stage.error", title: "every stage completed", status: "fail", message: redact(e instanceof Error ? e.message : String(e)) };
}
