// What `init` writes and says for Trusted Publishing: a workflow whose release job has
// `id-token: write` and no Hub token secret, and the Trusted Publisher to add on the Hub, naming
// this GitHub repository, the workflow file and the tag refs.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { initProject } from "../../../src/init/init.js";
import { sampleCkpt } from "../../helpers/cli.js";

const root = mkdtempSync(path.join(os.tmpdir(), "azbert-init-tp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("init: Trusted Publishing by default", () => {
  it("the release job exchanges its OIDC token (id-token: write, no HF_TOKEN), and init names the Trusted Publisher to add for the GitHub origin", async () => {
    execFileSync("git", ["init", "-q", "-b", "main", root]);
    execFileSync("git", ["-C", root, "remote", "add", "origin", "https://github.com/azbert/azbert.git"]);
    cpSync(sampleCkpt, path.join(root, "model"), { recursive: true });
    const r = await initProject({ root, version: "1.0.0", hubRepo: "azbert/azbert-tiny" });
    expect(r.nextSteps).toContain(
      "On the Hub (azbert/azbert-tiny → Settings → Trusted Publishers), add: provider GitHub Actions, repository azbert/azbert, workflow release.yml, ref refs/tags/v* (the tags you release from). The workflow then needs no HF_TOKEN secret (a Hub token as HF_TOKEN stays the fallback).",
    );
    const text = readFileSync(path.join(root, ".github", "workflows", "release.yml"), "utf8");
    expect(text).toContain("provider GitHub Actions, repository azbert/azbert,");
    const wf = parse(text) as { jobs: { release: { permissions: Record<string, string>; steps: Array<{ run?: string; env?: Record<string, string> }> } } };
    expect(wf.jobs.release.permissions).toMatchObject({ contents: "write", "id-token": "write" });
    const step = wf.jobs.release.steps.find((s) => s.run?.endsWith(" release --yes"));
    expect(step?.env).toEqual({ GITHUB_TOKEN: "${{ github.token }}" });
    // HF_TOKEN is named only in the comment that says how to fall back to it.
    expect(text.split("\n").filter((l) => l.includes("HF_TOKEN")).every((l) => l.trimStart().startsWith("#"))).toBe(true);
  });
});
