// `azbert-release smoke`: fill-mask inference on the smoke cases (no side effects).
import path from "node:path";
import type { GlobalOptions, SmokeCliOptions } from "../cli.js";
import { loadConfig, type ReleaseConfig } from "../config.js";
import { formatSmokeReport, runSmoke, type SmokeReport } from "../smoke/main.js";

export function smokeOptions(config: ReleaseConfig, ckptDir: string, opts: SmokeCliOptions = {}) {
  return {
    ckptDir,
    modelCard: config.modelCard,
    casesFile: opts.cases ? path.resolve(opts.cases) : (config.smoke.cases ?? undefined),
    expectations: opts.expect ? path.resolve(opts.expect) : (config.smoke.expectations ?? undefined),
    topK: opts.topK ?? config.smoke.topK,
    device: opts.device ?? config.smoke.device,
    python: opts.python ?? config.smoke.python,
  };
}

export async function runSmokeCommand(opts: GlobalOptions & SmokeCliOptions): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const ckptDir = opts.ckpt ? path.resolve(opts.ckpt) : config.checkpoint;
  const report: SmokeReport = await runSmoke(smokeOptions(config, ckptDir, opts));
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${formatSmokeReport(report, { color: !!process.stdout.isTTY && !process.env.NO_COLOR })}\n`);
  return report.ok ? 0 : 1;
}
