// A minimal stand-in for `azbert-release smoke` (compiled by bench/smoke.ts when the CLI's smoke
// command is not wired yet): the same runSmoke call, one JSON document or the human report.
// usage: node smoke-entry.js --ckpt DIR [--device cpu|auto|cuda] [--cases FILE] [--expect FILE] [--top-k N] [--json]
import { formatSmokeReport, runSmoke } from "../src/smoke/main.js";
import { UserError } from "../src/report.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
try {
  const report = await runSmoke({
    ckptDir: opt("--ckpt") ?? "ckpt",
    device: (opt("--device") as "auto" | "cpu" | "cuda" | undefined) ?? "auto",
    ...(opt("--cases") ? { casesFile: opt("--cases") } : {}),
    ...(opt("--expect") ? { expectations: opt("--expect") } : {}),
    ...(opt("--top-k") ? { topK: Number(opt("--top-k")) } : {}),
  });
  process.stdout.write(argv.includes("--json") ? JSON.stringify(report) + "\n" : formatSmokeReport(report, { color: !!process.stdout.isTTY && !process.env.NO_COLOR }));
  process.exitCode = report.ok ? 0 : 1;
} catch (e) {
  if (e instanceof UserError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else throw e;
}
