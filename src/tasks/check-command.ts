// `azbert-release check`: the pre-publish checklist, no side effects.
import { loadConfig } from "../config.js";
import { isOk, type CheckReport } from "../report.js";
import type { GlobalOptions } from "../cli.js";
import { checkTasks, stageFailure, type CheckContext } from "./check.js";
import { resolveSettings } from "../release/settings.js";
import { environmentChecks } from "./environment.js";
import { detectUi, makeListr } from "./ui.js";

export async function runCheckCommand(opts: GlobalOptions & { offline: boolean }): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const settings = await resolveSettings({ config, offline: opts.offline, ...(opts.ckpt ? { ckptDir: opts.ckpt } : {}) });
  const ctx: CheckContext = {
    config,
    ckptDir: settings.ckptDir,
    offline: opts.offline,
    results: [],
    environment: environmentChecks(settings),
  };
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
  const count = (s: string) => report.checks.filter((c) => c.status === s).length;
  const line = `${count("pass")} passed, ${count("fail")} failed, ${count("warn")} warnings, ${count("skip")} skipped`;
  out.write(`\n${report.ok ? "Checklist passed" : "Checklist FAILED"}: ${line}\n`);
  for (const c of report.checks.filter((c) => c.status === "fail")) {
    out.write(`  ✖ ${c.id}: ${c.message ?? c.title}\n`.replace(/\n(?!$)/g, "\n      "));
  }
}
