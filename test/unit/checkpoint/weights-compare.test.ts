import { truncate } from "node:fs/promises";
import { describe, expect, it } from "vitest";

import { useScratchDir } from "../../helpers/scratch.js";
import { safetensorsFile, stateDictPickle, torchZip } from "../../helpers/torch-fixtures.js";
import { loadWeightsSet, type SetTensor, type WeightsSet } from "../../../src/checkpoint/weight-sets.js";
import { compareWeightSets, requireSameTensors } from "../../../src/checkpoint/weights-compare.js";

const scratch = useScratchDir("azbert-compare-");
type Readable = WeightsSet & { tensors: SetTensor[] };

const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);

/** storage 0: [0..5]; w = all of it as [2, 3], wt = its transpose [3, 2] (strides 1, 3), tied = w again, row = its second row. */
async function torchSet(): Promise<Readable> {
  const pkl = stateDictPickle([
    { name: "w", storageType: "FloatStorage", key: "0", storageNumel: 6, shape: [2, 3] },
    { name: "wt", storageType: "FloatStorage", key: "0", storageNumel: 6, shape: [3, 2], stride: [1, 3] },
    { name: "tied", storageType: "FloatStorage", key: "0", storageNumel: 6, shape: [2, 3] },
    { name: "row", storageType: "FloatStorage", key: "0", storageNumel: 6, offset: 3, shape: [3] },
  ]);
  const file = await scratch.write("pytorch_model.bin", torchZip("archive", pkl, { "0": f32([0, 1, 2, 3, 4, 5]) }));
  return (await loadWeightsSet([file])) as Readable;
}

async function safetensorsSet(tensors: Record<string, { shape: number[]; values: number[] }>): Promise<Readable> {
  const file = await scratch.write("model.safetensors", safetensorsFile(Object.entries(tensors).map(([n, t]) => ({ name: n, dtype: "F32", shape: t.shape, data: f32(t.values) }))));
  return (await loadWeightsSet([file])) as Readable;
}

const good = { w: { shape: [2, 3], values: [0, 1, 2, 3, 4, 5] }, wt: { shape: [3, 2], values: [0, 3, 1, 4, 2, 5] }, row: { shape: [3], values: [3, 4, 5] } };

describe("pytorch_model.bin against model.safetensors", () => {
  it("compares every tensor in row-major order (a transposed view included); an exact alias may be left out", async () => {
    const r = await compareWeightSets(await torchSet(), await safetensorsSet(good));
    expect(r).toMatchObject({ tensors: 3, bytes: 60, aliases: 1, differences: [] });
  });

  it("a view that is not an exact alias must be there; a changed element, another shape or an extra name is named", async () => {
    const { row: _row, ...noRow } = good;
    const missing = await compareWeightSets(await torchSet(), await safetensorsSet(noRow));
    expect(missing.differences).toEqual([
      "tensor row is in pytorch_model.bin but not in model.safetensors, nor the same storage as a tensor it holds: the two files hold different models",
    ]);
    const changed = await compareWeightSets(
      await torchSet(),
      await safetensorsSet({ ...good, wt: { shape: [3, 2], values: [0, 3, 1, 4, 2, 6] }, row: { shape: [1, 3], values: [3, 4, 5] }, extra: { shape: [1], values: [1] } }),
    );
    expect(changed.differences).toEqual([
      "tensor extra is in model.safetensors but not in pytorch_model.bin: the two files hold different models",
      "tensor wt differs between pytorch_model.bin and model.safetensors (first at element 5): torch.load users and transformers users get different weights",
      "tensor row is float32 [3] in pytorch_model.bin but float32 [1, 3] in model.safetensors",
    ]);
  });

  it("the release's question, is every tensor of the .bin in the safetensors written from it: a refusal naming the missing one", async () => {
    await expect(requireSameTensors(await torchSet(), await safetensorsSet(good))).resolves.toMatchObject({ tensors: 3 });
    const { row: _row, ...noRow } = good;
    await expect(requireSameTensors(await torchSet(), await safetensorsSet(noRow))).rejects.toThrow(
      /^model\.safetensors does not hold every tensor of pytorch_model\.bin as it is there:\ntensor row is in pytorch_model\.bin but not in model\.safetensors/,
    );
  });

  it("a tensor that cannot be read is a difference, never equal", async () => {
    // Indexed, then cut short (changed on disk since).
    const st = await safetensorsSet(good);
    await truncate(st.tensors[0]!.source.file, st.tensors.at(-1)!.dataOffset + 4);
    const r = await compareWeightSets(await torchSet(), st);
    expect(r.differences).toHaveLength(1);
    expect(r.differences[0]).toMatch(/^tensor row of pytorch_model\.bin and model\.safetensors cannot be compared: model\.safetensors: truncated: tensor row ends at byte \d+ but the file ends at byte \d+$/);
  });
});
