// The differential corpus: every bad input the checklist must refuse, built the way an attacker or
// a careless user would build it, from the sample checkpoint (test/fixtures/azbert-tiny/), deterministically.
// tools/record_loader_verdicts.py loads each case with the real loaders (torch.load, Python's json
// as transformers opens files) and writes their verdicts to test/corpus/verdicts.json, which
// corpus.test.ts holds the checklist to. For safetensors there is no Python package here: those
// cases carry the rule of the reference parser (the Rust crate's tensor.rs) instead.
//
//   npx tsx test/corpus/build.ts OUTDIR     writes OUTDIR/<case>/... and OUTDIR/cases.json
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { open } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { readWeights } from "../../src/checkpoint/weights.js";
import { loadTensorRaw } from "../../src/checkpoint/tensor-data.js";
import { readAt, readZipDirectory } from "../../src/checkpoint/zip.js";
import { PickleWriter, safetensorsFile, writeStoredZip, type ZipInput } from "../helpers/torch-fixtures.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const sampleDir = path.join(repoRoot, "test", "fixtures", "azbert-tiny");

/** The source the safetensors rules were read in. */
export const SAFETENSORS_SOURCE = "huggingface/safetensors@24b0b2857fef49be734b9ab72ce97c09bb25f5b9 safetensors/src/tensor.rs";

export type Loader =
  /** torch.load(f, map_location="cpu"), and with weights_only=True. */
  | "torch"
  /** json.load(open(f, encoding="utf-8")), as transformers reads config and tokenizer files. */
  | "json"
  /** open(f, encoding="utf-8").readlines(), as BertTokenizer's load_vocab reads vocab.txt. */
  | "vocab"
  /** No loader here: the reference parser's rule, read in its source. */
  | "safetensors-rule";

export interface CorpusCase {
  id: string;
  /** What the input is and how it is made. */
  about: string;
  loader: Loader;
  /** Files put into a copy of the sample checkpoint (repo path → bytes; null removes the file). */
  files: Record<string, Uint8Array | null>;
  /** The file the loader judges (a key of `files`). */
  judged: string;
  /** A valid input: the whole checklist must pass. */
  control?: boolean;
  /** safetensors cases: the reference parser's verdict and the rule behind it. */
  rule?: { verdict: "loads" | "refuses"; text: string };
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
  /** Storage entry name (e.g. `pytorch_model/data/1`) of a tensor. */
  storageOf: (tensor: string) => string;
}

async function readSample(): Promise<Sample> {
  const bin = path.join(sampleDir, "pytorch_model.bin");
  const fh = await open(bin, "r");
  let entries: { name: string; data: Buffer }[];
  try {
    const { size } = await fh.stat();
    const dir = await readZipDirectory(fh, size, bin);
    entries = [];
    for (const e of dir.entries) entries.push({ name: e.name, data: await readAt(fh, e.dataOffset, e.size) });
  } finally {
    await fh.close();
  }
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
    storageOf: (tensor) => `${archive}/${index.tensors.find((t) => t.name === tensor)!.storageKey}`,
  };
}

/** A torch.save-style zip (64-byte aligned data, data descriptors) of these entries. */
function zip(entries: ZipInput[]): Buffer {
  return writeStoredZip(entries, { align: 64, dataDescriptor: true });
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

/** safetensors header text edits that JSON.stringify cannot express (float literals). */
function editSafetensorsHeader(file: Buffer, edit: (header: string) => string): Buffer {
  const n = Number(file.readBigUInt64LE(0));
  const header = edit(file.subarray(8, 8 + n).toString("utf8").trimEnd());
  const padded = header + " ".repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(padded)));
  return Buffer.concat([len, Buffer.from(padded, "utf8"), file.subarray(8 + n)]);
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
  const config = await s.text("config.json");
  const vocab = await s.bytes("vocab.txt");
  const torchCase = (id: string, about: string, data: Buffer, expect?: CorpusCase["expect"], control = false): CorpusCase => ({
    id: `torch/${id}`,
    about,
    loader: "torch",
    files: bin(data),
    judged: "pytorch_model.bin",
    ...(control ? { control } : {}),
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
  const stCase = (id: string, about: string, data: Buffer, rule: CorpusCase["rule"], expect?: CorpusCase["expect"], control = false): CorpusCase => ({
    id: `safetensors/${id}`,
    about,
    loader: "safetensors-rule",
    files: { "model.safetensors": data, "pytorch_model.bin": null },
    judged: "model.safetensors",
    rule,
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
      { check: "json.parse", message: /nested deeper than 128 levels/ },
    ),
    jsonCase("integer-5000-digits", "an integer of 5,000 digits", "config.json", withField(config, "vocab_size", "9".repeat(5000)), {
      check: "json.parse",
      message: /Exceeds the limit \(4300 digits\)/,
    }),
    jsonCase("trailing-comma", "a trailing comma", "config.json", config.replace('"vocab_size": 362', '"vocab_size": 362,'), {
      check: "json.parse",
      message: /Expecting property name enclosed in double quotes/,
    }),

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

    // -- safetensors headers, against the reference parser's rules
    stCase(
      "control",
      "the sample's tensors as model.safetensors",
      sampleSt,
      { verdict: "loads", text: "header within MAX_HEADER_SIZE, serde-valid; Metadata::validate: offsets tile the data from 0, each span = dtype bitsize x shape / 8; buffer_end + 8 + n == file length" },
      undefined,
      true,
    ),
    stCase(
      "float-offset",
      "a data offset written 0.0",
      editSafetensorsHeader(sampleSt, (h) => h.replace('"data_offsets":[0,', '"data_offsets":[0.0,')),
      { verdict: "refuses", text: "TensorInfo.data_offsets is (usize, usize): serde_json reads 0.0 as a float and refuses it (InvalidHeaderDeserialization)" },
      { check: "weights.safetensors", message: /data_offsets \[0\.0, \d+\] is not a pair of non-negative integers/ },
    ),
    stCase(
      "float-shape",
      "a shape entry written 1.0",
      editSafetensorsHeader(sampleSt, (h) => h.replace('"shape":[1,', '"shape":[1.0,')),
      { verdict: "refuses", text: "TensorInfo.shape is Vec<usize>: serde_json refuses the float 1.0 (InvalidHeaderDeserialization)" },
      { check: "weights.safetensors", message: /shape \[1\.0, 128\] is not a list of non-negative integers/ },
    ),
    stCase(
      "exponent-offset",
      "a data offset written with an exponent (1.024e3)",
      editSafetensorsHeader(sampleSt, (h) => h.replace(/"data_offsets":\[(\d+),1024\]/, '"data_offsets":[$1,1.024e3]')),
      { verdict: "refuses", text: "serde_json parses 1.024e3 as an f64; usize refuses it (InvalidHeaderDeserialization)" },
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
      { verdict: "refuses", text: "Metadata::validate: tensors sorted by offsets must start where the previous ends (s != start: InvalidOffset)" },
      { check: "weights.safetensors", message: /overlaps tensor/ },
    ),
    stCase(
      "span-mismatch",
      "a shape that needs fewer bytes than its offsets span",
      editSafetensorsHeader(sampleSt, (h) => h.replace('"shape":[1,128]', '"shape":[1,64]')),
      { verdict: "refuses", text: "Metadata::validate: e - s must equal nelements x bitsize / 8 (TensorInfoInvalid)" },
      { check: "weights.safetensors", message: /span 1024 bytes but shape \[1,64\] of I64 needs 512/ },
    ),
    stCase(
      "trailing-bytes",
      "16 bytes after the last tensor",
      Buffer.concat([sampleSt, Buffer.alloc(16)]),
      { verdict: "refuses", text: "read_metadata: buffer_end + N_LEN + n must equal the file length (MetadataIncompleteBuffer)" },
      { check: "weights.safetensors", message: /16 bytes belong to no tensor/ },
    ),
    stCase(
      "torch-zip-named-safetensors",
      "the sample's torch zip saved as model.safetensors",
      await s.bytes("pytorch_model.bin"),
      { verdict: "refuses", text: "read_metadata: the first 8 bytes (PK\\x03\\x04...) as a u64 exceed MAX_HEADER_SIZE (HeaderTooLarge)" },
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
  const index = cases.map((c) => ({ id: c.id, about: c.about, loader: c.loader, folder: caseFolder(c.id), judged: c.judged, ...(c.rule ? { rule: c.rule } : {}) }));
  await writeFile(path.join(out, "cases.json"), `${JSON.stringify({ safetensorsSource: SAFETENSORS_SOURCE, cases: index }, null, 2)}\n`);
  console.log(`${cases.length} cases in ${out}`);
}
