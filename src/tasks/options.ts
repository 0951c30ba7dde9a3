// What the command line passes to each command (src/cli.ts parses it; docs/cli-contract.md is the contract).

export interface GlobalOptions {
  config?: string;
  ckpt?: string;
  json?: boolean;
}
export interface SmokeCliOptions {
  device?: "auto" | "cpu" | "cuda";
  cases?: string;
  expect?: string;
  topK?: number;
  python?: string;
}
export interface ReleaseCliOptions {
  dryRun?: boolean;
  yes?: boolean;
  only?: string;
  transport?: "api" | "git";
  tag?: string;
  prune?: boolean;
  createPr?: boolean;
  force?: boolean;
  offline?: boolean;
}
