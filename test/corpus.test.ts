// The differential corpus: the checklist's verdict on every case against what the real loaders did
// with the same bytes (test/corpus/verdicts.json, recorded by tools/record_loader_verdicts.py with
// torch 1.13 and with torch 2.13, safetensors, tokenizers and transformers 5). The verdict must be
// the strictest of theirs: a case is refused exactly when some loader refuses it, loads something
// broken from it (NaN or Inf, tensors without values, missing weights, two vocabularies), or when
// two of them (or they and our reader) read different weights from it.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { runCheckpointChecks } from "./helpers/checks.js";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { loadCheckpoint } from "../src/checkpoint/load.js";
import { hashCheckpoint } from "../src/checkpoint/manifest.js";
import { writeSafetensors } from "../src/checkpoint/safetensors-writer.js";
import type { TensorInfo } from "../src/checkpoint/types.js";
import { readWeights } from "../src/checkpoint/weights.js";
import type { CheckResult } from "../src/report.js";
import { buildCorpus, caseFolder, repoRoot, sampleDir, writeCase, type CorpusCase } from "./corpus/build.js";
import { useScratchDir } from "./helpers/scratch.js";

interface TensorRecord {
  dtype?: string;
  shape?: number[];
  device?: string;
  /** The first 16 hex digits of the sha256 of the elements' bytes, row-major. */
  digest?: string;
  type?: string;
}

interface LoaderVerdict {
  verdict: "loads" | "refuses";
  error?: string;
  /** torch.load without map_location refused only because this machine lacks the device. */
  deviceAbsent?: boolean;
  nonFinite?: string[];
  tensors?: Record<string, TensorRecord>;
  missing?: string[];
  unexpected?: string[];
  tied?: boolean;
  tokens?: number;
  tokensSha256?: string;
  sameAsFast?: boolean;
}

interface Recorded {
  sha256: string;
  verdicts: Record<string, LoaderVerdict> & { roundTrip?: Record<string, LoaderVerdict> };
}

const CHECKPOINT_IDS = /^(files|json|schema|coherence|weights|card|check)\./;
/** Generous: each case, the pathological ones included, ends far sooner. */
const BOUND_MS = 10_000;

const scratch = useScratchDir("azbert-corpus-");
const recorded = JSON.parse(await readFile(path.join(repoRoot, "test", "corpus", "verdicts.json"), "utf8")) as { cases: Record<string, Recorded> };
const cases = await buildCorpus();

const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex").slice(0, 16);

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
  if (t.shape.some((d) => d === 0)) return Buffer.alloc(0);
  walk(0, t.storageOffset);
  return Buffer.concat(out);
}

/** Every tensor our reader indexes in `files` (one, or every shard), as the digest of its elements; undefined when it refuses one. */
async function indexedDigests(files: readonly string[]): Promise<Map<string, string> | undefined> {
  const out = new Map<string, string>();
  for (const file of files) {
    const index = await readWeights(file).catch(() => undefined);
    if (!index) return undefined;
    const bytes = await readFile(file);
    for (const t of index.tensors) out.set(t.name, tensorKey(t.dtype, t.shape, digest(elementBytes(bytes, t))));
  }
  return out;
}

/** The weights files our reader is compared on: the one the case's loader reads, or every torch shard. */
function weightsFilesOf(c: CorpusCase): string[] {
  if (c.loader === "torch") return ["pytorch_model.bin"];
  if (c.loader === "safetensors") return ["model.safetensors"];
  if (c.loader === "shards") return Object.keys(c.files).filter((f) => /^pytorch_model-\d+-of-\d+\.bin$/.test(f)).sort();
  return [];
}

async function ourChecklist(dir: string): Promise<{ failed: CheckResult[]; vocab?: string[]; nonFinite: Map<string, string[]> }> {
  const cache = new HashCache(null);
  const ckpt = await loadCheckpoint(dir, { cache });
  await hashCheckpoint(ckpt, { cache });
  const results = runCheckpointChecks(ckpt);
  const nonFinite = new Map([...ckpt.json.values()].map((d) => [d.path, (d.nonFinite ?? []).map((n) => n.pointer || "/").sort()]));
  return { failed: results.filter((r) => r.status === "fail" && CHECKPOINT_IDS.test(r.id)), ...(ckpt.vocab ? { vocab: ckpt.vocab } : {}), nonFinite };
}

/** What a tensor is, to compare readers: dtype, shape and the digest of its elements. */
const tensorKey = (dtype: string | undefined, shape: readonly number[] | undefined, d: string) => `${dtype} [${shape?.join(", ")}] ${d}`;

const digestsOf = (v: LoaderVerdict) =>
  new Map(Object.entries(v.tensors ?? {}).flatMap(([name, t]) => (t.digest ? [[name, tensorKey(t.dtype, t.shape, t.digest)] as const] : [])));

/** "a, b, c and 4 more". */
const some = (names: readonly string[]) => (names.length > 3 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} more` : names.join(", "));

/**
 * Why the loaders make this case one to refuse (empty: every loader loads the same, sound model).
 * `ours`: what our reader indexes in the judged weights file, when it reads it.
 */
function loaderReasons(rec: Recorded, ours: { file: string; digests?: Map<string, string> } | undefined): string[] {
  const why: string[] = [];
  const verdicts = Object.entries(rec.verdicts).filter(([k]) => k !== "roundTrip") as [string, LoaderVerdict][];
  for (const [loader, v] of verdicts) {
    if (v.verdict === "refuses" && !v.deviceAbsent) why.push(`${loader} refuses it: ${v.error}`);
    if (v.nonFinite?.length) why.push(`${loader} loads NaN or infinity in ${v.nonFinite.join(", ")}`);
    const meta = Object.entries(v.tensors ?? {}).filter(([, t]) => t.device === "meta");
    if (meta.length) why.push(`${loader} loads ${meta.length} tensors on the meta device, without values`);
    if (v.missing?.length) why.push(`${loader} initialises ${v.missing.join(", ")} at random (missing from the weights)`);
    if (v.sameAsFast === false) why.push(`${loader}: BertTokenizer's vocabulary is not the fast tokenizer's`);
  }
  // Every loader that loads weights must see the same ones, as must our reader.
  const loaded = verdicts.filter(([, v]) => v.verdict === "loads" && v.tensors).map(([k, v]) => [k, digestsOf(v)] as const);
  const all = ours?.digests ? [...loaded, [`our reader (${ours.file})`, ours.digests] as const] : loaded;
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const [a, da] = all[i]!;
      const [b, db] = all[j]!;
      const differ = [...da].filter(([name, d]) => db.has(name) && db.get(name) !== d).map(([name]) => name);
      if (differ.length) why.push(`${a} and ${b} read ${some(differ)} differently`);
    }
  }
  // Our reader indexes exactly the tensors the loader of that format loads.
  if (ours?.digests) {
    const same = loaded.find(([k]) => (ours.file.endsWith(".safetensors") ? k === "safetensors" : k === "torch113" || k === "torch213"));
    if (same && [...same[1].keys()].sort().join() !== [...ours.digests.keys()].sort().join()) why.push(`our reader indexes other tensor names than ${same[0]}`);
  }
  return why;
}

describe("differential corpus: the checklist's verdict is the strictest of the loaders'", () => {
  it("has a recorded verdict for every case the builder makes, and no stale one", () => {
    expect(Object.keys(recorded.cases).sort()).toEqual(cases.map((c) => c.id).sort());
  });

  for (const c of cases) {
    it(`${c.id}: ${c.about}`, async () => {
      const rec = recorded.cases[c.id]!;
      const judged = c.files[c.judged]!;
      // The verdicts apply to exactly these bytes.
      expect(createHash("sha256").update(judged).digest("hex"), "the case's bytes differ from the ones the loaders judged: rebuild and re-record").toBe(rec.sha256);
      const dir = await writeCase(c, path.join(scratch.dir, caseFolder(c.id)));

      const t0 = performance.now();
      const ours = await ourChecklist(dir);
      expect(performance.now() - t0).toBeLessThan(BOUND_MS);
      const weRefuse = ours.failed.length > 0;

      const weightsFiles = weightsFilesOf(c);
      const mine = weightsFiles.length
        ? { file: weightsFiles.join(", "), ...(await indexedDigests(weightsFiles.map((f) => path.join(dir, f))).then((d) => (d ? { digests: d } : {}))) }
        : undefined;
      const why = loaderReasons(rec, mine);
      const verdicts = rec.verdicts;
      if (verdicts.json?.verdict === "loads") expect(ours.nonFinite.get(c.judged), "non-finite numbers found where Python finds them").toEqual(verdicts.json.nonFinite);
      if (verdicts.vocab?.verdict === "loads") {
        // The tokens we read are the tokens BertTokenizer reads.
        expect(ours.vocab?.length).toBe(verdicts.vocab.tokens);
        expect(createHash("sha256").update(ours.vocab!.join("\n"), "utf8").digest("hex")).toBe(verdicts.vocab.tokensSha256);
      }

      const failed = JSON.stringify(ours.failed, null, 1);
      if (c.stricter) {
        // Refused beyond the loaders, on purpose: they all load the same sound weights.
        expect(why, `${c.id} is marked stricter than the loaders, but they disagree`).toEqual([]);
        expect(weRefuse, `${c.stricter}, but the checklist passes`).toBe(true);
      } else if (why.length) {
        expect(weRefuse, `the loaders: ${why.join("; ")}; but the checklist passes`).toBe(true);
      } else {
        expect(ours.failed, "every loader loads the same sound model, but the checklist refuses it").toEqual([]);
      }
      if (c.control) expect(why, "a control the loaders do not all load alike").toEqual([]);
      if (c.expect) {
        const hit = ours.failed.find((r) => r.id === c.expect!.check);
        expect(hit, `${c.expect.check} should fail; failed: ${failed}`).toBeDefined();
        expect(hit!.message).toContain(c.judged);
        expect(hit!.message).toMatch(c.expect.message);
      }
    });
  }
});

describe("transformers 5 round trip of the folder as a release publishes it", () => {
  const PRETRAINING_HEADS = ["bert.pooler.dense.bias", "bert.pooler.dense.weight", "cls.seq_relationship.bias", "cls.seq_relationship.weight"];

  it("the recorded from_pretrained loads it with no missing key and the decoder tied to the word embeddings", () => {
    const trip = recorded.cases["folder/as-released"]!.verdicts.roundTrip!;
    // The sample is BertForPreTraining: as a masked LM, its pre-training heads are the only keys left over.
    expect(trip.AutoModelForMaskedLM).toMatchObject({ verdict: "loads", missing: [], unexpected: PRETRAINING_HEADS, tied: true });
    expect(trip.AutoModelForPreTraining).toMatchObject({ verdict: "loads", missing: [], unexpected: [], tied: true });
  });

  it("the record is of the writer's current output: model.safetensors written from the sample has the recorded sha256", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "azbert-roundtrip-"));
    try {
      const written = await writeSafetensors(await loadCheckpoint(sampleDir), out, { sha256: true });
      expect(written.files.map((f) => f.sha256), "the writer's output changed: re-record test/corpus/verdicts.json").toEqual([recorded.cases["folder/as-released"]!.sha256]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
