// The `check` stage: read the checkpoint once, run every checklist group, hash the manifest.
// Every other stage starts from what this leaves in the context.
import type { ListrTask } from "listr2";
import { CHECKPOINT_CHECKS } from "../checks/index.js";
import { formatBytes } from "../checkpoint/discover.js";
import { HashCache } from "../checkpoint/hash-cache.js";
import { loadCheckpoint, useHubCard, type HubCardLookup, type LoadedCheckpoint } from "../checkpoint/load.js";
import { hashCheckpoint } from "../checkpoint/manifest.js";
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
  const cache = new HashCache();
  return [
    {
      title: `Read checkpoint ${displayPath(ctx.settings.checkpoint.dir)}`,
      task: async (c: Ctx, task: Task<Ctx>) => {
        const { dir, modelCard } = c.settings.checkpoint;
        c.ckpt = await loadCheckpoint(dir, { modelCard, cache });
        if (!c.ckpt.modelCard && c.hubCard) useHubCard(c.ckpt, await c.hubCard());
        const total = c.ckpt.files.reduce((s, f) => s + f.size, 0);
        const card = c.ckpt.modelCard?.origin === "hub" ? `; model card: ${c.ckpt.modelCard.path}` : "";
        task.title = `Read checkpoint ${displayPath(dir)}: ${c.ckpt.files.length} files, ${formatBytes(total)}${card}`;
      },
    },
    ...CHECKPOINT_CHECKS.filter((g) => g.after !== "manifest").map((g) => group<Ctx>(g.title, (c) => g.run(c.ckpt!))),
    {
      title: "Hash files for the manifest",
      skip: (c: Ctx) => !c.ckpt?.files.length,
      task: async (c: Ctx, task: Task<Ctx>) => {
        let last = 0;
        // The read that hashes the weights also scans them for NaN/Inf (ckpt.finite, for weights.finite).
        c.manifest = await hashCheckpoint(c.ckpt!, {
          cache,
          onProgress: (p) => {
            const now = Date.now();
            if (now - last < 100 && p.totalBytes < p.totalSize) return;
            last = now;
            task.output = `${p.file}: ${formatBytes(p.totalBytes)} of ${formatBytes(p.totalSize)}`;
          },
        });
        const hashed = cache.hashedFiles;
        task.title = `Manifest: ${c.manifest.length} files hashed (sha256), ${hashed ? `${hashed} read` : "all from the cache"}`;
      },
    },
    ...CHECKPOINT_CHECKS.filter((g) => g.after === "manifest").map((g) => group<Ctx>(g.title, (c) => g.run(c.ckpt!))),
    ...(ctx.environment ?? []).map((g) => group<Ctx>(g.title, () => g.run())),
  ];
}

export { displayPath };

/** A stage that stopped with an error instead of a result: reported as a failed check, redacted. */
export function stageFailure(e: unknown): CheckResult {
  return { id: "stage.error", title: "every stage completed", status: "fail", message: redact(e instanceof Error ? e.message : String(e)) };
}
