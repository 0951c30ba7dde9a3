// Builders for crafted weight files in tests: a stored-zip writer laid out like torch.save's
// (64-byte aligned data, optional data descriptors and ZIP64), a pickle opcode writer, a torch
// state-dict pickle, safetensors files and git-lfs pointers.
import { crc32Portable } from "../../src/checkpoint/zip.js";

// ---- zip --------------------------------------------------------------------------------------

export interface ZipInput {
  name: string;
  /** The entry's bytes; omit and give `size` for a hole (a sparse region, CRC 0). */
  data?: Uint8Array;
  size?: number;
  /** Zip method written in the headers (the data is stored as given either way). Default 0. */
  method?: number;
  /** Write the local header and data only, leaving the entry out of the central directory. */
  hidden?: boolean;
}

export interface ZipOptions {
  /** Align each entry's data to this many bytes with a padding extra field, as torch does. Default 64. */
  align?: number;
  /** Write sizes in data descriptors after the data (flag bit 3), as torch does. Default true. */
  dataDescriptor?: boolean;
  /** Write ZIP64 records (EOCD64, locator, saturated central fields + extra). Default false. */
  zip64?: boolean;
  /** Archive comment. */
  comment?: string;
}

/** A stored zip as one buffer (holes filled with zeros). */
export function writeStoredZip(inputs: ZipInput[], opts: ZipOptions = {}): Buffer {
  const { chunks, size } = storedZipChunks(inputs, opts);
  const out = Buffer.alloc(size);
  for (const c of chunks) c.data.copy(out, c.offset);
  return out;
}

/** A stored zip as positioned chunks, for writing sparse files whose holes are never written. */
export function storedZipChunks(inputs: ZipInput[], opts: ZipOptions = {}): { chunks: { offset: number; data: Buffer }[]; size: number } {
  const align = opts.align ?? 64;
  const descriptor = opts.dataDescriptor ?? true;
  const zip64 = opts.zip64 ?? false;
  const chunks: { offset: number; data: Buffer }[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    chunks.push({ offset, data: b });
    offset += b.length;
  };
  const central: Buffer[] = [];
  for (const input of inputs) {
    const name = Buffer.from(input.name, "utf8");
    const bytes = input.data ? Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength) : undefined;
    const dataLength = bytes ? bytes.length : input.size ?? 0;
    const data = { length: dataLength };
    const crc = bytes ? crc32Portable(bytes) : 0;
    const method = input.method ?? 0;
    const flags = (descriptor ? 8 : 0) | 0x800;
    const headerOffset = offset;
    // ZIP64 entries carry a ZIP64 field in the local header too (sizes there; 0 with descriptors).
    const local64 = Buffer.alloc(zip64 ? 20 : 0);
    if (zip64) {
      local64.writeUInt16LE(0x0001, 0);
      local64.writeUInt16LE(16, 2);
      local64.writeBigUInt64LE(BigInt(descriptor ? 0 : data.length), 4);
      local64.writeBigUInt64LE(BigInt(descriptor ? 0 : data.length), 12);
    }
    const base = headerOffset + 30 + name.length + local64.length;
    let pad = 0;
    if (align > 1) {
      pad = (align - ((base + 4) % align)) % align;
    }
    const padField = Buffer.alloc(align > 1 ? 4 + pad : 0, 0x5a);
    if (align > 1) {
      padField.writeUInt16LE(0x4246, 0); // "FB", torch's padding id
      padField.writeUInt16LE(pad, 2);
    }
    const extra = Buffer.concat([local64, padField]);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(descriptor ? 0 : crc, 14);
    local.writeUInt32LE(descriptor ? 0 : zip64 ? 0xffffffff : data.length, 18);
    local.writeUInt32LE(descriptor ? 0 : zip64 ? 0xffffffff : data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    push(local);
    push(name);
    push(extra);
    if (bytes) push(bytes);
    else offset += dataLength;
    if (descriptor) {
      const d = Buffer.alloc(zip64 ? 24 : 16);
      d.writeUInt32LE(0x08074b50, 0);
      d.writeUInt32LE(crc, 4);
      if (zip64) {
        d.writeBigUInt64LE(BigInt(data.length), 8);
        d.writeBigUInt64LE(BigInt(data.length), 16);
      } else {
        d.writeUInt32LE(data.length, 8);
        d.writeUInt32LE(data.length, 12);
      }
      push(d);
    }
    const x64 = zip64 ? Buffer.alloc(4 + 24) : Buffer.alloc(0);
    if (zip64) {
      x64.writeUInt16LE(0x0001, 0);
      x64.writeUInt16LE(24, 2);
      x64.writeBigUInt64LE(BigInt(data.length), 4);
      x64.writeBigUInt64LE(BigInt(data.length), 12);
      x64.writeBigUInt64LE(BigInt(headerOffset), 20);
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(zip64 ? 45 : 20, 4);
    c.writeUInt16LE(zip64 ? 45 : 20, 6);
    c.writeUInt16LE(flags, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(zip64 ? 0xffffffff : data.length, 20);
    c.writeUInt32LE(zip64 ? 0xffffffff : data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(x64.length, 30);
    c.writeUInt32LE(zip64 ? 0xffffffff : headerOffset, 42);
    if (!input.hidden) central.push(c, name, x64);
  }
  const listed = inputs.filter((i) => !i.hidden).length;
  const cdOffset = offset;
  for (const b of central) push(b);
  const cdSize = offset - cdOffset;
  if (zip64) {
    const e64Offset = offset;
    const e = Buffer.alloc(56);
    e.writeUInt32LE(0x06064b50, 0);
    e.writeBigUInt64LE(44n, 4);
    e.writeUInt16LE(45, 12);
    e.writeUInt16LE(45, 14);
    e.writeBigUInt64LE(BigInt(listed), 24);
    e.writeBigUInt64LE(BigInt(listed), 32);
    e.writeBigUInt64LE(BigInt(cdSize), 40);
    e.writeBigUInt64LE(BigInt(cdOffset), 48);
    push(e);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(e64Offset), 8);
    loc.writeUInt32LE(1, 16);
    push(loc);
  }
  const comment = Buffer.from(opts.comment ?? "", "utf8");
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : listed, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : listed, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cdSize, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cdOffset, 16);
  eocd.writeUInt16LE(comment.length, 20);
  push(eocd);
  push(comment);
  return { chunks, size: offset };
}

// ---- pickle -----------------------------------------------------------------------------------

/** Appends raw pickle opcodes; each method mirrors one opcode. */
export class PickleWriter {
  private readonly chunks: Buffer[] = [];

  private op(code: number, ...rest: Buffer[]): this {
    this.chunks.push(Buffer.from([code]), ...rest);
    return this;
  }
  private u32(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n, 0);
    return b;
  }
  proto(v = 2) {
    return this.op(0x80, Buffer.from([v]));
  }
  frame(n: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n), 0);
    return this.op(0x95, b);
  }
  global(module: string, name: string) {
    return this.op(0x63, Buffer.from(`${module}\n${name}\n`, "latin1"));
  }
  stackGlobal() {
    return this.op(0x93);
  }
  inst(module: string, name: string) {
    return this.op(0x69, Buffer.from(`${module}\n${name}\n`, "latin1"));
  }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    return this.op(0x58, this.u32(b.length), b);
  }
  shortStr(s: string) {
    const b = Buffer.from(s, "utf8");
    return this.op(0x8c, Buffer.from([b.length]), b);
  }
  int(n: number) {
    if (n >= 0 && n < 256) return this.op(0x4b, Buffer.from([n]));
    if (n >= 0 && n < 65536) {
      const b = Buffer.alloc(2);
      b.writeUInt16LE(n, 0);
      return this.op(0x4d, b);
    }
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n, 0);
      return this.op(0x4a, b);
    }
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n), 0);
    return this.op(0x8a, Buffer.from([8]), b);
  }
  float(x: number) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x, 0);
    return this.op(0x47, b);
  }
  none() {
    return this.op(0x4e);
  }
  bool(v: boolean) {
    return this.op(v ? 0x88 : 0x89);
  }
  mark() {
    return this.op(0x28);
  }
  tuple() {
    return this.op(0x74);
  }
  tuple1() {
    return this.op(0x85);
  }
  tuple2() {
    return this.op(0x86);
  }
  tuple3() {
    return this.op(0x87);
  }
  emptyTuple() {
    return this.op(0x29);
  }
  emptyDict() {
    return this.op(0x7d);
  }
  emptyList() {
    return this.op(0x5d);
  }
  append() {
    return this.op(0x61);
  }
  appends() {
    return this.op(0x65);
  }
  setitem() {
    return this.op(0x73);
  }
  setitems() {
    return this.op(0x75);
  }
  put(i: number) {
    return i < 256 ? this.op(0x71, Buffer.from([i])) : this.op(0x72, this.u32(i));
  }
  get(i: number) {
    return i < 256 ? this.op(0x68, Buffer.from([i])) : this.op(0x6a, this.u32(i));
  }
  memoize() {
    return this.op(0x94);
  }
  reduce() {
    return this.op(0x52);
  }
  build() {
    return this.op(0x62);
  }
  binpersid() {
    return this.op(0x51);
  }
  pop() {
    return this.op(0x30);
  }
  raw(...bytes: number[]) {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }
  stop() {
    return this.op(0x2e);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface CraftedTensor {
  name: string;
  /** e.g. `FloatStorage`. */
  storageType: string;
  key: string;
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride?: number[];
}

function contiguous(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** A data.pkl the way torch.save writes an OrderedDict of tensors (protocol 2, GLOBAL, BINPERSID). */
export function stateDictPickle(tensors: CraftedTensor[]): Buffer {
  const p = new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().reduce().mark();
  for (const t of tensors) {
    p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", t.storageType).str(t.key).str("cpu").int(t.storageNumel).tuple().binpersid();
    p.int(t.offset ?? 0);
    p.mark();
    for (const d of t.shape) p.int(d);
    p.tuple();
    p.mark();
    for (const s of t.stride ?? contiguous(t.shape)) p.int(s);
    p.tuple();
    p.bool(false).global("collections", "OrderedDict").emptyTuple().reduce();
    p.tuple().reduce();
  }
  return p.setitems().stop().bytes();
}

/** A torch.save-style zip: `<archive>/data.pkl`, `<archive>/data/<key>`..., `<archive>/version`. */
export function torchZip(archive: string, pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: ZipOptions = {}): Buffer {
  return writeStoredZip(
    [
      { name: `${archive}/data.pkl`, data: pkl },
      ...Object.entries(storages).map(([k, data]) => ({ name: `${archive}/data/${k}`, data })),
      { name: `${archive}/version`, data: Buffer.from("3\n") },
    ],
    opts,
  );
}

// ---- safetensors ------------------------------------------------------------------------------

export interface SafetensorsInput {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** A safetensors file; `editHeader` may rewrite the header object before it is serialized. */
export function safetensorsFile(
  tensors: SafetensorsInput[],
  metadata?: Record<string, string>,
  editHeader?: (h: Record<string, unknown>) => void,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.length] };
    at += t.data.length;
  }
  editHeader?.(header);
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length), 0);
  return Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}

// ---- git-lfs ----------------------------------------------------------------------------------

export function lfsPointerText(oid: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}
