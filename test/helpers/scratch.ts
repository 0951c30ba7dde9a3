// A temporary folder per spec file, and the assertion that a promise fails with a WeightsError.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { WeightsError } from "../../src/checkpoint/weights-error.js";

export interface Scratch {
  /** The folder (set once the spec file's tests start). */
  dir: string;
  write(name: string, data: Uint8Array | string): Promise<string>;
}

export function useScratchDir(prefix: string): Scratch {
  const scratch: Scratch = {
    dir: "",
    async write(name, data) {
      const p = path.join(scratch.dir, name);
      await writeFile(p, data);
      return p;
    },
  };
  beforeAll(async () => {
    scratch.dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(scratch.dir, { recursive: true, force: true });
  });
  return scratch;
}

export async function weightsFailure(p: Promise<unknown>): Promise<WeightsError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WeightsError);
    return err as WeightsError;
  }
  throw new Error("expected a WeightsError");
}
