// Whole-process `smoke --device cpu` on one checkpoint, side by side with the same work done by
// another engine: the current engine (the CLI at BENCH_BASELINE_CLI, e.g. a build of an earlier
// commit: git worktree add --detach ../base <commit> && (cd ../base && npm ci && npm run build),
// then BENCH_BASELINE_CLI=../base/bin/azbert-release.js) and PyTorch (bench/torch_fill_mask.py:
// torch.load of the same weights, the same input ids, the reference BERT forward, top-5). Each
// tool runs once as a warm-up (page cache), then `reps` times, in rotating order; reported are
// medians of wall time and CPU time (user + system: it moves less with the load of a shared
// machine), the largest peak RSS (/usr/bin/time's maxrss), and whether the top-5 ids agree at
// every mask.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PYTHON, repoRoot } from "./base-ckpt.js";

const cacheDir = path.join(repoRoot, "bench", ".cache");
const TIME = "/usr/bin/time";

export interface Sample {
  ms: number;
  cpuMs: number;
  rssMB: number;
  stdout: string;
}

export interface ToolResult {
  label: string;
  /** Medians over the reps. */
  ms: number;
  cpuMs: number;
  /** The largest peak RSS of the reps. */
  rssMB: number;
  runs: Sample[];
}

export interface SmokeComparison {
  ckpt: string;
  engine: string;
  /** Masks whose top-5 ids equal ours, per other tool. */
  agreement: Record<string, { same: number; masks: number }>;
  ours: ToolResult;
  baseline?: ToolResult;
  torch: ToolResult & { version: string; threads: number };
}

function measure(cmd: string, args: string[]): Sample {
  if (!existsSync(TIME)) throw new Error("the smoke benchmarks need /usr/bin/time (apt-get install -y time)");
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ["-f", "__TIME=%M %U %S", cmd, ...args], { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, CI: "true" } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  const m = /__TIME=(\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr ?? "");
  if (!m) throw new Error(`${cmd}: no timing in ${r.stderr}`);
  return { ms, cpuMs: (Number(m[2]) + Number(m[3])) * 1000, rssMB: Number(m[1]) / 1024, stdout: r.stdout };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

interface Report {
  engine: string;
  cases: { input_ids: number[]; masks: { position: number; top: { id: number; score: number }[] }[] }[];
}

function sameTop5(a: Report["cases"], b: Report["cases"]): { same: number; masks: number } {
  let same = 0;
  let masks = 0;
  a.forEach((c, i) =>
    c.masks.forEach((m, j) => {
      masks++;
      const o = b[i]?.masks[j];
      if (o && o.position === m.position && o.top.map((x) => x.id).join() === m.top.map((x) => x.id).join()) same++;
    }),
  );
  return { same, masks };
}

export function compareSmoke(ckpt: string, opts: { reps: number; torchThreads?: string }): SmokeComparison {
  mkdirSync(cacheDir, { recursive: true });
  // Random weights meet no expectations: the model card's widget cases, no expectations file.
  const config = path.join(cacheDir, "bench.config.json");
  writeFileSync(config, JSON.stringify({ smoke: { device: "cpu", topK: 5 } }));
  const cliArgs = (cli: string) => [cli, "smoke", "--config", config, "--device", "cpu", "--ckpt", ckpt, "--json"];
  const tools: { key: "ours" | "baseline" | "torch"; label: string; cmd: string; args: string[] }[] = [
    { key: "ours", label: "node bin/azbert-release.js smoke --device cpu --json", cmd: process.execPath, args: cliArgs(path.join(repoRoot, "bin", "azbert-release.js")) },
  ];
  const baselineCli = process.env.BENCH_BASELINE_CLI;
  if (baselineCli) tools.push({ key: "baseline", label: `node ${baselineCli} smoke --device cpu --json`, cmd: process.execPath, args: cliArgs(path.resolve(baselineCli)) });

  process.stderr.write(`${path.basename(ckpt)}: warm-up (page cache) ...\n`);
  const first = JSON.parse(measure(tools[0]!.cmd, tools[0]!.args).stdout) as Report;
  const firstCase = first.cases.find((c) => c.masks.length);
  const maskId = firstCase ? firstCase.input_ids[firstCase.masks[0]?.position ?? 0] : undefined;
  if (maskId === undefined) throw new Error("no masked case in our report");
  const casesFile = path.join(cacheDir, `smoke-bench-cases-${path.basename(ckpt)}.json`);
  writeFileSync(casesFile, JSON.stringify({ mask_id: maskId, cases: first.cases.map((c) => c.input_ids) }));
  tools.push({
    key: "torch",
    label: `${PYTHON} bench/torch_fill_mask.py`,
    cmd: PYTHON,
    args: [path.join(repoRoot, "bench", "torch_fill_mask.py"), ckpt, casesFile, ...(opts.torchThreads ? ["--threads", opts.torchThreads] : [])],
  });
  const outputs = new Map(tools.slice(1).map((t) => [t.key, measure(t.cmd, t.args).stdout]));

  const samples = new Map(tools.map((t) => [t.key, [] as Sample[]]));
  for (let i = 0; i < opts.reps; i++) {
    const order = tools.map((_, j) => tools[(i + j) % tools.length]!);
    for (const t of order) samples.get(t.key)!.push(measure(t.cmd, t.args));
    process.stderr.write(`  rep ${i + 1}/${opts.reps}: ${tools.map((t) => `${t.key} ${samples.get(t.key)!.at(-1)!.ms.toFixed(0)} ms`).join(", ")}\n`);
  }
  const result = (t: (typeof tools)[number]): ToolResult => {
    const runs = samples.get(t.key)!;
    return { label: t.label, ms: median(runs.map((r) => r.ms)), cpuMs: median(runs.map((r) => r.cpuMs)), rssMB: Math.max(...runs.map((r) => r.rssMB)), runs };
  };
  const torchOut = JSON.parse(outputs.get("torch")!) as { torch: string; threads: number; cases: Report["cases"] };
  const agreement: SmokeComparison["agreement"] = { torch: sameTop5(first.cases, torchOut.cases) };
  const baselineTool = tools.find((t) => t.key === "baseline");
  if (baselineTool) agreement.baseline = sameTop5(first.cases, (JSON.parse(outputs.get("baseline")!) as Report).cases);
  return {
    ckpt,
    engine: first.engine,
    agreement,
    ours: result(tools[0]!),
    ...(baselineTool ? { baseline: result(baselineTool) } : {}),
    torch: { ...result(tools.find((t) => t.key === "torch")!), version: torchOut.torch, threads: torchOut.threads },
  };
}

const runs = (r: ToolResult) => `[${r.runs.map((s) => s.ms.toFixed(0)).join(", ")}]`;

/** The comparison as lines: each tool's medians, then ours as a ratio of each other tool's. */
export function formatComparison(c: SmokeComparison): string[] {
  const line = (name: string, r: ToolResult) =>
    `${name.padEnd(9)} median ${r.ms.toFixed(0)} ms ${runs(r)}, CPU ${r.cpuMs.toFixed(0)} ms, peak RSS ${r.rssMB.toFixed(0)} MB`;
  const ratio = (name: string, r: ToolResult) =>
    `ours/${name}: time ${(c.ours.ms / r.ms).toFixed(2)}, CPU ${(c.ours.cpuMs / r.cpuMs).toFixed(2)}, peak RSS ${(c.ours.rssMB / r.rssMB).toFixed(2)}`;
  const agree = Object.entries(c.agreement).map(([k, a]) => `${k} ${a.same}/${a.masks}`).join(", ");
  return [
    `checkpoint: ${c.ckpt}`,
    `  ours:     ${c.ours.label}`,
    `            engine: ${c.engine}`,
    ...(c.baseline ? [`  baseline: ${c.baseline.label}`] : ["  baseline: not run (set BENCH_BASELINE_CLI to the current engine's bin/azbert-release.js)"]),
    `  torch:    ${c.torch.label} (torch ${c.torch.version}, ${c.torch.threads} thread(s))`,
    `  same top-5 ids as ours at: ${agree} masks`,
    `  ${line("ours", c.ours)}`,
    ...(c.baseline ? [`  ${line("baseline", c.baseline)}`] : []),
    `  ${line("torch", c.torch)}`,
    ...(c.baseline ? [`  ${ratio("baseline", c.baseline)}`] : []),
    `  ${ratio("torch", c.torch)}`,
  ];
}
