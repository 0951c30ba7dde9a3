// A model whose logits are only partly broken (one vocabulary entry NaN or Inf, every other logit
// finite) is as broken as one that is all NaN: the smoke test fails every case, with no
// expectations configured, whatever the top-k happens to look like.
import { rm } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { CpuEngine } from "../../../src/smoke/engine.js";
import { runSmoke } from "../../../src/smoke/main.js";
import { writeSafetensorsCopy } from "../../smoke-helpers.js";

const made: string[] = [];
afterAll(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

/** The sample, with one entry of the output bias set to `value`: one logit per mask is broken. */
async function withBrokenBias(value: number, at: number): Promise<string> {
  const dir = await writeSafetensorsCopy({
    dtype: "F32",
    transform: (name, data) => {
      if (name !== "cls.predictions.bias") return data;
      const out = data.slice();
      out[at] = value;
      return out;
    },
  });
  made.push(dir);
  return dir;
}

describe("smoke on logits that are only partly non-finite", () => {
  for (const [label, value] of [["NaN", Number.NaN], ["+Inf", Number.POSITIVE_INFINITY], ["-Inf", Number.NEGATIVE_INFINITY]] as const) {
    it(`one ${label} logit per mask fails every case`, async () => {
      const dir = await withBrokenBias(value, 7);
      const engine = await CpuEngine.load(dir);
      try {
        const out = await engine.run([[101, 200, 103, 102]], 5);
        const row = out.masks[0]?.[0]?.logits;
        expect(row).toBeDefined();
        // Partly: the broken entry, and only it.
        const broken = [...row!].flatMap((x, i) => (Number.isFinite(x) ? [] : [i]));
        expect(broken).toEqual([7]);
      } finally {
        await engine.dispose();
      }
      const report = await runSmoke({ ckptDir: dir, device: "cpu", compare: false });
      expect(report.ok).toBe(false);
      expect(report.cases.length).toBeGreaterThan(0);
      for (const c of report.cases) expect(c).toMatchObject({ status: "fail", reason: expect.stringMatching(/logits at token \d+ hold NaN or Inf/) });
    });
  }
});
