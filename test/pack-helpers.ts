// Test helper: a flat manifest of a checkpoint folder (the lead's manifest module replaces it).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { Manifest } from "../src/checkpoint/types.js";

export function manifestOf(dir: string): Manifest {
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isFile())
    .sort()
    .map((name) => {
      const source = path.resolve(dir, name);
      const bytes = readFileSync(source);
      return { path: name, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), source };
    });
}
