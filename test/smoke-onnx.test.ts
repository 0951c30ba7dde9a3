// The ONNX encoder: a model onnxruntime accepts, whose external initializers it reads from the
// given byte range of a weights file and whose inline initializers and attributes survive encoding.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { attr, DT, encodeModel, GraphBuilder, type Initializer } from "../src/smoke/onnx.js";
import { useScratchDir } from "./helpers/scratch.js";

const scratch = useScratchDir("azbert-onnx-");

describe("encodeModel", () => {
  it("points external initializers into a weights file at an offset, and runs in onnxruntime", async () => {
    // A "weights file": 16 bytes of header, then a 2x3 float32 matrix, then a trailing float.
    const w = new Float32Array([1, 2, 3, 4, 5, 6]);
    const file = Buffer.concat([Buffer.alloc(16, 0xee), Buffer.from(w.buffer), Buffer.from(new Float32Array([99]).buffer)]);
    await scratch.write("weights.bin", file);

    const g = new GraphBuilder();
    g.initializers.push({ name: "W", dataType: DT.FLOAT, dims: [2, 3], location: "weights.bin", offset: 16, length: w.byteLength });
    // y = Gemm(x, W^T) * 0.5 + [10, 20], then Softmax-free arithmetic so the numbers are exact
    const scaled = g.op("Mul", [g.op("Gemm", ["x", "W"], { transB: attr.int(1), alpha: attr.float(2) }), g.float([0.25], [])]);
    g.nodes.push({ op: "Add", inputs: [scaled, g.float([10, 20])], outputs: ["y"] });
    const model = encodeModel(
      {
        name: "t",
        nodes: g.nodes,
        initializers: g.initializers,
        inputs: [{ name: "x", elemType: DT.FLOAT, shape: ["rows", 3] }],
        outputs: [{ name: "y", elemType: DT.FLOAT, shape: ["rows", 2] }],
      },
      { opset: 17, irVersion: 8, producer: "test" },
    );
    const session = await ort.InferenceSession.create(model, {
      extra: { session: { model_external_initializers_file_folder_path: scratch.dir } },
    });
    const x = new ort.Tensor("float32", new Float32Array([1, 0, 1, 0, 1, 0]), [2, 3]);
    const { y } = await session.run({ x });
    // row 0: [1+3, 4+6] = [4, 10]; row 1: [2, 5]; *2*0.25 = /2; + [10, 20]
    expect([...(y!.data as Float32Array)]).toEqual([12, 25, 11, 22.5]);
    expect(y!.dims).toEqual([2, 2]);
    await session.release();
  });

  it("keeps the weights out of the model bytes when they are external", () => {
    const big: Initializer = { name: "E", dataType: DT.FLOAT, dims: [1024, 1024], location: "weights.bin", offset: 0, length: 4 * 1024 * 1024 };
    const model = encodeModel(
      { name: "t", nodes: [{ op: "Identity", inputs: ["E"], outputs: ["y"] }], initializers: [big], inputs: [], outputs: [{ name: "y", elemType: DT.FLOAT, shape: [1024, 1024] }] },
      { opset: 17, irVersion: 8, producer: "test" },
    );
    expect(model.byteLength).toBeLessThan(1024);
  });
});
