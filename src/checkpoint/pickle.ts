// A restricted pickle reader for torch.save's data.pkl. It never imports or calls anything: the
// only globals it accepts are the few a state dict needs (OrderedDict, the tensor/parameter rebuild
// functions, the typed storage classes, dtype objects), and it "calls" them by building plain data.
// Any other import is reported by its dotted name as unsafe before anything else happens.
//
// It reads what both loaders users run read: torch 1.13's torch.load (Python's own unpickler) and
// torch >= 2.6's weights-only unpickler (torch/_weights_only_unpickler.py), which knows fewer
// opcodes and globals. A pickle that uses anything the weights-only unpickler refuses is refused
// once it has been read through (an unsafe import is still reported as such); storages follow
// torch.serialization's persistent_load: the first reference to a key makes the storage, later ones
// get it as it is.
import type { DType } from "./types.js";
import { WeightsError } from "./weights-error.js";

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export type PyKey = string | number | boolean | null;

export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  constructor(
    /** True for collections.OrderedDict. */
    readonly ordered: boolean,
  ) {}
}

/** An allowed global, not yet "called". */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get dotted(): string {
    return `${this.module}.${this.name}`;
  }
}

export class PyStorage {
  constructor(
    /** The archive key: the entry is `<archive>/data/<key>`. */
    readonly key: string,
    readonly dtype: DType,
    readonly location: string,
    /** Elements of `dtype` declared by the persistent id. */
    readonly numel: number,
  ) {}
}

export class PyTensor {
  constructor(
    readonly storage: PyStorage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
    /** Saved as torch.nn.Parameter (via _rebuild_parameter). */
    readonly parameter: boolean,
  ) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | PyStorage
  | PyTensor;

/** torch.<Name>Storage → element type. */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  DoubleStorage: "float64",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

/**
 * torch.<dtype> globals (dtype objects pickle as globals), by the names the weights-only unpickler
 * allows: str(dtype), never an alias (torch.half, torch.long...), which only torch 1.13 resolves.
 */
const TORCH_DTYPES: Readonly<Record<string, DType>> = {
  float32: "float32",
  float16: "float16",
  bfloat16: "bfloat16",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  int16: "int16",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};
/** dtype aliases torch 1.13 resolves by name and the weights-only unpickler does not allow: alias -> str(dtype). */
const DTYPE_ALIASES: Readonly<Record<string, string>> = { float: "float32", half: "float16", double: "float64", long: "int64", int: "int32", short: "int16" };

const REBUILD_TENSOR = "torch._utils._rebuild_tensor_v2";
const REBUILD_PARAMETER = "torch._utils._rebuild_parameter";
const ORDERED_DICT = "collections.OrderedDict";

function isAllowedGlobal(module: string, name: string): boolean {
  const dotted = `${module}.${name}`;
  if (dotted === ORDERED_DICT || dotted === REBUILD_TENSOR || dotted === REBUILD_PARAMETER) return true;
  return module === "torch" && (Object.hasOwn(STORAGE_DTYPES, name) || Object.hasOwn(TORCH_DTYPES, name));
}

/** A stack marker; never escapes the reader. */
const MARK = Symbol("mark");
type Slot = PyValue | typeof MARK;

export interface UnpickleOptions {
  /** The weights file, for messages. */
  file: string;
}

/** Every pickle opcode Python knows: name and the protocol that introduced it, so a refusal can say which one it met. */
const OPNAMES: Readonly<Record<number, readonly [string, number]>> = {
  0x28: ["MARK", 0], 0x2e: ["STOP", 0], 0x30: ["POP", 0], 0x31: ["POP_MARK", 1], 0x32: ["DUP", 0],
  0x46: ["FLOAT", 0], 0x49: ["INT", 0], 0x4a: ["BININT", 1], 0x4b: ["BININT1", 1], 0x4c: ["LONG", 0],
  0x4d: ["BININT2", 1], 0x4e: ["NONE", 0], 0x50: ["PERSID", 0], 0x51: ["BINPERSID", 1], 0x52: ["REDUCE", 0],
  0x53: ["STRING", 0], 0x54: ["BINSTRING", 1], 0x55: ["SHORT_BINSTRING", 1], 0x56: ["UNICODE", 0],
  0x58: ["BINUNICODE", 1], 0x61: ["APPEND", 0], 0x62: ["BUILD", 0], 0x63: ["GLOBAL", 0], 0x64: ["DICT", 0],
  0x7d: ["EMPTY_DICT", 1], 0x65: ["APPENDS", 1], 0x67: ["GET", 0], 0x68: ["BINGET", 1], 0x69: ["INST", 0],
  0x6a: ["LONG_BINGET", 1], 0x6c: ["LIST", 0], 0x5d: ["EMPTY_LIST", 1], 0x6f: ["OBJ", 1], 0x70: ["PUT", 0],
  0x71: ["BINPUT", 1], 0x72: ["LONG_BINPUT", 1], 0x73: ["SETITEM", 0], 0x74: ["TUPLE", 0], 0x29: ["EMPTY_TUPLE", 1],
  0x75: ["SETITEMS", 1], 0x47: ["BINFLOAT", 1], 0x80: ["PROTO", 2], 0x81: ["NEWOBJ", 2], 0x82: ["EXT1", 2],
  0x83: ["EXT2", 2], 0x84: ["EXT4", 2], 0x85: ["TUPLE1", 2], 0x86: ["TUPLE2", 2], 0x87: ["TUPLE3", 2],
  0x88: ["NEWTRUE", 2], 0x89: ["NEWFALSE", 2], 0x8a: ["LONG1", 2], 0x8b: ["LONG4", 2], 0x42: ["BINBYTES", 3],
  0x43: ["SHORT_BINBYTES", 3], 0x8c: ["SHORT_BINUNICODE", 4], 0x8d: ["BINUNICODE8", 4], 0x8e: ["BINBYTES8", 4],
  0x8f: ["EMPTY_SET", 4], 0x90: ["ADDITEMS", 4], 0x91: ["FROZENSET", 4], 0x92: ["NEWOBJ_EX", 4],
  0x93: ["STACK_GLOBAL", 4], 0x94: ["MEMOIZE", 4], 0x95: ["FRAME", 4], 0x96: ["BYTEARRAY8", 5],
  0x97: ["NEXT_BUFFER", 5], 0x98: ["READONLY_BUFFER", 5],
};

/** The opcodes torch >= 2.6's weights-only unpickler executes (Unpickler.load); it stops at any other ("Unsupported operand"). */
export const WEIGHTS_ONLY_OPCODES: ReadonlySet<number> = new Set([
  0x61, 0x65, 0x47, 0x68, 0x4a, 0x4b, 0x4d, 0x51, 0x71, 0x58, 0x62, 0x7d, 0x5d, 0x8f, 0x29, 0x63, 0x8a, 0x6a,
  0x72, 0x28, 0x89, 0x81, 0x88, 0x4e, 0x80, 0x52, 0x73, 0x75, 0x55, 0x2e, 0x74, 0x85, 0x86, 0x87,
]);

/** "0x95 (protocol 4 FRAME)". */
export function describeOpcode(op: number): string {
  const known = OPNAMES[op];
  return `0x${op.toString(16).padStart(2, "0")}${known ? ` (protocol ${known[1]} ${known[0]})` : ""}`;
}

/** What to do about a pickle torch >= 2.6 refuses. */
const RESAVE = "re-save with torch.save(..., pickle_protocol=2) or publish model.safetensors only";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 as Python decodes BINUNICODE ("utf-8", "surrogatepass"): strict, except that encoded
 * surrogates (0xED 0xA0..0xBF 0x80..0xBF) become lone UTF-16 surrogates. undefined on any other
 * invalid byte.
 */
function decodeSurrogatePass(b: Uint8Array): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    // Split at each encoded surrogate; the pieces between must be strict UTF-8.
    let out = "";
    let from = 0;
    for (let i = 0; i + 2 < b.length; i++) {
      if (b[i] !== 0xed || b[i + 1]! < 0xa0 || b[i + 1]! > 0xbf || b[i + 2]! < 0x80 || b[i + 2]! > 0xbf) continue;
      try {
        out += utf8.decode(b.subarray(from, i));
      } catch {
        return undefined;
      }
      out += String.fromCharCode(0xd000 | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f));
      i += 2;
      from = i + 1;
    }
    try {
      return out + utf8.decode(b.subarray(from));
    } catch {
      return undefined;
    }
  }
}

/**
 * The pickle machine's state: the input and its position, the stack with its marks, and the memo,
 * with the reads and stack operations every opcode is made of.
 */
class Machine {
  pos = 0;
  readonly stack: Slot[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, PyValue>();
  /** Storages by key, as torch's persistent_load caches them (loaded_storages): made by the first reference. */
  readonly storages = new Map<string, PyStorage>();
  /** The first opcode read that torch >= 2.6's weights-only unpickler refuses, and where. */
  refusedByWeightsOnly: { op: number; at: number } | undefined;
  private readonly view: DataView;

  constructor(
    readonly data: Uint8Array,
    readonly file: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  corrupt(msg: string): WeightsError {
    return new WeightsError("corrupt", this.file, `data.pkl is malformed: ${msg}`);
  }

  unsupported(msg: string): WeightsError {
    return new WeightsError("unsupported", this.file, msg);
  }

  // -- reading the stream

  /** Claims the next `n` bytes; returns where they start. */
  need(n: number): number {
    // A negative length (BINSTRING's is signed) would step back and read the same opcode forever; Python refuses it.
    if (n < 0) throw this.corrupt(`a negative byte count (${n}) at byte ${this.pos}`);
    if (this.pos + n > this.data.length) throw this.corrupt(`unexpected end of the pickle at byte ${this.data.length}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.data[this.need(1)]!;
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.corrupt("a length field is absurdly large");
    return Number(v);
  }
  f64be(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.subarray(at, at + n);
  }
  text(n: number): string {
    const b = this.bytes(n);
    try {
      return utf8.decode(b);
    } catch {
      throw this.corrupt(`invalid UTF-8 in a string at byte ${this.pos - n}`);
    }
  }
  /** BINUNICODE's text: surrogates pass, as Python's unpickler and torch's weights-only one read it. */
  unicode(n: number): string {
    const at = this.pos;
    const s = decodeSurrogatePass(this.bytes(n));
    if (s === undefined) throw this.corrupt(`invalid UTF-8 in a string at byte ${at}`);
    return s;
  }
  line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) throw this.corrupt("unterminated text line");
    const at = this.pos;
    this.pos = end + 1;
    try {
      // GLOBAL's module and name, as both unpicklers decode them.
      return utf8.decode(this.data.subarray(at, end));
    } catch {
      throw this.corrupt(`invalid UTF-8 in a text line at byte ${at}`);
    }
  }

  // -- the stack

  push(v: Slot): void {
    this.stack.push(v);
  }
  pop(): PyValue {
    const v = this.stack.pop();
    if (v === undefined) throw this.corrupt(`stack underflow at byte ${this.pos - 1}`);
    if (v === MARK) throw this.corrupt(`unexpected MARK at byte ${this.pos - 1}`);
    return v;
  }
  top(): PyValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) throw this.corrupt(`stack underflow at byte ${this.pos - 1}`);
    return v;
  }
  mark(): void {
    this.marks.push(this.stack.length);
    this.stack.push(MARK);
  }
  /** The values above the last MARK, removed with it. */
  popMark(): PyValue[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.corrupt(`no MARK for the opcode at byte ${this.pos - 1}`);
    const items = this.stack.splice(m);
    items.shift(); // the MARK itself
    return items as PyValue[];
  }

  // -- the memo

  put(i: number): void {
    this.memo.set(i, this.top());
  }
  get(i: number): PyValue {
    if (!this.memo.has(i)) throw this.corrupt(`memo key ${i} read before it was written`);
    return this.memo.get(i)!;
  }

  // -- values

  /** A little-endian two's-complement integer (LONG1/LONG4). */
  signedLE(b: Uint8Array): number {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw this.unsupported("the pickle holds an integer too large for this reader");
    return Number(v);
  }
  intOf(v: PyValue, what: string): number {
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw this.unsupported(`${what} is not an integer`);
    return v;
  }
  intTuple(v: PyValue, what: string): number[] {
    if (!(v instanceof PyTuple)) throw this.unsupported(`${what} is not a tuple`);
    return v.items.map((x) => this.intOf(x, what));
  }
  setItems(target: PyValue, kvs: PyValue[]): void {
    if (!(target instanceof PyDict)) throw this.unsupported("the pickle sets items on something that is not a dict");
    if (kvs.length % 2) throw this.corrupt("SETITEMS with an odd number of values");
    for (let i = 0; i < kvs.length; i += 2) {
      const k = kvs[i]!;
      if (!(k === null || typeof k === "string" || typeof k === "number" || typeof k === "boolean")) {
        throw this.unsupported("the pickle holds a dict whose keys are not strings or numbers");
      }
      target.map.set(k, kvs[i + 1]!);
    }
  }
  appendTo(list: PyValue, items: PyValue[]): void {
    if (!Array.isArray(list)) throw this.unsupported("the pickle appends to something that is not a list");
    for (const v of items) list.push(v);
  }
}

// ---- imports, calls and persistent ids: the only places a pickle could reach code -----------------

/** An allowed global as plain data; anything else is refused by name before it could be used. */
function importGlobal(m: Machine, module: string, name: string): PyGlobal {
  if (module === "torch" && Object.hasOwn(DTYPE_ALIASES, name)) {
    throw m.unsupported(`torch >= 2.6 cannot load this file: the pickle imports torch.${name}, a dtype alias its weights-only unpickler does not allow (only torch.${DTYPE_ALIASES[name]}): ${RESAVE}`);
  }
  if (!isAllowedGlobal(module, name)) {
    throw new WeightsError("unsafe-pickle", m.file, `pickle imports ${module}.${name}, which is not a tensor type`);
  }
  return new PyGlobal(module, name);
}

/**
 * Where torch.load without map_location can put a storage: restore_location's registry knows
 * "cpu" (exactly), "cuda" and "cuda:N", and (torch 1.13 and later) "mps". Any other tag ("tpu:7",
 * "cpu:0", "xpu:0", which torch 1.13 has no restorer for) fails on every machine, and "meta" gives
 * tensors without their values.
 */
const RESTORABLE_LOCATION = /^(cpu|cuda(:\d+)?|mps(:0)?)$/;

/**
 * torch's persistent id ('storage', type, key, location, numel) → the storage it names, as
 * torch.serialization's persistent_load resolves it: the first reference to a key loads the
 * storage with its type, element count and location; a later reference gets that storage, whatever
 * it declares (a storage of 0 bytes is not kept, so each reference to it loads its own).
 */
function persistentLoad(m: Machine, pid: PyValue): PyStorage {
  const items = pid instanceof PyTuple ? pid.items : undefined;
  if (!items || items[0] !== "storage" || items.length !== 5) {
    throw m.unsupported("the pickle holds a persistent id that is not a torch storage ('storage', type, key, location, numel)");
  }
  const [, type, key, location, numel] = items;
  if (!(type instanceof PyGlobal) || type.module !== "torch" || !Object.hasOwn(STORAGE_DTYPES, type.name)) {
    const what = type instanceof PyGlobal ? type.dotted : typeof type;
    throw m.unsupported(`the pickle holds a storage of type ${what}, which is not a supported torch storage type`);
  }
  if (typeof key !== "string" || !/^[A-Za-z0-9_.-]+$/.test(key)) throw m.corrupt("a storage key is not a plain name");
  const loaded = m.storages.get(key);
  if (loaded) return loaded;
  if (typeof location !== "string") throw m.corrupt(`storage ${key} has no location string`);
  if (!RESTORABLE_LOCATION.test(location)) {
    const why = location === "meta" ? "gives tensors on the meta device, without their values" : "cannot restore it on any machine (\"don't know how to restore data location\")";
    throw m.unsupported(`storage ${key} is tagged with the device ${JSON.stringify(location)}: torch.load without map_location ${why}; re-save the state dict from CPU tensors`);
  }
  const n = m.intOf(numel ?? null, `the element count of storage ${key}`);
  if (n < 0) throw m.corrupt(`storage ${key} has a negative element count`);
  const storage = new PyStorage(key, STORAGE_DTYPES[type.name]!, location, n);
  if (n > 0) m.storages.set(key, storage);
  return storage;
}

/** REDUCE: "calls" an allowed global by building the plain data it would return. Nothing runs. */
function reduce(m: Machine, fn: PyValue, args: PyValue): PyValue {
  if (!(fn instanceof PyGlobal)) throw m.unsupported("the pickle calls something that is not an imported global");
  if (!(args instanceof PyTuple)) throw m.corrupt("REDUCE arguments are not a tuple");
  const a = args.items;
  switch (fn.dotted) {
    case ORDERED_DICT: {
      const d = new PyDict(true);
      if (a.length === 1 && Array.isArray(a[0])) {
        for (const kv of a[0]) {
          if (!(kv instanceof PyTuple) || kv.items.length !== 2) throw m.unsupported("OrderedDict built from something other than pairs");
          m.setItems(d, kv.items);
        }
      } else if (a.length !== 0) throw m.unsupported("OrderedDict built with unexpected arguments");
      return d;
    }
    case REBUILD_TENSOR: {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.length < 6 || a.length > 7) throw m.unsupported(`${REBUILD_TENSOR} called with ${a.length} arguments`);
      const storage = a[0];
      if (!(storage instanceof PyStorage)) throw m.unsupported("a tensor is rebuilt from something that is not a storage");
      const shape = m.intTuple(a[2]!, "a tensor's size");
      const stride = m.intTuple(a[3]!, "a tensor's stride");
      if (shape.length !== stride.length) throw m.corrupt("a tensor's size and stride have different lengths");
      return new PyTensor(storage, m.intOf(a[1]!, "a tensor's storage offset"), shape, stride, a[4] === true, false);
    }
    case REBUILD_PARAMETER: {
      // (data, requires_grad, backward_hooks)
      const t = a[0];
      if (!(t instanceof PyTensor) || a.length !== 3) throw m.unsupported(`${REBUILD_PARAMETER} called with unexpected arguments`);
      return new PyTensor(t.storage, t.storageOffset, t.shape, t.stride, a[1] === true, true);
    }
    default:
      throw m.unsupported(`the pickle calls ${fn.dotted}, which a state dict never does`);
  }
}

// ---- the opcode table ---------------------------------------------------------------------------

type Opcode = (m: Machine, op: number) => void;

const STOP = 0x2e;

/** Every opcode torch.save writes (protocols 2 to 5), and nothing else. */
const OPCODES: Readonly<Record<number, Opcode>> = {
  // framing and protocol
  0x80: (m) => {
    // PROTO
    if (m.u8() > 5) throw m.unsupported("the pickle uses a protocol newer than 5");
  },
  0x95: (m) => {
    // FRAME: framing only, the payload follows inline; one that runs past the data is refused, as Python's unpickler does ("pickle data was truncated").
    const n = m.u64();
    if (m.pos + n > m.data.length) throw m.corrupt(`a frame of ${n} bytes at byte ${m.pos - 9} runs past the end of the pickle (${m.data.length} bytes): truncated`);
  },

  // the stack
  0x28: (m) => m.mark(), // MARK
  0x30: (m) => void (m.stack[m.stack.length - 1] === MARK ? m.popMark() : m.pop()), // POP
  0x31: (m) => void m.popMark(), // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP

  // constants and numbers
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.i32()), // BININT
  0x4b: (m) => m.push(m.u8()), // BININT1
  0x4d: (m) => m.push(m.u16()), // BININT2
  0x8a: (m) => m.push(m.signedLE(m.bytes(m.u8()))), // LONG1
  0x8b: (m) => {
    // LONG4
    const n = m.u32();
    if (n > 16) throw m.unsupported("the pickle holds an integer too large for this reader");
    m.push(m.signedLE(m.bytes(n)));
  },
  0x47: (m) => m.push(m.f64be()), // BINFLOAT (big-endian double)

  // strings and bytes
  0x58: (m) => m.push(m.unicode(m.u32())), // BINUNICODE
  0x8c: (m) => m.push(m.text(m.u8())), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.text(m.u64())), // BINUNICODE8
  // py2 str, decoded as torch.load asks (encoding="utf-8", strict)
  0x54: (m) => m.push(m.text(m.i32())), // BINSTRING
  0x55: (m) => m.push(m.text(m.u8())), // SHORT_BINSTRING
  0x42: (m) => m.push(m.bytes(m.u32()).slice()), // BINBYTES
  0x43: (m) => m.push(m.bytes(m.u8()).slice()), // SHORT_BINBYTES
  0x8e: (m) => m.push(m.bytes(m.u64()).slice()), // BINBYTES8

  // containers
  0x7d: (m) => m.push(new PyDict(false)), // EMPTY_DICT
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x29: (m) => m.push(new PyTuple([])), // EMPTY_TUPLE
  0x74: (m) => m.push(new PyTuple(m.popMark())), // TUPLE
  0x85: (m) => m.push(new PyTuple([m.pop()])), // TUPLE1
  0x86: (m) => {
    // TUPLE2
    const b = m.pop();
    m.push(new PyTuple([m.pop(), b]));
  },
  0x87: (m) => {
    // TUPLE3
    const c = m.pop();
    const b = m.pop();
    m.push(new PyTuple([m.pop(), b, c]));
  },
  0x6c: (m) => m.push(m.popMark()), // LIST
  0x64: (m) => {
    // DICT
    const d = new PyDict(false);
    m.setItems(d, m.popMark());
    m.push(d);
  },
  0x61: (m) => {
    // APPEND
    const v = m.pop();
    m.appendTo(m.top(), [v]);
  },
  0x65: (m) => {
    // APPENDS
    const items = m.popMark();
    m.appendTo(m.top(), items);
  },
  0x73: (m) => {
    // SETITEM
    const v = m.pop();
    const k = m.pop();
    m.setItems(m.top(), [k, v]);
  },
  0x75: (m) => {
    // SETITEMS
    const items = m.popMark();
    m.setItems(m.top(), items);
  },

  // the memo
  0x71: (m) => m.put(m.u8()), // BINPUT
  0x72: (m) => m.put(m.u32()), // LONG_BINPUT
  0x94: (m) => m.put(m.memo.size), // MEMOIZE
  0x68: (m) => m.push(m.get(m.u8())), // BINGET
  0x6a: (m) => m.push(m.get(m.u32())), // LONG_BINGET

  // imports: allowlisted, never resolved
  0x63: (m) => {
    // GLOBAL "module\nname\n"
    const module = m.line();
    m.push(importGlobal(m, module, m.line()));
  },
  0x93: (m) => {
    // STACK_GLOBAL
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== "string" || typeof name !== "string") throw m.corrupt("STACK_GLOBAL without two strings");
    m.push(importGlobal(m, module, name));
  },
  0x69: (m) => {
    // INST "module\nname\n": an import and a call in one opcode.
    const module = m.line();
    const name = m.line();
    importGlobal(m, module, name);
    throw m.unsupported(`the pickle instantiates ${module}.${name} with INST, which torch.save never does`);
  },
  0x82: extension, // EXT1
  0x83: extension, // EXT2
  0x84: extension, // EXT4

  // calls and objects
  0x52: (m) => {
    // REDUCE
    const args = m.pop();
    m.push(reduce(m, m.pop(), args));
  },
  0x62: (m) => {
    // BUILD: an OrderedDict gets `_metadata` this way (inst.__dict__.update(state)); the state is ignored.
    const state = m.pop();
    const target = m.top();
    if (!(target instanceof PyDict) || !target.ordered) throw m.unsupported("the pickle sets state on an object that is not an OrderedDict");
    if (!(state instanceof PyDict)) throw m.unsupported("the pickle sets an OrderedDict's state from something that is not a dict");
  },
  0x51: (m) => m.push(persistentLoad(m, m.pop())), // BINPERSID
};

/** EXT1/2/4: imports through the copyreg extension registry. */
function extension(m: Machine, op: number): void {
  const code = op === 0x82 ? m.u8() : op === 0x83 ? m.u16() : m.u32();
  throw new WeightsError("unsafe-pickle", m.file, `pickle imports extension code ${code} (copyreg registry), which is not a tensor type`);
}

/**
 * Reads a pickle (protocol ≤ 5 framing, the opcodes torch.save emits) into plain values.
 * Throws WeightsError: `unsafe-pickle` for any import outside the allowlist, `corrupt` for a
 * malformed stream, `unsupported` for valid pickles that are not a torch state dict.
 */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): PyValue {
  const m = new Machine(data, opts.file);
  const refuse = (op: number, at: number) =>
    m.unsupported(`torch >= 2.6 cannot load this file: opcode ${describeOpcode(op)} at byte ${at} of data.pkl, which its weights-only unpickler does not support: ${RESAVE}`);
  for (;;) {
    const opAt = m.pos;
    const op = m.u8();
    if (op === STOP) {
      // The weights-only unpickler would have stopped at the opcode; an unsafe import read after it is reported first.
      if (m.refusedByWeightsOnly) throw refuse(m.refusedByWeightsOnly.op, m.refusedByWeightsOnly.at);
      // Python's unpickler returns the top value and ignores whatever else is on the stack.
      if (!m.stack.length) throw m.corrupt("STOP with an empty stack");
      return m.pop();
    }
    const run = Object.hasOwn(OPCODES, op) ? OPCODES[op] : undefined;
    if (!run) {
      if (!Object.hasOwn(OPNAMES, op)) throw m.corrupt(`unknown opcode 0x${op.toString(16).padStart(2, "0")} at byte ${opAt}`);
      if (!WEIGHTS_ONLY_OPCODES.has(op)) throw refuse(op, opAt);
      throw m.unsupported(`data.pkl uses the pickle opcode ${OPNAMES[op]![0]} (byte ${opAt}), which torch.save never writes`);
    }
    if (!WEIGHTS_ONLY_OPCODES.has(op)) m.refusedByWeightsOnly ??= { op, at: opAt };
    run(m, op);
  }
}
