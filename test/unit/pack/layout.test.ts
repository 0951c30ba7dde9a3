// The archive keeps the checkpoint's layout while the Hub gets flat paths: the expansion to the
// archive's entries, and the comparison `verify --tag` makes between the two copies.
import { describe, expect, it } from "vitest";
import { differenceFromFlat, inCheckpointLayout } from "../../../src/pack/layout.js";
import type { ManifestEntry } from "../../../src/checkpoint/types.js";

const A = "a".repeat(64);
const B = "b".repeat(64);
const entry = (p: string, sha256: string, layout?: Array<[string, string]>): ManifestEntry => ({
  path: p,
  size: 3,
  sha256,
  source: `/src/${p}`,
  stamp: { size: 3, mtimeNs: "1", ino: "2" },
  ...(layout ? { layout: layout.map(([path, source]) => ({ path, source })) } : {}),
});

describe("inCheckpointLayout", () => {
  it("puts every copy at its place in the checkpoint, each read from its own source, sorted byte-wise", () => {
    const files = inCheckpointLayout([
      entry("vocab.txt", A, [
        ["math-tokenizer/vocab.txt", "/src/vocab.txt"],
        ["2-2-0/encoder.ckpt/vocab.txt", "/ckpt/2-2-0/encoder.ckpt/vocab.txt"],
      ]),
      entry("README.md", B),
    ]);
    expect(files.map((f) => [f.path, f.source, f.sha256])).toEqual([
      ["2-2-0/encoder.ckpt/vocab.txt", "/ckpt/2-2-0/encoder.ckpt/vocab.txt", A],
      ["README.md", "/src/README.md", B],
      ["math-tokenizer/vocab.txt", "/src/vocab.txt", A],
    ]);
    // A copy read from another file has no stamp of the one that was hashed; no entry keeps a layout.
    expect(files[0]!.stamp).toBeUndefined();
    expect(files[2]!.stamp).toEqual({ size: 3, mtimeNs: "1", ino: "2" });
    expect(files.some((f) => "layout" in f)).toBe(false);
  });
});

describe("differenceFromFlat", () => {
  const hub = [
    { path: "config.json", size: 3, sha256: A },
    { path: "vocab.txt", size: 3, sha256: B },
  ];
  it("agrees when the archive flattened by name is the Hub's list, identical copies as one", () => {
    const archive = [
      { path: "2-2-0/config.json", size: 3, sha256: A },
      { path: "a/vocab.txt", size: 3, sha256: B },
      { path: "b/vocab.txt", size: 3, sha256: B },
    ];
    expect(differenceFromFlat(archive, hub)).toBeUndefined();
  });
  it("names two copies of one name that differ", () => {
    const archive = [
      { path: "config.json", size: 3, sha256: A },
      { path: "a/vocab.txt", size: 3, sha256: B },
      { path: "b/vocab.txt", size: 3, sha256: A },
    ];
    expect(differenceFromFlat(archive, hub)).toBe("a/vocab.txt and b/vocab.txt differ, but the Hub has one vocab.txt");
  });
  it("names a file whose content differs from the Hub's, one the Hub lacks and one the archive lacks", () => {
    expect(differenceFromFlat([{ path: "x/config.json", size: 3, sha256: B }, { path: "vocab.txt", size: 3, sha256: B }], hub)).toMatch(/^x\/config\.json: sha256 bbbbbbbbbbbb…, the Hub's config\.json aaaaaaaaaaaa…$/);
    expect(differenceFromFlat([{ path: "config.json", size: 4, sha256: A }, { path: "vocab.txt", size: 3, sha256: B }], hub)).toMatch(/^config\.json: sha256/);
    expect(differenceFromFlat([...hub, { path: "extra/notes.txt", size: 1, sha256: A }], hub)).toBe("extra/notes.txt is not on the Hub");
    expect(differenceFromFlat([hub[0]!], hub)).toBe("the Hub's vocab.txt is not in the archive");
  });
});
