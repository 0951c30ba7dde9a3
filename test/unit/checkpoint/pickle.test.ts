import { describe, expect, it } from "vitest";

import { PickleWriter, stateDictPickle } from "../../helpers/torch-fixtures.js";
import { PyDict, PyGlobal, PyStorage, PyTensor, PyTuple, type PyValue, unpickle } from "../../../src/checkpoint/pickle.js";
import { WeightsError } from "../../../src/checkpoint/weights-error.js";

const FILE = "/models/pytorch_model.bin";
const run = (p: PickleWriter | Uint8Array) => unpickle(p instanceof PickleWriter ? p.bytes() : p, { file: FILE });
const fails = (p: PickleWriter | Uint8Array): WeightsError => {
  try {
    run(p);
  } catch (err) {
    expect(err).toBeInstanceOf(WeightsError);
    return err as WeightsError;
  }
  throw new Error("expected a WeightsError");
};

describe("restricted unpickler: values", () => {
  it("reads ints of every width, floats, strings, None and booleans", () => {
    const p = new PickleWriter()
      .proto(2)
      .mark()
      .int(7)
      .int(300)
      .int(-5)
      .int(2 ** 40)
      .int(-(2 ** 40))
      .float(0.1)
      .str("é😀")
      .str("abc")
      .none()
      .bool(true)
      .bool(false)
      .raw(0x8a, 0x00) // LONG1 of zero bytes = 0
      .tuple()
      .stop();
    const v = run(p) as PyTuple;
    expect(v).toBeInstanceOf(PyTuple);
    expect(v.items).toEqual([7, 300, -5, 2 ** 40, -(2 ** 40), 0.1, "é😀", "abc", null, true, false, 0]);
  });

  it("builds lists, tuples and dicts, and resolves the memo (BINPUT/LONG_BINPUT)", () => {
    const p = new PickleWriter()
      .proto(2)
      .emptyDict()
      .put(0)
      .str("l")
      .emptyList()
      .put(300)
      .int(1)
      .append()
      .mark()
      .int(2)
      .int(3)
      .appends()
      .setitem()
      .str("t")
      .int(1)
      .int(2)
      .int(3)
      .tuple3()
      .put(5)
      .setitem()
      .mark()
      .str("again")
      .get(5)
      .str("same-list")
      .get(300)
      .setitems()
      .stop();
    const d = run(p) as PyDict;
    expect(d).toBeInstanceOf(PyDict);
    expect([...d.map.keys()]).toEqual(["l", "t", "again", "same-list"]);
    expect(d.map.get("l")).toEqual([1, 2, 3]);
    expect(d.map.get("same-list")).toBe(d.map.get("l"));
    expect((d.map.get("again") as PyTuple).items).toEqual([1, 2, 3]);
  });

  it("rebuilds tensors and parameters from torch's persistent ids", () => {
    const v = run(
      stateDictPickle([{ name: "w", storageType: "BFloat16Storage", key: "3", storageNumel: 12, offset: 2, shape: [2, 5], stride: [5, 1] }]),
    ) as PyDict;
    expect(v.ordered).toBe(true);
    const t = v.map.get("w") as PyTensor;
    expect(t).toBeInstanceOf(PyTensor);
    expect(t.storage).toEqual(new PyStorage("3", "bfloat16", "cpu", 12));
    expect([t.storageOffset, t.shape, t.stride, t.parameter]).toEqual([2, [2, 5], [5, 1], false]);

    // torch._utils._rebuild_parameter(tensor, requires_grad, backward_hooks)
    const inner = stateDictPickle([{ name: "p", storageType: "FloatStorage", key: "0", storageNumel: 1, shape: [1] }]);
    // Wrap the tensor REDUCE: take the bytes between the key and SETITEMS.
    const start = inner.indexOf(Buffer.from("ctorch._utils\n_rebuild_tensor_v2\n", "latin1"));
    const tensorOps = inner.subarray(start, inner.length - 2);
    const p = Buffer.concat([
      new PickleWriter().proto(2).emptyDict().str("p").global("torch._utils", "_rebuild_parameter").mark().bytes(),
      tensorOps,
      new PickleWriter().bool(true).global("collections", "OrderedDict").emptyTuple().reduce().tuple().reduce().setitem().stop().bytes(),
    ]);
    const param = (run(p) as PyDict).map.get("p") as PyTensor;
    expect([param.parameter, param.requiresGrad, param.shape]).toEqual([true, true, [1]]);
  });

  it("ignores the state BUILD sets on an OrderedDict (_metadata) and accepts dtype globals", () => {
    const p = new PickleWriter()
      .proto(2)
      .global("collections", "OrderedDict")
      .emptyTuple()
      .reduce()
      .str("dtype")
      .global("torch", "float16")
      .setitem()
      .emptyDict()
      .str("_metadata")
      .emptyDict()
      .str("")
      .emptyDict()
      .str("version")
      .int(1)
      .setitem()
      .setitem()
      .setitem()
      .build()
      .stop();
    const d = run(p) as PyDict;
    expect([...d.map.keys()]).toEqual(["dtype"]);
    expect(d.map.get("dtype")).toEqual(new PyGlobal("torch", "float16"));
  });
});

describe("restricted unpickler: refusals", () => {
  it.each([
    ["posix", "system"],
    ["os", "system"],
    ["builtins", "eval"],
    ["builtins", "exec"],
    ["subprocess", "Popen"],
    ["torch", "load"],
    ["torch", "UntypedStorage"],
    ["torch._utils", "_rebuild_qtensor"],
    ["collections", "defaultdict"],
  ])("refuses GLOBAL %s.%s", (module, name) => {
    const err = fails(new PickleWriter().proto(2).global(module, name).stop());
    expect(err.code).toBe("unsafe-pickle");
    expect(err.message).toBe(`pytorch_model.bin: pickle imports ${module}.${name}, which is not a tensor type`);
  });

  it("refuses STACK_GLOBAL, INST and extension-registry imports", () => {
    expect(fails(new PickleWriter().proto(4).shortStr("nt").shortStr("system").stackGlobal().stop()).message).toBe(
      "pytorch_model.bin: pickle imports nt.system, which is not a tensor type",
    );
    const inst = fails(new PickleWriter().proto(2).mark().str("id").inst("os", "system").stop());
    expect([inst.code, inst.message]).toEqual(["unsafe-pickle", "pytorch_model.bin: pickle imports os.system, which is not a tensor type"]);
    const ext = fails(new PickleWriter().proto(2).raw(0x82, 7).stop());
    expect([ext.code, ext.message]).toEqual([
      "unsafe-pickle",
      "pytorch_model.bin: pickle imports extension code 7 (copyreg registry), which is not a tensor type",
    ]);
  });

  it("refuses calls a state dict never makes, and non-storage persistent ids", () => {
    const call = fails(new PickleWriter().proto(2).global("torch", "FloatStorage").emptyTuple().reduce().stop());
    expect([call.code, call.message]).toEqual(["unsupported", "pytorch_model.bin: the pickle calls torch.FloatStorage, which a state dict never does"]);
    const pid = fails(new PickleWriter().proto(2).str("anything").binpersid().stop());
    expect(pid.code).toBe("unsupported");
    const newobj = fails(new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().raw(0x81).stop());
    expect(newobj.message).toBe("pytorch_model.bin: data.pkl uses the pickle opcode NEWOBJ (byte 28), which torch.save never writes");
  });

  it("reports malformed streams as corrupt", () => {
    expect(fails(new PickleWriter().proto(2).str("abc").bytes().subarray(0, 6)).message).toBe(
      "pytorch_model.bin: data.pkl is malformed: unexpected end of the pickle at byte 6",
    );
    expect(fails(new PickleWriter().proto(2).raw(0xff)).message).toBe("pytorch_model.bin: data.pkl is malformed: unknown opcode 0xff at byte 2");
    expect(fails(new PickleWriter().proto(2).get(3).stop()).message).toBe(
      "pytorch_model.bin: data.pkl is malformed: memo key 3 read before it was written",
    );
    expect(fails(new PickleWriter().proto(2).tuple().stop()).code).toBe("corrupt");
    // As Python: STOP returns the top value whatever lies under it (pickle.loads(b"\x80\x02K\x01K\x02.") == 2) ...
    expect(run(new PickleWriter().proto(2).int(1).int(2).stop())).toBe(2);
    expect(fails(new PickleWriter().proto(2).stop()).message).toBe("pytorch_model.bin: data.pkl is malformed: STOP with an empty stack");
    // ... and a FRAME longer than what follows is "pickle data was truncated".
    expect(fails(new PickleWriter().proto(4).frame(255).int(1).stop()).message).toBe(
      "pytorch_model.bin: data.pkl is malformed: a frame of 255 bytes at byte 2 runs past the end of the pickle (14 bytes): truncated",
    );
    // BINSTRING with a length of -5 (Python: "BINSTRING pickle has negative byte count"): refused, not read backwards forever.
    expect(fails(new PickleWriter().proto(2).raw(0x54, 0xfb, 0xff, 0xff, 0xff).stop()).message).toBe(
      "pytorch_model.bin: data.pkl is malformed: a negative byte count (-5) at byte 7",
    );
  });
});

/** A state dict {name: tensor} whose tensors are rebuilt from these persistent ids, each (type, key, location, numel, size). */
function persistentIds(ids: Array<{ name: string; type?: string; key: string; location?: string; numel: number; size: number }>): PickleWriter {
  const p = new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().reduce().mark();
  for (const t of ids) {
    p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", t.type ?? "FloatStorage").str(t.key).str(t.location ?? "cpu").int(t.numel).tuple().binpersid();
    p.int(0).mark().int(t.size).tuple().mark().int(1).tuple().bool(false).global("collections", "OrderedDict").emptyTuple().reduce().tuple().reduce();
  }
  return p.setitems().stop();
}

describe("restricted unpickler: what torch >= 2.6's weights-only unpickler refuses", () => {
  it("refuses a protocol-4 pickle (torch.save(..., pickle_protocol=4)) at its first FRAME, with the way out", () => {
    // What Python's pickler writes for protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE; all read, then refused.
    const p = new PickleWriter().proto(4).frame(9).emptyDict().memoize().shortStr("a").int(1).setitem().stop();
    const err = fails(p);
    expect([err.code, err.message]).toEqual([
      "unsupported",
      "pytorch_model.bin: torch >= 2.6 cannot load this file: opcode 0x95 (protocol 4 FRAME) at byte 2 of data.pkl, which its weights-only unpickler does not support: re-save with torch.save(..., pickle_protocol=2) or publish model.safetensors only",
    ]);
  });

  it.each([
    ["BINSTRING 'storage' in a persistent id", [0x54, 7, 0, 0, 0, ...Buffer.from("storage")], "0x54 (protocol 1 BINSTRING) at byte 2"],
    ["SHORT_BINBYTES", [0x43, 1, 0x41], "0x43 (protocol 3 SHORT_BINBYTES) at byte 2"],
    ["LONG4", [0x8b, 1, 0, 0, 0, 5], "0x8b (protocol 2 LONG4) at byte 2"],
    ["DUP", [0x4b, 1, 0x32], "0x32 (protocol 0 DUP) at byte 4"],
    ["LIST", [0x28, 0x6c], "0x6c (protocol 0 LIST) at byte 3"],
  ])("refuses %s, which Python's unpickler (torch 1.13) reads", (_what, ops, named) => {
    const err = fails(new PickleWriter().proto(2).raw(...ops).stop());
    expect(err.code).toBe("unsupported");
    expect(err.message).toContain(`torch >= 2.6 cannot load this file: opcode ${named} of data.pkl`);
  });

  it("refuses a protocol-0 text opcode at once (this reader does not run them)", () => {
    expect(fails(new PickleWriter().proto(2).raw(0x49, ...Buffer.from("1\n")).stop()).message).toContain("opcode 0x49 (protocol 0 INT) at byte 2");
  });

  it("still names an unsafe import that follows an opcode it refuses", () => {
    const err = fails(new PickleWriter().proto(4).frame(17).shortStr("posix").shortStr("system").stackGlobal().stop());
    expect([err.code, err.message]).toEqual(["unsafe-pickle", "pytorch_model.bin: pickle imports posix.system, which is not a tensor type"]);
  });

  it("refuses dtype aliases (torch.half) the weights-only unpickler does not allow, and takes str(dtype) names", () => {
    const err = fails(new PickleWriter().proto(2).global("torch", "half").stop());
    expect([err.code, err.message]).toEqual([
      "unsupported",
      "pytorch_model.bin: torch >= 2.6 cannot load this file: the pickle imports torch.half, a dtype alias its weights-only unpickler does not allow (only torch.float16): re-save with torch.save(..., pickle_protocol=2) or publish model.safetensors only",
    ]);
    expect(run(new PickleWriter().proto(2).global("torch", "float16").stop())).toEqual(new PyGlobal("torch", "float16"));
  });

  it("sets state only on an OrderedDict, from a dict, as both unpicklers can", () => {
    expect(fails(new PickleWriter().proto(2).emptyDict().emptyDict().build().stop()).message).toMatch(/sets state on an object that is not an OrderedDict/);
    expect(fails(new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().reduce().none().build().stop()).message).toMatch(
      /sets an OrderedDict's state from something that is not a dict/,
    );
  });

  it("decodes BINUNICODE with surrogates passing, and SHORT_BINSTRING as strict UTF-8 (torch.load's encoding)", () => {
    const surrogate = Buffer.from([0x58, 4, 0, 0, 0, 0x61, 0xed, 0xa0, 0x80]);
    expect(run(new PickleWriter().proto(2).raw(...surrogate).stop())).toBe("a\ud800");
    expect(fails(new PickleWriter().proto(2).raw(0x55, 1, 0xff).stop()).message).toBe("pytorch_model.bin: data.pkl is malformed: invalid UTF-8 in a string at byte 4");
  });
});

describe("restricted unpickler: storages as torch's persistent_load resolves them", () => {
  const tensorOf = (d: PyValue, name: string) => (d as PyDict).map.get(name) as PyTensor;

  it("the first reference to a key makes the storage; a later one gets it whatever it declares", () => {
    const d = run(persistentIds([
      { name: "a", key: "0", numel: 8, size: 8 },
      { name: "b", type: "IntStorage", key: "0", numel: 99, size: 4, location: "tpu:7" },
    ]));
    expect(tensorOf(d, "b").storage).toBe(tensorOf(d, "a").storage);
    expect(tensorOf(d, "b").storage).toEqual(new PyStorage("0", "float32", "cpu", 8));
  });

  it("a storage of no elements is not kept: each reference loads its own", () => {
    const d = run(persistentIds([
      { name: "a", key: "0", numel: 0, size: 0 },
      { name: "b", type: "IntStorage", key: "0", numel: 3, size: 3 },
    ]));
    expect(tensorOf(d, "b").storage).toEqual(new PyStorage("0", "int32", "cpu", 3));
  });

  it.each(["cpu", "cuda", "cuda:0", "cuda:3", "mps"])("takes the device tag %s (torch.load restores it where the device exists)", (location) => {
    expect(tensorOf(run(persistentIds([{ name: "a", key: "0", numel: 1, size: 1, location }])), "a").storage.location).toBe(location);
  });

  it.each([
    ["tpu:7", /cannot restore it on any machine/],
    ["cpu:0", /cannot restore it on any machine/],
    ["xpu:0", /cannot restore it on any machine/],
    ["cuda:x", /cannot restore it on any machine/],
    ["meta", /gives tensors on the meta device, without their values/],
  ])("refuses the device tag %s: torch.load without map_location fails on it", (location, why) => {
    const err = fails(persistentIds([{ name: "a", key: "5", numel: 1, size: 1, location }]));
    expect(err.code).toBe("unsupported");
    expect(err.message).toContain(`storage 5 is tagged with the device "${location}": torch.load without map_location`);
    expect(err.message).toMatch(why);
  });
});
