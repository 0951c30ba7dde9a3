// The GPU path: python/smoke_runner.py (transformers, as a Hub user loads the checkpoint) run by
// a Python interpreter, and the parsing of what it prints.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseJson } from "../checkpoint/json-text.js";
import { loadCheckpoint, type LoadedCheckpoint } from "../checkpoint/load.js";
import { UserError } from "../report.js";
import type { SmokeCase } from "./cases.js";
import { assertNoRepositoryCode, assertWeightsPassChecks } from "./load-gate.js";
import { prepareRunnerFolder } from "./runner-folder.js";
import type { SmokeMask, SmokeStatus } from "./report.js";

export interface PythonProbe {
  python?: string;
  torch: string | null;
  transformers: string | null;
  cuda: boolean;
  gpu: string | null;
  pya0: boolean;
  /** What is missing for the GPU path, in words (empty: ready). */
  missing: string[];
}

export interface PythonCaseResult {
  text: string;
  input_ids: number[];
  masks: SmokeMask[];
  status?: SmokeStatus;
  reason?: string;
  ms: number;
}

export interface PythonRun {
  device: string;
  torch: string;
  transformers: string;
  gpu: string | null;
  engine: string;
  timings?: Record<string, number>;
  cases: PythonCaseResult[];
  /** Where the runner loaded the model from, when that was a Hub revision. */
  loadedFrom?: string;
}

/** python/smoke_runner.py of this package (from src/smoke/ or a compiled dist/.../smoke/). */
export function runnerScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, "python", "smoke_runner.py");
    if (existsSync(p)) return p;
  }
  throw new Error(`python/smoke_runner.py not found above ${here}`);
}

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
}

function run(python: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(python, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8", ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      if (e && typeof e.code === "string") {
        resolve({ code: null, stdout, stderr, spawnError: e });
        return;
      }
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Read as Python's json.dumps writes it: a NaN score comes as a NaN literal, and the smoke fails on it. */
function lastJson(stdout: string): unknown {
  const text = stdout.trim();
  if (!text) throw new Error("printed nothing on stdout");
  try {
    return parseJson(text).value;
  } catch {
    // tolerate stray lines before the document (library warnings printed to stdout)
    const line = text.split("\n").reverse().find((l) => l.trim().startsWith("{"));
    if (line) return parseJson(line).value;
    throw new Error(`printed no JSON document (${JSON.stringify(text.slice(0, 200))})`);
  }
}

function tail(s: string, n = 600): string {
  const t = s.trim();
  return t.length > n ? `...${t.slice(-n)}` : t;
}

export function parseProbe(value: unknown): PythonProbe {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object" || typeof v.cuda !== "boolean" || !Array.isArray(v.missing)) {
    throw new Error(`unexpected probe output ${JSON.stringify(value).slice(0, 200)}`);
  }
  const str = (x: unknown): string | null => (typeof x === "string" ? x : null);
  return {
    ...(typeof v.python === "string" ? { python: v.python } : {}),
    torch: str(v.torch),
    transformers: str(v.transformers),
    cuda: v.cuda,
    gpu: str(v.gpu),
    pya0: v.pya0 === true,
    missing: v.missing.map(String),
  };
}

/** Asks the interpreter what it has; never throws: an unusable interpreter is reported in `missing`. */
export async function probePython(python = "python3", timeoutMs = 120_000): Promise<PythonProbe> {
  const none = (why: string): PythonProbe => ({ torch: null, transformers: null, cuda: false, gpu: null, pya0: false, missing: [why] });
  const r = await run(python, [runnerScript(), "--probe"], timeoutMs);
  if (r.spawnError) {
    return none(r.spawnError.code === "ENOENT" ? `a Python interpreter (${python} not found)` : `a working Python interpreter (${python}: ${r.spawnError.message})`);
  }
  try {
    return parseProbe(lastJson(r.stdout));
  } catch (e) {
    return none(`a working Python interpreter (${python} --probe ${(e as Error).message}${r.stderr ? `; stderr: ${tail(r.stderr, 200)}` : ""})`);
  }
}

/** What a GPU run needs that the probe did not find, as one sentence (undefined: ready). */
export function cudaUnavailable(probe: PythonProbe, python: string): string | undefined {
  if (!probe.missing.length) return undefined;
  return (
    `--device cuda is unavailable: missing ${probe.missing.join(", ")} (interpreter: ${python}). ` +
    "Install torch and transformers for it on a machine with a CUDA GPU, pass another interpreter with --python, or use --device cpu / auto."
  );
}

function parseMasks(v: unknown, where: string): SmokeMask[] {
  if (!Array.isArray(v)) throw new Error(`${where}.masks is not a list`);
  return v.map((m, i) => {
    const mm = m as { position?: unknown; top?: unknown };
    if (typeof mm.position !== "number" || !Array.isArray(mm.top)) throw new Error(`${where}.masks[${i}] has no position/top`);
    return {
      position: mm.position,
      top: mm.top.map((t, j) => {
        const tt = t as { token?: unknown; id?: unknown; score?: unknown };
        if (typeof tt.token !== "string" || typeof tt.id !== "number" || typeof tt.score !== "number") {
          throw new Error(`${where}.masks[${i}].top[${j}] needs token, id and score`);
        }
        return { token: tt.token, id: tt.id, score: tt.score };
      }),
    };
  });
}

export function parseRun(value: unknown, expectedCases: number): PythonRun {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object") throw new Error("the output is not a JSON object");
  if (typeof v.error === "string") throw new Error(v.error);
  if (!Array.isArray(v.cases)) throw new Error("the output has no cases list");
  if (v.cases.length !== expectedCases) throw new Error(`the output has ${v.cases.length} cases, ${expectedCases} were asked`);
  const cases = v.cases.map((c, i): PythonCaseResult => {
    const cc = c as Record<string, unknown>;
    const where = `cases[${i}]`;
    if (typeof cc.text !== "string") throw new Error(`${where}.text is not a string`);
    if (!Array.isArray(cc.input_ids) || cc.input_ids.some((x) => typeof x !== "number")) throw new Error(`${where}.input_ids is not a list of ids`);
    const status = cc.status;
    if (status !== undefined && !["pass", "fail", "warn", "skip"].includes(String(status))) throw new Error(`${where}.status is ${JSON.stringify(status)}`);
    return {
      text: cc.text,
      input_ids: cc.input_ids as number[],
      masks: parseMasks(cc.masks, where),
      ...(status ? { status: status as SmokeStatus } : {}),
      ...(typeof cc.reason === "string" ? { reason: cc.reason } : {}),
      ms: typeof cc.ms === "number" ? cc.ms : 0,
    };
  });
  const s = (x: unknown, d = ""): string => (typeof x === "string" ? x : d);
  return {
    device: s(v.device, "cuda"),
    torch: s(v.torch),
    transformers: s(v.transformers),
    gpu: typeof v.gpu === "string" ? v.gpu : null,
    engine: s(v.engine, "transformers (python)"),
    ...(v.timings && typeof v.timings === "object" ? { timings: v.timings as Record<string, number> } : {}),
    cases,
  };
}

export interface PythonRunOptions {
  python?: string;
  device?: "cuda" | "cpu";
  topK?: number;
  timeoutMs?: number;
  /**
   * Load the model as a Hub user does, `from_pretrained(repoId, revision=...)` through HF_ENDPOINT,
   * instead of from a local folder; `source` is then the downloaded copy of that revision, which
   * is gated first and must hold safetensors (else the runner gets a local folder after all).
   */
  fromHub?: HubModelSource;
}

export interface HubModelSource {
  endpoint: string;
  repoId: string;
  revision: string;
  /** Only for a private repo: a public one is loaded as anyone would, without a token. */
  token?: string;
}

/** Variables through which huggingface_hub would find another endpoint, cache, token or offline mode. */
const HF_VARIABLES = /^(HF_|HUGGING_FACE_HUB_|TRANSFORMERS_OFFLINE$|TRANSFORMERS_CACHE$)/;

/** The runner's environment for a Hub load: this endpoint, an empty cache (it downloads), the token only when given. */
function hubEnv(src: HubModelSource, home: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !HF_VARIABLES.test(k)));
  return { ...env, HF_ENDPOINT: src.endpoint, HF_HOME: home, HF_HUB_DISABLE_TELEMETRY: "1", ...(src.token ? { HF_TOKEN: src.token } : {}) };
}

/**
 * Runs the cases with transformers; errors the user can fix are UserErrors naming what is missing.
 * The interpreter is started only after the weights passed the checklist's weights checks, on a
 * folder that holds safetensors and no pickle (prepareRunnerFolder).
 */
export async function runPython(source: string | LoadedCheckpoint, cases: readonly SmokeCase[], opts: PythonRunOptions = {}): Promise<PythonRun> {
  const python = opts.python ?? "python3";
  const ckpt = typeof source === "string" ? await loadCheckpoint(path.resolve(source), { followLinksOutside: true }) : source;
  const hub = opts.fromHub && ckpt.weightSets.some((s) => s.format === "safetensors" && s.tensors) ? opts.fromHub : undefined;
  if (hub) {
    // The same gate as a local folder's: the copy of the revision passed the weights checks, names no code.
    assertWeightsPassChecks(ckpt);
    assertNoRepositoryCode(ckpt);
  }
  const folder = hub ? undefined : await prepareRunnerFolder(ckpt);
  const tmp = await mkdtemp(path.join(os.tmpdir(), "azbert-smoke-"));
  try {
    const casesFile = path.join(tmp, "cases.json");
    await writeFile(casesFile, JSON.stringify({ cases: cases.map((c) => ({ text: c.text, maskWords: c.maskWords ?? [], preprocess: c.preprocess ?? null })) }));
    const model = hub ? ["--repo-id", hub.repoId, "--revision", hub.revision] : ["--ckpt", folder!.dir];
    const args = [runnerScript(), ...model, "--cases", casesFile, "--device", opts.device ?? "cuda", "--top-k", String(opts.topK ?? 5)];
    const r = await run(python, args, opts.timeoutMs ?? 600_000, hub ? hubEnv(hub, path.join(tmp, "hf-home")) : undefined);
    if (r.spawnError) {
      throw new UserError(`the GPU smoke path needs a Python interpreter: ${python} ${r.spawnError.code === "ENOENT" ? "not found" : r.spawnError.message}`, 2);
    }
    let doc: unknown;
    try {
      doc = lastJson(r.stdout);
    } catch (e) {
      throw new UserError(`${python} ${path.basename(runnerScript())} failed (exit ${r.code}): ${(e as Error).message}${r.stderr ? `\n${tail(r.stderr)}` : ""}`, 1);
    }
    const err = (doc as { error?: unknown; missing?: unknown } | null)?.error;
    if (typeof err === "string") {
      const missing = (doc as { missing?: unknown }).missing;
      const isMissing = Array.isArray(missing) && missing.length > 0;
      throw new UserError(
        isMissing
          ? `--device ${opts.device ?? "cuda"} is unavailable: missing ${(missing as unknown[]).join(", ")} (interpreter: ${python}): ${err}`
          : `${python} ${path.basename(runnerScript())}: ${err}`,
        isMissing ? 2 : 1,
      );
    }
    try {
      const parsed = parseRun(doc, cases.length);
      return hub ? { ...parsed, loadedFrom: `from_pretrained("${hub.repoId}", revision="${hub.revision}") with HF_ENDPOINT=${hub.endpoint}` } : parsed;
    } catch (e) {
      throw new UserError(`${python} ${path.basename(runnerScript())} printed an unexpected report: ${(e as Error).message}`, 1);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await folder?.remove();
  }
}

/** Top-1 agreement and top-k overlap between two runs of the same case. */
export function agreement(a: readonly SmokeMask[], b: readonly SmokeMask[], k: number): { top1: boolean; overlap: number } | undefined {
  if (!a.length || a.length !== b.length) return undefined;
  let top1 = true;
  let overlap = 0;
  a.forEach((m, i) => {
    const other = b[i];
    const x = m.top.slice(0, k).map((t) => t.id);
    const y = new Set((other?.top ?? []).slice(0, k).map((t) => t.id));
    if (x[0] !== (other?.top[0]?.id ?? -1)) top1 = false;
    overlap += x.filter((id) => y.has(id)).length / Math.max(1, Math.min(k, x.length));
  });
  return { top1, overlap: overlap / a.length };
}
