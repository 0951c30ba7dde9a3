// The GPU path's TypeScript side: probing, device choice, parsing the runner's JSON and its
// error paths. python/smoke_runner.py itself needs transformers (and a GPU), which this machine
// and CI do not have: these tests use fake interpreters (shell scripts printing canned or
// recorded output) and say so in their names; the real runner is checked on a GPU machine by
// tools/gpu-smoke-check.sh. A real /usr/bin/python3 with torch but without transformers, when
// this machine has one, checks the "missing transformers" path for real.
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatSmokeReport, runSmoke } from "../src/smoke/main.js";
import { agreement, parseProbe, parseRun, probePython, runPython } from "../src/smoke/python-runner.js";
import { referenceFile, repoRoot, sampleDir, type Reference } from "./smoke-helpers.js";

const reference = JSON.parse(readFileSync(referenceFile, "utf8")) as Reference;
const widget = reference.cases.slice(0, 5);
let tmp = "";

const PROBE_GPU = { python: "3.11", torch: "2.5.0", transformers: "4.46.0", cuda: true, gpu: "Fake GPU", pya0: false, missing: [] };
const PROBE_NO_TRANSFORMERS = { python: "3.11", torch: "2.5.0", transformers: null, cuda: true, gpu: "Fake GPU", pya0: false, missing: ["transformers"] };

/** A fake interpreter: prints `probe` for --probe, else `run` (exit `code`), and logs its args. */
async function fakePython(name: string, probe: unknown, run: unknown, code = 0): Promise<string> {
  const dir = path.join(tmp, name);
  await writeFile(path.join(tmp, `${name}.probe.json`), typeof probe === "string" ? probe : JSON.stringify(probe));
  await writeFile(path.join(tmp, `${name}.run.json`), typeof run === "string" ? run : JSON.stringify(run));
  await writeFile(
    dir,
    `#!/bin/sh\necho "$@" >> "${dir}.args"\nif [ "$2" = "--probe" ]; then cat "${dir}.probe.json"; exit 0; fi\ncat "${dir}.run.json"\nexit ${code}\n`,
  );
  await chmod(dir, 0o755);
  return dir;
}

/** What a GPU run of the widget would print: the torch reference, with case 5 made different. */
function cannedRun(): unknown {
  return {
    device: "cuda", torch: "2.5.0", transformers: "4.46.0", gpu: "Fake GPU",
    engine: "transformers 4.46.0 AutoModelForMaskedLM, torch 2.5.0 (cuda: Fake GPU)",
    timings: { load: 900, forward: 12 },
    cases: widget.map((c, i) => ({
      text: c.text,
      input_ids: c.input_ids,
      masks: c.masks.map((m) => ({ position: m.position, top: i === 4 ? [...m.top].reverse() : m.top })),
      ms: 2.5,
    })),
  };
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "azbert-smoke-py-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("python runner, through a fake interpreter (shell script, canned output): probe", () => {
  it("parses a probe and reports an interpreter that is missing or prints garbage", async () => {
    expect(parseProbe(PROBE_GPU)).toMatchObject({ cuda: true, gpu: "Fake GPU", missing: [] });
    const garbage = await fakePython("garbage", "Traceback (most recent call last): boom", "");
    expect((await probePython(garbage)).missing[0]).toMatch(/a working Python interpreter/);
    expect((await probePython(path.join(tmp, "no-such-python"))).missing[0]).toMatch(/not found/);
  });

  it("--device cuda without transformers is a clear error naming it", async () => {
    const py = await fakePython("no-tf", PROBE_NO_TRANSFORMERS, {});
    await expect(runSmoke({ ckptDir: sampleDir, device: "cuda", python: py })).rejects.toThrow(/--device cuda is unavailable: missing transformers \(interpreter: .*no-tf\)/);
  });

  it("--device cuda with no interpreter names it", async () => {
    await expect(runSmoke({ ckptDir: sampleDir, device: "cuda", python: path.join(tmp, "nope") })).rejects.toThrow(/--device cuda is unavailable: missing a Python interpreter \(.*nope not found\)/);
  });

  it("--device auto falls back to the CPU engine when the probe reports no GPU", async () => {
    const report = await runSmoke({ ckptDir: sampleDir, device: "auto", probe: { ...PROBE_GPU, cuda: false, gpu: null, missing: ["a CUDA GPU visible to torch"] } });
    expect(report.device).toBe("cpu");
    expect(report.notes?.[0]).toMatch(/GPU path unavailable \(missing a CUDA GPU/);
  });
});

describe("python runner, through a fake interpreter (shell script, canned output): runs", () => {
  it("--device cuda: the runner's results are the report; the CPU engine runs too and agreement is reported", async () => {
    const py = await fakePython("gpu", PROBE_GPU, cannedRun());
    const exp = path.join(repoRoot, "test", "fixtures", "smoke-expectations.json");
    const report = await runSmoke({ ckptDir: sampleDir, device: "cuda", python: py, expectations: exp });
    expect(report.device).toBe("cuda");
    expect(report.engine).toMatch(/transformers 4\.46\.0/);
    expect(report.python).toEqual({ torch: "2.5.0", transformers: "4.46.0", gpu: "Fake GPU" });
    expect(report.cases.slice(0, 4).every((c) => c.agreement?.top1 === true && c.agreement.overlap === 1)).toBe(true);
    expect(report.cases[4]?.agreement).toEqual({ top1: false, overlap: 1 });
    expect(report.comparison).toMatchObject({ top1Agreement: 0.8, meanOverlap: 1, cases: 5 });
    expect(report.comparison?.engine).toMatch(/onnxruntime/);
    // "happiness" is still in the (reversed) top-5 of case 5
    expect(report.ok).toBe(true);
    expect(formatSmokeReport(report, { color: false })).toMatch(/agreement with onnxruntime.*top-1 80% of 5 case/);
    const args = readFileSync(`${py}.args`, "utf8").trim().split("\n");
    expect(args[0]).toMatch(/smoke_runner\.py --probe$/);
    expect(args[1]).toMatch(/smoke_runner\.py --ckpt .* --cases .*cases\.json --device cuda --top-k 5$/);
  });

  it("passes test.txt cases with their word positions and keeps the runner's skip", async () => {
    const run = { ...(cannedRun() as object), cases: [{ text: "Solve [imath]y[/imath]", input_ids: [], masks: [], status: "skip", reason: "needs pya0" }] };
    const py = await fakePython("skip", PROBE_GPU, run);
    const report = await runSmoke({ ckptDir: sampleDir, device: "cuda", python: py, compare: false, cases: [{ text: "Solve [imath]y[/imath]", maskWords: [1], preprocess: "pya0" }] });
    expect(report.cases[0]).toMatchObject({ status: "skip", reason: "needs pya0" });
    expect(report.comparison).toBeUndefined();
  });

  it("runner errors: a reported missing package, garbage output, a wrong case count", async () => {
    const missing = await fakePython("missing", PROBE_GPU, { error: "torch sees no CUDA GPU", missing: ["a CUDA GPU visible to torch"] }, 3);
    await expect(runPython(sampleDir, [{ text: "a [MASK]" }], { python: missing })).rejects.toThrow(/--device cuda is unavailable: missing a CUDA GPU visible to torch/);
    const crash = await fakePython("crash", PROBE_GPU, "Segmentation fault", 139);
    await expect(runPython(sampleDir, [{ text: "a [MASK]" }], { python: crash })).rejects.toThrow(/failed \(exit 139\)/);
    const short = await fakePython("short", PROBE_GPU, cannedRun());
    await expect(runPython(sampleDir, [{ text: "a [MASK]" }], { python: short })).rejects.toThrow(/5 cases, 1 were asked/);
    expect(() => parseRun({ cases: [{ text: "x", input_ids: [1], masks: [{ position: 1, top: [{ token: 1 }] }] }] }, 1)).toThrow(/needs token, id and score/);
  });

  it("a run whose scores are NaN (json.dumps writes them as NaN literals) fails every case, with no expectations (fake interpreter)", async () => {
    const nan = JSON.stringify(cannedRun()).replace(/"score":[-0-9.e+]+/g, '"score":NaN');
    const py = await fakePython("nan", PROBE_GPU, nan);
    const report = await runSmoke({ ckptDir: sampleDir, device: "cuda", python: py, compare: false });
    expect(report.ok).toBe(false);
    expect(report.cases).toHaveLength(5);
    for (const c of report.cases) expect(c).toMatchObject({ status: "fail", expect: [], reason: expect.stringMatching(/logits at token \d+ hold NaN or Inf/) });
  });

  it("a run where one score of one mask is NaN, the others finite, fails that case (fake interpreter)", async () => {
    let first = true;
    const nan = JSON.stringify(cannedRun()).replace(/"score":[-0-9.e+]+/g, (m) => (first ? ((first = false), '"score":NaN') : m));
    const py = await fakePython("partly-nan", PROBE_GPU, nan);
    const report = await runSmoke({ ckptDir: sampleDir, device: "cuda", python: py, compare: false });
    expect(report.ok).toBe(false);
    expect(report.cases[0]).toMatchObject({ status: "fail", reason: expect.stringMatching(/logits at token \d+ hold NaN or Inf/) });
    expect(report.cases[0]!.masks.flatMap((m) => m.top).filter((t) => Number.isFinite(t.score)).length).toBeGreaterThan(0);
  });

  it("replays a recorded GPU run (transformers 5.17, torch 2.11, H200; test/smoke-gpu-output.json) through a fake interpreter: parsed, and it agrees with the CPU engine", async () => {
    const gpu = JSON.parse(readFileSync(path.join(repoRoot, "test", "smoke-gpu-output.json"), "utf8")) as { cases: { text: string }[] };
    const py = await fakePython("real-gpu-output", PROBE_GPU, gpu);
    const cases = gpu.cases.map((c) => (c.text.includes("[imath]") ? { text: c.text, maskWords: [6, 12], preprocess: "pya0" as const } : { text: c.text }));
    const report = await runSmoke({ ckptDir: sampleDir, device: "cuda", python: py, cases });
    expect(report.python).toEqual({ torch: "2.11.0+cu130", transformers: "5.17.0", gpu: "NVIDIA H200" });
    expect(report.cases.at(-1)).toMatchObject({ status: "skip" });
    expect(report.cases.at(-1)?.reason).toMatch(/pya0/);
    expect(report.comparison).toMatchObject({ top1Agreement: 1, meanOverlap: 1, cases: 6 });
    expect(report.cases[5]?.masks.map((m) => m.top[0]?.token)).toEqual(["know", "he"]);
    // and the GPU scores are the torch reference's within 1e-4
    for (const ref of widget) {
      const got = report.cases.find((c) => c.text === ref.text);
      expect(got?.input_ids).toEqual(ref.input_ids);
      ref.masks.forEach((m, j) => m.top.forEach((t, k) => expect(Math.abs((got?.masks[j]?.top[k]?.score ?? NaN) - t.score)).toBeLessThan(1e-4)));
    }
  });

  it("agreement: top-1 and top-k overlap", () => {
    const m = (ids: number[]) => [{ position: 1, top: ids.map((id) => ({ token: String(id), id, score: 0 })) }];
    expect(agreement(m([1, 2, 3]), m([1, 3, 4]), 3)).toEqual({ top1: true, overlap: 2 / 3 });
    expect(agreement(m([1, 2]), m([2, 1]), 2)).toEqual({ top1: false, overlap: 1 });
    expect(agreement([], m([1]), 1)).toBeUndefined();
  });
});

function hasTorchWithoutTransformers(python: string): boolean {
  try {
    execFileSync(python, ["-c", "import importlib.util as u, sys; sys.exit(0 if u.find_spec('torch') and not u.find_spec('transformers') else 1)"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasTorchWithoutTransformers("/usr/bin/python3"))("real python: torch but no transformers (/usr/bin/python3)", () => {
  it("the probe sees torch and reports transformers missing; --device cuda says so", async () => {
    const probe = await probePython("/usr/bin/python3");
    expect(probe.torch).toMatch(/^\d/);
    expect(probe.missing).toContain("transformers");
    await expect(runSmoke({ ckptDir: sampleDir, device: "cuda", python: "/usr/bin/python3" })).rejects.toThrow(/--device cuda is unavailable: missing .*transformers/);
    await expect(runPython(sampleDir, [{ text: "a [MASK]" }], { python: "/usr/bin/python3", device: "cpu" })).rejects.toThrow(/needs torch|transformers/);
  });
});
