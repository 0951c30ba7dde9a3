// A read-only ZIP directory reader for torch.save archives: it reads the end-of-central-directory
// record (ZIP64 included), the central directory and each entry's local header with positioned
// reads, never the whole file. Entry data is located, not read.
import { readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import zlib from "node:zlib";

import { WeightsError } from "./weights-error.js";

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;

const EOCD_SIZE = 22;
const EOCD64_LOCATOR_SIZE = 20;
const EOCD64_MIN_SIZE = 56;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
/** A central directory larger than this is not a torch checkpoint (BERT-base: ~20 KB). */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

export interface ZipEntry {
  name: string;
  /** The name as torch's zip reader (miniz) matches it: its bytes with ASCII letters lowercased. */
  key: string;
  /** 0 = stored, 8 = deflate, ... */
  method: number;
  /** General purpose bit flags from the central directory. */
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Absolute offset of the entry's first data byte, from its LOCAL header (30 + name + extra). */
  dataOffset: number;
}

/**
 * Expected data size of an entry whose local header does not carry it (data descriptor), given the
 * entries already located (name -> data offset and size). Only used to explain a truncated file.
 */
export type SizeHint = (name: string, located: ReadonlyMap<string, { dataOffset: number; size: number }>) => number | undefined;

export interface ZipDirectory {
  entries: ZipEntry[];
  /** Offset of the central directory: every entry's data must end before it. */
  centralDirectoryOffset: number;
  zip64: boolean;
}

/** Reads exactly `length` bytes at `position`, or fewer only at end of file. */
export async function readAt(fh: FileHandle, position: number, length: number, into?: Uint8Array): Promise<Buffer> {
  const buf = into ? Buffer.from(into.buffer, into.byteOffset, length) : Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    // fs.read takes at most 2 GiB - 1 per call.
    const chunk = Math.min(length - done, 0x40000000);
    const { bytesRead } = await fh.read(buf, done, chunk, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

// ---- CRC32 ------------------------------------------------------------------------------------

let crcTable: Uint32Array | undefined;

function crc32Table(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/** CRC-32 (ZIP/zlib polynomial), table implementation; used where zlib.crc32 is missing (Node < 20.15). */
export function crc32Portable(data: Uint8Array, seed = 0): number {
  const t = crc32Table();
  let c = ~seed >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data` as ZIP stores it (unsigned). */
export function crc32(data: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(data) >>> 0 : crc32Portable(data);
}

// ---- directory --------------------------------------------------------------------------------

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  // Anything past 2^53 cannot be a real offset or size in a file.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
}

/**
 * How far back from the end of the file torch's zip reader (miniz, mz_zip_reader_locate_header_sig)
 * finds an end-of-central-directory record: it reads 4096-byte blocks backwards, each 3 bytes over
 * the next, and gives up after the block that starts 65,535 + 22 bytes or more before the end: the
 * 17th, which starts 4096 + 16 x 4093 bytes before it.
 */
export const EOCD_SEARCH_BYTES = 4096 + 16 * 4093;

/**
 * The end-of-central-directory record as miniz finds it: the LAST signature, scanning back, that
 * has a whole record (22 bytes) after it. The comment length is not read: whatever follows the
 * record is ignored, and an earlier record (whose comment may hold another directory) never counts.
 */
function findEocd(tail: Buffer, searched: number): number {
  for (let i = tail.length - EOCD_SIZE; i >= tail.length - searched; i--) if (tail.readUInt32LE(i) === SIG_EOCD) return i;
  return -1;
}

/**
 * Reads the central directory of a ZIP file and every entry's local header.
 * `file` is only used in error messages. `sizeHint` (optional) gives the expected data size of an
 * entry by name; it is used only to explain a truncated file whose central directory is gone.
 */
export async function readZipDirectory(
  fh: FileHandle,
  fileSize: number,
  file: string,
  sizeHint?: SizeHint,
): Promise<ZipDirectory> {
  const corrupt = (msg: string) => new WeightsError("corrupt", file, msg);
  const truncated = (msg: string) => new WeightsError("truncated", file, `truncated: ${msg}`);

  if (fileSize < EOCD_SIZE) throw truncated(`the file has only ${fileSize} bytes, too short for a zip archive`);
  // The search window, and the ZIP64 locator right before a record found at its start.
  const tailLen = Math.min(fileSize, EOCD_SEARCH_BYTES + EOCD64_LOCATOR_SIZE);
  const tailStart = fileSize - tailLen;
  const tail = await readAt(fh, tailStart, tailLen);
  const eocdAt = findEocd(tail, Math.min(fileSize, EOCD_SEARCH_BYTES));
  if (eocdAt < 0) {
    throw explainMissingEocd(fh, fileSize, file, sizeHint);
  }
  const eocdPos = tailStart + eocdAt;
  const disk = tail.readUInt16LE(eocdAt + 4);
  const cdDisk = tail.readUInt16LE(eocdAt + 6);
  let count: number = tail.readUInt16LE(eocdAt + 10);
  let cdSize: number = tail.readUInt32LE(eocdAt + 12);
  let cdOffset: number = tail.readUInt32LE(eocdAt + 16);
  let zip64 = false;
  let cdLimit = eocdPos;

  // ZIP64: a locator sits right before the EOCD and points at the ZIP64 EOCD record.
  const locAt = eocdAt - EOCD64_LOCATOR_SIZE;
  if (locAt >= 0 && tail.readUInt32LE(locAt) === SIG_EOCD64_LOCATOR) {
    zip64 = true;
    const eocd64Pos = u64(tail, locAt + 8);
    if (eocd64Pos + EOCD64_MIN_SIZE > eocdPos - EOCD64_LOCATOR_SIZE) {
      throw corrupt(`the ZIP64 end-of-central-directory locator points at byte ${eocd64Pos}, outside the file's directory area`);
    }
    const rec = await readAt(fh, eocd64Pos, EOCD64_MIN_SIZE);
    if (rec.length < EOCD64_MIN_SIZE || rec.readUInt32LE(0) !== SIG_EOCD64) {
      throw corrupt(`no ZIP64 end-of-central-directory record at byte ${eocd64Pos}`);
    }
    // What torch's miniz calls a multi-disk archive and refuses: more than one disk, or entries
    // on "this disk" that are not all of them.
    const disks = tail.readUInt32LE(locAt + 16);
    const onThisDisk = u64(rec, 24);
    if (disks !== 1 || onThisDisk !== u64(rec, 32) || rec.readUInt32LE(16) !== 0 || rec.readUInt32LE(20) !== 0) {
      throw new WeightsError("unsupported", file, `the ZIP64 records describe a multi-part (spanned) archive (${disks} disks, ${onThisDisk} of ${u64(rec, 32)} entries on this one): torch refuses it`);
    }
    count = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
    cdLimit = eocd64Pos;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw corrupt("the end-of-central-directory record needs ZIP64 values but there is no ZIP64 locator");
  }
  if (disk !== 0 || cdDisk !== 0) throw new WeightsError("unsupported", file, "multi-part (spanned) zip archives are not supported");
  if (cdOffset + cdSize > fileSize) {
    throw truncated(`the central directory ends at byte ${cdOffset + cdSize} but the file has ${fileSize} bytes`);
  }
  if (cdOffset + cdSize > cdLimit) {
    throw corrupt(`the central directory (bytes ${cdOffset}..${cdOffset + cdSize}) overlaps the end-of-central-directory record at byte ${cdLimit}`);
  }
  if (cdSize > MAX_CENTRAL_DIRECTORY) {
    throw new WeightsError("unsupported", file, `the central directory is ${cdSize} bytes, more than a torch checkpoint ever needs`);
  }
  if (count * CENTRAL_HEADER_SIZE > cdSize) {
    throw corrupt(`the archive claims ${count} entries but its central directory has only ${cdSize} bytes`);
  }

  const cd = await readAt(fh, cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_SIZE > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) {
      throw corrupt(`central directory entry ${i + 1} of ${count} (byte ${cdOffset + p}) has no valid signature`);
    }
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    let compressedSize: number = cd.readUInt32LE(p + 20);
    let size: number = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const diskStart = cd.readUInt16LE(p + 34);
    let localHeaderOffset: number = cd.readUInt32LE(p + 42);
    const end = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (end > cd.length) throw corrupt(`central directory entry ${i + 1} of ${count} runs past the end of the directory`);
    const name = cd.toString("utf8", p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen);
    // ZIP64 extended information: values present only for fields saturated in the fixed header.
    let x = p + CENTRAL_HEADER_SIZE + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (x + 4 + len > xEnd) throw corrupt(`entry ${name}: malformed extra field in the central directory`);
      if (id === 0x0001) {
        let q = x + 4;
        const take = (): number => {
          if (q + 8 > x + 4 + len) throw corrupt(`entry ${name}: ZIP64 extra field is too short`);
          const v = u64(cd, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      x += 4 + len;
    }
    // As miniz reads an entry's disk: 0xffff, or another disk than this one (0) or 1, is multi-part.
    if (diskStart === 0xffff || (diskStart !== 0 && diskStart !== 1)) {
      throw new WeightsError("unsupported", file, `entry ${name} starts on disk ${diskStart}: multi-part (spanned) zip archives are not supported (torch refuses them)`);
    }
    const key = zipNameKey(cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen));
    entries.push({ name, key, method, flags, crc32: crc, compressedSize, size, localHeaderOffset, dataOffset: -1 });
    p = end;
  }
  refuseDuplicateNames(entries, file);

  // Local headers: the data offset depends on the LOCAL extra field (torch pads it to align data
  // to 64 bytes), which differs from the central one. These are a few dozen bytes each, one per
  // entry scattered through the file: synchronous positioned reads cost a few microseconds each
  // where a threadpool round trip per header would dominate the time to index the file.
  const scratch = Buffer.allocUnsafe(LOCAL_HEADER_SIZE + 0xffff);
  for (const e of entries) resolveLocalHeader(fh, e, fileSize, cdOffset, file, scratch);
  refuseGapsAndOverlaps(entries, cdOffset, file);
  return { entries, centralDirectoryOffset: cdOffset, zip64 };
}

/** The name as miniz (torch's zip reader) compares names: bytes, ASCII letters folded to lowercase. */
export function zipNameKey(name: Uint8Array | string): string {
  const b = typeof name === "string" ? Buffer.from(name, "utf8") : Buffer.from(name.buffer, name.byteOffset, name.byteLength);
  // latin1: one character per byte, so only the bytes A-Z are folded.
  return b.toString("latin1").replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Two entries with one name: torch reads one copy (the first), a reader that keeps the last indexes
 * the other, so what is checked is not what users load. miniz matches names ignoring ASCII case,
 * so `data/0` and `DATA/0` are the same record to torch.
 */
function refuseDuplicateNames(entries: readonly ZipEntry[], file: string): void {
  const seen = new Map<string, ZipEntry>();
  for (const e of entries) {
    const prev = seen.get(e.key);
    if (prev) {
      const same = prev.name === e.name ? `two entries named ${e.name}` : `entries ${prev.name} and ${e.name}, one record to torch (it matches names ignoring case)`;
      throw new WeightsError(
        "corrupt",
        file,
        `the zip archive holds ${same} (local headers at bytes ${prev.localHeaderOffset} and ${e.localHeaderOffset}): torch reads the first, other tools the last, so the weights users get are ambiguous`,
      );
    }
    seen.set(e.key, e);
  }
}

/** Bytes a data descriptor may take after an entry's data: CRC and sizes, 32- or 64-bit, with or without signature. */
const DESCRIPTOR_LENGTHS = [12, 16, 20, 24];

/**
 * Every byte before the central directory belongs to exactly one entry (local header, data, data
 * descriptor), as every zip writer lays them out. A gap could hide a local header the central
 * directory does not list (another copy of an entry); an overlap makes two entries share bytes.
 */
function refuseGapsAndOverlaps(entries: readonly ZipEntry[], cdOffset: number, file: string): void {
  const order = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  let at = 0;
  let prev: ZipEntry | undefined;
  for (const e of order) {
    const gap = e.localHeaderOffset - at;
    const descriptorOk = prev !== undefined && (prev.flags & 8) !== 0 && DESCRIPTOR_LENGTHS.includes(gap);
    if (gap !== 0 && !descriptorOk) {
      const after = prev ? `after entry ${prev.name}` : "at the start of the file";
      const problem = gap < 0 ? `entry ${e.name}'s local header (byte ${e.localHeaderOffset}) lies inside the bytes of entry ${prev?.name}, which end at byte ${at}` : `${gap} bytes ${after} (bytes ${at}..${e.localHeaderOffset}) belong to no entry the central directory lists`;
      throw new WeightsError("corrupt", file, `the zip archive's entries do not tile the file: ${problem}`);
    }
    at = e.dataOffset + e.compressedSize;
    prev = e;
  }
  const tail = cdOffset - at;
  if (tail !== 0 && !(prev && (prev.flags & 8) !== 0 && DESCRIPTOR_LENGTHS.includes(tail))) {
    throw new WeightsError("corrupt", file, `the zip archive's entries do not tile the file: ${tail} bytes before the central directory (bytes ${at}..${cdOffset}) belong to no entry it lists`);
  }
}

function resolveLocalHeader(fh: FileHandle, e: ZipEntry, fileSize: number, cdOffset: number, file: string, scratch: Buffer): void {
  const nameBytes = e.key.length;
  if (e.localHeaderOffset + LOCAL_HEADER_SIZE > cdOffset) {
    throw new WeightsError("corrupt", file, `entry ${e.name}: its local header offset ${e.localHeaderOffset} is past the start of the central directory (byte ${cdOffset})`);
  }
  const want = LOCAL_HEADER_SIZE + nameBytes;
  const got = readSync(fh.fd, scratch, 0, want, e.localHeaderOffset);
  const h = scratch.subarray(0, got);
  if (h.length < LOCAL_HEADER_SIZE || h.readUInt32LE(0) !== SIG_LOCAL) {
    throw new WeightsError("corrupt", file, `entry ${e.name}: no local file header at byte ${e.localHeaderOffset}`);
  }
  const nameLen = h.readUInt16LE(26);
  const extraLen = h.readUInt16LE(28);
  if (nameLen !== nameBytes || h.toString("utf8", LOCAL_HEADER_SIZE, LOCAL_HEADER_SIZE + nameLen) !== e.name) {
    throw new WeightsError("corrupt", file, `entry ${e.name}: the local header at byte ${e.localHeaderOffset} names a different file`);
  }
  e.dataOffset = e.localHeaderOffset + LOCAL_HEADER_SIZE + nameLen + extraLen;
  const end = e.dataOffset + e.compressedSize;
  if (end > fileSize) {
    throw new WeightsError("truncated", file, `truncated: entry ${e.name} ends at byte ${end} but the file has ${fileSize} bytes`);
  }
  if (end > cdOffset) {
    throw new WeightsError("corrupt", file, `entry ${e.name} (bytes ${e.dataOffset}..${end}) overlaps the central directory at byte ${cdOffset}`);
  }
}

/** Bytes the truncation explainer may read and search in all: it explains, it must never dominate. */
const EXPLAIN_BUDGET = 64 * 1024 * 1024;
/** How far after an entry's data start the explainer looks for its data descriptor. */
const DESCRIPTOR_SEARCH = 16 * 1024 * 1024;
/** Read-ahead for the headers: small, since big entries are skipped over, not read. */
const WINDOW = 16 * 1024;

/**
 * Sequential reads through a cached window, counted against a budget: walking many tiny local
 * headers costs one read per window, not one per header. Synchronous, like the local-header reads
 * above: a walk over 200,000 headers must not pay a threadpool round trip for each.
 */
class WindowReader {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  /** Bytes read or searched so far. */
  spent = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly fileSize: number,
  ) {}

  get exhausted(): boolean {
    return this.spent > EXPLAIN_BUDGET;
  }

  /** Up to `len` bytes at `pos` (fewer at end of file). */
  bytes(pos: number, len: number): Buffer {
    const want = Math.max(0, Math.min(len, this.fileSize - pos));
    if (pos >= this.start && pos + want <= this.start + this.buf.length) return this.buf.subarray(pos - this.start, pos - this.start + want);
    const size = Math.max(0, Math.min(Math.max(want, WINDOW), this.fileSize - pos));
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(this.fh.fd, buf, got, size - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    this.buf = buf.subarray(0, got);
    this.start = pos;
    this.spent += this.buf.length;
    return this.buf.subarray(0, Math.min(want, this.buf.length));
  }
}

/**
 * No end-of-central-directory record: the file was most likely cut short. Walk the local headers
 * from the start to say where it ends. torch writes sizes in data descriptors after each entry
 * (flag bit 3), so an entry's size comes from the local header, `sizeHint`, or a search for its
 * data descriptor. The walk reads and searches at most EXPLAIN_BUDGET bytes in all.
 */
function explainMissingEocd(
  fh: FileHandle,
  fileSize: number,
  file: string,
  sizeHint?: SizeHint,
): WeightsError {
  const generic = new WeightsError(
    "truncated",
    file,
    `truncated: no zip end-of-central-directory record in the last ${Math.min(fileSize, EOCD_SEARCH_BYTES)} bytes of the file (${fileSize} bytes), where torch looks for it; the download or copy was probably cut short`,
  );
  const r = new WindowReader(fh, fileSize);
  const head = r.bytes(0, 4);
  if (head.length < 4 || head.readUInt32LE(0) !== SIG_LOCAL) {
    return new WeightsError("corrupt", file, "not a zip archive: no local file header at byte 0 and no end-of-central-directory record");
  }
  let p = 0;
  let last = "";
  const located = new Map<string, { dataOffset: number; size: number }>();
  while (!r.exhausted) {
    if (p + 4 > fileSize) {
      return new WeightsError("truncated", file, `truncated: the file ends at byte ${fileSize}${last ? `, right after entry ${last}` : ""}, before the central directory`);
    }
    const sig = (r.bytes(p, 4)).readUInt32LE(0);
    if (sig === SIG_CENTRAL) {
      const recordAt = endRecordAfterDirectory(r, p);
      if (recordAt !== undefined) {
        // The archive is whole, but more bytes follow its end record than torch searches back over.
        return new WeightsError(
          "corrupt",
          file,
          `the zip end-of-central-directory record at byte ${recordAt} is followed by ${fileSize - recordAt - EOCD_SIZE} bytes: torch looks for it only in the last ${EOCD_SEARCH_BYTES} bytes of the file and cannot load it; remove what was appended after byte ${recordAt + EOCD_SIZE}`,
        );
      }
      return new WeightsError(
        "truncated",
        file,
        `truncated: the central directory starting at byte ${p} is cut off at byte ${fileSize} (no end-of-central-directory record)`,
      );
    }
    if (sig !== SIG_LOCAL) return generic;
    if (p + LOCAL_HEADER_SIZE > fileSize) {
      return new WeightsError("truncated", file, `truncated: the file ends at byte ${fileSize}, inside the local header at byte ${p}`);
    }
    const h = Buffer.from(r.bytes(p, LOCAL_HEADER_SIZE));
    const flags = h.readUInt16LE(6);
    let size: number = h.readUInt32LE(18);
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const ne = Buffer.from(r.bytes(p + LOCAL_HEADER_SIZE, nameLen + extraLen));
    const name = ne.toString("utf8", 0, Math.min(nameLen, ne.length));
    const dataStart = p + LOCAL_HEADER_SIZE + nameLen + extraLen;
    if (dataStart > fileSize) {
      return new WeightsError("truncated", file, `truncated: entry ${name}'s header ends at byte ${dataStart} but the file has ${fileSize} bytes`);
    }
    let zip64 = false;
    for (let x = nameLen; x + 4 <= ne.length; ) {
      const id = ne.readUInt16LE(x);
      const len = ne.readUInt16LE(x + 2);
      if (id === 0x0001) {
        zip64 = true;
        // A local header's ZIP64 field holds both sizes (uncompressed, then compressed); a shorter one is not read past.
        if (size === 0xffffffff && len >= 16 && x + 4 + 16 <= ne.length) size = u64(ne, x + 4 + 8);
      }
      x += 4 + len;
    }
    const descriptor = (flags & 8) !== 0;
    let len: number | undefined = descriptor ? sizeHint?.(name, located) : size;
    if (len === undefined) len = findDescriptor(r, dataStart, zip64);
    if (len === undefined) {
      if (r.exhausted) break;
      // Cannot size it: the data runs to the end of what we have.
      return new WeightsError("truncated", file, `truncated: the file ends at byte ${fileSize}, inside entry ${name} (data from byte ${dataStart})`);
    }
    const end = dataStart + len;
    if (end > fileSize) {
      return new WeightsError("truncated", file, `truncated: entry ${name} ends at byte ${end} but the file has ${fileSize} bytes`);
    }
    located.set(name, { dataOffset: dataStart, size: len });
    p = end;
    if (descriptor) {
      // Descriptor: optional signature, CRC, then 32-bit sizes, or 64-bit ones when the local
      // header has a ZIP64 field. Prefer the layout after which the next header signature follows.
      const d = Buffer.from(r.bytes(p, 28));
      const withSig = d.length >= 4 && d.readUInt32LE(0) === SIG_DESCRIPTOR ? 4 : 0;
      const layouts = zip64 ? [20, 12] : [12, 20];
      const isHeader = (at: number) =>
        at + 4 <= d.length && (d.readUInt32LE(at) === SIG_LOCAL || d.readUInt32LE(at) === SIG_CENTRAL);
      p += withSig + (layouts.find((n) => isHeader(withSig + n)) ?? layouts[0]!);
    }
    last = name;
  }
  return generic;
}

/**
 * Where the classic end record after the central directory starting at `p` (and its ZIP64 records)
 * begins, walking the directory's headers; undefined when the file is cut off before its end.
 */
function endRecordAfterDirectory(r: WindowReader, p: number): number | undefined {
  while (!r.exhausted) {
    const h = Buffer.from(r.bytes(p, CENTRAL_HEADER_SIZE));
    r.spent += h.length;
    if (h.length < 4) return undefined;
    const sig = h.readUInt32LE(0);
    if (sig === SIG_EOCD) return p + EOCD_SIZE <= r.fileSize ? p : undefined;
    if (sig === SIG_EOCD64_LOCATOR) p += EOCD64_LOCATOR_SIZE;
    else if (sig === SIG_EOCD64 && h.length >= 12) p += 12 + u64(h, 4);
    else if (sig === SIG_CENTRAL && h.length === CENTRAL_HEADER_SIZE) p += CENTRAL_HEADER_SIZE + h.readUInt16LE(28) + h.readUInt16LE(30) + h.readUInt16LE(32);
    else return undefined;
  }
  return undefined;
}

/**
 * Searches up to 16 MiB after `dataStart` for a data descriptor whose size field matches its
 * position, in growing steps, so a descriptor right after the data costs a few bytes of search.
 */
function findDescriptor(r: WindowReader, dataStart: number, zip64: boolean): number | undefined {
  const limit = Math.min(r.fileSize - dataStart, DESCRIPTOR_SEARCH);
  const sig = Buffer.from([0x50, 0x4b, 0x07, 0x08]);
  let from = 0;
  for (let step = 4096; from < limit && !r.exhausted; step *= 4) {
    const buf = r.bytes(dataStart, Math.min(step, limit));
    for (let i = buf.indexOf(sig, from); i >= 0; i = buf.indexOf(sig, i + 1)) {
      const sizeAt = i + 8;
      if (zip64 ? sizeAt + 8 > buf.length : sizeAt + 4 > buf.length) break;
      if (zip64 ? u64(buf, sizeAt) === i : buf.readUInt32LE(sizeAt) === i) {
        r.spent += i - from;
        return i;
      }
    }
    // Re-search the last few bytes next time: a descriptor may straddle this step's end.
    const next = Math.max(from, buf.length - 15);
    r.spent += next - from;
    from = next;
    if (buf.length >= limit) break;
  }
  return undefined;
}
