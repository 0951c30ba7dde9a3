// The differential corpus: every bad input the checklist must refuse, and the valid ones it must
// pass, built the way an attacker or a careless user would build them, from the sample checkpoint
// (test/fixtures/azbert-tiny/), deterministically. tools/record_loader_verdicts.py loads each case
// with the real loaders (torch 1.13 and torch 2.13's torch.load, safetensors, Python's json, the
// tokenizers library, BertTokenizer, and transformers 5's from_pretrained of the whole folder) and
// writes their verdicts to test/corpus/verdicts.json, which corpus.test.ts holds the checklist to.
//
//   npx tsx test/corpus/build.ts OUTDIR     writes OUTDIR/<case>/... and OUTDIR/cases.json
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadCheckpoint } from "../../src/checkpoint/load.js";
import { writeSafetensors } from "../../src/checkpoint/safetensors-writer.js";
import { readWeights } from "../../src/checkpoint/weights.js";
import { loadTensorRaw } from "../../src/checkpoint/tensor-data.js";
import type { TensorInfo } from "../../src/checkpoint/types.js";
import { EOCD_SEARCH_BYTES, readAt, readZipDirectory } from "../../src/checkpoint/zip.js";
import { PickleWriter, safetensorsFile, writeStoredZip, type ZipInput } from "../helpers/torch-fixtures.js";
import { writeShardedSample } from "../shard-fixtures.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const sampleDir = path.join(repoRoot, "test", "fixtures", "azbert-tiny");

export type Loader =
  /** torch.load: torch 1.13 (map_location="cpu") and torch 2.13 (weights_only, the default), plain too where a device tag matters. */
  | "torch"
  /** json.load(open(f, encoding="utf-8")), as transformers reads config and tokenizer files. */
  | "json"
  /** tokenizers.Tokenizer.from_file (serde_json), as the fast tokenizer reads tokenizer.json; and Python's json. */
  | "tokenizer"
  /** open(f, encoding="utf-8").readlines(), as BertTokenizer's load_vocab reads vocab.txt, against the fast tokenizer's vocabulary. */
  | "vocab"
  /** safetensors.torch.load_file. */
  | "safetensors"
  /** The folder as a whole: torch.load of the .bin, load_file of the safetensors, from_pretrained of both. */
  | "folder"
  /** Sharded .bin (pytorch_model-0000N-of-0000M.bin + index): torch.load of every shard, as above, and from_pretrained of the folder. */
  | "shards";

export interface CorpusCase {
  id: string;
  /** What the input is and how it is made. */
  about: string;
  loader: Loader;
  /** Files put into a copy of the sample checkpoint (repo path → bytes; null removes the file). */
  files: Record<string, Uint8Array | null>;
  /** The file the loader judges (a key of `files`). */
  judged: string;
  /** torch cases: also record torch.load without map_location (the storages' device tags matter). */
  plainLoad?: boolean;
  /** A valid input: the whole checklist must pass. */
  control?: boolean;
  /**
   * The checklist refuses it although every loader recorded loads the same, sound weights: why (an
   * archive other zip readers read otherwise). corpus.test.ts holds these to "refused, loaders agree".
   */
  stricter?: string;
  /** The checkpoint check that must fail, and words its message must hold (besides the file's name). */
  expect?: { check: string; message: RegExp };
}

// ---- the sample's pieces ----------------------------------------------------------------------

interface Sample {
  /** pytorch_model.bin entries, in archive order, with their bytes. */
  entries: { name: string; data: Buffer }[];
  text: (name: string) => Promise<string>;
  bytes: (name: string) => Promise<Buffer>;
  /** The sample's tensors as a safetensors file. */
  safetensors: Buffer;
  /** The same tensors, to build other safetensors files from. */
  safetensorsInputs: { name: string; dtype: string; shape: number[]; data: Uint8Array }[];
  /** pytorch_model.bin's tensors as our reader indexes them. */
  tensors: TensorInfo[];
  /** Storage entry name (e.g. `pytorch_model/data/1`) of a tensor. */
  storageOf: (tensor: string) => string;
}

/** A torch.save zip's entries, in archive order, with their bytes. */
async function archiveEntries(bin: string): Promise<{ name: string; data: Buffer }[]> {
  const fh = await open(bin, "r");
  try {
    const { size } = await fh.stat();
    const dir = await readZipDirectory(fh, size, bin);
    const entries = [];
    for (const e of dir.entries) entries.push({ name: e.name, data: await readAt(fh, e.dataOffset, e.size) });
    return entries;
  } finally {
    await fh.close();
  }
}

async function readSample(): Promise<Sample> {
  const bin = path.join(sampleDir, "pytorch_model.bin");
  const entries = await archiveEntries(bin);
  const index = await readWeights(bin);
  const ST_DTYPE: Record<string, string> = { float32: "F32", int64: "I64" };
  const tensors = [];
  for (const t of index.tensors) tensors.push({ name: t.name, dtype: ST_DTYPE[t.dtype]!, shape: t.shape, data: await loadTensorRaw(index, t.name) });
  const archive = entries[0]!.name.split("/")[0]!;
  return {
    entries,
    text: (name) => readFile(path.join(sampleDir, name), "utf8"),
    bytes: (name) => readFile(path.join(sampleDir, name)),
    safetensors: safetensorsFile(tensors, { format: "pt" }),
    safetensorsInputs: tensors,
    tensors: index.tensors,
    storageOf: (tensor) => `${archive}/${index.tensors.find((t) => t.name === tensor)!.storageKey}`,
  };
}

/** A torch.save-style zip (64-byte aligned data, data descriptors) of these entries. */
function zip(entries: ZipInput[]): Buffer {
  return writeStoredZip(entries, { align: 64, dataDescriptor: true });
}

/** A rows x cols float32 matrix's bytes, transposed (stored column by column). */
function transposed(data: Buffer, rows: number, cols: number): Buffer {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out.writeFloatLE(data.readFloatLE((i * cols + j) * 4), (j * rows + i) * 4);
  return out;
}

function f32With(data: Buffer, element: number, value: number): Buffer {
  const out = Buffer.from(data);
  out.writeFloatLE(value, element * 4);
  return out;
}

/** A pickle whose dicts each hold the previous one twice (through the memo): 2^depth paths, depth + 1 objects. */
function memoDagPickle(depth: number): Buffer {
  const p = new PickleWriter().proto(2).emptyDict().put(0);
  for (let i = 1; i <= depth; i++) p.emptyDict().mark().int(0).get(i - 1).int(1).get(i - 1).setitems().put(i);
  return p.stop().bytes();
}

/** config.json text with one field's value replaced by `literal`, as written by hand. */
function withField(text: string, field: string, literal: string): string {
  const re = new RegExp(`("${field}":\\s*)[^,\\n]+`);
  if (!re.test(text)) throw new Error(`config.json has no ${field}`);
  return text.replace(re, `$1${literal}`);
}

/** A JSON object's text with one more field, "extra", whose value is `literal`, as written by hand. */
function withExtra(text: string, literal: string): string {
  const end = text.lastIndexOf("}");
  return `${text.slice(0, end).trimEnd()}, "extra": ${literal}\n}\n`;
}

/**
 * tokenizer.json nested `depth` levels deep without changing what it does: its normalizer wrapped
 * in Sequence normalizers (2 levels each), beside an empty Sequence (an identity) for an odd depth.
 */
function nestedNormalizer(text: string, depth: number): Buffer {
  const t = JSON.parse(text) as { normalizer: unknown };
  const depthOf = (v: unknown): number => (v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
  let n: unknown = t.normalizer;
  if ((depth - 1 - depthOf(n)) % 2) n = { type: "Sequence", normalizers: [n, { type: "Sequence", normalizers: [] }] };
  while (depthOf({ ...t, normalizer: n }) < depth) n = { type: "Sequence", normalizers: [n] };
  return Buffer.from(`${JSON.stringify({ ...t, normalizer: n }, null, 2)}\n`, "utf8");
}

/** safetensors header text edits that JSON.stringify cannot express (float literals). */
function editSafetensorsHeader(file: Buffer, edit: (header: string) => string): Buffer {
  const n = Number(file.readBigUInt64LE(0));
  const header = edit(file.subarray(8, 8 + n).toString("utf8").trimEnd());
  const padded = header + " ".repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(padded)));
  return Buffer.concat([len, Buffer.from(padded, "utf8"), file.subarray(8 + n)]);
}


// ---- the sample's state dict pickled again ------------------------------------------------------

const STORAGE_TYPE: Record<string, string> = { float32: "FloatStorage", int64: "LongStorage" };

/** One tensor of a state dict pickle: its persistent id and how it views the storage. */
interface PickledTensor {
  name: string;
  storageType: string;
  key: string;
  location: string;
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

/** The sample's tensors as torch.save pickles them (storage key, device "cpu", the storage's element count). */
function pickledSample(tensors: readonly TensorInfo[], entries: readonly { name: string; data: Buffer }[]): PickledTensor[] {
  return tensors.map((t) => {
    const key = t.storageKey.replace(/^data\//, "");
    const entry = entries.find((e) => e.name.endsWith(`/data/${key}`))!;
    return { name: t.name, storageType: STORAGE_TYPE[t.dtype]!, key, location: "cpu", numel: entry.data.length / (t.dtype === "int64" ? 8 : 4), offset: t.storageOffset, shape: t.shape, stride: t.stride };
  });
}

/**
 * A state dict pickle as torch.save writes it (OrderedDict, _rebuild_tensor_v2, one persistent id
 * per reference), or as Python's pickler writes it with pickle_protocol=4 (FRAME, SHORT_BINUNICODE,
 * STACK_GLOBAL), or with BINSTRING 'storage' (Python 2's str) in the persistent ids.
 */
function statePickle(tensors: readonly PickledTensor[], opts: { protocol4?: boolean; binstringStorage?: boolean } = {}): Buffer {
  const p = new PickleWriter();
  const str = (x: string) => (opts.protocol4 ? p.shortStr(x) : p.str(x));
  const global = (module: string, name: string) => (opts.protocol4 ? p.shortStr(module).shortStr(name).stackGlobal() : p.global(module, name));
  const ints = (xs: readonly number[]) => {
    p.mark();
    for (const x of xs) p.int(x);
    p.tuple();
  };
  global("collections", "OrderedDict");
  p.emptyTuple().reduce().mark();
  for (const t of tensors) {
    str(t.name);
    global("torch._utils", "_rebuild_tensor_v2");
    p.mark().mark();
    if (opts.binstringStorage) p.raw(0x54, 7, 0, 0, 0, ...Buffer.from("storage", "latin1"));
    else str("storage");
    global("torch", t.storageType);
    str(t.key);
    str(t.location);
    p.int(t.numel).tuple().binpersid().int(t.offset);
    ints(t.shape);
    ints(t.stride);
    p.bool(false);
    global("collections", "OrderedDict");
    p.emptyTuple().reduce().tuple().reduce();
  }
  const body = p.setitems().stop().bytes();
  if (!opts.protocol4) return Buffer.concat([new PickleWriter().proto(2).bytes(), body]);
  return Buffer.concat([new PickleWriter().proto(4).frame(body.length).bytes(), body]);
}

/**
 * The archive with a second central directory hidden in the end record's comment: a reader that
 * takes the record whose comment reaches the end of the file sees `entries` as they are; torch's
 * miniz takes the last record, whose directory points `name` at `replacement` (also in the comment).
 */
function twoDirectories(entries: ZipInput[], name: string, replacement: Buffer): Buffer {
  const real = zip(entries);
  const cdOffset = real.readUInt32LE(real.length - 6);
  const cd = Buffer.from(real.subarray(cdOffset, real.length - 22));
  // The replacement's local header and data, placed 64-byte aligned (as torch aligns data) after the real archive.
  const lone = zip([{ name, data: replacement }]);
  const loneLocal = lone.subarray(0, lone.readUInt32LE(lone.length - 6));
  const pad = Buffer.alloc((64 - (real.length % 64)) % 64);
  const localAt = real.length + pad.length;
  const nameBytes = Buffer.from(name, "utf8");
  for (let at = 0; at < cd.length; ) {
    const n = cd.readUInt16LE(at + 28);
    if (cd.subarray(at + 46, at + 46 + n).equals(nameBytes)) {
      cd.writeUInt32LE(lone.readUInt32LE(loneLocal.length + 16), at + 16); // the replacement's CRC
      cd.writeUInt32LE(localAt, at + 42);
    }
    at += 46 + n + cd.readUInt16LE(at + 30) + cd.readUInt16LE(at + 32);
  }
  const eocd2 = Buffer.from(real.subarray(real.length - 22));
  eocd2.writeUInt32LE(localAt + loneLocal.length, 16);
  const comment = Buffer.concat([pad, loneLocal, cd, eocd2]);
  const out = Buffer.concat([real, comment]);
  out.writeUInt16LE(comment.length, real.length - 2); // the first record's comment runs to the end of the file
  return out;
}

/** The sample folder with `files` in place, and model.safetensors written from its pytorch_model.bin by our writer. */
async function withOurSafetensors(files: Record<string, Uint8Array>): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-corpus-st-"));
  try {
    await cp(sampleDir, path.join(dir, "ckpt"), { recursive: true });
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(dir, "ckpt", name), data);
    const written = await writeSafetensors(await loadCheckpoint(path.join(dir, "ckpt")), path.join(dir, "out"));
    return await readFile(written.files[0]!.path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The sample in two torch shards and their index, as save_pretrained(max_shard_size=...) lays
 * them out; `lastShard` rewrites the second shard's archive entries. Repo path → bytes, and the
 * sample's pytorch_model.bin removed.
 */
async function shardedSample(lastShard?: (entries: { name: string; data: Buffer }[], file: string) => Promise<ZipInput[]>): Promise<Record<string, Uint8Array | null>> {
  const parent = await mkdtemp(path.join(os.tmpdir(), "azbert-corpus-shards-"));
  try {
    const copy = await writeShardedSample({ count: 2, dir: path.join(parent, "ckpt") });
    const files: Record<string, Uint8Array | null> = { "pytorch_model.bin": null };
    for (const name of [...copy.shards, path.basename(copy.indexFile)]) files[name] = await readFile(path.join(copy.dir, name));
    if (lastShard) {
      const last = path.join(copy.dir, copy.shards.at(-1)!);
      files[copy.shards.at(-1)!] = zip(await lastShard(await archiveEntries(last), last));
    }
    return files;
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

// ---- the cases --------------------------------------------------------------------------------

export async function buildCorpus(): Promise<CorpusCase[]> {
  const s = await readSample();
  const entries = s.entries;
  const archive = entries[0]!.name.split("/")[0]!;
  const word = s.storageOf("bert.embeddings.word_embeddings.weight");
  const ln = s.storageOf("bert.embeddings.LayerNorm.weight");
  const wordData = entries.find((e) => e.name === word)!.data;
  const nanWord = Buffer.alloc(wordData.length);
  for (let i = 0; i < nanWord.length; i += 4) nanWord.writeFloatLE(NaN, i);
  const replace = (name: string, data: Buffer): ZipInput[] => entries.map((e) => (e.name === name ? { name, data } : e));
  const without = (name: string): ZipInput[] => entries.filter((e) => e.name !== name);
  const withVersion = (v: string) => replace(`${archive}/version`, Buffer.from(v, "latin1"));
  const bin = (data: Buffer) => ({ "pytorch_model.bin": data });
  const PICKLE = "weights.pickle";
  const SECOND_SHARD = "pytorch_model-00002-of-00002.bin";
  const config = await s.text("config.json");
  const vocab = await s.bytes("vocab.txt");
  const tokenizerJson = await s.text("tokenizer.json");
  const torchCase = (id: string, about: string, data: Buffer, expect?: CorpusCase["expect"], control = false, stricter?: string): CorpusCase => ({
    id: `torch/${id}`,
    about,
    loader: "torch",
    files: bin(data),
    judged: "pytorch_model.bin",
    ...(control ? { control } : {}),
    ...(stricter ? { stricter } : {}),
    ...(expect ? { expect } : {}),
  });
  const jsonCase = (id: string, about: string, file: string, text: string | Buffer, expect?: CorpusCase["expect"], control = false): CorpusCase => ({
    id: `json/${id}`,
    about,
    loader: "json",
    files: { [file]: typeof text === "string" ? Buffer.from(text, "utf8") : text },
    judged: file,
    ...(control ? { control } : {}),
    ...(expect ? { expect } : {}),
  });
  const stCase = (id: string, about: string, data: Buffer, expect?: CorpusCase["expect"], control = false): CorpusCase => ({
    id: `safetensors/${id}`,
    about,
    loader: "safetensors",
    files: { "model.safetensors": data, "pytorch_model.bin": null },
    judged: "model.safetensors",
    ...(control ? { control } : {}),
    ...(expect ? { expect } : {}),
  });
  const sampleSt = s.safetensors;

  // 200,000 empty entries written with data descriptors and nothing after them: the file ends
  // where the central directory would start. (Written in runs: a plain EOCD counts 65,535 at most.)
  const runs: Buffer[] = [];
  for (let first = 0; first < 200_000; first += 50_000) {
    const run = writeStoredZip(
      Array.from({ length: 50_000 }, (_, i) => ({ name: `${archive}/data/${first + i}`, data: Buffer.alloc(0) })),
      { align: 1, dataDescriptor: true },
    );
    runs.push(run.subarray(0, run.readUInt32LE(run.length - 6))); // local headers only: up to the central directory
  }
  const flood = Buffer.concat(runs);
  const dag = zip([{ name: `${archive}/data.pkl`, data: memoDagPickle(40) }, { name: `${archive}/data/0`, data: Buffer.alloc(256) }]);
  // Cut inside data/0's bytes, so explaining the cut needs the storages data.pkl declares.
  const dataEntry = `${archive}/data/0`;
  if (dag.indexOf(dataEntry) + dataEntry.length + 64 >= 800) throw new Error("the memo DAG archive's data/0 starts past byte 800");

  const sampleBin = await s.bytes("pytorch_model.bin");
  const pkl = `${archive}/data.pkl`;
  const pickled = pickledSample(s.tensors, entries);
  const lnData = entries.find((e) => e.name === ln)!.data;
  const nanLn = Buffer.alloc(lnData.length);
  for (let i = 0; i < nanLn.length; i += 4) nanLn.writeFloatLE(NaN, i);
  const query = "bert.encoder.layer.0.attention.self.query.weight";
  /** One storage (the embeddings' LayerNorm weight, key 4) tagged with another device. */
  const deviceCase = (location: string): CorpusCase => ({
    id: `torch/device-${location.replace(":", "")}`,
    about: `the LayerNorm weight's storage tagged with the device "${location}"`,
    loader: "torch",
    files: bin(zip(replace(pkl, statePickle(pickled.map((t) => (t.key === "4" ? { ...t, location } : t)))))),
    judged: "pytorch_model.bin",
    plainLoad: true,
  });
  // Two tensors of the sample's safetensors changed.
  const differing = safetensorsFile(
    s.safetensorsInputs.map((t) => {
      const at = t.name === "bert.embeddings.LayerNorm.weight" ? 3 : t.name === "cls.predictions.bias" ? 0 : -1;
      return at < 0 ? t : { ...t, data: f32With(Buffer.from(t.data), at, Buffer.from(t.data).readFloatLE(at * 4) + 0.5) };
    }),
    { format: "pt" },
  );
  const released = await withOurSafetensors({});
  const tokenTypes = "bert.embeddings.token_type_embeddings.weight";
  const wordKey = pickled.find((t) => t.name === "bert.embeddings.word_embeddings.weight")!.key;
  const viewBin = zip(
    replace(pkl, statePickle(pickled.map((t) => (t.name === tokenTypes ? { ...t, key: wordKey, numel: pickled.find((w) => w.key === wordKey)!.numel, offset: 100 * 64 } : t)))).filter(
      (e) => e.name !== s.storageOf(tokenTypes),
    ),
  );

  return [
    // -- torch.save archives
    torchCase("control-sample", "the bundled sample, as torch.save wrote it", await s.bytes("pytorch_model.bin"), undefined, true),
    // Fields of the zip records that torch's miniz reads as a multi-part or encrypted archive.
    ...(await (async () => {
      const sample = await s.bytes("pytorch_model.bin");
      const eocd = sample.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
      const locator = eocd - 20;
      const record = Number(sample.readBigUInt64LE(locator + 8));
      const firstCentral = sample.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      const patched = (patch: (b: Buffer) => void): Buffer => {
        const b = Buffer.from(sample);
        patch(b);
        return b;
      };
      const multipart = { check: PICKLE, message: /multi-part \(spanned\)/ };
      return [
        torchCase("entry-disk-ffff", "the first central entry starts on disk 0xffff", patched((b) => b.writeUInt16LE(0xffff, firstCentral + 34)), multipart),
        torchCase("zip64-two-disks", "the ZIP64 locator says the archive spans 2 disks", patched((b) => b.writeUInt32LE(2, locator + 16)), multipart),
        torchCase("zip64-entries-on-disk", "the ZIP64 record puts one entry fewer on this disk than in all", patched((b) => b.writeBigUInt64LE(b.readBigUInt64LE(record + 24) - 1n, record + 24)), multipart),
        torchCase("encrypted-flag", "the first central entry (data.pkl) is flagged encrypted", patched((b) => b.writeUInt16LE(b.readUInt16LE(firstCentral + 8) | 1, firstCentral + 8)), {
          check: PICKLE,
          message: /marked encrypted \(zip flag bit 0\)/,
        }),
        torchCase("eocd-entries-on-disk", "the classic EOCD's entries-on-this-disk is one short (the ZIP64 record is what counts)", patched((b) => b.writeUInt16LE(b.readUInt16LE(eocd + 8) - 1, eocd + 8)), undefined, true),
      ];
    })()),
    torchCase("control-rebuilt", "the sample's entries written again by the corpus's zip writer", zip(entries), undefined, true),
    torchCase(
      "duplicate-entry-first-nan",
      `a second ${word} entry, all NaN, placed before the real one: torch reads the first copy`,
      zip([entries[0]!, { name: word, data: nanWord }, ...entries.slice(1)]),
      { check: PICKLE, message: /two entries named .*data\/1/ },
    ),
    torchCase(
      "duplicate-entry-last-nan",
      `a second ${word} entry, all NaN, after the real one: a reader that keeps the last copy indexes NaN`,
      zip([...entries, { name: word, data: nanWord }]),
      { check: PICKLE, message: /two entries named .*data\/1/ },
      false,
      "the archive is ambiguous: torch reads the first copy, zip readers that keep the last (Python's zipfile) read the NaN one",
    ),
    torchCase(
      "duplicate-entry-other-case",
      `${word.toUpperCase()} (all NaN) before ${word}: torch's zip reader matches names ignoring case`,
      zip([entries[0]!, { name: word.replace("data/", "DATA/"), data: nanWord }, ...entries.slice(1)]),
      { check: PICKLE, message: /one record to torch \(it matches names ignoring case\)/ },
    ),
    torchCase(
      "hidden-local-header",
      `an all-NaN ${word} written as a local header the central directory does not list`,
      zip([{ name: word, data: nanWord, hidden: true }, ...entries]),
      { check: PICKLE, message: /belong to no entry the central directory lists/ },
      false,
      "the archive is ambiguous: torch reads the central directory, a streaming zip reader meets the hidden all-NaN copy first",
    ),
    torchCase(
      "stray-first-entry",
      "notes/readme.txt before the real entries: torch takes the archive folder from the first entry",
      zip([{ name: "notes/readme.txt", data: Buffer.from("trained on 2 GPUs\n") }, ...entries]),
      { check: PICKLE, message: /outside the archive folder notes\// },
    ),
    torchCase("stray-last-entry", "other/extra.txt after the real entries", zip([...entries, { name: "other/extra.txt", data: Buffer.from("x") }]), {
      check: PICKLE,
      message: /entry other\/extra\.txt is outside the archive folder/,
    }),
    torchCase("no-version", "the version record removed", zip(without(`${archive}/version`)), { check: PICKLE, message: /has no .*\/version record/ }),
    torchCase("version-0", "version 0", zip(withVersion("0")), { check: PICKLE, message: /format version 0; torch reads versions 1 to 10/ }),
    torchCase("version-11", "version 11", zip(withVersion("11")), { check: PICKLE, message: /format version 11/ }),
    torchCase("version-99", "version 99", zip(withVersion("99")), { check: PICKLE, message: /format version 99/ }),
    torchCase("version-abc", "version abc", zip(withVersion("abc")), { check: PICKLE, message: /holds "abc", not a number/ }),
    torchCase("version-empty", "an empty version record", zip(withVersion("")), { check: PICKLE, message: /holds "", not a number/ }),
    torchCase("version-minus-one", "version -1 (stoull wraps it past the maximum)", zip(withVersion("-1")), { check: PICKLE, message: /format version \d{10,}/ }),
    torchCase("version-10", "version 10, the newest torch reads", zip(withVersion("10"))),
    torchCase("version-trailing-text", "version 3abc (stoull reads the leading digits)", zip(withVersion("3abc"))),
    torchCase("no-data-pkl", "data.pkl removed", zip([...without(`${archive}/data.pkl`)]), { check: PICKLE, message: /has no .*\/data\.pkl/ }),
    torchCase(
      "torchscript-constants",
      "a constants.pkl record: torch.load hands the file to torch.jit.load",
      zip([...entries.slice(0, -1), { name: `${archive}/constants.pkl`, data: new PickleWriter().proto(2).none().stop().bytes() }, entries.at(-1)!]),
      { check: PICKLE, message: /TorchScript archive/ },
    ),
    torchCase("nan-weight", "one NaN in the word embeddings (CRC updated)", zip(replace(word, f32With(wordData, 5, NaN))), {
      check: "weights.finite",
      message: /bert\.embeddings\.word_embeddings\.weight \(float32\) holds 1 NaN values \(first at element 5\)/,
    }),
    torchCase(
      "inf-weight",
      "-Inf in the embeddings' LayerNorm weight (CRC updated)",
      zip(replace(ln, f32With(entries.find((e) => e.name === ln)!.data, 0, -Infinity))),
      { check: "weights.finite", message: /bert\.embeddings\.LayerNorm\.weight \(float32\) holds 1 infinite values/ },
    ),
    (() => {
      // NaN written over the bytes of a saved file, CRC left stale: torch does not check it.
      const good = zip(entries);
      const at = good.indexOf(wordData) + 4 * 7;
      const bad = Buffer.from(good);
      bad.writeFloatLE(NaN, at);
      return torchCase("stale-crc-nan", "a NaN patched into the saved bytes, CRC32 left stale", bad, {
        check: "weights.finite",
        message: /word_embeddings\.weight \(float32\) holds 1 NaN values \(first at element 7\)/,
      });
    })(),
    (() => {
      // data.pkl's CRC32 flipped in its local header and the central directory: torch loads the
      // file all the same (it never checks), so the checklist passes it, with a warning.
      const bad = Buffer.from(zip(entries));
      const name = Buffer.from(`${archive}/data.pkl`, "latin1");
      for (const [sig, crcAt, nameAt] of [[0x04034b50, 14, 30], [0x02014b50, 16, 46]] as const) {
        for (let at = bad.indexOf(Buffer.from(new Uint32Array([sig]).buffer)); at >= 0; at = bad.indexOf(Buffer.from(new Uint32Array([sig]).buffer), at + 4)) {
          if (bad.subarray(at + nameAt, at + nameAt + name.length).equals(name)) bad.writeUInt32LE((bad.readUInt32LE(at + crcAt) ^ 0x1) >>> 0, at + crcAt);
        }
      }
      return torchCase("stale-pkl-crc", "data.pkl's CRC32 flipped (local header and central directory); torch does not check it", bad, undefined, true);
    })(),
    torchCase("safetensors-bytes", "the sample converted to safetensors but named pytorch_model.bin", sampleSt, {
      check: PICKLE,
      message: /holds safetensors data, but its name promises a torch\.save zip archive/,
    }),
    torchCase("truncated-memo-dag", "an 800-byte cut of an archive whose data.pkl is a memo DAG of depth 40", dag.subarray(0, 800), {
      check: PICKLE,
      message: /truncated/,
    }),
    torchCase(
      "truncated-descriptor-flood",
      "200,000 empty entries with data descriptors, cut off before the central directory",
      flood,
      { check: PICKLE, message: /truncated/ },
    ),

    // -- the end record as torch's miniz finds it: the last signature in the last 69,584 bytes
    torchCase("eocd-trailing-bytes", "3 bytes after the end record (miniz ignores what follows it)", Buffer.concat([sampleBin, Buffer.from("abc")]), undefined, true),
    torchCase("eocd-search-edge", `${EOCD_SEARCH_BYTES - 22} zero bytes after the end record: the record starts at the edge of miniz's search`, Buffer.concat([sampleBin, Buffer.alloc(EOCD_SEARCH_BYTES - 22)]), undefined, true),
    torchCase("eocd-past-search", `${EOCD_SEARCH_BYTES - 21} zero bytes after the end record: one byte past miniz's search`, Buffer.concat([sampleBin, Buffer.alloc(EOCD_SEARCH_BYTES - 21)]), {
      check: PICKLE,
      message: new RegExp(`end-of-central-directory record at byte \\d+ is followed by ${EOCD_SEARCH_BYTES - 21} bytes: torch looks for it only in the last ${EOCD_SEARCH_BYTES} bytes`),
    }),
    torchCase(
      "two-end-records-nan",
      `the end record's comment hides a second central directory (and end record) pointing ${ln} at an all-NaN copy: torch reads the last record`,
      twoDirectories(entries, ln, nanLn),
      { check: PICKLE, message: /do not tile the file/ },
    ),

    // -- pickles as torch 1.13 and torch >= 2.6's weights-only unpickler read them
    torchCase("control-repickled", "the sample's state dict pickled again by the corpus's writer (protocol 2, as torch.save)", zip(replace(pkl, statePickle(pickled))), undefined, true),
    torchCase("pickle-protocol-4", "the state dict pickled with protocol 4 (torch.save(..., pickle_protocol=4)): FRAME, SHORT_BINUNICODE, STACK_GLOBAL", zip(replace(pkl, statePickle(pickled, { protocol4: true }))), {
      check: PICKLE,
      message: /torch >= 2\.6 cannot load this file: opcode 0x95 \(protocol 4 FRAME\) at byte 2 of data\.pkl.*pickle_protocol=2\) or publish model\.safetensors only/,
    }),
    torchCase("binstring-storage", "every persistent id's 'storage' written as BINSTRING (Python 2's str)", zip(replace(pkl, statePickle(pickled, { binstringStorage: true }))), {
      check: PICKLE,
      message: /torch >= 2\.6 cannot load this file: opcode 0x54 \(protocol 1 BINSTRING\)/,
    }),
    torchCase(
      "storage-numel-conflict",
      "the word embeddings' persistent id declares half its elements, the tied decoder's all of them: torch sizes the storage by the first",
      zip(replace(pkl, statePickle(pickled.map((t) => (t.name === "bert.embeddings.word_embeddings.weight" ? { ...t, numel: t.numel / 2 } : t))))),
      { check: PICKLE, message: /storage 1 declares 11584 float32 elements \(46336 bytes\) but entry .*data\/1 holds 92672 bytes/ },
    ),
    torchCase(
      "storage-later-numel-larger",
      "the tied decoder's persistent id declares 1,000 elements more than the word embeddings' (torch keeps the first)",
      zip(replace(pkl, statePickle(pickled.map((t) => (t.name === "cls.predictions.decoder.weight" ? { ...t, numel: t.numel + 1000 } : t))))),
      undefined,
      true,
    ),
    torchCase("storage-record-longer", `${ln} holds 4 bytes more than its storage declares`, zip(replace(ln, Buffer.concat([lnData, Buffer.alloc(4)]))), {
      check: PICKLE,
      message: /but entry .*data\/4 holds 260 bytes: torch >= 2\.6 refuses a storage whose record has another size/,
    }),
    { ...deviceCase("tpu:7"), expect: { check: PICKLE, message: /storage 4 is tagged with the device "tpu:7": torch\.load without map_location cannot restore it on any machine/ } },
    { ...deviceCase("meta"), expect: { check: PICKLE, message: /storage 4 is tagged with the device "meta": torch\.load without map_location gives tensors on the meta device/ } },
    { ...deviceCase("cuda:0"), control: true },
    torchCase(
      "non-contiguous",
      "layer 0's query weight saved as the transpose of its transpose (stride [1, 64]): the same values, not contiguous",
      zip(
        replace(pkl, statePickle(pickled.map((t) => (t.name === query ? { ...t, stride: [1, 64] } : t)))).map((e) =>
          e.name === s.storageOf(query) ? { name: e.name, data: transposed(entries.find((x) => x.name === e.name)!.data, 64, 64) } : e,
        ),
      ),
      undefined,
      true,
    ),

    // -- two models in one checkpoint, and the folder as the release publishes it
    {
      id: "folder/bin-and-safetensors-differ",
      about: "pytorch_model.bin and a model.safetensors whose LayerNorm weight (element 3) and prediction bias (element 0) differ from it",
      loader: "folder",
      files: { "model.safetensors": differing },
      judged: "model.safetensors",
      expect: { check: "weights.agree", message: /tensor bert\.embeddings\.LayerNorm\.weight differs between pytorch_model\.bin and model\.safetensors \(first at element 3\)/ },
    },
    { id: "folder/as-released", about: "pytorch_model.bin and the model.safetensors our writer makes from it, as a release publishes them", loader: "folder", files: { "model.safetensors": released }, judged: "model.safetensors", control: true },
    {
      id: "folder/token-type-view",
      about: "token_type_embeddings saved as rows 100-101 of the word embeddings' storage, and the model.safetensors our writer makes from it",
      loader: "folder",
      files: { "pytorch_model.bin": viewBin, "model.safetensors": await withOurSafetensors({ "pytorch_model.bin": viewBin }) },
      judged: "model.safetensors",
      control: true,
    },

    // -- sharded .bin: every shard as torch 1.13 and torch >= 2.6 read it
    { id: "shards/control", about: "the sample in two torch shards and pytorch_model.bin.index.json", loader: "shards", files: await shardedSample(), judged: SECOND_SHARD, control: true },
    {
      id: "shards/protocol-4",
      about: "the sample in two torch shards, the second pickled with protocol 4 (torch.save(..., pickle_protocol=4))",
      loader: "shards",
      files: await shardedSample(async (shardEntries, file) => {
        const shardPkl = shardEntries.find((e) => e.name.endsWith("/data.pkl"))!.name;
        const repickled = statePickle(pickledSample((await readWeights(file)).tensors, shardEntries), { protocol4: true });
        return shardEntries.map((e) => (e.name === shardPkl ? { name: e.name, data: repickled } : e));
      }),
      judged: SECOND_SHARD,
      expect: { check: PICKLE, message: /torch >= 2\.6 cannot load this file: opcode 0x95 \(protocol 4 FRAME\)/ },
    },

    // -- JSON files, as transformers opens them
    jsonCase("control-config", "the sample's config.json", "config.json", config, undefined, true),
    jsonCase("invalid-utf8", "config.json with a 0xff byte in a string", "config.json", Buffer.from(config.replace('"gelu"', '"gelu\xff"'), "latin1"), {
      check: "json.parse",
      message: /not valid UTF-8 \(byte 0xff at offset \d+\)/,
    }),
    jsonCase("overflow-to-infinity", "layer_norm_eps written as 1e400", "config.json", withField(config, "layer_norm_eps", "1e400"), {
      check: "json.finite",
      message: /\/layer_norm_eps is 1e400, which Python's json reads as infinity/,
    }),
    jsonCase("nan-literal", "layer_norm_eps written as NaN (json.dumps writes it for float('nan'))", "config.json", withField(config, "layer_norm_eps", "NaN"), {
      check: "json.finite",
      message: /\/layer_norm_eps is NaN, which Python's json reads as NaN/,
    }),
    jsonCase(
      "infinity-literal",
      "model_max_length written as Infinity",
      "tokenizer_config.json",
      (await s.text("tokenizer_config.json")).replace('"model_max_length": 512', '"model_max_length": Infinity'),
      { check: "json.finite", message: /tokenizer_config\.json: \/model_max_length is Infinity/ },
    ),
    jsonCase("byte-order-mark", "config.json saved with a UTF-8 BOM", "config.json", `\ufeff${config}`, { check: "json.parse", message: /Unexpected UTF-8 BOM/ }),
    jsonCase(
      "nested-2000",
      "an extra field nested 2,000 arrays deep",
      "config.json",
      config.replace('"use_cache": true', `"use_cache": true, "extra": ${"[".repeat(2000)}${"]".repeat(2000)}`),
      { check: "json.parse", message: /cannot be loaded by transformers: nested deeper than 480 levels/ },
    ),
    jsonCase("integer-5000-digits", "an integer of 5,000 digits", "config.json", withField(config, "vocab_size", "9".repeat(5000)), {
      check: "json.parse",
      message: /Exceeds the limit \(4300 digits\)/,
    }),
    jsonCase("trailing-comma", "a trailing comma", "config.json", config.replace('"vocab_size": 362', '"vocab_size": 362,'), {
      check: "json.parse",
      message: /Expecting property name enclosed in double quotes/,
    }),
    jsonCase("nested-200", "an extra field nested 200 arrays deep (past serde_json's 128, within what transformers reads)", "config.json", withExtra(config, `${"[".repeat(200)}${"]".repeat(200)}`), undefined, true),
    jsonCase("nested-600", "an extra field nested 600 arrays deep: Python's json reads it, transformers' copy of the config does not", "config.json", withExtra(config, `${"[".repeat(600)}${"]".repeat(600)}`), {
      check: "json.parse",
      message: /cannot be loaded by transformers: nested deeper than 480 levels/,
    }),
    jsonCase("nested-480", "an extra field nested 479 arrays deep, 480 levels with config.json's object: the deepest the checklist reads", "config.json", withExtra(config, `${"[".repeat(479)}${"]".repeat(479)}`), undefined, true),
    jsonCase(
      "tokenizer-config-nested-600",
      "tokenizer_config.json with an extra field nested 600 arrays deep: Python's json reads it, the tokenizer's copy of its settings does not",
      "tokenizer_config.json",
      withExtra(await s.text("tokenizer_config.json"), `${"[".repeat(600)}${"]".repeat(600)}`),
      { check: "json.parse", message: /tokenizer_config\.json cannot be loaded by transformers: nested deeper than 480 levels/ },
    ),
    jsonCase("integer-4300-digits", "an extra field holding an integer of 4,300 digits (CPython's limit, inclusive)", "config.json", withExtra(config, "9".repeat(4300)), undefined, true),
    {
      id: "tokenizer/nested-128",
      about: "tokenizer.json nested 128 levels deep (its normalizer wrapped in Sequence normalizers): one past what serde_json reads",
      loader: "tokenizer",
      files: { "tokenizer.json": nestedNormalizer(tokenizerJson, 128) },
      judged: "tokenizer.json",
      expect: { check: "json.parse", message: /tokenizers library \(serde_json\) reads it: nested deeper than 127 levels/ },
    },
    {
      id: "tokenizer/nested-127",
      about: "tokenizer.json nested 127 levels deep (its normalizer wrapped in Sequence normalizers): the deepest serde_json reads",
      loader: "tokenizer",
      files: { "tokenizer.json": nestedNormalizer(tokenizerJson, 127) },
      judged: "tokenizer.json",
      control: true,
    },

    // -- vocab.txt, as BertTokenizer's load_vocab reads it
    { id: "vocab/control", about: "the sample's vocab.txt", loader: "vocab", files: { "vocab.txt": vocab }, judged: "vocab.txt", control: true },
    {
      id: "vocab/invalid-utf8",
      about: "a 0xff byte in a token",
      loader: "vocab",
      files: { "vocab.txt": Buffer.from(vocab.toString("latin1").replace("[unused0]", "[unused\xff0]"), "latin1") },
      judged: "vocab.txt",
      expect: { check: "coherence.vocab", message: /vocab\.txt is not valid UTF-8 \(byte 0xff/ },
    },
    {
      id: "vocab/lone-cr",
      about: "a carriage return inside a token: Python's text mode ends the line there",
      loader: "vocab",
      files: { "vocab.txt": Buffer.from(vocab.toString("utf8").replace("[unused0]", "[unu\rsed0]"), "utf8") },
      judged: "vocab.txt",
      expect: { check: "coherence.vocab", message: /which vocab\.txt already gives to/ },
    },

    // -- safetensors headers, as safetensors' load_file reads them
    stCase(
      "control",
      "the sample's tensors as model.safetensors",
      sampleSt,
      undefined,
      true,
    ),
    stCase(
      "float-offset",
      "a data offset written 0.0",
      editSafetensorsHeader(sampleSt, (h) => h.replace('"data_offsets":[0,', '"data_offsets":[0.0,')),
      { check: "weights.safetensors", message: /data_offsets \[0\.0, \d+\] is not a pair of non-negative integers/ },
    ),
    stCase(
      "float-shape",
      "a shape entry written 1.0",
      editSafetensorsHeader(sampleSt, (h) => h.replace('"shape":[1,', '"shape":[1.0,')),
      { check: "weights.safetensors", message: /shape \[1\.0, 128\] is not a list of non-negative integers/ },
    ),
    stCase(
      "exponent-offset",
      "a data offset written with an exponent (1.024e3)",
      editSafetensorsHeader(sampleSt, (h) => h.replace(/"data_offsets":\[(\d+),1024\]/, '"data_offsets":[$1,1.024e3]')),
      { check: "weights.safetensors", message: /data_offsets \[\d+, 1\.024e3\]/ },
    ),
    stCase(
      "overlap",
      "the second tensor's span moved back over the first",
      editSafetensorsHeader(sampleSt, (h) => {
        const o = JSON.parse(h) as Record<string, { data_offsets?: number[] }>;
        const first = Object.values(o).find((t) => t.data_offsets?.[0] === 0)!;
        const second = Object.values(o).find((t) => t.data_offsets?.[0] === first.data_offsets![1])!;
        second.data_offsets = [second.data_offsets![0]! - 4, second.data_offsets![1]! - 4];
        return JSON.stringify(o);
      }),
      { check: "weights.safetensors", message: /overlaps tensor/ },
    ),
    stCase(
      "span-mismatch",
      "a shape that needs fewer bytes than its offsets span",
      editSafetensorsHeader(sampleSt, (h) => h.replace('"shape":[1,128]', '"shape":[1,64]')),
      { check: "weights.safetensors", message: /span 1024 bytes but shape \[1,64\] of I64 needs 512/ },
    ),
    stCase(
      "trailing-bytes",
      "16 bytes after the last tensor",
      Buffer.concat([sampleSt, Buffer.alloc(16)]),
      { check: "weights.safetensors", message: /16 bytes belong to no tensor/ },
    ),
    stCase(
      "shape-overflow-before-zero",
      "an extra empty tensor of shape [2^32, 2^32, 0]: the product overflows 64 bits before the 0",
      safetensorsFile([...s.safetensorsInputs, { name: "extra.empty", dtype: "F32", shape: [2 ** 32, 2 ** 32, 0], data: new Uint8Array(0) }], { format: "pt" }),
      { check: "weights.safetensors", message: /tensor extra\.empty: shape \[4294967296, 4294967296, 0\] of F32 overflows 64 bits/ },
    ),
    stCase(
      "shape-zero-first",
      "an extra empty tensor of shape [0, 2^32, 2^32]: the product is 0 before it could overflow",
      safetensorsFile([...s.safetensorsInputs, { name: "extra.empty", dtype: "F32", shape: [0, 2 ** 32, 2 ** 32], data: new Uint8Array(0) }], { format: "pt" }),
      undefined,
      true,
    ),
    stCase(
      "torch-zip-named-safetensors",
      "the sample's torch zip saved as model.safetensors",
      await s.bytes("pytorch_model.bin"),
      { check: "weights.safetensors", message: /holds a torch\.save zip archive, but its name promises safetensors data/ },
    ),
  ];
}

/** A folder name for a case id. */
export function caseFolder(id: string): string {
  return id.replace(/\//g, "__");
}

/** A copy of the sample checkpoint in `dir` with the case's files in place. */
export async function writeCase(c: CorpusCase, dir: string): Promise<string> {
  await cp(sampleDir, dir, { recursive: true });
  for (const [name, data] of Object.entries(c.files)) {
    if (data === null) await rm(path.join(dir, name), { force: true });
    else await writeFile(path.join(dir, name), data);
  }
  return dir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = process.argv[2];
  if (!out) throw new Error("usage: npx tsx test/corpus/build.ts OUTDIR");
  await mkdir(out, { recursive: true });
  const cases = await buildCorpus();
  for (const c of cases) await writeCase(c, path.join(out, caseFolder(c.id)));
  const index = cases.map((c) => ({ id: c.id, about: c.about, loader: c.loader, folder: caseFolder(c.id), judged: c.judged, ...(c.plainLoad ? { plainLoad: true } : {}) }));
  await writeFile(path.join(out, "cases.json"), `${JSON.stringify({ cases: index }, null, 2)}\n`);
  console.log(`${cases.length} cases in ${out}`);
}
