// ONNX ModelProto encoding (onnx.proto field numbers) and a small graph builder, enough to
// express a BERT forward with initializers either inline (raw_data) or pointing at byte
// ranges of an existing weights file (external data).
import { ProtoWriter } from "./protobuf.js";

/** onnx.TensorProto.DataType */
export const DT = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
export type OnnxDataType = (typeof DT)[keyof typeof DT];

export type AttrValue =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: number[] }
  | { kind: "string"; value: string };

export const attr = {
  int: (value: number): AttrValue => ({ kind: "int", value }),
  float: (value: number): AttrValue => ({ kind: "float", value }),
  ints: (value: number[]): AttrValue => ({ kind: "ints", value }),
  string: (value: string): AttrValue => ({ kind: "string", value }),
};

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  domain?: string;
}

export type Initializer =
  | { name: string; dataType: OnnxDataType; dims: number[]; raw: Uint8Array }
  | {
      name: string;
      dataType: OnnxDataType;
      dims: number[];
      /** File name relative to the external-data folder given to the runtime. */
      location: string;
      offset: number;
      length: number;
    };

export interface ValueInfo {
  name: string;
  elemType: OnnxDataType;
  /** A number is a fixed dimension, a string a symbolic one. */
  shape: (number | string)[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: Initializer[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

function encodeAttribute(name: string, a: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  switch (a.kind) {
    case "float":
      w.float(2, a.value).varint(20, 1);
      break;
    case "int":
      w.varint(3, a.value).varint(20, 2);
      break;
    case "string":
      w.string(4, a.value).varint(20, 3);
      break;
    case "ints":
      w.packedVarints(8, a.value).varint(20, 7);
      break;
  }
  return w;
}

function encodeNode(n: NodeSpec, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, encodeAttribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function encodeTensor(t: Initializer): ProtoWriter {
  const w = new ProtoWriter();
  if (t.dims.length) w.packedVarints(1, t.dims);
  w.varint(2, t.dataType);
  w.string(8, t.name);
  if ("raw" in t) {
    w.bytes(9, t.raw);
  } else {
    for (const [k, v] of [
      ["location", t.location],
      ["offset", String(t.offset)],
      ["length", String(t.length)],
    ] as const) {
      w.message(13, new ProtoWriter().string(1, k).string(2, v));
    }
    w.varint(14, 1); // data_location = EXTERNAL
  }
  return w;
}

function encodeValueInfo(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, v.elemType).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

export function encodeModel(graph: GraphSpec, opts: { opset: number; irVersion: number; producer: string }): Uint8Array {
  const g = new ProtoWriter();
  graph.nodes.forEach((n, i) => g.message(1, encodeNode(n, i)));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, encodeTensor(t));
  for (const v of graph.inputs) g.message(11, encodeValueInfo(v));
  for (const v of graph.outputs) g.message(12, encodeValueInfo(v));

  const m = new ProtoWriter();
  m.varint(1, opts.irVersion);
  m.string(2, opts.producer);
  m.message(7, g);
  m.message(8, new ProtoWriter().string(1, "").varint(2, opts.opset));
  return m.finish();
}

/** Collects nodes and initializers with unique intermediate names. */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: Initializer[] = [];
  private counter = 0;
  private constants = new Map<string, string>();

  fresh(hint: string): string {
    return `${hint}__${this.counter++}`;
  }

  /** Adds a node with a single output and returns the output's name. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, hint = op): string {
    const out = this.fresh(hint);
    this.nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  }

  /** An int64 constant initializer (deduplicated by value). */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const raw = new Uint8Array(values.length * 8);
    const dv = new DataView(raw.buffer);
    values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    const name = this.fresh("const_i64");
    this.initializers.push({ name, dataType: DT.INT64, dims, raw });
    this.constants.set(key, name);
    return name;
  }

  /** A float32 constant initializer (deduplicated by value). */
  float(values: number[], dims: number[] = [values.length]): string {
    const key = `f32:${dims.join("x")}:${values.join(",")}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const raw = new Uint8Array(new Float32Array(values).buffer);
    const name = this.fresh("const_f32");
    this.initializers.push({ name, dataType: DT.FLOAT, dims, raw });
    this.constants.set(key, name);
    return name;
  }
}
