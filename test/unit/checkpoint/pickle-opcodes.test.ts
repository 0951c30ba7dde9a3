// Hand-assembled pickle streams, opcode by opcode: what the restricted reader returns for the
// streams torch's loaders read, and the named refusal for each stream they refuse or that is
// malformed. Expected values come from Python's own unpickler (torch 1.13's torch.load) and
// torch >= 2.6's weights-only rules, not from this reader.
import { describe, expect, it } from "vitest";

import { PickleWriter } from "../../helpers/torch-fixtures.js";
import { describeOpcode, PyDict, PyGlobal, PyStorage, PyTensor, PyTuple, unpickle } from "../../../src/checkpoint/pickle.js";
import { WeightsError } from "../../../src/checkpoint/weights-error.js";

const FILE = "/models/pytorch_model.bin";
const run = (p: PickleWriter | Uint8Array) => unpickle(p instanceof PickleWriter ? p.bytes() : p, { file: FILE });
const fails = (p: PickleWriter | Uint8Array): WeightsError => {
  try {
    run(p);
  } catch (err) {
    // Every refusal is a WeightsError, never a TypeError or RangeError from deep inside.
    expect(err).toBeInstanceOf(WeightsError);
    return err as WeightsError;
  }
  throw new Error("expected a WeightsError");
};
/** [code, message without the file name] of the refusal. */
const refusal = (p: PickleWriter | Uint8Array): [string, string] => {
  const err = fails(p);
  expect(err.message.startsWith("pytorch_model.bin: ")).toBe(true);
  return [err.code, err.message.slice("pytorch_model.bin: ".length)];
};
const corrupt = (msg: string): [string, string] => ["corrupt", `data.pkl is malformed: ${msg}`];
const P = () => new PickleWriter().proto(2);
const u64le = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n, 0);
  return [...b];
};
const binunicode = (...payload: number[]) => [0x58, payload.length, 0, 0, 0, ...payload];

// ---- a state dict {"w": <value>} with one _rebuild_tensor_v2 call whose parts a test can replace

type Part = (p: PickleWriter) => unknown;
interface TensorParts {
  pid?: Part;
  offset?: Part;
  size?: Part;
  stride?: Part;
  grad?: Part;
  /** Arguments after backward_hooks (torch writes a metadata dict as the 7th when there is one). */
  extra?: Part;
}
const storagePid =
  (items: Part = (p) => p.str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4)): Part =>
  (p) =>
    items(p.mark()) && p.tuple().binpersid();
const intTuple =
  (...xs: number[]): Part =>
  (p) => {
    p.mark();
    for (const x of xs) p.int(x);
    p.tuple();
  };
function rebuildTensor(p: PickleWriter, parts: TensorParts = {}): PickleWriter {
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  (parts.pid ?? storagePid())(p);
  (parts.offset ?? ((q) => q.int(0)))(p);
  (parts.size ?? intTuple(2, 2))(p);
  (parts.stride ?? intTuple(2, 1))(p);
  (parts.grad ?? ((q) => q.bool(false)))(p);
  p.global("collections", "OrderedDict").emptyTuple().reduce();
  parts.extra?.(p);
  return p.tuple().reduce();
}
const stateDict = (value: Part) => {
  const p = P().global("collections", "OrderedDict").emptyTuple().reduce().str("w");
  value(p);
  return p.setitem().stop();
};
const tensorW = (parts: TensorParts = {}) => stateDict((p) => rebuildTensor(p, parts));
const readW = (p: PickleWriter) => {
  const d = run(p);
  expect(d).toBeInstanceOf(PyDict);
  return (d as PyDict).map.get("w");
};

describe("restricted unpickler: BINUNICODE as Python decodes it (utf-8, surrogatepass)", () => {
  it.each([
    ["a lone surrogate between ASCII letters", [0x61, 0xed, 0xa0, 0x81, 0x62, 0xed, 0xbf, 0xbf], "a\ud801b\udfff"],
    ["surrogates next to U+D7FF and U+0800, which strict UTF-8 encodes as ED 9F BF and E0 A0 80", [0xed, 0xa0, 0x80, 0xed, 0x9f, 0xbf, 0xe0, 0xa0, 0x80], "\ud800\ud7ff\u0800"],
    ["a surrogate in the middle of the range", [0xed, 0xab, 0x8d], "\udacd"],
    ["two surrogates with text between", [0xed, 0xa0, 0x80, 0x78, 0xed, 0xb0, 0x81, 0x79], "\ud800x\udc01y"],
  ])("reads %s", (_what, payload, expected) => {
    expect(run(P().raw(...binunicode(...payload)).stop())).toBe(expected);
  });

  it.each([
    ["a surrogate cut short at the end of the string", [0x61, 0xed, 0xa0]],
    ["ED A0 with a third byte that is no continuation", [0xed, 0xa0, 0x7f]],
    ["ED followed by a byte past the surrogate range", [0xed, 0xc0, 0x80]],
    ["ED A0 with a third byte past the continuation range", [0xed, 0xa0, 0xc0]],
    ["an invalid byte before a surrogate", [0xff, 0xed, 0xa0, 0x80]],
    ["an invalid byte after a surrogate", [0xed, 0xa0, 0x80, 0xff]],
  ])("refuses %s as invalid UTF-8, as Python does", (_what, payload) => {
    // The opcode is at byte 2, its length at 3..6, the text at 7.
    expect(refusal(P().raw(...binunicode(...payload)).stop())).toEqual(corrupt("invalid UTF-8 in a string at byte 7"));
  });
});

describe("restricted unpickler: lengths and truncation", () => {
  it("refuses a 2^53-byte string or bytes length by name, without allocating it (Python: MemoryError)", () => {
    expect(refusal(P().raw(0x8d, ...u64le(2n ** 53n)).stop())).toEqual(corrupt("a length field is absurdly large"));
    expect(refusal(P().raw(0x8e, ...u64le(2n ** 64n - 1n)).stop())).toEqual(corrupt("a length field is absurdly large"));
    expect(refusal(new PickleWriter().proto(4).raw(0x95, ...u64le(2n ** 60n)).stop())).toEqual(corrupt("a length field is absurdly large"));
  });

  it("reports a length just under 2^53 as the truncated stream it is", () => {
    // BINUNICODE8 at 2, its length at 3..10, then STOP: 12 bytes in all.
    expect(refusal(P().raw(0x8d, ...u64le(2n ** 53n - 1n)).stop())).toEqual(corrupt("unexpected end of the pickle at byte 12"));
    expect(refusal(P().raw(0x58, 0xff, 0xff, 0xff, 0xff).stop())).toEqual(corrupt("unexpected end of the pickle at byte 8"));
  });

  it("refuses a GLOBAL whose text line never ends, or is not UTF-8", () => {
    expect(refusal(P().raw(0x63, ...Buffer.from("torch\nFloatStorage")))).toEqual(corrupt("unterminated text line"));
    expect(refusal(P().raw(0x63, 0xff, 0x0a, ...Buffer.from("system\n")).stop())).toEqual(corrupt("invalid UTF-8 in a text line at byte 3"));
  });

  it("refuses a stream that ends without STOP", () => {
    expect(refusal(P().int(1))).toEqual(corrupt("unexpected end of the pickle at byte 4"));
  });
});

describe("restricted unpickler: stack and memo abuse", () => {
  it("names the opcode that pops an empty stack", () => {
    expect(refusal(P().reduce().stop())).toEqual(corrupt("stack underflow at byte 2"));
    // APPEND pops its value, then finds no list under it.
    expect(refusal(P().none().append().stop())).toEqual(corrupt("stack underflow at byte 3"));
  });

  it("does not let an opcode take a MARK for a value", () => {
    expect(refusal(P().mark().tuple1().stop())).toEqual(corrupt("unexpected MARK at byte 3"));
    // APPEND with a MARK where the list should be.
    expect(refusal(P().mark().none().append().stop())).toEqual(corrupt("stack underflow at byte 4"));
    // BINPUT of a MARK (the memo only holds values).
    expect(refusal(P().mark().put(0).stop())[0]).toBe("corrupt");
  });

  it("refuses TUPLE, APPENDS and SETITEMS without a MARK", () => {
    expect(refusal(P().none().tuple().stop())).toEqual(corrupt("no MARK for the opcode at byte 3"));
    expect(refusal(P().emptyList().appends().stop())).toEqual(corrupt("no MARK for the opcode at byte 3"));
    expect(refusal(P().emptyDict().setitems().stop())).toEqual(corrupt("no MARK for the opcode at byte 3"));
  });

  it("refuses BINPUT on an empty stack and BINGET of a key never written", () => {
    expect(refusal(P().put(0).stop())[0]).toBe("corrupt");
    expect(refusal(P().int(1).put(300).get(301).stop())).toEqual(corrupt("memo key 301 read before it was written"));
  });

  it("reads POP, POP_MARK, DUP and MEMOIZE as Python does, before refusing them (the import they feed is named)", () => {
    // Each builds "os" and "system" through the opcode under test, then STACK_GLOBAL imports them.
    const imports = (build: (p: PickleWriter) => PickleWriter) => refusal(build(new PickleWriter().proto(4)).stackGlobal().stop());
    const osSystem: [string, string] = ["unsafe-pickle", "pickle imports os.system, which is not a tensor type"];
    expect(imports((p) => p.str("os").str("junk").pop().str("system"))).toEqual(osSystem);
    // POP with a MARK on top removes the MARK (Python's load_pop: pop_mark when the stack is empty).
    expect(imports((p) => p.str("os").mark().pop().str("system"))).toEqual(osSystem);
    expect(imports((p) => p.str("os").mark().str("a").str("b").raw(0x31).str("system"))).toEqual(osSystem);
    expect(imports((p) => p.str("os").raw(0x32))).toEqual(["unsafe-pickle", "pickle imports os.os, which is not a tensor type"]);
    expect(imports((p) => p.shortStr("system").memoize().shortStr("os").memoize().get(1).get(0))).toEqual(osSystem);
  });

  it("refuses POP and POP_MARK with nothing to remove", () => {
    expect(refusal(new PickleWriter().proto(4).pop().stop())).toEqual(corrupt("stack underflow at byte 2"));
    expect(refusal(new PickleWriter().proto(4).none().raw(0x31).stop())).toEqual(corrupt("no MARK for the opcode at byte 3"));
  });
});

describe("restricted unpickler: integers", () => {
  it("reads LONG1 as little-endian two's complement (pickle.decode_long)", () => {
    expect(run(P().mark().raw(0x8a, 1, 0xff).raw(0x8a, 2, 0x00, 0x80).raw(0x8a, 2, 0x80, 0x00).raw(0x4a, 0xff, 0xff, 0xff, 0xff).raw(0x4d, 0xff, 0xff).tuple().stop())).toEqual(
      new PyTuple([-1, -32768, 128, -1, 65535]),
    );
  });

  it("reads every safe integer and refuses larger ones by name", () => {
    expect(run(P().mark().int(Number.MAX_SAFE_INTEGER).int(Number.MIN_SAFE_INTEGER).tuple().stop())).toEqual(
      new PyTuple([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]),
    );
    const tooLarge: [string, string] = ["unsupported", "the pickle holds an integer too large for this reader"];
    expect(refusal(P().raw(0x8a, 8, ...u64le(2n ** 53n)).stop())).toEqual(tooLarge);
    expect(refusal(P().raw(0x8a, 8, ...u64le(2n ** 64n - 2n ** 53n)).stop())).toEqual(tooLarge); // -(2^53)
  });

  it("refuses a LONG4 of more than 16 bytes at once, and names LONG4 as unsupported by torch >= 2.6 otherwise", () => {
    expect(refusal(P().raw(0x8b, 17, 0, 0, 0, ...new Array<number>(17).fill(0)).stop())).toEqual([
      "unsupported",
      "the pickle holds an integer too large for this reader",
    ]);
    expect(refusal(P().raw(0x8b, 16, 0, 0, 0, ...new Array<number>(16).fill(0)).stop())[1]).toContain("opcode 0x8b (protocol 2 LONG4) at byte 2");
  });
});

describe("restricted unpickler: containers", () => {
  it("keeps dict keys that are None, ints, floats and booleans", () => {
    const d = run(P().emptyDict().mark().none().int(1).int(7).int(2).float(1.5).int(3).bool(false).int(4).setitems().stop()) as PyDict;
    expect([...d.map.entries()]).toEqual([
      [null, 1],
      [7, 2],
      [1.5, 3],
      [false, 4],
    ]);
  });

  it("refuses a dict key that is a tuple (a state dict's keys are names)", () => {
    expect(refusal(P().emptyDict().emptyTuple().int(1).setitem().stop())).toEqual(["unsupported", "the pickle holds a dict whose keys are not strings or numbers"]);
  });

  it("refuses items set on a list, appends to a dict, and an odd SETITEMS", () => {
    expect(refusal(P().emptyList().str("k").str("v").setitem().stop())).toEqual(["unsupported", "the pickle sets items on something that is not a dict"]);
    expect(refusal(P().emptyDict().int(1).append().stop())).toEqual(["unsupported", "the pickle appends to something that is not a list"]);
    expect(refusal(P().emptyDict().mark().int(1).setitems().stop())).toEqual(corrupt("SETITEMS with an odd number of values"));
  });

  it("reads DICT (protocol 0) into a plain dict, then names it as unsupported by torch >= 2.6", () => {
    // The dict is on the stack: SETITEM on it works, BUILD (OrderedDict only) does not.
    expect(refusal(P().mark().str("k").str("v").raw(0x64).str("k2").str("v2").setitem().stop())[1]).toContain("opcode 0x64 (protocol 0 DICT) at byte 15");
    expect(refusal(P().mark().raw(0x64).emptyDict().build().stop())).toEqual(["unsupported", "the pickle sets state on an object that is not an OrderedDict"]);
    expect(refusal(P().mark().str("k").raw(0x64).stop())).toEqual(corrupt("SETITEMS with an odd number of values"));
  });
});

describe("restricted unpickler: imports", () => {
  it.each([
    ["numpy", "float32"],
    ["builtins", "FloatStorage"],
    ["builtins", "int"],
    ["torch", "constructor"],
    ["torch", "__proto__"],
    ["torch", "toString"],
    ["torch", "hasOwnProperty"],
    ["torch", "OrderedDict"],
    ["collections", "_rebuild_tensor_v2"],
  ])("refuses %s.%s, a name only an allow-listed module may bring", (module, name) => {
    expect(refusal(P().global(module, name).stop())).toEqual(["unsafe-pickle", `pickle imports ${module}.${name}, which is not a tensor type`]);
  });

  it.each([
    ["float", "float32"],
    ["double", "float64"],
    ["half", "float16"],
    ["long", "int64"],
    ["int", "int32"],
    ["short", "int16"],
  ])("refuses the dtype alias torch.%s, naming torch.%s", (alias, canonical) => {
    expect(refusal(P().global("torch", alias).stop())[1]).toContain(`the pickle imports torch.${alias}, a dtype alias its weights-only unpickler does not allow (only torch.${canonical})`);
  });

  it.each(["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"])(
    "accepts torch.%s",
    (name) => {
      expect(run(P().global("torch", name).stop())).toEqual(new PyGlobal("torch", name));
    },
  );

  it("refuses INST even of an allowed global (torch.save never writes it)", () => {
    expect(refusal(P().mark().inst("collections", "OrderedDict").stop())).toEqual([
      "unsupported",
      "the pickle instantiates collections.OrderedDict with INST, which torch.save never does",
    ]);
  });

  it("names the extension code of EXT2 and EXT4", () => {
    expect(refusal(P().raw(0x83, 0x34, 0x12).stop())).toEqual(["unsafe-pickle", "pickle imports extension code 4660 (copyreg registry), which is not a tensor type"]);
    expect(refusal(P().raw(0x84, 0x78, 0x56, 0x34, 0x12).stop())).toEqual([
      "unsafe-pickle",
      "pickle imports extension code 305419896 (copyreg registry), which is not a tensor type",
    ]);
  });

  it("refuses STACK_GLOBAL of anything but two strings", () => {
    expect(refusal(new PickleWriter().proto(4).int(1).shortStr("system").stackGlobal().stop())).toEqual(corrupt("STACK_GLOBAL without two strings"));
    expect(refusal(new PickleWriter().proto(4).shortStr("os").int(1).stackGlobal().stop())).toEqual(corrupt("STACK_GLOBAL without two strings"));
  });
});

describe("restricted unpickler: protocol and opcodes", () => {
  it("reads protocol 5 and refuses a newer one", () => {
    expect(run(new PickleWriter().proto(5).int(1).stop())).toBe(1);
    expect(refusal(new PickleWriter().proto(6).int(1).stop())).toEqual(["unsupported", "the pickle uses a protocol newer than 5"]);
  });

  it("names an opcode Python does not know by its two hex digits", () => {
    expect(refusal(P().raw(0x05).stop())).toEqual(corrupt("unknown opcode 0x05 at byte 2"));
    expect(describeOpcode(0x05)).toBe("0x05");
    expect(describeOpcode(0xff)).toBe("0xff");
    expect(describeOpcode(0x8f)).toBe("0x8f (protocol 4 EMPTY_SET)");
  });

  it("refuses EMPTY_SET and NEWOBJ, which torch.save never writes", () => {
    expect(refusal(P().raw(0x8f).stop())).toEqual(["unsupported", "data.pkl uses the pickle opcode EMPTY_SET (byte 2), which torch.save never writes"]);
  });

  it.each([
    [0x6f, "0x6f (protocol 1 OBJ)"],
    [0x91, "0x91 (protocol 4 FROZENSET)"],
    [0x92, "0x92 (protocol 4 NEWOBJ_EX)"],
    [0x96, "0x96 (protocol 5 BYTEARRAY8)"],
    [0x97, "0x97 (protocol 5 NEXT_BUFFER)"],
  ])("refuses opcode %i, which torch >= 2.6 does not run, at once", (op, named) => {
    expect(refusal(P().mark().raw(op).stop())).toEqual([
      "unsupported",
      `torch >= 2.6 cannot load this file: opcode ${named} at byte 3 of data.pkl, which its weights-only unpickler does not support: re-save with torch.save(..., pickle_protocol=2) or publish model.safetensors only`,
    ]);
  });
});

describe("restricted unpickler: REDUCE and BUILD", () => {
  it("refuses to call anything but an imported global, or with arguments that are not a tuple", () => {
    expect(refusal(P().str("os.system").emptyTuple().reduce().stop())).toEqual(["unsupported", "the pickle calls something that is not an imported global"]);
    expect(refusal(P().global("collections", "OrderedDict").emptyList().reduce().stop())).toEqual(corrupt("REDUCE arguments are not a tuple"));
  });

  it("builds OrderedDict([(k, v), ...]) in order", () => {
    const p = P().global("collections", "OrderedDict").emptyList().str("b").int(1).tuple2().append().str("a").int(2).tuple2().append().tuple1().reduce().stop();
    const d = run(p) as PyDict;
    expect(d.ordered).toBe(true);
    expect([...d.map.entries()]).toEqual([
      ["b", 1],
      ["a", 2],
    ]);
  });

  it("refuses OrderedDict built from anything but one list of pairs", () => {
    const od = (args: Part) => {
      const p = P().global("collections", "OrderedDict");
      args(p);
      return p.reduce().stop();
    };
    const notPairs: [string, string] = ["unsupported", "OrderedDict built from something other than pairs"];
    expect(refusal(od((p) => p.emptyList().str("a").int(1).int(2).tuple3().append().tuple1()))).toEqual(notPairs);
    expect(refusal(od((p) => p.emptyList().emptyList().mark().str("a").int(1).appends().append().tuple1()))).toEqual(notPairs);
    const unexpected: [string, string] = ["unsupported", "OrderedDict built with unexpected arguments"];
    expect(refusal(od((p) => p.int(1).tuple1()))).toEqual(unexpected);
    expect(refusal(od((p) => p.emptyList().emptyList().tuple2()))).toEqual(unexpected);
  });
});

describe("restricted unpickler: _rebuild_tensor_v2 and _rebuild_parameter", () => {
  it("reads a plain tensor as not requiring grad and not a parameter", () => {
    const t = readW(tensorW()) as PyTensor;
    expect([t.requiresGrad, t.parameter, t.storageOffset]).toEqual([false, false, 0]);
  });

  it("reads requires_grad and a 7th (metadata) argument", () => {
    const t = readW(tensorW({ grad: (p) => p.bool(true), extra: (p) => p.emptyDict() })) as PyTensor;
    expect(t).toBeInstanceOf(PyTensor);
    expect([t.requiresGrad, t.parameter, t.shape, t.stride, t.storage]).toEqual([true, false, [2, 2], [2, 1], new PyStorage("0", "float32", "cpu", 4)]);
  });

  it("takes booleans in a size or stride as 1 and 0, as torch.Size does", () => {
    const t = readW(tensorW({ size: (p) => p.mark().bool(true).int(3).tuple(), stride: (p) => p.mark().int(3).bool(true).tuple(), offset: (p) => p.bool(false) })) as PyTensor;
    expect([t.shape, t.stride, t.storageOffset]).toEqual([[1, 3], [3, 1], 0]);
  });

  it("refuses a call with 5 or 8 arguments", () => {
    const five = P().global("torch._utils", "_rebuild_tensor_v2").mark();
    storagePid()(five);
    five.int(0);
    intTuple(1)(five);
    intTuple(1)(five);
    five.bool(false).tuple().reduce().stop();
    expect(refusal(five)).toEqual(["unsupported", "torch._utils._rebuild_tensor_v2 called with 5 arguments"]);
    expect(refusal(tensorW({ extra: (p) => p.emptyDict().none() }))).toEqual(["unsupported", "torch._utils._rebuild_tensor_v2 called with 8 arguments"]);
  });

  it("refuses a tensor rebuilt from something that is not a storage", () => {
    expect(refusal(tensorW({ pid: (p) => p.none() }))).toEqual(["unsupported", "a tensor is rebuilt from something that is not a storage"]);
  });

  it.each<[string, TensorParts, [string, string]]>([
    ["a size that is a list", { size: (p) => p.emptyList() }, ["unsupported", "a tensor's size is not a tuple"]],
    ["a stride that is a list", { stride: (p) => p.emptyList() }, ["unsupported", "a tensor's stride is not a tuple"]],
    ["a fractional size", { size: (p) => p.mark().float(1.5).int(2).tuple() }, ["unsupported", "a tensor's size is not an integer"]],
    ["a size past 2^53 as a float", { size: (p) => p.mark().float(2 ** 60).int(2).tuple() }, ["unsupported", "a tensor's size is not an integer"]],
    ["a size that is a string", { size: (p) => p.mark().str("2").int(2).tuple() }, ["unsupported", "a tensor's size is not an integer"]],
    ["a fractional stride", { stride: (p) => p.mark().int(2).float(0.5).tuple() }, ["unsupported", "a tensor's stride is not an integer"]],
    ["a storage offset that is a string", { offset: (p) => p.str("0") }, ["unsupported", "a tensor's storage offset is not an integer"]],
    ["a size and a stride of different lengths", { stride: intTuple(1) }, corrupt("a tensor's size and stride have different lengths")],
  ])("refuses %s", (_what, parts, expected) => {
    expect(refusal(tensorW(parts))).toEqual(expected);
  });

  it("keeps requires_grad=False of a parameter", () => {
    const t = readW(stateDict((p) => rebuildTensor(p.global("torch._utils", "_rebuild_parameter").mark()).bool(false).global("collections", "OrderedDict").emptyTuple().reduce().tuple().reduce())) as PyTensor;
    expect([t.parameter, t.requiresGrad, t.shape]).toEqual([true, false, [2, 2]]);
  });

  it("refuses _rebuild_parameter with two arguments or without a tensor", () => {
    const expected: [string, string] = ["unsupported", "torch._utils._rebuild_parameter called with unexpected arguments"];
    expect(refusal(stateDict((p) => rebuildTensor(p.global("torch._utils", "_rebuild_parameter").mark()).bool(false).tuple().reduce()))).toEqual(expected);
    expect(refusal(stateDict((p) => p.global("torch._utils", "_rebuild_parameter").mark().none().bool(false).none().tuple().reduce()))).toEqual(expected);
  });
});

describe("restricted unpickler: persistent ids", () => {
  const pidOf = (items: Part) => tensorW({ pid: storagePid(items) });
  const notStorage: [string, string] = ["unsupported", "the pickle holds a persistent id that is not a torch storage ('storage', type, key, location, numel)"];

  it("refuses a persistent id of the wrong length or tag", () => {
    expect(refusal(pidOf((p) => p.str("storage").global("torch", "FloatStorage").str("0").str("cpu")))).toEqual(notStorage);
    expect(refusal(pidOf((p) => p.str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4).none()))).toEqual(notStorage);
    expect(refusal(pidOf((p) => p.str("Storage").global("torch", "FloatStorage").str("0").str("cpu").int(4)))).toEqual(notStorage);
  });

  it.each<[string, Part, string]>([
    ["a string", (p) => p.str("FloatStorage"), "string"],
    ["None", (p) => p.none(), "object"],
    ["a dtype", (p) => p.global("torch", "float32"), "torch.float32"],
    ["a global outside torch", (p) => p.global("collections", "OrderedDict"), "collections.OrderedDict"],
  ])("refuses a storage type that is %s", (_what, type, named) => {
    expect(refusal(pidOf((p) => type(p.str("storage")) && p.str("0").str("cpu").int(4)))).toEqual([
      "unsupported",
      `the pickle holds a storage of type ${named}, which is not a supported torch storage type`,
    ]);
  });

  it.each<[string, Part]>([
    ["an integer", (p) => p.int(0)],
    ["empty", (p) => p.str("")],
    ["a path", (p) => p.str("a/b")],
    ["a parent path", (p) => p.str("../0")],
    ["a name and a newline", (p) => p.str("0\n")],
  ])("refuses a storage key that is %s (it names an archive entry)", (_what, key) => {
    expect(refusal(pidOf((p) => key(p.str("storage").global("torch", "FloatStorage")) && p.str("cpu").int(4)))).toEqual(corrupt("a storage key is not a plain name"));
  });

  it("reads keys made of letters, digits, dots, dashes and underscores", () => {
    const t = readW(pidOf((p) => p.str("storage").global("torch", "HalfStorage").str("Ab_9.x-1").str("cpu").int(4))) as PyTensor;
    expect(t.storage).toEqual(new PyStorage("Ab_9.x-1", "float16", "cpu", 4));
  });

  it("refuses a location that is not a string, and an element count that is not a non-negative integer", () => {
    const pid = (location: Part, numel: Part) => pidOf((p) => numel(location(p.str("storage").global("torch", "FloatStorage").str("7")) as PickleWriter));
    expect(refusal(pid((p) => p.none(), (p) => p.int(4)))).toEqual(corrupt("storage 7 has no location string"));
    expect(refusal(pid((p) => p.str("cpu"), (p) => p.str("4")))).toEqual(["unsupported", "the element count of storage 7 is not an integer"]);
    expect(refusal(pid((p) => p.str("cpu"), (p) => p.int(-1)))).toEqual(corrupt("storage 7 has a negative element count"));
  });
});
