// `azbert-release check`: the pre-publish checklist, no side effects.
import { loadConfig } from "../config.js";
import { isOk, type CheckReport } from "../report.js";
import type { GlobalOptions } from "../cli.js";
import { checkTasks, stageFailure, type CheckContext } from "./check.js";
import { environmentChecks } from "../release/environment-checks.js";
import { connectRemotes } from "../release/remotes.js";
import { resolveSettings } from "../release/settings.js";
import { detectUi, makeListr } from "./ui.js";

export async function runCheckCommand(opts: GlobalOptions & { offline: boolean }): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const settings = await resolveSettings({ config, overrides: { offline: opts.offline, ...(opts.ckpt ? { ckpt: opts.ckpt } : {}) } });
  const ctx: CheckContext = { settings, results: [], environment: environmentChecks(settings, await connectRemotes(settings)) };
  const ui = detectUi(!!opts.json);
  try {
    await makeListr(checkTasks(ctx), ui, ctx).run();
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
