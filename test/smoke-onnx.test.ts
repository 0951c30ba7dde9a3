// The ONNX encoder and the engine's step graphs: models onnxruntime accepts, whose weights are
// inputs fed at run time (views into a bigger buffer included), whose constants and attributes
// survive encoding.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { attentionModel, linearModel } from "../src/smoke/bert-graph.js";
import { attr, DT, encodeModel, GraphBuilder } from "../src/smoke/onnx.js";

const f32 = (data: number[] | Float32Array, dims: number[]) => new ort.Tensor("float32", Float32Array.from(data), dims);

describe("encodeModel", () => {
  it("encodes a graph with a weight input, constants and attributes that onnxruntime runs", async () => {
    const g = new GraphBuilder();
    // y = Gemm(x, W^T) * alpha 2 * 0.25 + [10, 20]: exact arithmetic
    const scaled = g.op("Mul", [g.op("Gemm", ["x", "W"], { transB: attr.int(1), alpha: attr.float(2) }), g.float([0.25], [])]);
    g.nodes.push({ op: "Add", inputs: [scaled, g.float([10, 20])], outputs: ["y"] });
    const model = encodeModel(
      {
        name: "t",
        nodes: g.nodes,
        initializers: g.initializers,
        inputs: [
          { name: "x", elemType: DT.FLOAT, shape: ["rows", 3] },
          { name: "W", elemType: DT.FLOAT, shape: [2, 3] },
        ],
        outputs: [{ name: "y", elemType: DT.FLOAT, shape: ["rows", 2] }],
      },
      { opset: 17, irVersion: 8, producer: "test" },
    );
    const session = await ort.InferenceSession.create(model);
    // W fed as a view 16 bytes into a larger buffer, as the engine feeds rows of its read buffer
    const buffer = new Float32Array([99, 99, 99, 99, 1, 2, 3, 4, 5, 6, 99]);
    const W = new ort.Tensor("float32", buffer.subarray(4, 10), [2, 3]);
    const { y } = await session.run({ x: f32([1, 0, 1, 0, 1, 0], [2, 3]), W });
    // row 0: [1+3, 4+6] = [4, 10]; row 1: [2, 5]; *2*0.25 = /2; + [10, 20]
    expect([...(y!.data as Float32Array)]).toEqual([12, 25, 11, 22.5]);
    expect(y!.dims).toEqual([2, 2]);
    await session.release();
  });
});

describe("the engine's step graphs", () => {
  it("linear: y = relu(x · Wᵀ + b) for the rows of W fed", async () => {
    const session = await ort.InferenceSession.create(linearModel("relu"));
    const { y } = await session.run({ x: f32([1, 2, -1, 0], [2, 2]), w: f32([1, 1, 1, -1, -2, 0], [3, 2]), b: f32([0, 1, 0.5], [3]) });
    // x0 = [1, 2]: [3, 0, -1.5] -> relu; x1 = [-1, 0]: [-1, 0, 2.5]
    expect([...(y!.data as Float32Array)]).toEqual([3, 0, 0, 0, 0, 2.5]);
    await session.release();
  });

  it("attention: a group of heads attends only where the bias lets it (block-diagonal rows)", async () => {
    // one row of 3 tokens, H = 2, one head of width 2; q = k = 0 (uniform attention), v = x
    const session = await ort.InferenceSession.create(attentionModel(2));
    const x = [1, 2, 3, 4, 5, 6];
    const min = -3.4028234663852886e38;
    // tokens 0 and 1 are one case, token 2 another
    const bias = [0, 0, min, 0, 0, min, min, min, 0];
    const zero = f32([0, 0, 0, 0], [2, 2]);
    const i64 = (v: number[]) => new ort.Tensor("int64", BigInt64Array.from(v.map(BigInt)), [v.length]);
    const { ctx } = await session.run({
      x: f32(x, [3, 2]),
      attn_bias: f32(bias, [1, 1, 3, 3]),
      heads_shape: i64([1, 3, 1, 2]),
      flat_shape: i64([3, 2]),
      wq: zero,
      bq: f32([0, 0], [2]),
      wk: zero,
      bk: f32([0, 0], [2]),
      wv: f32([1, 0, 0, 1], [2, 2]),
      bv: f32([0, 0], [2]),
    });
    expect([...(ctx!.data as Float32Array)]).toEqual([2, 3, 2, 3, 5, 6]);
    await session.release();
  });
});
