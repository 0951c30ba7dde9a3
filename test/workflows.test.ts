// The GitHub Actions workflows are valid and run the commands the README documents: each
// workflow is parsed and its triggers, jobs and steps are asserted; the one shell line that
// decides whether the GPU smoke job runs is executed.
import { validateWorkflow } from "@action-validator/core";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import semver from "semver";
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

interface Step {
  id?: string;
  name?: string;
  if?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  "runs-on": string | string[];
  permissions?: Record<string, string>;
  needs?: string[];
  if?: string;
  outputs?: Record<string, string>;
  "timeout-minutes"?: number;
  environment?: string;
  strategy?: { matrix?: Record<string, unknown[]>; "fail-fast"?: boolean };
  /** A reusable workflow called as a job (then there are no steps). */
  uses?: string;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; "cancel-in-progress"?: boolean };
  jobs: Record<string, Job>;
}

const workflow = (file: string) => parse(read(`.github/workflows/${file}`)) as Workflow;
const runs = (job: Job) => job.steps.filter((s) => s.run !== undefined).map((s) => s.run!.trim());
const uses = (job: Job, action: string) => job.steps.find((s) => s.uses?.startsWith(`${action}@`));

describe("workflows", () => {
  it("README gives the install + dry-run command and the test command", () => {
    const { install, test } = readmeCommands();
    expect(install).toBe("npm ci && npm run release -- --dry-run");
    expect(test).toBe("npm test");
    // CI runs exactly that command, once per supported Node.js version.
    expect(read(".ci/run")).toMatch(/for v in 22 24; do[\s\S]*PATH="\$bin:\$PATH" npm test\n/);
  });

  for (const file of ["ci.yml", "release.yml"]) {
    it(`${file} passes GitHub's workflow schema`, () => {
      // The validator's schema (0.6.0, the newest) predates the `attestations` permission (GitHub,
      // 2024: required by actions/attest-build-provenance); everything else is checked as written.
      const text = read(`.github/workflows/${file}`).replace(/^ +attestations: write\n/m, "");
      expect(validateWorkflow(text).errors).toEqual([]);
    });
  }

  it("ci.yml: on every push and pull request (and when the release calls it), on Node 22 and 24, installs, runs the README's test command and the CPU smoke; the checklist on main", () => {
    const wf = workflow("ci.yml");
    expect(Object.keys(wf.on).sort()).toEqual(["pull_request", "push", "workflow_call"]);
    expect(wf.permissions).toEqual({ contents: "read" });
    const job = wf.jobs.test!;
    expect(job.strategy?.matrix).toEqual({ node: [22, 24] });
    expect(uses(job, "actions/setup-node")?.with).toMatchObject({ "node-version": "${{ matrix.node }}" });
    expect(job["timeout-minutes"]).toBeGreaterThan(0);
    // No LFS download at checkout on every push: LFS objects come from a cache keyed by the set of objects.
    expect(uses(job, "actions/checkout")?.with?.lfs).toBeFalsy();
    expect(uses(job, "actions/cache")?.with).toEqual({ path: ".git/lfs", key: "lfs-${{ steps.lfs.outputs.id }}" });
    expect(runs(job)).toContain("git lfs pull");
    // The tests commit in their repositories: a fresh runner gets an identity first.
    expect(runs(job).some((r) => /git config --global user\.name .+ && git config --global user\.email /.test(r))).toBe(true);
    expect(runs(job).filter((r) => r.startsWith("npm "))).toEqual(["npm ci", readmeCommands().test, "npm run smoke -- --device cpu", "npm run check -- --offline"]);
    const checklist = job.steps.find((s) => s.run === "npm run check -- --offline")!;
    expect(checklist.if).toBe("${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}");
  });

  it("release.yml: on v* tags, one release at a time for all tags, write permission; the release job waits for the tests, runs in the release environment on Node 22 with a time limit, and releases with the secrets", () => {
    const wf = workflow("release.yml");
    expect(wf.on).toEqual({ push: { tags: ["v*"] } });
    expect(wf.permissions).toEqual({ contents: "write" });
    // One group for every tag: two tags pushed together must not race on the Hub branch.
    expect(wf.concurrency).toEqual({ group: "release", "cancel-in-progress": false });
    expect(wf.jobs.test?.uses).toBe("./.github/workflows/ci.yml");
    const job = wf.jobs.release!;
    expect(job.needs).toEqual(["test", "config", "gpu-smoke"]);
    // A skipped GPU smoke (no runner configured) lets the release run; failed tests or a failed GPU smoke block it.
    expect(job.if).toBe("${{ !failure() && !cancelled() }}");
    expect(job.environment).toBe("release");
    for (const name of ["config", "gpu-smoke", "release"]) expect(wf.jobs[name]!["timeout-minutes"], name).toBeGreaterThan(0);
    expect(uses(job, "actions/checkout")?.with).toEqual({ lfs: true, "fetch-depth": 0 });
    expect(uses(job, "actions/setup-node")?.with).toMatchObject({ "node-version": 22, cache: "npm" });
    expect(runs(job).filter((r) => r.startsWith("npm "))).toEqual(["npm ci", "npm run release -- --yes"]);
    const release = job.steps.find((s) => s.run === "npm run release -- --yes")!;
    // The Hub through Trusted Publishing: no long-lived Hub token in the job.
    expect(release.env).toEqual({ GITHUB_TOKEN: "${{ secrets.GITHUB_TOKEN }}" });
  });

  it("release.yml: after the release, the archive, SHA256SUMS and manifest.json get a build-provenance attestation (README and notes say how to check it)", () => {
    const job = workflow("release.yml").jobs.release!;
    expect(job.permissions).toEqual({ contents: "write", "id-token": "write", attestations: "write" });
    const steps = job.steps;
    const attest = uses(job, "actions/attest-build-provenance")!;
    expect(steps.indexOf(attest)).toBeGreaterThan(steps.findIndex((s) => s.run === "npm run release -- --yes"));
    // The files are where the config says the release writes them (the config job reads it; tested below).
    const dir = "${{ needs.config.outputs.out-dir }}";
    expect(String(attest.with?.["subject-path"]).trim().split("\n")).toEqual([`${dir}/\${{ needs.config.outputs.archive }}`, `${dir}/SHA256SUMS`, `${dir}/manifest.json`]);
    expect(readme).toContain("gh attestation verify ckpt.tar.gz --repo <owner>/<name>");
  });

  it("package.json's engines are honest: every installed runtime dependency runs on every Node.js it declares, and CI tests its oldest major", () => {
    const declared = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { dev?: boolean; engines?: { node?: string } }> };
    const needsNewer: string[] = [];
    for (const [where, p] of Object.entries(lock.packages)) {
      if (!where || p.dev || !p.engines?.node) continue;
      // Every version we declare must be one the dependency accepts.
      if (!semver.subset(declared, p.engines.node)) needsNewer.push(`${where.replace(/^node_modules\//, "")} needs node ${p.engines.node}`);
    }
    expect(needsNewer, `package.json says node ${declared}`).toEqual([]);
    expect(semver.minVersion(declared)?.major).toBe(Math.min(...(workflow("ci.yml").jobs.test!.strategy!.matrix!.node as number[])));
  });

  it("release.yml: the GPU smoke job runs on the runner labelled by smoke.gpuRunnerLabel, and only when there is one", () => {
    const wf = workflow("release.yml");
    const gpu = wf.jobs["gpu-smoke"]!;
    expect(gpu.needs).toEqual(["config"]);
    expect(gpu.if).toBe("${{ needs.config.outputs.gpu-runner != '' }}");
    expect(gpu["runs-on"]).toEqual(["self-hosted", "${{ needs.config.outputs.gpu-runner }}"]);
    expect(runs(gpu)).toEqual(["npm ci", "npm run smoke -- --device cuda"]);
    const config = wf.jobs.config!;
    expect(config.outputs).toEqual({
      "gpu-runner": "${{ steps.read.outputs.gpu-runner }}",
      "out-dir": "${{ steps.read.outputs.out-dir }}",
      archive: "${{ steps.read.outputs.archive }}",
    });
    // The step that reads the config, run as Actions runs it: bash, in a checkout, with $GITHUB_OUTPUT.
    const read = config.steps.find((s) => s.id === "read")!.run!;
    const outputFor = (cfg: unknown): string => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "azbert-wf-"));
      try {
        writeFileSync(path.join(dir, "release.config.json"), JSON.stringify(cfg));
        writeFileSync(path.join(dir, "out"), "");
        execFileSync("bash", ["-e", "-c", read], { cwd: dir, env: { ...process.env, GITHUB_OUTPUT: path.join(dir, "out") } });
        return readFileSync(path.join(dir, "out"), "utf8");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const defaults = "out-dir=out\narchive=ckpt.tar.gz\n";
    expect(outputFor({ smoke: { gpuRunnerLabel: "a100" } })).toBe(`gpu-runner=a100\n${defaults}`);
    expect(outputFor({ smoke: { device: "cpu" } })).toBe(`gpu-runner=\n${defaults}`);
    expect(outputFor({})).toBe(`gpu-runner=\n${defaults}`);
    // The attestation follows a config that writes the release elsewhere.
    expect(outputFor({ github: { outDir: "dist/release", archive: "azbert-base.tar.gz" } })).toBe("gpu-runner=\nout-dir=dist/release\narchive=azbert-base.tar.gz\n");
  });
});
