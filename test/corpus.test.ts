// The differential corpus: the checklist's verdict on every case against what the real loaders did
// with the same bytes (test/corpus/verdicts.json, recorded by tools/record_loader_verdicts.py with
// torch 1.13 and Python's json; safetensors cases carry the reference parser's rule). torch refuses
// → we refuse; torch loads NaN/Inf or other bytes than we index → we refuse; controls pass.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { runCheckpointChecks } from "../src/checks/index.js";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { loadCheckpoint } from "../src/checkpoint/load.js";
import { hashCheckpoint } from "../src/checkpoint/manifest.js";
import type { TensorInfo } from "../src/checkpoint/types.js";
import { readWeights } from "../src/checkpoint/weights.js";
import type { CheckResult } from "../src/report.js";
import { buildCorpus, caseFolder, repoRoot, writeCase, type CorpusCase } from "./corpus/build.js";
import { useScratchDir } from "./helpers/scratch.js";

interface LoaderVerdict {
  verdict: "loads" | "refuses";
  error?: string;
  nonFinite?: string[];
  tensors?: Record<string, { dtype?: string; shape?: number[]; sha256?: string }>;
  tokens?: number;
  tokensSha256?: string;
}

interface Recorded {
  sha256: string;
  loader: CorpusCase["loader"];
  torch?: LoaderVerdict;
  torchWeightsOnly?: LoaderVerdict;
  python?: LoaderVerdict;
  reference?: { verdict: "loads" | "refuses"; rule: string; source: string };
}

const CHECKPOINT_IDS = /^(files|json|schema|coherence|weights|card|check)\./;
/** Generous: each case, the pathological ones included, ends far sooner. */
const BOUND_MS = 10_000;

const scratch = useScratchDir("azbert-corpus-");
const recorded = JSON.parse(await readFile(path.join(repoRoot, "test", "corpus", "verdicts.json"), "utf8")) as { cases: Record<string, Recorded> };
const cases = await buildCorpus();

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A tensor's elements in row-major order, as torch's .contiguous() lays them out. */
function elementBytes(file: Buffer, t: TensorInfo): Buffer {
  const size = t.shape.length ? t.byteLength / Math.max(1, 1 + t.shape.reduce((s, d, i) => s + (d - 1) * t.stride[i]!, 0)) : t.byteLength;
  const out: Buffer[] = [];
  const walk = (dim: number, offset: number) => {
    if (dim === t.shape.length) {
      out.push(file.subarray(t.dataOffset + (offset - t.storageOffset) * size, t.dataOffset + (offset - t.storageOffset + 1) * size));
      return;
    }
    for (let i = 0; i < t.shape[dim]!; i++) walk(dim + 1, offset + i * t.stride[dim]!);
  };
  walk(0, t.storageOffset);
  return Buffer.concat(out);
}

/** Every tensor our reader indexes, as the sha256 of its elements; undefined when it refuses the file. */
async function indexedDigests(file: string): Promise<Map<string, string> | undefined> {
  const index = await readWeights(file).catch(() => undefined);
  if (!index) return undefined;
  const bytes = await readFile(file);
  return new Map(index.tensors.map((t) => [t.name, sha256(elementBytes(bytes, t))]));
}

async function ourChecklist(dir: string): Promise<{ results: CheckResult[]; failed: CheckResult[]; vocab?: string[]; nonFinite: Map<string, string[]> }> {
  const cache = new HashCache(null);
  const ckpt = await loadCheckpoint(dir, { cache });
  await hashCheckpoint(ckpt, { cache });
  const results = runCheckpointChecks(ckpt);
  const nonFinite = new Map([...ckpt.json.values()].map((d) => [d.path, (d.nonFinite ?? []).map((n) => n.pointer || "/").sort()]));
  return { results, failed: results.filter((r) => r.status === "fail" && CHECKPOINT_IDS.test(r.id)), ...(ckpt.vocab ? { vocab: ckpt.vocab } : {}), nonFinite };
}

describe("differential corpus: the checklist against the loaders", () => {
  it("has a recorded verdict for every case the builder makes, and no stale one", () => {
    expect(Object.keys(recorded.cases).sort()).toEqual(cases.map((c) => c.id).sort());
  });

  for (const c of cases) {
    it(`${c.id}: ${c.about}`, async () => {
      const rec = recorded.cases[c.id]!;
      const judged = c.files[c.judged]!;
      // The verdict applies to exactly these bytes.
      expect(sha256(judged), "the case's bytes differ from the ones the loaders judged: rebuild and re-record").toBe(rec.sha256);
      const dir = await writeCase(c, path.join(scratch.dir, caseFolder(c.id)));

      const t0 = performance.now();
      const ours = await ourChecklist(dir);
      expect(performance.now() - t0).toBeLessThan(BOUND_MS);
      const weRefuse = ours.failed.length > 0;
      const why = JSON.stringify(ours.failed, null, 1);

      let loaderRefuses = false;
      let mustRefuse = false;
      if (c.loader === "torch") {
        const modes = [rec.torch!, rec.torchWeightsOnly!];
        loaderRefuses = modes.some((m) => m.verdict === "refuses");
        mustRefuse = loaderRefuses || modes.some((m) => (m.nonFinite ?? []).length > 0);
        const ourDigests = await indexedDigests(path.join(dir, c.judged));
        if (ourDigests && rec.torch!.verdict === "loads") {
          // What torch loaded, tensor by tensor, against the bytes our index points at.
          const theirs = new Map(Object.entries(rec.torch!.tensors ?? {}).map(([k, v]) => [k, v.sha256]));
          const same = theirs.size === ourDigests.size && [...theirs].every(([k, v]) => ourDigests.get(k) === v);
          if (!same) mustRefuse = true;
          if (c.control) expect(same, "torch and our reader see other bytes in a control").toBe(true);
        }
      } else if (c.loader === "json") {
        loaderRefuses = rec.python!.verdict === "refuses";
        mustRefuse = loaderRefuses || (rec.python!.nonFinite ?? []).length > 0;
        if (!loaderRefuses) expect(ours.nonFinite.get(c.judged), "non-finite numbers found where Python finds them").toEqual(rec.python!.nonFinite);
      } else if (c.loader === "vocab") {
        loaderRefuses = rec.python!.verdict === "refuses";
        mustRefuse = loaderRefuses;
        if (!loaderRefuses) {
          // The tokens we read are the tokens BertTokenizer reads.
          expect(ours.vocab?.length).toBe(rec.python!.tokens);
          expect(sha256(Buffer.from(ours.vocab!.join("\n"), "utf8"))).toBe(rec.python!.tokensSha256);
        }
      } else {
        loaderRefuses = rec.reference!.verdict === "refuses";
        mustRefuse = loaderRefuses;
      }

      if (mustRefuse) expect(weRefuse, `the loaders ${loaderRefuses ? "refuse" : "load something broken from"} ${c.judged}, but the checklist passes`).toBe(true);
      if (c.control) expect(ours.failed, why).toEqual([]);
      if (c.expect) {
        const hit = ours.failed.find((r) => r.id === c.expect!.check);
        expect(hit, `${c.expect.check} should fail; failed: ${why}`).toBeDefined();
        expect(hit!.message).toContain(c.judged);
        expect(hit!.message).toMatch(c.expect.message);
      }
    });
  }
});
