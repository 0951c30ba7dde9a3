// The smoke run the config's `smoke` section asks for, with the command line's overrides: one
// mapping for `smoke`, the release's smoke stage and its proof.
import path from "node:path";
import type { ReleaseConfig } from "../config.js";

export interface SmokeOverrides {
  cases?: string;
  expect?: string;
  topK?: number;
  device?: "auto" | "cpu" | "cuda";
  python?: string;
}

export function smokeOptions(smoke: Readonly<ReleaseConfig["smoke"]>, checkpoint: { readonly dir: string; readonly modelCard: string | null }, opts: SmokeOverrides = {}) {
  return {
    ckptDir: checkpoint.dir,
    modelCard: checkpoint.modelCard,
    casesFile: opts.cases ? path.resolve(opts.cases) : (smoke.cases ?? undefined),
    expectations: opts.expect ? path.resolve(opts.expect) : (smoke.expectations ?? undefined),
    topK: opts.topK ?? smoke.topK,
    device: opts.device ?? smoke.device,
    python: opts.python ?? smoke.python,
  };
}
