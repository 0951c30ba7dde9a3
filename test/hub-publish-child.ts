// Runs one publish in its own process and reports the process's peak resident memory, so a test
// or a benchmark can tell whether a publish path holds a whole file in memory (Buffers are
// outside the V8 heap: --max-old-space-size would not see them; the kernel's VmHWM does).
//   node --import tsx test/hub-publish-child.ts <api|git> <endpoint> <repoId> <ckptDir>   (token in HF_TOKEN)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRetryFetch, publishHubApi, publishHubGit } from "../src/hub/index.js";
import { buildManifest } from "./hub-helpers.js";
import { hermeticGitEnv } from "./hub-server/git.js";

/** Peak resident set of this process so far, in bytes (Linux). */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

async function main(): Promise<void> {
  const [transport, endpoint, repoId, ckptDir] = process.argv.slice(2) as [string, string, string, string];
  const token = process.env.HF_TOKEN!;
  const manifest = await buildManifest(ckptDir);
  const afterHash = peakRss();
  const common = { endpoint, repoId, token, manifest, tag: "v0.0.1", createRepo: true, fetch: createRetryFetch() };
  let status: string;
  if (transport === "git") {
    const cwd = mkdtempSync(path.join(os.tmpdir(), "publish-child-"));
    const env = hermeticGitEnv();
    execFileSync("git", ["init", "-q", cwd], { env });
    execFileSync("git", ["remote", "add", "hgf", `${endpoint}/${repoId}`], { cwd, env });
    try {
      status = (await publishHubGit({ ...common, cwd, remote: "hgf", env })).status;
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  } else status = (await publishHubApi(common)).status;
  process.stdout.write(`${JSON.stringify({ status, peakRss: peakRss(), peakRssAfterHashing: afterHash })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
