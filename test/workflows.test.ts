// The GitHub Actions workflows are valid and run the commands the README documents.
import { validateWorkflow } from "@action-validator/core";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./helpers/cli.js";

const read = (p: string) => readFileSync(path.join(repoRoot, p), "utf8");
const readme = read("README.md");

/** The two fresh-machine commands: the first fenced `sh` blocks of the Quick start. */
function readmeCommands(): { install: string; test: string } {
  const quick = readme.slice(readme.indexOf("## Quick start"));
  const blocks = [...quick.matchAll(/```sh\n([^\n]+)\n```/g)].map((m) => m[1]!.trim());
  return { install: blocks[0]!, test: blocks[1]! };
}

type Workflow = { on: Record<string, unknown>; permissions?: Record<string, string>; concurrency?: { group: string }; jobs: Record<string, { steps?: Array<{ run?: string; uses?: string; with?: Record<string, unknown>; env?: Record<string, string> }> }> };
const runs = (wf: Workflow) => Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.run ?? "")).join("\n");

describe("workflows", () => {
  it("README gives the install + dry-run command and the test command", () => {
    const { install, test } = readmeCommands();
    expect(install).toBe("npm ci && npm run release -- --dry-run");
    expect(test).toBe("npm test");
    expect(read(".ci/run")).toMatch(/^npm test$/m);
  });

  for (const file of ["ci.yml", "release.yml"]) {
    it(`${file} is a valid workflow`, () => {
      const state = validateWorkflow(read(`.github/workflows/${file}`));
      expect(state.errors).toEqual([]);
    });
  }

  it("the validator does reject a broken workflow", () => {
    expect(validateWorkflow("on: push\njobs:\n  a:\n    steps: 5\n").errors.length).toBeGreaterThan(0);
  });

  it("ci.yml runs the README's test command and the checklist on push and pull request", () => {
    const wf = parse(read(".github/workflows/ci.yml")) as Workflow;
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(["push", "pull_request"]));
    expect(runs(wf)).toMatch(/^npm ci$/m);
    expect(runs(wf)).toContain(readmeCommands().test);
    expect(runs(wf)).toMatch(/npm run check/);
  });

  it("release.yml releases on v* tags with secrets, write permission, LFS checkout and one run per tag", () => {
    const text = read(".github/workflows/release.yml");
    const wf = parse(text) as Workflow;
    expect((wf.on.push as { tags: string[] }).tags).toEqual(["v*"]);
    expect(wf.permissions?.contents).toBe("write");
    expect(wf.concurrency?.group).toMatch(/github\.ref_name/);
    const release = wf.jobs.release!.steps!;
    const checkout = release.find((s) => s.uses?.startsWith("actions/checkout"))!;
    expect(checkout.with).toMatchObject({ lfs: true, "fetch-depth": 0 });
    expect(release.find((s) => s.uses?.startsWith("actions/setup-node"))!.with).toMatchObject({ cache: "npm" });
    const step = release.find((s) => s.run?.includes("npm run release"))!;
    expect(step.run).toBe("npm run release -- --yes");
    expect(step.env).toMatchObject({ HF_TOKEN: "${{ secrets.HF_TOKEN }}", GITHUB_TOKEN: "${{ secrets.GITHUB_TOKEN }}" });
    // The optional GPU smoke reads its runner label from the release config.
    expect(text).toMatch(/gpuRunnerLabel/);
    expect(runs(wf)).toMatch(/npm run smoke -- --device cuda/);
  });
});
