// `azbert-release check`: the pre-publish checklist, no side effects. Reading and hashing the
// checkpoint start first; the modules of the rest of the command load while they run.
import type { GlobalOptions } from "./options.js";
import { readAndHashCheckpoint, type CheckpointRead } from "../checkpoint/manifest.js";
import { checkpointDir, loadConfig, type ReleaseConfig } from "../config.js";
import { isOk, type CheckReport } from "../report.js";
import type { CheckContext } from "../release/checklist.js";

export async function runCheckCommand(opts: GlobalOptions & { offline: boolean; tag?: string }): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const read = readAndHashCheckpoint(checkpointDir(config, opts.ckpt), { modelCard: config.modelCard });
  try {
    return await runChecks(opts, config, read);
  } finally {
    read.cancel();
  }
}

async function runChecks(opts: GlobalOptions & { offline: boolean; tag?: string }, config: ReleaseConfig, read: CheckpointRead): Promise<number> {
  const [{ checklistSteps, stageFailure }, { allDestinations }, { hubCardLookup }, { connectRemotes }, { resolveSettings }, { detectUi, stepRunner }] = await Promise.all([
    import("../release/checklist.js"),
    import("../release/destinations/index.js"),
    import("../release/hub-card.js"),
    import("../release/remotes.js"),
    import("../release/settings.js"),
    import("./ui.js"),
  ]);
  const settings = await resolveSettings({ config, overrides: { offline: opts.offline, ...(opts.ckpt ? { ckpt: opts.ckpt } : {}), ...(opts.tag ? { tag: opts.tag } : {}) } });
  const remotes = await connectRemotes(settings);
  // Every destination's preflight: what a release would check before its first remote write.
  const environment = allDestinations(settings).map((d) => ({ title: d.group, run: () => d.preflight({ settings, remotes }) }));
  const ctx: CheckContext = { settings, results: [], read, environment, hubCard: hubCardLookup(settings, remotes) };
  const ui = detectUi(!!opts.json);
  try {
    await stepRunner(ui).run(checklistSteps(ctx), ctx);
  } catch (e) {
    ctx.results.push(stageFailure(e));
  }
  const report: CheckReport = { ok: isOk(ctx.results), checks: ctx.results };
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printSummary(report);
  return report.ok ? 0 : 1;
}

export function printSummary(report: CheckReport, out: NodeJS.WritableStream = process.stdout): void {
  out.write(formatSummary(report));
}

/** The checklist's last lines: counts, then every failure with its message. */
export function formatSummary(report: CheckReport): string {
  const count = (s: string) => report.checks.filter((c) => c.status === s).length;
  const line = `${count("pass")} passed, ${count("fail")} failed, ${count("warn")} warnings, ${count("skip")} skipped`;
  let out = `\n${report.ok ? "Checklist passed" : "Checklist FAILED"}: ${line}\n`;
  for (const c of report.checks.filter((c) => c.status === "fail")) {
    out += `  ✖ ${c.id}: ${c.message ?? c.title}\n`.replace(/\n(?!$)/g, "\n      ");
  }
  return out;
}
