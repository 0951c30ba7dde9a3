// A restricted pickle reader for torch.save's data.pkl. It never imports or calls anything: the
// only globals it accepts are the few a state dict needs (OrderedDict, the tensor/parameter rebuild
// functions, the typed storage classes, dtype objects), and it "calls" them by building plain data.
// Any other import is reported by its dotted name as unsafe before anything else happens.
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

/** torch.<dtype> globals (dtype objects pickle as globals), aliases included. */
const TORCH_DTYPES: Readonly<Record<string, DType>> = {
  float32: "float32",
  float: "float32",
  float16: "float16",
  half: "float16",
  bfloat16: "bfloat16",
  float64: "float64",
  double: "float64",
  int64: "int64",
  long: "int64",
  int32: "int32",
  int: "int32",
  int16: "int16",
  short: "int16",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

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

const OPNAMES: Record<number, string> = {
  0x49: "INT",
  0x4c: "LONG",
  0x53: "STRING",
  0x56: "UNICODE",
  0x46: "FLOAT",
  0x50: "PERSID",
  0x67: "GET",
  0x70: "PUT",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x6f: "OBJ",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/**
 * Reads a pickle (protocol ≤ 5 framing, the opcodes torch.save emits) into plain values.
 * Throws WeightsError: `unsafe-pickle` for any import outside the allowlist, `corrupt` for a
 * malformed stream, `unsupported` for valid pickles that are not a torch state dict.
 */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): PyValue {
  const { file } = opts;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  const corrupt = (msg: string) => new WeightsError("corrupt", file, `data.pkl is malformed: ${msg}`);
  const unsupported = (msg: string) => new WeightsError("unsupported", file, msg);

  const need = (n: number): number => {
    if (pos + n > data.length) throw corrupt(`unexpected end of the pickle at byte ${data.length}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => data[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt("a length field is absurdly large");
    return Number(v);
  };
  const bytes = (n: number) => {
    const at = need(n);
    return data.subarray(at, at + n);
  };
  const text = (n: number) => {
    try {
      return utf8.decode(bytes(n));
    } catch {
      throw corrupt(`invalid UTF-8 in a string at byte ${pos - n}`);
    }
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw corrupt("unterminated text line");
    const s = Buffer.from(data.subarray(pos, end)).toString("latin1");
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) throw corrupt(`stack underflow at byte ${pos - 1}`);
    if (v === MARK) throw corrupt(`unexpected MARK at byte ${pos - 1}`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw corrupt(`stack underflow at byte ${pos - 1}`);
    return v;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) throw corrupt(`no MARK for the opcode at byte ${pos - 1}`);
    const items = stack.splice(m);
    items.shift(); // the MARK itself
    return items as PyValue[];
  };
  const get = (i: number): PyValue => {
    if (!memo.has(i)) throw corrupt(`memo key ${i} read before it was written`);
    return memo.get(i)!;
  };
  const importGlobal = (module: string, name: string): PyGlobal => {
    if (!isAllowedGlobal(module, name)) {
      throw new WeightsError("unsafe-pickle", file, `pickle imports ${module}.${name}, which is not a tensor type`);
    }
    return new PyGlobal(module, name);
  };
  const intOf = (v: PyValue, what: string): number => {
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw unsupported(`${what} is not an integer`);
    return v;
  };
  const intTuple = (v: PyValue, what: string): number[] => {
    if (!(v instanceof PyTuple)) throw unsupported(`${what} is not a tuple`);
    return v.items.map((x) => intOf(x, what));
  };
  const signedLE = (b: Uint8Array): number => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw unsupported("the pickle holds an integer too large for this reader");
    return Number(v);
  };
  const setItems = (target: PyValue, kvs: PyValue[]) => {
    if (!(target instanceof PyDict)) throw unsupported("the pickle sets items on something that is not a dict");
    if (kvs.length % 2) throw corrupt("SETITEMS with an odd number of values");
    for (let i = 0; i < kvs.length; i += 2) {
      const k = kvs[i]!;
      if (!(k === null || typeof k === "string" || typeof k === "number" || typeof k === "boolean")) {
        throw unsupported("the pickle holds a dict whose keys are not strings or numbers");
      }
      target.map.set(k, kvs[i + 1]!);
    }
  };
  const persistentLoad = (pid: PyValue): PyStorage => {
    const items = pid instanceof PyTuple ? pid.items : undefined;
    if (!items || items[0] !== "storage" || items.length !== 5) {
      throw unsupported("the pickle holds a persistent id that is not a torch storage ('storage', type, key, location, numel)");
    }
    const [, type, key, location, numel] = items;
    if (!(type instanceof PyGlobal) || type.module !== "torch" || !Object.hasOwn(STORAGE_DTYPES, type.name)) {
      const what = type instanceof PyGlobal ? type.dotted : typeof type;
      throw unsupported(`the pickle holds a storage of type ${what}, which is not a supported torch storage type`);
    }
    if (typeof key !== "string" || !/^[A-Za-z0-9_.-]+$/.test(key)) throw corrupt("a storage key is not a plain name");
    if (typeof location !== "string") throw corrupt(`storage ${key} has no location string`);
    const n = intOf(numel ?? null, `the element count of storage ${key}`);
    if (n < 0) throw corrupt(`storage ${key} has a negative element count`);
    return new PyStorage(key, STORAGE_DTYPES[type.name]!, location, n);
  };
  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal)) throw unsupported("the pickle calls something that is not an imported global");
    if (!(args instanceof PyTuple)) throw corrupt("REDUCE arguments are not a tuple");
    const a = args.items;
    switch (fn.dotted) {
      case ORDERED_DICT: {
        const d = new PyDict(true);
        if (a.length === 1 && Array.isArray(a[0])) {
          for (const kv of a[0]) {
            if (!(kv instanceof PyTuple) || kv.items.length !== 2) throw unsupported("OrderedDict built from something other than pairs");
            setItems(d, kv.items);
          }
        } else if (a.length !== 0) throw unsupported("OrderedDict built with unexpected arguments");
        return d;
      }
      case REBUILD_TENSOR: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.length < 6 || a.length > 7) throw unsupported(`${REBUILD_TENSOR} called with ${a.length} arguments`);
        const storage = a[0];
        if (!(storage instanceof PyStorage)) throw unsupported("a tensor is rebuilt from something that is not a storage");
        const shape = intTuple(a[2]!, "a tensor's size");
        const stride = intTuple(a[3]!, "a tensor's stride");
        if (shape.length !== stride.length) throw corrupt("a tensor's size and stride have different lengths");
        return new PyTensor(storage, intOf(a[1]!, "a tensor's storage offset"), shape, stride, a[4] === true, false);
      }
      case REBUILD_PARAMETER: {
        // (data, requires_grad, backward_hooks)
        const t = a[0];
        if (!(t instanceof PyTensor) || a.length !== 3) throw unsupported(`${REBUILD_PARAMETER} called with unexpected arguments`);
        return new PyTensor(t.storage, t.storageOffset, t.shape, t.stride, a[1] === true, true);
      }
      default:
        throw unsupported(`the pickle calls ${fn.dotted}, which a state dict never does`);
    }
  };

  for (;;) {
    const opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw unsupported("the pickle uses a protocol newer than 5");
        break;
      case 0x95: // FRAME: framing only, the payload follows inline
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw corrupt(`STOP with ${stack.length} values on the stack`);
        return pop();
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = u32();
        if (n > 16) throw unsupported("the pickle holds an integer too large for this reader");
        stack.push(signedLE(bytes(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x54: // BINSTRING (py2 str)
        stack.push(Buffer.from(bytes(view.getInt32(need(4), true))).toString("latin1"));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(bytes(u8())).toString("latin1"));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytes(u64()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict(false));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict(false);
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw unsupported("the pickle appends to something that is not a list");
        list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw unsupported("the pickle appends to something that is not a list");
        for (const v of items) list.push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(get(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(get(u32()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(importGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw corrupt("STACK_GLOBAL without two strings");
        stack.push(importGlobal(module, name));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": an import and a call in one opcode.
        const module = line();
        const name = line();
        importGlobal(module, name);
        throw unsupported(`the pickle instantiates ${module}.${name} with INST, which torch.save never does`);
      }
      case 0x82:
      case 0x83:
      case 0x84: {
        // EXT1/2/4: imports through the copyreg extension registry.
        const code = op === 0x82 ? u8() : op === 0x83 ? u16() : u32();
        throw new WeightsError("unsafe-pickle", file, `pickle imports extension code ${code} (copyreg registry), which is not a tensor type`);
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: OrderedDict gets `_metadata` this way; ignore dict state.
        pop();
        const obj = top();
        if (!(obj instanceof PyDict)) throw unsupported("the pickle sets state on an object that is not a dict");
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      default: {
        const name = OPNAMES[op];
        throw name
          ? unsupported(`data.pkl uses the pickle opcode ${name} (byte ${opAt}), which torch.save never writes`)
          : corrupt(`unknown opcode 0x${op.toString(16).padStart(2, "0")} at byte ${opAt}`);
      }
    }
  }
}
