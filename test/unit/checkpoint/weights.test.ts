import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";
import { useScratchDir, weightsFailure } from "../../helpers/scratch.js";

import { lfsPointerText, safetensorsFile } from "../../helpers/torch-fixtures.js";
import { parseLfsPointer, readLfsPointer } from "../../../src/checkpoint/lfs-pointer.js";
import { readWeights } from "../../../src/checkpoint/weights.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const REAL = path.join(root, "test", "fixtures", "azbert-tiny", "pytorch_model.bin");
const OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

const scratch = useScratchDir("azbert-weights-");
const write = scratch.write;
const failure = weightsFailure;

describe("git-lfs pointers", () => {
  it("reads oid and size from a pointer, null from anything else", async () => {
    const p = await write("pointer.bin", lfsPointerText(OID, 440_473_133));
    expect(await readLfsPointer(p)).toEqual({ oid: `sha256:${OID}`, size: 440_473_133 });
    expect(await readLfsPointer(REAL)).toBeNull();
    expect(parseLfsPointer(Buffer.from("version https://git-lfs.github.com/spec/v1\nsize 3\n"))).toBeNull();
  });

  it("reports a pointer instead of parsing it as a checkpoint", async () => {
    const p = await write("pytorch_model.bin", lfsPointerText(OID, 440_473_133));
    const err = await failure(readWeights(p));
    expect(err.code).toBe("lfs-pointer");
    expect(err.file).toBe(p);
    expect(err.message).toBe(
      `pytorch_model.bin is a git-lfs pointer (oid sha256:${OID}, size 440473133), not the weights: run git lfs pull`,
    );
    const bad = await write("model.safetensors", "version https://git-lfs.github.com/spec/v1\noid sha256:zz\n");
    expect(await failure(readWeights(bad))).toMatchObject({ code: "lfs-pointer" });
  });
});

describe("readWeights dispatch", () => {
  it("reads by content, and refuses content the name does not promise (the loaders choose by name)", async () => {
    const st = safetensorsFile([{ name: "w", dtype: "F32", shape: [1], data: new Uint8Array(4) }]);
    expect((await readWeights(await write("weights", st))).format).toBe("safetensors");
    expect((await readWeights(await write("weights", await readFile(REAL)))).format).toBe("torch");
    expect(await failure(readWeights(await write("pytorch_model.bin", st)))).toMatchObject({
      code: "format-mismatch",
      message: expect.stringMatching(/^pytorch_model\.bin: holds safetensors data, but its name promises a torch\.save zip archive: torch\.load.* refuses it/),
    });
    expect(await failure(readWeights(await write("model.safetensors", await readFile(REAL))))).toMatchObject({
      code: "format-mismatch",
      message: expect.stringMatching(/^model\.safetensors: holds a torch\.save zip archive, but its name promises safetensors data: the safetensors loader.* refuses it/),
    });
  });

  it("names what it cannot read", async () => {
    expect(await failure(readWeights(await write("empty.bin", "")))).toMatchObject({
      code: "truncated",
      message: "empty.bin: truncated: the file is empty (0 bytes)",
    });
    expect(await failure(readWeights(await write("page.bin", "<!DOCTYPE html><html>Not found</html>")))).toMatchObject({
      code: "corrupt",
      message: "page.bin: is an HTML page, not weights (a failed download?)",
    });
    expect(await failure(readWeights(await write("junk.bin", Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))))).toMatchObject({
      code: "corrupt",
      message: "junk.bin: is neither a torch zip checkpoint nor a safetensors file (it starts with bytes 01 02 03 04 05 06 07 08)",
    });
    const missing = path.join(scratch.dir, "nope", "pytorch_model.bin");
    expect(await failure(readWeights(missing))).toMatchObject({ code: "unreadable", file: missing, message: "pytorch_model.bin: cannot read: no such file" });
    const dir = path.join(scratch.dir, "adir.bin");
    await mkdir(dir);
    expect(await failure(readWeights(dir))).toMatchObject({ code: "unreadable", message: "adir.bin: cannot read: is a directory, not a file" });
  });
});
