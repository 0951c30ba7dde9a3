// `azbert-release init`: adopt the toolkit in a model repository (src/init/init.ts does the work);
// this prints what was written, what was left alone, and what to do next.
import { createInterface } from "node:readline/promises";
import { initProject } from "../init/init.js";
import type { GlobalOptions } from "./options.js";

export interface InitCliOptions {
  hubRepo?: string;
  force?: boolean;
}

export async function runInitCommand(opts: GlobalOptions & InitCliOptions, version: string): Promise<number> {
  const ask = process.stdin.isTTY && !opts.json ? askLine : undefined;
  const r = await initProject({
    root: process.cwd(),
    version,
    ...(opts.ckpt ? { ckpt: opts.ckpt } : {}),
    ...(opts.hubRepo ? { hubRepo: opts.hubRepo } : {}),
    force: !!opts.force,
    ...(ask ? { ask } : {}),
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, ...r }, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`Checkpoint: ${r.checkpoint}`, `Hub repo: ${r.hubRepo.repoId} (from ${r.hubRepo.source})`);
  out.push(r.card ? `Model card: ${r.card}` : "Model card: none found (the Hub repo's own README.md stays; set modelCard to publish one)");
  for (const f of r.written) out.push(`wrote ${f}`);
  for (const f of r.kept) out.push(`kept ${f} (it exists: --force replaces it)`);
  out.push("", "Next:", ...r.nextSteps.map((s) => `  ${s}`));
  process.stdout.write(`${out.join("\n")}\n`);
  return 0;
}

async function askLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
