// The zip directory reader on its own: crafted and damaged archives, each refused with the error a
// user would see (its code and its words), and sound archives read to the right bytes. Archives
// are built with the test zip writer and edited field by field; no expected value is taken from
// the reader itself.
import { mkdir, open, writeFile } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";

import { WeightsError } from "../../../src/checkpoint/weights-error.js";
import { EOCD_SEARCH_BYTES, readAt, readZipDirectory, type SizeHint, type ZipDirectory } from "../../../src/checkpoint/zip.js";
import { useScratchDir } from "../../helpers/scratch.js";
import { storedZipChunks, writeStoredZip, type ZipInput, type ZipOptions } from "../../helpers/torch-fixtures.js";

const scratch = useScratchDir("azbert-zip-");

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_DESCRIPTOR = 0x08074b50;

// ---- archives ---------------------------------------------------------------------------------

const pkl = Buffer.from("\x80\x02}q\x00(X\x01\x00\x00\x00wq\x01u.", "latin1");
/** int64 [1, 1, 1]: its first bytes (01 00 ...) look like the id of a ZIP64 extra field. */
const ones = Buffer.alloc(24);
for (let i = 0; i < 3; i++) ones.writeBigInt64LE(1n, i * 8);
const version = Buffer.from("3\n");

const ENTRIES: ZipInput[] = [
  { name: "archive/data.pkl", data: pkl },
  { name: "archive/data/0", data: ones },
  { name: "archive/version", data: version },
];

function torchLike(opts: ZipOptions = {}, entries: ZipInput[] = ENTRIES): Buffer {
  return writeStoredZip(entries, opts);
}

/** One central directory record, its variable parts apart (lengths are rewritten on assembly). */
interface Central {
  header: Buffer;
  name: Buffer;
  extra: Buffer;
  comment: Buffer;
}

/** The parts of an archive the test writer made (no archive comment): bytes before the directory, and its records. */
function parse(zip: Buffer): { body: Buffer; records: Central[]; zip64: boolean } {
  const eocd = zip.length - 22;
  const zip64 = eocd >= 20 && zip.readUInt32LE(eocd - 20) === 0x07064b50;
  const cdOffset = zip64 ? Number(zip.readBigUInt64LE(eocd - 20 - 56 + 48)) : zip.readUInt32LE(eocd + 16);
  const count = zip64 ? Number(zip.readBigUInt64LE(eocd - 20 - 56 + 32)) : zip.readUInt16LE(eocd + 10);
  const records: Central[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    const n = zip.readUInt16LE(p + 28);
    const x = zip.readUInt16LE(p + 30);
    const c = zip.readUInt16LE(p + 32);
    records.push({
      header: Buffer.from(zip.subarray(p, p + 46)),
      name: Buffer.from(zip.subarray(p + 46, p + 46 + n)),
      extra: Buffer.from(zip.subarray(p + 46 + n, p + 46 + n + x)),
      comment: Buffer.from(zip.subarray(p + 46 + n + x, p + 46 + n + x + c)),
    });
    p += 46 + n + x + c;
  }
  return { body: Buffer.from(zip.subarray(0, cdOffset)), records, zip64 };
}

/** An archive of `body` (local headers and data) and these directory records, its end records written to match. */
function assemble(body: Buffer, records: readonly Central[], zip64 = false): Buffer {
  const cd = Buffer.concat(
    records.flatMap((r) => {
      const h = Buffer.from(r.header);
      h.writeUInt16LE(r.name.length, 28);
      h.writeUInt16LE(r.extra.length, 30);
      h.writeUInt16LE(r.comment.length, 32);
      return [h, r.name, r.extra, r.comment];
    }),
  );
  const parts = [body, cd];
  if (zip64) {
    const e = Buffer.alloc(56);
    e.writeUInt32LE(0x06064b50, 0);
    e.writeBigUInt64LE(44n, 4);
    e.writeBigUInt64LE(BigInt(records.length), 24);
    e.writeBigUInt64LE(BigInt(records.length), 32);
    e.writeBigUInt64LE(BigInt(cd.length), 40);
    e.writeBigUInt64LE(BigInt(body.length), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(body.length + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    parts.push(e, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : records.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : records.length, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : body.length, 16);
  parts.push(eocd);
  return Buffer.concat(parts);
}

/** The archive with its records edited (and its end records rewritten). */
function edit(zip: Buffer, change: (records: Central[], body: Buffer) => Buffer | void): Buffer {
  const { body, records, zip64 } = parse(zip);
  const newBody = change(records, body) ?? body;
  return assemble(newBody, records, zip64);
}

/** `bytes` inserted at `at` (before the directory), every local header offset after it moved along. */
function insert(zip: Buffer, at: number, bytes: Buffer): Buffer {
  return edit(zip, (records, body) => {
    for (const r of records) {
      const off = r.header.readUInt32LE(42);
      if (off >= at) r.header.writeUInt32LE(off + bytes.length, 42);
    }
    return Buffer.concat([body.subarray(0, at), bytes, body.subarray(at)]);
  });
}

/** Where each entry's local header and data start, and its data's end, from the local headers the writer laid out. */
function layout(zip: Buffer): { name: string; header: number; data: number; end: number }[] {
  const { records } = parse(zip);
  return records.map((r) => {
    // ZIP64 records (as the test writer makes them) hold size, compressed size and offset in their extra field.
    const saturated = r.header.readUInt32LE(42) === 0xffffffff;
    const header = saturated ? Number(r.extra.readBigUInt64LE(20)) : r.header.readUInt32LE(42);
    const compressed = saturated ? Number(r.extra.readBigUInt64LE(12)) : r.header.readUInt32LE(20);
    const data = header + 30 + zip.readUInt16LE(header + 26) + zip.readUInt16LE(header + 28);
    return { name: r.name.toString("utf8"), header, data, end: data + compressed };
  });
}

/** A ZIP64 extra field of these 64-bit values. */
function zip64Field(...values: number[]): Buffer {
  const f = Buffer.alloc(4 + 8 * values.length);
  f.writeUInt16LE(0x0001, 0);
  f.writeUInt16LE(8 * values.length, 2);
  values.forEach((v, i) => f.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
  return f;
}

// ---- reading ----------------------------------------------------------------------------------

let serial = 0;

async function withFile<T>(name: string, data: Buffer | { chunks: { offset: number; data: Buffer }[]; size: number }, use: (fh: Awaited<ReturnType<typeof open>>, size: number, file: string) => Promise<T>): Promise<T> {
  // A folder per file: messages start with the file's own name.
  const dir = path.join(scratch.dir, String(serial++));
  await mkdir(dir);
  const file = path.join(dir, name);
  let size: number;
  if (Buffer.isBuffer(data)) {
    await writeFile(file, data);
    size = data.length;
  } else {
    const w = await open(file, "w");
    try {
      for (const c of data.chunks) if (c.offset < data.size) await w.write(c.data, 0, Math.min(c.data.length, data.size - c.offset), c.offset);
      await w.truncate(data.size);
    } finally {
      await w.close();
    }
    size = data.size;
  }
  const fh = await open(file, "r");
  try {
    return await use(fh, size, file);
  } finally {
    await fh.close();
  }
}

function read(name: string, data: Buffer, hint?: SizeHint): Promise<ZipDirectory> {
  return withFile(name, data, (fh, size, file) => readZipDirectory(fh, size, file, hint));
}

async function refusal(name: string, data: Buffer | { chunks: { offset: number; data: Buffer }[]; size: number }, hint?: SizeHint): Promise<WeightsError> {
  const err = await withFile(name, data, (fh, size, file) => readZipDirectory(fh, size, file, hint)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WeightsError);
  return err as WeightsError;
}

/** Every entry's bytes, read where the directory says its data lies. */
function contents(name: string, data: Buffer): Promise<Record<string, Buffer>> {
  return withFile(name, data, async (fh, size, file) => {
    const dir = await readZipDirectory(fh, size, file);
    const out: Record<string, Buffer> = {};
    for (const e of dir.entries) out[e.name] = Buffer.from(await readAt(fh, e.dataOffset, e.size));
    return out;
  });
}

const EXPECTED = Object.fromEntries(ENTRIES.map((e) => [e.name, Buffer.from(e.data!)]));

// ---- sound archives ---------------------------------------------------------------------------

describe("a sound archive is read to its entries' bytes", () => {
  it.each([
    ["torch's layout (aligned data, data descriptors)", {}],
    ["no data descriptors, no alignment", { dataDescriptor: false, align: 1 }],
    ["ZIP64 records", { zip64: true }],
    ["ZIP64 records without data descriptors", { zip64: true, dataDescriptor: false }],
  ])("%s", async (_how, opts: ZipOptions) => {
    const zip = torchLike(opts);
    expect(await contents("sound.bin", zip)).toEqual(EXPECTED);
    const dir = await read("sound.bin", zip);
    expect(dir.zip64).toBe(opts.zip64 === true);
    expect(dir.centralDirectoryOffset).toBe(parse(zip).body.length);
    for (const e of dir.entries) {
      expect(e.size).toBe(EXPECTED[e.name]!.length);
      expect(e.compressedSize).toBe(EXPECTED[e.name]!.length);
      expect(e.crc32).toBe(zlib.crc32(EXPECTED[e.name]!));
      expect(e.method).toBe(0);
    }
  });

  it("the 22-byte end record alone is an empty archive", async () => {
    const dir = await read("empty.zip", assemble(Buffer.alloc(0), []));
    expect(dir).toEqual({ entries: [], centralDirectoryOffset: 0, zip64: false });
  });

  it("the smallest entry (empty name, no data, no extra field) right before the directory is read", async () => {
    const zip = writeStoredZip([{ name: "", data: Buffer.alloc(0) }], { align: 1, dataDescriptor: false });
    const dir = await read("tiny.zip", zip);
    expect(dir.entries).toMatchObject([{ name: "", size: 0, localHeaderOffset: 0, dataOffset: 30 }]);
  });

  it("a directory listing entries out of file order is read in its own order", async () => {
    const zip = edit(torchLike(), (records) => void records.reverse());
    expect(await contents("reversed.bin", zip)).toEqual(EXPECTED);
    expect((await read("reversed.bin", zip)).entries.map((e) => e.name)).toEqual(ENTRIES.map((e) => e.name).reverse());
  });

  it("entry comments in the directory are stepped over", async () => {
    const zip = edit(torchLike(), (records) => records.forEach((r, i) => (r.comment = Buffer.from(`comment ${i}`))));
    expect(await contents("comments.bin", zip)).toEqual(EXPECTED);
  });

  it("a ZIP64 field after another extra field is still found", async () => {
    const other = Buffer.from([0x0a, 0x00, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]);
    const zip = edit(torchLike({ zip64: true }), (records) => records.forEach((r) => (r.extra = Buffer.concat([other, r.extra]))));
    expect(await contents("extra-first.bin", zip)).toEqual(EXPECTED);
  });

  it("a ZIP64 field holds only the values saturated in the fixed header, in order", async () => {
    const zip = torchLike({ dataDescriptor: false, align: 1 });
    const offsetOnly = edit(zip, (records) => {
      const r = records[1]!;
      r.extra = zip64Field(r.header.readUInt32LE(42));
      r.header.writeUInt32LE(0xffffffff, 42);
    });
    expect(await contents("offset64.bin", offsetOnly)).toEqual(EXPECTED);
    const sizesOnly = edit(zip, (records) => {
      const r = records[1]!;
      r.extra = zip64Field(r.header.readUInt32LE(24), r.header.readUInt32LE(20));
      r.header.writeUInt32LE(0xffffffff, 20);
      r.header.writeUInt32LE(0xffffffff, 24);
    });
    expect(await contents("sizes64.bin", sizesOnly)).toEqual(EXPECTED);
  });

  it("an entry on disk 1 (how some writers number the only disk) is read, as torch reads it", async () => {
    const zip = edit(torchLike(), (records) => void records[0]!.header.writeUInt16LE(1, 34));
    expect(await contents("disk1.bin", zip)).toEqual(EXPECTED);
  });

  it("names that differ outside ASCII letters are distinct entries", async () => {
    // miniz folds only A-Z: É and é are different bytes, so different names to torch.
    const zip = torchLike({}, [
      { name: "archive/data.pkl", data: pkl },
      { name: "archive/É", data: Buffer.from("a") },
      { name: "archive/é", data: Buffer.from("b") },
    ]);
    expect(await contents("accents.bin", zip)).toEqual({ "archive/data.pkl": pkl, "archive/É": Buffer.from("a"), "archive/é": Buffer.from("b") });
  });

  it("a ZIP64 archive whose end record lies as far back as torch searches is read", async () => {
    // The record starts EOCD_SEARCH_BYTES before the end: its ZIP64 locator is the first thing in the window read.
    const zip = torchLike({ zip64: true });
    const padded = Buffer.concat([zip, Buffer.alloc(EOCD_SEARCH_BYTES - 22)]);
    expect(await contents("far64.bin", padded)).toEqual(EXPECTED);
  });
});

// ---- end records --------------------------------------------------------------------------------

describe("damaged or hostile end records are refused", () => {
  const end = (zip: Buffer) => zip.length - 22;

  it("a file shorter than an end record", async () => {
    const err = await refusal("short.bin", Buffer.from("PK\x03\x04 is 21 bytes long"));
    expect(err).toMatchObject({ code: "truncated", message: "short.bin: truncated: the file has only 21 bytes, too short for a zip archive" });
  });

  it.each([
    ["entry count", 10, 2, 0xffff],
    ["directory size", 12, 4, 0xffffffff],
    ["directory offset", 16, 4, 0xffffffff],
  ])("a saturated %s without a ZIP64 locator", async (_what, at, width, value) => {
    const zip = torchLike();
    if (width === 2) zip.writeUInt16LE(value, end(zip) + at);
    else zip.writeUInt32LE(value, end(zip) + at);
    const err = await refusal("needs64.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: "needs64.bin: the end-of-central-directory record needs ZIP64 values but there is no ZIP64 locator" });
  });

  it.each([
    ["this disk's number", 4],
    ["the directory's disk", 6],
  ])("a spanned archive (%s not 0)", async (_what, at) => {
    const zip = torchLike();
    zip.writeUInt16LE(1, end(zip) + at);
    const err = await refusal("spanned.bin", zip);
    expect(err).toMatchObject({ code: "unsupported", message: "spanned.bin: multi-part (spanned) zip archives are not supported" });
  });

  it("a directory said to run past the end of the file", async () => {
    const zip = torchLike();
    const { body } = parse(zip);
    const size = zip.readUInt32LE(end(zip) + 12);
    zip.writeUInt32LE(size + 1000, end(zip) + 12);
    const err = await refusal("cd-past.bin", zip);
    expect(err).toMatchObject({ code: "truncated", message: `cd-past.bin: truncated: the central directory ends at byte ${body.length + size + 1000} but the file has ${zip.length} bytes` });
  });

  it.each([10, 22])("a directory said to run %i bytes into the end record", async (over) => {
    const zip = torchLike();
    const { body } = parse(zip);
    const size = zip.readUInt32LE(end(zip) + 12);
    zip.writeUInt32LE(size + over, end(zip) + 12);
    const err = await refusal("cd-over.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: `cd-over.bin: the central directory (bytes ${body.length}..${body.length + size + over}) overlaps the end-of-central-directory record at byte ${end(zip)}` });
  });

  it("more entries claimed than the directory has room for", async () => {
    const zip = torchLike();
    const size = zip.readUInt32LE(end(zip) + 12);
    const claimed = Math.floor(size / 46) + 1;
    zip.writeUInt16LE(claimed, end(zip) + 10);
    const err = await refusal("count.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: `count.bin: the archive claims ${claimed} entries but its central directory has only ${size} bytes` });
  });

  it("a directory larger than any torch checkpoint's (a sparse 256 MiB file)", async () => {
    const big = 256 * 1024 * 1024 + 1;
    const eocd = assemble(Buffer.alloc(0), []);
    eocd.writeUInt32LE(big, 12);
    eocd.writeUInt16LE(1, 10);
    const err = await refusal("huge-cd.bin", { chunks: [{ offset: big + 64, data: eocd }], size: big + 64 + 22 });
    expect(err).toMatchObject({ code: "unsupported", message: `huge-cd.bin: the central directory is ${big} bytes, more than a torch checkpoint ever needs` });
  });

  it("a directory of exactly 256 MiB is still read (a sparse file: its first record is not one)", async () => {
    const limit = 256 * 1024 * 1024;
    const eocd = assemble(Buffer.alloc(0), []);
    eocd.writeUInt32LE(limit, 12);
    eocd.writeUInt16LE(1, 10);
    const err = await refusal("max-cd.bin", { chunks: [{ offset: limit, data: eocd }], size: limit + 22 });
    expect(err).toMatchObject({ code: "corrupt", message: "max-cd.bin: central directory entry 1 of 1 (byte 0) has no valid signature" });
  });

  describe("ZIP64 records", () => {
    const zip64 = () => torchLike({ zip64: true });
    const locator = (zip: Buffer) => end(zip) - 20;
    const record = (zip: Buffer) => locator(zip) - 56;

    it("a locator pointing into the end records themselves", async () => {
      const zip = zip64();
      const at = record(zip) + 1;
      zip.writeBigUInt64LE(BigInt(at), locator(zip) + 8);
      const err = await refusal("loc-in.bin", zip);
      expect(err).toMatchObject({ code: "corrupt", message: `loc-in.bin: the ZIP64 end-of-central-directory locator points at byte ${at}, outside the file's directory area` });
    });

    it("a locator pointing where there is no ZIP64 record", async () => {
      const zip = zip64();
      zip.writeBigUInt64LE(0n, locator(zip) + 8);
      const err = await refusal("loc-0.bin", zip);
      expect(err).toMatchObject({ code: "corrupt", message: "loc-0.bin: no ZIP64 end-of-central-directory record at byte 0" });
    });

    it.each([
      ["two disks in the locator", (z: Buffer) => z.writeUInt32LE(2, locator(z) + 16), "(2 disks, 3 of 3 entries on this one)"],
      ["fewer entries on this disk than in all", (z: Buffer) => z.writeBigUInt64LE(2n, record(z) + 24), "(1 disks, 2 of 3 entries on this one)"],
      ["this disk's number not 0", (z: Buffer) => z.writeUInt32LE(1, record(z) + 16), "(1 disks, 3 of 3 entries on this one)"],
      ["the directory's disk not 0", (z: Buffer) => z.writeUInt32LE(1, record(z) + 20), "(1 disks, 3 of 3 entries on this one)"],
    ])("a spanned archive: %s", async (_what, change, counts) => {
      const zip = zip64();
      change(zip);
      const err = await refusal("span64.bin", zip);
      expect(err).toMatchObject({ code: "unsupported", message: `span64.bin: the ZIP64 records describe a multi-part (spanned) archive ${counts}: torch refuses it` });
    });
  });
});

// ---- the central directory ----------------------------------------------------------------------

describe("damaged or hostile directory records are refused", () => {
  it("a record without its signature", async () => {
    const zip = edit(torchLike(), (records) => void records[1]!.header.writeUInt32LE(0, 0));
    const { body, records } = parse(torchLike());
    const at = body.length + 46 + records[0]!.name.length + records[0]!.extra.length;
    const err = await refusal("sig.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: `sig.bin: central directory entry 2 of 3 (byte ${at}) has no valid signature` });
  });

  it("a directory cut inside a record's fixed header", async () => {
    const zip = torchLike();
    const { body, records } = parse(zip);
    const first2 = records.slice(0, 2).reduce((n, r) => n + 46 + r.name.length + r.extra.length, 0);
    zip.writeUInt32LE(first2 + 30, zip.length - 22 + 12);
    const err = await refusal("cd-cut.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: `cd-cut.bin: central directory entry 3 of 3 (byte ${body.length + first2}) has no valid signature` });
  });

  it("a directory cut inside a record's name", async () => {
    const zip = torchLike();
    const { records } = parse(zip);
    const first2 = records.slice(0, 2).reduce((n, r) => n + 46 + r.name.length + r.extra.length, 0);
    zip.writeUInt32LE(first2 + 46 + 4, zip.length - 22 + 12);
    const err = await refusal("name-cut.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: "name-cut.bin: central directory entry 3 of 3 runs past the end of the directory" });
  });

  it("an extra field longer than the record's extra area", async () => {
    // 4 bytes of value, where the field says 6.
    const zip = edit(torchLike(), (records) => void (records[0]!.extra = Buffer.from([0x0a, 0x00, 0x06, 0x00, 1, 2, 3, 4])));
    const err = await refusal("extra.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: "extra.bin: entry archive/data.pkl: malformed extra field in the central directory" });
  });

  it.each([
    ["one value short", (r: Central) => (r.extra = r.extra.subarray(0, 4 + 16)), 24],
    ["empty", (r: Central) => (r.extra = Buffer.from([0x01, 0x00, 0x00, 0x00])), 0],
  ])("a ZIP64 field %s for the saturated values", async (_how, change, len) => {
    const zip = edit(torchLike({ zip64: true }), (records) => {
      change(records[0]!);
      records[0]!.extra.writeUInt16LE(len === 0 ? 0 : 16, 2);
    });
    const err = await refusal("short64.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: "short64.bin: entry archive/data.pkl: ZIP64 extra field is too short" });
  });

  it.each([2, 0xffff])("an entry starting on disk %i", async (disk) => {
    const zip = edit(torchLike(), (records) => void records[1]!.header.writeUInt16LE(disk, 34));
    const err = await refusal("disk.bin", zip);
    expect(err).toMatchObject({ code: "unsupported", message: `disk.bin: entry archive/data/0 starts on disk ${disk}: multi-part (spanned) zip archives are not supported (torch refuses them)` });
  });

  it("two entries with one name: torch and other tools would read different copies", async () => {
    const zip = torchLike({}, [...ENTRIES, { name: "archive/version", data: Buffer.from("9\n") }]);
    const at = layout(zip).map((e) => e.header);
    const err = await refusal("dup.bin", zip);
    expect(err).toMatchObject({
      code: "corrupt",
      message: `dup.bin: the zip archive holds two entries named archive/version (local headers at bytes ${at[2]} and ${at[3]}): torch reads the first, other tools the last, so the weights users get are ambiguous`,
    });
  });

  it("two names that differ only in ASCII case: one record to torch", async () => {
    const zip = torchLike({}, [...ENTRIES, { name: "ARCHIVE/Data/0", data: ones }]);
    const at = layout(zip).map((e) => e.header);
    const err = await refusal("case.bin", zip);
    expect(err).toMatchObject({
      code: "corrupt",
      message: `case.bin: the zip archive holds entries archive/data/0 and ARCHIVE/Data/0, one record to torch (it matches names ignoring case) (local headers at bytes ${at[1]} and ${at[3]}): torch reads the first, other tools the last, so the weights users get are ambiguous`,
    });
  });
});

// ---- local headers and tiling -------------------------------------------------------------------

describe("entries must sit where the directory says, and tile the file", () => {
  it("a local header offset too close to the directory for a header", async () => {
    const zip = torchLike();
    const cd = parse(zip).body.length;
    const bad = edit(zip, (records) => void records[2]!.header.writeUInt32LE(cd - 10, 42));
    const err = await refusal("lh-past.bin", bad);
    expect(err).toMatchObject({ code: "corrupt", message: `lh-past.bin: entry archive/version: its local header offset ${cd - 10} is past the start of the central directory (byte ${cd})` });
  });

  it("no local header signature where the directory points", async () => {
    const zip = torchLike();
    zip.writeUInt32LE(0, 0);
    const err = await refusal("lh-sig.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: "lh-sig.bin: entry archive/data.pkl: no local file header at byte 0" });
  });

  it("a local header naming another file", async () => {
    const zip = torchLike();
    const [, e] = layout(zip);
    zip.write("1", e!.header + 30 + "archive/data/".length, "latin1"); // archive/data/0 -> archive/data/1
    const err = await refusal("lh-name.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: `lh-name.bin: entry archive/data/0: the local header at byte ${e!.header} names a different file` });
  });

  it("a local header whose name length is one more than the name", async () => {
    const zip = torchLike();
    const [, e] = layout(zip);
    zip.writeUInt16LE("archive/data/0".length + 1, e!.header + 26);
    const err = await refusal("lh-len.bin", zip);
    expect(err).toMatchObject({ code: "corrupt", message: `lh-len.bin: entry archive/data/0: the local header at byte ${e!.header} names a different file` });
  });

  it("an entry whose data would run to the end of the file", async () => {
    const zip = torchLike({ dataDescriptor: false });
    const [, , v] = layout(zip);
    const cd = parse(zip).body.length;
    const bad = edit(zip, (records) => void records[2]!.header.writeUInt32LE(zip.length - v!.data, 20));
    const err = await refusal("overlap-cd.bin", bad);
    expect(err).toMatchObject({ code: "corrupt", message: `overlap-cd.bin: entry archive/version (bytes ${v!.data}..${zip.length}) overlaps the central directory at byte ${cd}` });
  });

  it("an entry whose data would run past the end of the file", async () => {
    const zip = torchLike({ dataDescriptor: false });
    const [, , v] = layout(zip);
    const bad = edit(zip, (records) => void records[2]!.header.writeUInt32LE(zip.length, 20));
    const err = await refusal("past-end.bin", bad);
    expect(err).toMatchObject({ code: "truncated", message: `past-end.bin: truncated: entry archive/version ends at byte ${v!.data + zip.length} but the file has ${zip.length} bytes` });
  });

  it("bytes at the start of the file that no entry owns", async () => {
    const err = await refusal("lead.bin", insert(torchLike(), 0, Buffer.alloc(16)));
    expect(err).toMatchObject({ code: "corrupt", message: "lead.bin: the zip archive's entries do not tile the file: 16 bytes at the start of the file (bytes 0..16) belong to no entry the central directory lists" });
  });

  it("a local header the directory does not list, between two entries", async () => {
    const zip = torchLike({}, [ENTRIES[0]!, { name: "archive/data/0", data: Buffer.from("evil"), hidden: true }, ...ENTRIES.slice(1)]);
    const [pk, d0] = layout(zip);
    const err = await refusal("hidden.bin", zip);
    expect(err).toMatchObject({
      code: "corrupt",
      message: `hidden.bin: the zip archive's entries do not tile the file: ${d0!.header - pk!.end} bytes after entry archive/data.pkl (bytes ${pk!.end}..${d0!.header}) belong to no entry the central directory lists`,
    });
  });

  it("a gap the size of a data descriptor after an entry that has none", async () => {
    const zip = torchLike({ dataDescriptor: false });
    const [pk, d0] = layout(zip);
    const err = await refusal("gap16.bin", insert(zip, d0!.header, Buffer.alloc(16)));
    expect(err).toMatchObject({ code: "corrupt", message: `gap16.bin: the zip archive's entries do not tile the file: 16 bytes after entry archive/data.pkl (bytes ${pk!.end}..${pk!.end + 16}) belong to no entry the central directory lists` });
  });

  it("a gap after a data descriptor, one byte more than any descriptor takes", async () => {
    const zip = torchLike();
    const [pk, d0] = layout(zip);
    const err = await refusal("gap17.bin", insert(zip, d0!.header, Buffer.alloc(1)));
    expect(err).toMatchObject({ code: "corrupt", message: `gap17.bin: the zip archive's entries do not tile the file: 17 bytes after entry archive/data.pkl (bytes ${pk!.end}..${pk!.end + 17}) belong to no entry the central directory lists` });
  });

  it("two entries sharing bytes", async () => {
    const zip = torchLike({ dataDescriptor: false, align: 1 });
    const [pk, d0] = layout(zip);
    const bad = edit(zip, (records) => void records[0]!.header.writeUInt32LE(pk!.end - pk!.data + 8, 20));
    const err = await refusal("overlap.bin", bad);
    expect(err).toMatchObject({
      code: "corrupt",
      message: `overlap.bin: the zip archive's entries do not tile the file: entry archive/data/0's local header (byte ${d0!.header}) lies inside the bytes of entry archive/data.pkl, which end at byte ${pk!.end + 8}`,
    });
  });

  it.each([
    ["no data descriptors", { dataDescriptor: false }, 16],
    ["data descriptors", {}, 5],
  ])("bytes before the directory that no entry owns (%s)", async (_how, opts: ZipOptions, extra) => {
    const zip = torchLike(opts);
    const cd = parse(zip).body.length;
    const v = layout(zip)[2]!;
    const err = await refusal("tail.bin", insert(zip, cd, Buffer.alloc(extra)));
    expect(err).toMatchObject({ code: "corrupt", message: `tail.bin: the zip archive's entries do not tile the file: ${cd + extra - v.end} bytes before the central directory (bytes ${v.end}..${cd + extra}) belong to no entry it lists` });
  });

  it("bytes before the directory of an archive that lists no entries", async () => {
    const err = await refusal("empty-junk.bin", assemble(Buffer.alloc(16), []));
    expect(err).toMatchObject({ code: "corrupt", message: "empty-junk.bin: the zip archive's entries do not tile the file: 16 bytes before the central directory (bytes 0..16) belong to no entry it lists" });
  });
});

// ---- no end record: where was the file cut? ---------------------------------------------------------

type Descriptor = "none" | "sig" | "bare" | "sig64";

/**
 * One entry's local header, data and data descriptor, laid out by hand: sizes in the header
 * ("plain"), in a ZIP64 field with the header's saturated ("zip64"), or in the descriptor.
 */
function localEntry(
  name: string,
  data: Buffer,
  opts: { descriptor?: Descriptor; sizes?: "plain" | "zip64"; before?: Buffer; zip64Values?: [number, number]; field?: Buffer; headerSize?: number } = {},
): Buffer {
  const descriptor = opts.descriptor ?? "none";
  const zip64 = opts.sizes === "zip64";
  const crc = zlib.crc32(data);
  const known = descriptor === "none";
  const field = opts.field ?? (zip64 ? zip64Field(...(opts.zip64Values ?? (known ? [data.length, data.length] : [0, 0]))) : Buffer.alloc(0));
  const extra = Buffer.concat([opts.before ?? Buffer.alloc(0), field]);
  const nameBytes = Buffer.from(name, "utf8");
  const h = Buffer.alloc(30);
  h.writeUInt32LE(SIG_LOCAL, 0);
  h.writeUInt16LE(known ? 0 : 8, 6);
  h.writeUInt32LE(known ? crc : 0, 14);
  const size = opts.headerSize ?? (known ? (zip64 ? 0xffffffff : data.length) : 0);
  h.writeUInt32LE(size, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(nameBytes.length, 26);
  h.writeUInt16LE(extra.length, 28);
  const d = Buffer.alloc(descriptor === "none" ? 0 : descriptor === "bare" ? 12 : descriptor === "sig" ? 16 : 24);
  if (descriptor !== "none") {
    let at = 0;
    if (descriptor !== "bare") at = d.writeUInt32LE(SIG_DESCRIPTOR, 0);
    at = d.writeUInt32LE(crc, at);
    if (descriptor === "sig64") d.writeBigUInt64LE(BigInt(data.length), d.writeBigUInt64LE(BigInt(data.length), at));
    else d.writeUInt32LE(data.length, d.writeUInt32LE(data.length, at));
  }
  return Buffer.concat([h, nameBytes, extra, data, d]);
}

/** The start of a central directory record (what follows the last entry in a cut archive). */
function centralStart(name: string): Buffer {
  const c = Buffer.alloc(46);
  c.writeUInt32LE(SIG_CENTRAL, 0);
  c.writeUInt16LE(name.length, 28);
  return Buffer.concat([c, Buffer.from(name)]);
}

const generic = (size: number) =>
  `truncated: no zip end-of-central-directory record in the last ${Math.min(size, EOCD_SEARCH_BYTES)} bytes of the file (${size} bytes), where torch looks for it; the download or copy was probably cut short`;
const after = (size: number, name: string) => `truncated: the file ends at byte ${size}, right after entry ${name}, before the central directory`;
const inside = (size: number, name: string, data: number) => `truncated: the file ends at byte ${size}, inside entry ${name} (data from byte ${data})`;
const cutDirectory = (cd: number, size: number) => `truncated: the central directory starting at byte ${cd} is cut off at byte ${size} (no end-of-central-directory record)`;

async function explained(name: string, data: Buffer | { chunks: { offset: number; data: Buffer }[]; size: number }, hint?: SizeHint): Promise<{ code: string; problem: string }> {
  const err = await refusal(name, data, hint);
  expect(err.message.startsWith(`${name}: `)).toBe(true);
  return { code: err.code, problem: err.message.slice(name.length + 2) };
}

describe("a file without an end record: the explanation says where it was cut", () => {
  it("bytes that are no zip archive at all", async () => {
    expect(await explained("text.bin", Buffer.alloc(100, 0x41))).toEqual({ code: "corrupt", problem: "not a zip archive: no local file header at byte 0 and no end-of-central-directory record" });
  });

  it("an archive whose first entry is followed by something that is no zip header", async () => {
    const full = torchLike();
    const junk = Buffer.concat([full.subarray(0, layout(full)[1]!.header), Buffer.alloc(64, 0x41)]);
    expect(await explained("junk.bin", junk)).toEqual({ code: "truncated", problem: generic(junk.length) });
  });

  describe("torch's layout (data descriptors), cut at each kind of place", () => {
    const full = torchLike();
    const [pk, d0, v] = layout(full);
    const cd = parse(full).body.length;
    const firstRecord = 46 + "archive/data.pkl".length;
    it.each([
      ["between the second and third entries", v!.header, (n: number) => after(n, "archive/data/0")],
      ["right after an entry's data descriptor", d0!.header, (n: number) => after(n, "archive/data.pkl")],
      ["4 bytes into a local header", d0!.header + 4, (n: number) => `truncated: the file ends at byte ${n}, inside the local header at byte ${d0!.header}`],
      ["10 bytes into a local header", d0!.header + 10, (n: number) => `truncated: the file ends at byte ${n}, inside the local header at byte ${d0!.header}`],
      ["inside a local header's extra field", d0!.header + 30 + "archive/data/0".length + 2, (n: number) => `truncated: entry archive/data/0's header ends at byte ${d0!.data} but the file has ${n} bytes`],
      ["where an entry's data starts", d0!.data, (n: number) => inside(n, "archive/data/0", d0!.data)],
      ["inside an entry's data", d0!.data + 10, (n: number) => inside(n, "archive/data/0", d0!.data)],
      ["inside a data descriptor, after its CRC", d0!.end + 8, (n: number) => inside(n, "archive/data/0", d0!.data)],
      ["inside a data descriptor, after its compressed size", d0!.end + 12, (n: number) => after(n, "archive/data/0")],
      ["right before the central directory", cd, (n: number) => after(n, "archive/version")],
      ["inside the central directory's first record", cd + 10, (n: number) => cutDirectory(cd, n)],
      ["inside the central directory's second record", cd + firstRecord + 10, (n: number) => cutDirectory(cd, n)],
      ["inside the end record", full.length - 10, (n: number) => cutDirectory(cd, n)],
    ])("%s", async (_where, at, problem) => {
      expect(await explained("cut.bin", full.subarray(0, at))).toEqual({ code: "truncated", problem: problem(at) });
    });

    it("cut right after a local header's fixed part, before its name", async () => {
      // The name is past the cut, so the message cannot name the entry; it still says where the header ends.
      const at = d0!.header + 30;
      const { code, problem } = await explained("cut-name.bin", full.subarray(0, at));
      expect(code).toBe("truncated");
      expect(problem).toMatch(new RegExp(`^truncated: entry .*header ends at byte ${d0!.data} but the file has ${at} bytes$`));
    });

    it("sizes from the caller's hint, which sees the entries already located", async () => {
      const seen: Array<[string, Record<string, { dataOffset: number; size: number }>]> = [];
      const hint: SizeHint = (name, located) => {
        seen.push([name, Object.fromEntries(located)]);
        return EXPECTED[name]?.length;
      };
      // Cut 2 bytes into the second entry's descriptor: the hint alone sizes it.
      const at = d0!.end + 2;
      expect(await explained("hinted.bin", full.subarray(0, at), hint)).toEqual({ code: "truncated", problem: after(at, "archive/data/0") });
      expect(seen).toEqual([
        ["archive/data.pkl", {}],
        ["archive/data/0", { "archive/data.pkl": { dataOffset: pk!.data, size: pkl.length } }],
      ]);
    });
  });

  describe("sizes in the local headers (no data descriptors)", () => {
    it.each([
      ["plain sizes", {}],
      ["ZIP64 sizes", { zip64: true }],
    ])("%s: cut right after an entry, or inside one", async (_how, opts: ZipOptions) => {
      const full = torchLike({ ...opts, dataDescriptor: false });
      const [pk, d0, v] = layout(full);
      expect(await explained("exact.bin", full.subarray(0, pk!.end))).toEqual({ code: "truncated", problem: after(pk!.end, "archive/data.pkl") });
      expect(await explained("whole.bin", full.subarray(0, v!.end))).toEqual({ code: "truncated", problem: after(v!.end, "archive/version") });
      const at = d0!.data + 5;
      expect(await explained("mid.bin", full.subarray(0, at))).toEqual({ code: "truncated", problem: `truncated: entry archive/data/0 ends at byte ${d0!.end} but the file has ${at} bytes` });
    });

    it("a ZIP64 field after another extra field in the local header", async () => {
      const pad = Buffer.from([0x46, 0x42, 0x02, 0x00, 0x5a, 0x5a]);
      const a = localEntry("ab", Buffer.alloc(40, 7), { sizes: "zip64", before: pad });
      const b = localEntry("cd", Buffer.alloc(40, 9), { sizes: "zip64", before: pad });
      const file = Buffer.concat([a, b]).subarray(0, a.length + b.length - 10);
      expect(await explained("pad64.bin", file)).toEqual({ code: "truncated", problem: `truncated: entry cd ends at byte ${a.length + b.length} but the file has ${file.length} bytes` });
    });

    it("a ZIP64 field whose sizes differ (a compressed entry): the walk steps over the compressed size", async () => {
      const a = localEntry("ab", Buffer.alloc(40, 7), { sizes: "zip64", zip64Values: [1000, 40] });
      const b = localEntry("cd", Buffer.alloc(40, 9));
      expect(await explained("deflated64.bin", Buffer.concat([a, b]))).toEqual({ code: "truncated", problem: after(a.length + b.length, "cd") });
    });

    it("a saturated size with an empty ZIP64 field: the size stays unknown, past the end of the file", async () => {
      const a = localEntry("ab", Buffer.alloc(40, 7), { sizes: "zip64", field: Buffer.from([0x01, 0x00, 0x00, 0x00]) });
      const { code, problem } = await explained("empty64.bin", a);
      expect(code).toBe("truncated");
      expect(problem).toMatch(new RegExp(`^truncated: entry ab ends at byte \\d+ but the file has ${a.length} bytes$`));
    });

    it("a local header with its real size and a ZIP64 field that holds none", async () => {
      // Only a saturated header size is taken from the ZIP64 field.
      const a = localEntry("ab", Buffer.alloc(40, 7), { sizes: "zip64", zip64Values: [0, 0], headerSize: 40 });
      const b = localEntry("cd", Buffer.alloc(40, 9));
      expect(await explained("real64.bin", Buffer.concat([a, b]))).toEqual({ code: "truncated", problem: after(a.length + b.length, "cd") });
    });
  });

  describe("data descriptors of every layout, found by searching after the data", () => {
    const data = (n: number, fill: number) => Buffer.alloc(n, fill);
    // A descriptor without a signature, or 32-bit sizes after a ZIP64 header, cannot be searched
    // for (the search looks for a signature and the sizes the header implies): the caller's hint sizes those.
    const hint: SizeHint = (name) => ({ a: 100, b: 33, c: 7 })[name];
    it.each([
      ["with a signature", { descriptor: "sig" } as const, undefined],
      ["without a signature, sized by the hint", { descriptor: "bare" } as const, hint],
      ["64-bit sizes after a header without a ZIP64 field", { descriptor: "sig64" } as const, undefined],
      ["32-bit sizes after a header with a ZIP64 field, sized by the hint", { descriptor: "sig", sizes: "zip64" } as const, hint],
      ["64-bit sizes after a header with a ZIP64 field", { descriptor: "sig64", sizes: "zip64" } as const, undefined],
    ])("%s", async (_how, opts, sizes) => {
      const file = Buffer.concat([localEntry("a", data(100, 1), opts), localEntry("b", data(33, 2), opts), localEntry("c", data(7, 3), opts)]);
      // The entries, then the start of another local header: the walk steps over each descriptor onto it.
      const next = Buffer.concat([file, Buffer.from("PK\x03\x04", "latin1")]);
      expect(await explained("desc.bin", next, sizes)).toEqual({ code: "truncated", problem: `truncated: the file ends at byte ${next.length}, inside the local header at byte ${file.length}` });
      // The same entries followed by the start of the central directory: the walk lands on it.
      const withCd = Buffer.concat([file, centralStart("a")]);
      expect(await explained("desc-cd.bin", withCd, sizes)).toEqual({ code: "truncated", problem: cutDirectory(file.length, withCd.length) });
    });

    it("a file cut right after a descriptor with a signature and 32-bit sizes", async () => {
      const file = Buffer.concat([localEntry("a", data(100, 1), { descriptor: "sig" }), localEntry("c", data(7, 3), { descriptor: "sig" })]);
      expect(await explained("desc-end.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "c") });
    });

    it("a file cut right after a 64-bit descriptor of an entry whose header has a ZIP64 field, even an empty one", async () => {
      for (const field of [undefined, Buffer.from([0x01, 0x00, 0x00, 0x00])]) {
        const file = Buffer.concat([localEntry("a", data(100, 1), { descriptor: "sig64", sizes: "zip64", field }), localEntry("c", data(7, 3), { descriptor: "sig64", sizes: "zip64", field })]);
        expect(await explained("desc64-end.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "c") });
      }
    });

    it("an entry of zeros (a zero-filled tensor): only a descriptor with its signature ends it", async () => {
      const file = Buffer.concat([localEntry("zeros", data(64, 0), { descriptor: "sig" }), localEntry("b", data(20, 2), { descriptor: "sig" })]);
      expect(await explained("zeros.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "b") });
    });

    it("an empty entry: its descriptor right where its data would start", async () => {
      const file = Buffer.concat([localEntry("empty", Buffer.alloc(0), { descriptor: "sig" }), localEntry("b", data(20, 2), { descriptor: "sig" })]);
      expect(await explained("empty-entry.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "b") });
    });

    it.each([
      ["32-bit", { descriptor: "sig" } as const],
      ["ZIP64", { descriptor: "sig64", sizes: "zip64" } as const],
    ])("a descriptor signature inside the data whose size does not fit is skipped (%s)", async (_how, opts) => {
      const fake = Buffer.alloc(24);
      fake.writeUInt32LE(SIG_DESCRIPTOR, 0);
      fake.writeUInt32LE(999, 8);
      fake.writeUInt32LE(999, 12);
      fake.writeUInt32LE(999, 16);
      const payload = Buffer.concat([data(10, 1), fake, data(10, 1)]);
      const file = Buffer.concat([localEntry("a", payload, opts), localEntry("b", data(20, 2), opts)]);
      expect(await explained("lookalike.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "b") });
    });

    it("a ZIP64 descriptor lookalike whose low 32 bits of size fit but high bits do not is skipped", async () => {
      const fake = Buffer.alloc(24);
      fake.writeUInt32LE(SIG_DESCRIPTOR, 0);
      fake.writeBigUInt64LE(10n + (1n << 32n), 8);
      fake.writeBigUInt64LE(10n + (1n << 32n), 16);
      const payload = Buffer.concat([data(10, 1), fake, data(10, 1)]);
      const opts = { descriptor: "sig64", sizes: "zip64" } as const;
      const file = Buffer.concat([localEntry("a", payload, opts), localEntry("b", data(20, 2), opts)]);
      expect(await explained("lookalike64.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "b") });
    });

    it.each([4090, 4094])("a descriptor straddling the first 4096 bytes searched (data of %i bytes)", async (n) => {
      const file = Buffer.concat([localEntry("a", data(n, 1), { descriptor: "sig" }), localEntry("b", data(20, 2), { descriptor: "sig" })]);
      expect(await explained("straddle.bin", file)).toEqual({ code: "truncated", problem: after(file.length, "b") });
    });

    it("a descriptor cut after its signature and CRC, with ZIP64 sizes", async () => {
      const a = localEntry("a", data(50, 1), { descriptor: "sig64", sizes: "zip64" });
      expect(await explained("cut64.bin", a.subarray(0, a.length - 16))).toEqual({ code: "truncated", problem: inside(a.length - 16, "a", a.length - 24 - 50) });
      // Cut after the compressed size: the search finds it, and the file ends right after.
      expect(await explained("cut64b.bin", a.subarray(0, a.length - 8))).toEqual({ code: "truncated", problem: after(a.length - 8, "a") });
    });
  });

  it("a ZIP64 archive cut inside its ZIP64 end record", async () => {
    const full = torchLike({ zip64: true });
    const cd = parse(full).body.length;
    const at = full.length - 22 - 20 - 56 + 8;
    expect(await explained("cut-e64.bin", full.subarray(0, at))).toEqual({ code: "truncated", problem: cutDirectory(cd, at) });
  });

  it("a central directory followed by bytes that are no record", async () => {
    const full = torchLike();
    const cd = parse(full).body.length;
    const file = Buffer.concat([full.subarray(0, full.length - 22), Buffer.alloc(20, 0x41)]);
    expect(await explained("cd-junk.bin", file)).toEqual({ code: "truncated", problem: cutDirectory(cd, file.length) });
  });

  it("a whole archive with more appended than torch searches back over, its records carrying comments", async () => {
    const zip = edit(torchLike(), (records) => records.forEach((r, i) => (r.comment = Buffer.from(`comment ${i}`))));
    const file = Buffer.concat([zip, Buffer.alloc(EOCD_SEARCH_BYTES)]);
    expect(await explained("appended.bin", file)).toEqual({
      code: "corrupt",
      problem: `the zip end-of-central-directory record at byte ${zip.length - 22} is followed by ${EOCD_SEARCH_BYTES} bytes: torch looks for it only in the last ${EOCD_SEARCH_BYTES} bytes of the file and cannot load it; remove what was appended after byte ${zip.length}`,
    });
  });

  it("a huge cut archive: the explanation stops within its read budget and says what it can", async () => {
    // Three 15 MiB entries (holes in a sparse file) whose sizes are only in their descriptors:
    // finding them all would mean searching more than the 64 MiB the explanation may read.
    const { chunks } = storedZipChunks([0, 1, 2].map((i) => ({ name: `archive/data/${i}`, size: 15 * 1024 * 1024 })));
    const cd = chunks.find((c) => c.data.readUInt32LE(0) === SIG_CENTRAL)!.offset;
    expect(await explained("budget.bin", { chunks, size: cd })).toEqual({ code: "truncated", problem: generic(cd) });
  });

  it("a huge cut archive whose last entry's descriptor is not found before the budget runs out: no guess at where it ends", async () => {
    const { chunks } = storedZipChunks([15, 17].map((mib, i) => ({ name: `archive/data/${i}`, size: mib * 1024 * 1024 })));
    const d1 = chunks.find((c) => c.data.toString("latin1") === "archive/data/1")!.offset - 30;
    // Cut inside the second entry, 17 MiB long: its descriptor is beyond any search.
    const size = d1 + 17 * 1024 * 1024;
    expect(await explained("budget2.bin", { chunks, size })).toEqual({ code: "truncated", problem: generic(size) });
  });

  it("a cut archive whose local header's ZIP64 field is too short for its sizes: refused as truncated, never read past the field", async () => {
    // No end record; one local header whose compressed size is saturated, with a ZIP64 field that
    // holds a single 8-byte value instead of both sizes: there is no compressed size to read.
    const name = Buffer.from("archive/data/0");
    const header = Buffer.alloc(30);
    header.writeUInt32LE(SIG_LOCAL, 0);
    header.writeUInt16LE(45, 4);
    header.writeUInt32LE(0xffffffff, 18);
    header.writeUInt32LE(0xffffffff, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(12, 28);
    const extra = Buffer.alloc(12);
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(8, 2);
    extra.writeBigUInt64LE(1000n, 4);
    const file = Buffer.concat([header, name, extra, Buffer.alloc(20, 7)]);
    const err = await refusal("short-zip64.bin", file);
    expect(err.code).toBe("truncated");
  });
});
