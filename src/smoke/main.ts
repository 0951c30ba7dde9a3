// runSmoke: the `smoke` command's work, for the CLI and the release pipeline.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { loadCheckpoint, useHubCard, type HubCardLookup, type LoadedCheckpoint } from "../checkpoint/load.js";
import { printable } from "../util/printable.js";
import { irregularEntries } from "../checkpoint/regular-file.js";
import { UserError } from "../report.js";
import { loadCasesFile, PYA0_REASON, widgetCases, type SmokeCase } from "./cases.js";
import { CpuEngine, type EngineOptions } from "./engine.js";
import { checkExpectation, expectationFor, loadExpectations, unmatchedKeys, type Expectations } from "./expectations.js";
import { agreement, cudaUnavailable, probePython, runPython, type HubModelSource, type PythonProbe, type PythonRun } from "./python-runner.js";
import type { SmokeCaseReport, SmokeMask, SmokeReport, SmokeStatus } from "./report.js";
import { assertWeightsPassChecks } from "./load-gate.js";
import { loadTokenizer, type SmokeTokenizer } from "./tokenizer.js";
import { keepSmoke, keptSmoke, smokeMemoKey, type SmokeMemo } from "./memo.js";

export type { SmokeCase } from "./cases.js";
export { formatSmokeReport } from "./report.js";
export type { SmokeCaseReport, SmokeReport } from "./report.js";

export interface RunSmokeOptions {
  ckptDir: string;
  /** The checkpoint as `check` read it; default: read from ckptDir through the same discovery. */
  checkpoint?: LoadedCheckpoint;
  /** A model card kept outside the checkpoint (config `modelCard`): its widget examples are the default cases. */
  modelCard?: string | null;
  /** The cases to run (default: the model card's widget examples). */
  cases?: SmokeCase[];
  /** With no card in the checkpoint and no cases given: the card the Hub repo keeps (its widget examples are the cases). */
  hubCard?: () => Promise<HubCardLookup>;
  /** A cases file: test.txt format, a JSON list, or a model card (.md). Ignored when `cases` is given. */
  casesFile?: string;
  /** Path of the expectations JSON (schemas/smoke-expectations.schema.json). */
  expectations?: string;
  topK?: number;
  device?: "auto" | "cpu" | "cuda";
  /** Python interpreter for the GPU path (default python3). */
  python?: string;
  /** Called with each case's report as soon as it is final. */
  onCase?: (c: SmokeCaseReport) => void;
  /** With cuda: also run the CPU engine and report agreement (default true). */
  compare?: boolean;
  /** CPU engine tuning (tests, benchmarks). */
  engine?: EngineOptions;
  /** Injected probe (tests). */
  probe?: PythonProbe;
  /** The GPU path loads this Hub revision with from_pretrained (the checkpoint is its downloaded copy). */
  fromHub?: HubModelSource;
  /** Carry over a CPU pass of exactly these files and cases instead of running it again (the release). */
  memo?: SmokeMemo;
}

function hasNvidiaDevice(): boolean {
  if (process.platform !== "linux") return true; // cannot tell cheaply: let the probe answer
  return existsSync("/proc/driver/nvidia/gpus") || existsSync("/dev/nvidia0");
}

interface RawCase {
  kase: SmokeCase;
  ids: number[];
  masks: SmokeMask[];
  ms: number;
  status?: SmokeStatus;
  reason?: string;
  /** The text actually run, when the runner changed it (pya0 preprocessing). */
  ranText?: string;
}

function cut(masks: SmokeMask[], k: number): SmokeMask[] {
  return masks.map((m) => ({ position: m.position, top: m.top.slice(0, k) }));
}

/** NaN or Inf logits are a broken model whatever the expectations say. */
function nonFiniteReason(position: number): string {
  return `the logits at token ${position} hold NaN or Inf: the weights or config.json are broken (see weights.finite and json.finite in check)`;
}

function finishCase(raw: RawCase, exp: Expectations | undefined, topK: number, maskToken: string): SmokeCaseReport {
  const text = raw.ranText ?? raw.kase.text;
  const expect = expectationFor(exp, raw.kase.text) ?? (raw.ranText ? expectationFor(exp, raw.ranText) : undefined) ?? [];
  const expK = exp?.topK ?? topK;
  let status: SmokeStatus = raw.status ?? "pass";
  let reason = raw.reason;
  const broken = status !== "skip" && status !== "fail" ? raw.masks.find((m) => m.top.some((t) => !Number.isFinite(t.score))) : undefined;
  if (broken) {
    status = "fail";
    reason = nonFiniteReason(broken.position);
  }
  if (status !== "skip" && status !== "fail") {
    const problems = checkExpectation(expect, raw.masks, expK);
    if (problems.length) {
      status = "fail";
      reason = problems.join("; ");
    } else if (!raw.masks.length) {
      status = "warn";
      reason = `no ${maskToken} in the tokenized text: nothing to predict`;
    }
  }
  return {
    text,
    ...(raw.kase.source ? { source: raw.kase.source } : {}),
    input_ids: raw.ids,
    masks: cut(raw.masks, topK),
    expect,
    status,
    ...(reason ? { reason } : {}),
    ms: Math.round(raw.ms * 10) / 10,
  };
}

async function runCpu(
  ckpt: LoadedCheckpoint,
  cases: SmokeCase[],
  tokenizer: SmokeTokenizer,
  k: number,
  engineOpts: EngineOptions | undefined,
): Promise<{ raw: RawCase[]; engine: string; timings: Record<string, number> }> {
  const tTok = performance.now();
  const encoded = cases.map((c) => (c.preprocess ? undefined : tokenizer.encode(c.text).ids));
  const tokMs = performance.now() - tTok;
  const lengths = encoded.filter((e): e is number[] => !!e).map((e) => e.length);
  const t0 = performance.now();
  const engine = await CpuEngine.load(ckpt, { ...engineOpts, tokenizer });
  const loadMs = performance.now() - t0;
  try {
    const maxLen = engine.config.maxPositions;
    const runnable: number[] = [];
    const raw: RawCase[] = cases.map((kase, i) => {
      const ids = encoded[i];
      if (!ids) return { kase, ids: [], masks: [], ms: 0, status: "skip", reason: PYA0_REASON };
      if (ids.length > maxLen) {
        return { kase, ids, masks: [], ms: 0, status: "fail", reason: `${ids.length} tokens, more than max_position_embeddings (${maxLen})` };
      }
      runnable.push(i);
      return { kase, ids, masks: [], ms: (tokMs * ids.length) / Math.max(1, lengths.reduce((a, b) => a + b, 0)) };
    });
    const t1 = performance.now();
    const out = await engine.run(runnable.map((i) => raw[i]?.ids ?? []), k);
    const fwdMs = performance.now() - t1;
    runnable.forEach((ci, j) => {
      const r = raw[ci];
      if (!r) return;
      const masks = out.masks[j] ?? [];
      r.masks = masks.map((m) => ({ position: m.position, top: m.top }));
      r.ms += out.ms[j] ?? 0;
      const broken = masks.find((m) => m.logits.some((x) => !Number.isFinite(x)));
      if (broken) {
        r.status = "fail";
        r.reason = nonFiniteReason(broken.position);
      }
    });
    return { raw, engine: engine.description, timings: { tokenize: tokMs, load: loadMs, forward: fwdMs } };
  } finally {
    await engine.dispose();
  }
}

function fromPython(cases: SmokeCase[], py: PythonRun): RawCase[] {
  return cases.map((kase, i) => {
    const r = py.cases[i];
    if (!r) return { kase, ids: [], masks: [], ms: 0, status: "fail", reason: "no result from the Python runner" };
    return {
      kase,
      ids: r.input_ids,
      masks: r.masks,
      ms: r.ms,
      ...(r.status ? { status: r.status } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.text !== kase.text ? { ranText: r.text } : {}),
    };
  });
}

function round(t: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

export async function runSmoke(opts: RunSmokeOptions): Promise<SmokeReport> {
  const tStart = performance.now();
  const ckptDir = path.resolve(opts.ckptDir);
  if (!existsSync(ckptDir) || !statSync(ckptDir).isDirectory()) {
    throw new UserError(`${printable(opts.ckptDir)}: no such checkpoint folder`, 2);
  }
  const irregular = await irregularEntries(ckptDir);
  if (irregular.length) {
    throw new UserError(irregular.map((e) => `${path.join(opts.ckptDir, printable(e.name))}: is ${e.kind}, not a regular file; smoke reads only regular files`).join("\n"), 1);
  }
  const topK = opts.topK ?? 5;
  if (!Number.isInteger(topK) || topK < 1 || topK > 100) throw new UserError(`--top-k must be an integer from 1 to 100 (got ${topK})`, 2);
  const device = opts.device ?? "auto";
  const python = opts.python ?? "python3";

  // One inventory for every stage: nested layouts flattened and shards found as `check` does.
  const ckpt = opts.checkpoint ?? (await loadCheckpoint(ckptDir, { modelCard: opts.modelCard ?? null, followLinksOutside: true }));
  assertWeightsPassChecks(ckpt);
  const [tokenizer, expectations] = await Promise.all([
    loadTokenizer(ckpt),
    opts.expectations ? loadExpectations(opts.expectations) : Promise.resolve(undefined),
  ]);
  if (!opts.cases && !opts.casesFile && !ckpt.modelCard && opts.hubCard) await useHubCard(ckpt, await opts.hubCard());
  const cases = opts.cases ?? (opts.casesFile ? await loadCasesFile(opts.casesFile, tokenizer.maskToken) : await widgetCases(ckpt));
  if (!cases.length) throw new UserError("no smoke cases to run", 2);
  const k = Math.max(topK, expectations?.topK ?? 0);

  const notes: string[] = [];
  let useCuda = false;
  let probe: PythonProbe | undefined = opts.probe;
  if (device === "cuda") {
    probe ??= await probePython(python);
    const why = cudaUnavailable(probe, python);
    if (why) throw new UserError(why, 2);
    useCuda = true;
  } else if (device === "auto") {
    if (!opts.probe && !hasNvidiaDevice()) {
      notes.push("no NVIDIA GPU on this machine: CPU engine");
    } else {
      probe ??= await probePython(python);
      if (cudaUnavailable(probe, python)) notes.push(`GPU path unavailable (missing ${probe.missing.join(", ")}): CPU engine`);
      else useCuda = true;
    }
  }

  // The same files, cases and settings passed before on this build: nothing to run again.
  const memoKey = !useCuda && opts.memo ? smokeMemoKey(opts.memo, { cases, expectations: expectations ? { topK: expectations.topK ?? null, cases: [...expectations.cases] } : null, topK, k, engine: opts.engine ?? null }) : undefined;
  const kept = memoKey ? await keptSmoke(opts.memo!, memoKey) : undefined;
  if (kept) {
    for (const c of kept.cases) opts.onCase?.(c);
    return { ...kept, carriedOver: true, timings: { total: Math.round((performance.now() - tStart) * 10) / 10 } };
  }

  let raw: RawCase[];
  let engine: string;
  let timings: Record<string, number>;
  let pythonInfo: SmokeReport["python"];
  let comparison: SmokeReport["comparison"];
  const agreements = new Map<number, { top1: boolean; overlap: number }>();
  if (useCuda) {
    const t0 = performance.now();
    const py = await runPython(ckpt, cases, { python, device: "cuda", topK: k, ...(opts.fromHub ? { fromHub: opts.fromHub } : {}) });
    raw = fromPython(cases, py);
    if (py.loadedFrom) notes.push(`the GPU runner loaded the model with ${py.loadedFrom}`);
    engine = py.engine;
    timings = { python: performance.now() - t0, ...Object.fromEntries(Object.entries(py.timings ?? {}).map(([a, b]) => [`python.${a}`, b])) };
    pythonInfo = { torch: py.torch, transformers: py.transformers, gpu: py.gpu };
    if (opts.compare !== false) {
      const cpu = await runCpu(ckpt, cases, tokenizer, k, opts.engine);
      let n = 0;
      let top1 = 0;
      let overlap = 0;
      raw.forEach((r, i) => {
        const other = cpu.raw[i];
        if (!other || r.status === "skip" || other.status === "skip") return;
        const a = agreement(r.masks, other.masks, topK);
        if (!a) return;
        agreements.set(i, a);
        n++;
        top1 += a.top1 ? 1 : 0;
        overlap += a.overlap;
      });
      comparison = { engine: cpu.engine, top1Agreement: n ? top1 / n : 0, meanOverlap: n ? overlap / n : 0, cases: n };
      timings = { ...timings, "cpu.load": cpu.timings.load ?? 0, "cpu.forward": cpu.timings.forward ?? 0 };
    }
  } else {
    const cpu = await runCpu(ckpt, cases, tokenizer, k, opts.engine);
    raw = cpu.raw;
    engine = cpu.engine;
    timings = cpu.timings;
  }

  const reports = raw.map((r, i) => {
    const rep = finishCase(r, expectations, topK, tokenizer.maskToken);
    const a = agreements.get(i);
    if (a) rep.agreement = a;
    opts.onCase?.(rep);
    return rep;
  });
  timings.total = performance.now() - tStart;
  const unmatched = unmatchedKeys(expectations, [...cases.map((c) => c.text), ...reports.map((r) => r.text)]);
  const report: SmokeReport = {
    ok: !reports.some((r) => r.status === "fail"),
    device: useCuda ? "cuda" : "cpu",
    engine,
    topK,
    cases: reports,
    ...(unmatched.length ? { unmatchedExpectations: unmatched } : {}),
    timings: round(timings),
    ...(pythonInfo ? { python: pythonInfo } : {}),
    ...(comparison ? { comparison } : {}),
    ...(notes.length ? { notes } : {}),
  };
  if (memoKey) await keepSmoke(opts.memo!, memoKey, report);
  return report;
}
