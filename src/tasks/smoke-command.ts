// `azbert-release smoke`: fill-mask inference on the smoke cases (no side effects).
import type { GlobalOptions, SmokeCliOptions } from "./options.js";
import { checkpointDir, loadConfig } from "../config.js";
import type { SmokeReport } from "../smoke/main.js";
import { smokeOptions } from "../smoke/options.js";

export async function runSmokeCommand(opts: GlobalOptions & SmokeCliOptions): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const ckptDir = checkpointDir(config, opts.ckpt);
  const { formatSmokeReport, runSmoke } = await import("../smoke/main.js");
  // Only asked when the checkpoint has no card and no cases are given: the Hub repo's README.md.
  const hubCard = async () => {
    const [{ resolveSettings }, { connectRemotes }, { hubCardLookup }] = await Promise.all([
      import("../release/settings.js"),
      import("../release/remotes.js"),
      import("../release/hub-card.js"),
    ]);
    const settings = await resolveSettings({ config, overrides: { ckpt: ckptDir } });
    return hubCardLookup(settings, await connectRemotes(settings))();
  };
  const report: SmokeReport = await runSmoke({ ...smokeOptions(config.smoke, { dir: ckptDir, modelCard: config.modelCard }, opts), hubCard });
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${formatSmokeReport(report, { color: !!process.stdout.isTTY && !process.env.NO_COLOR })}\n`);
  return report.ok ? 0 : 1;
}
