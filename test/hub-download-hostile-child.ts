// One download from a (hostile) server in its own process, the way the proof makes it, and what
// it came to: the bytes and sha256, or the error's message; with the process's peak resident
// memory, which the parent holds to a bound.
//   node --import tsx test/hub-download-hostile-child.ts hub <endpoint> <repoId> <revision> <path> <size> <dest>
//   node --import tsx test/hub-download-hostile-child.ts github <apiUrl> <owner/repo> <tag> <name> - <dest>   (token in GITHUB_TOKEN)
// HTTP_TIMEOUTS (JSON, optional) lowers the layer's timeouts so that a slow server fails within a test's time.
import { readFileSync } from "node:fs";
import { createGitHubClient } from "../src/github/client.js";
import { downloadReleaseAsset } from "../src/github/download.js";
import { createRetryFetch } from "../src/hub/retry-fetch.js";
import { downloadHubFile } from "../src/hub/download.js";

const [kind, base, repo, revision, file, size, dest] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const timeouts = process.env.HTTP_TIMEOUTS ? (JSON.parse(process.env.HTTP_TIMEOUTS) as Record<string, number>) : {};
const peakRss = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) * 1024;

let outcome: Record<string, unknown>;
try {
  const got =
    kind === "hub"
      ? await downloadHubFile({ endpoint: base, repoId: repo, revision, path: file, dest, fetch: createRetryFetch({ timeouts, maxAttempts: 2, baseDelayMs: 10 }), ...(size !== "-" ? { size: Number(size) } : {}) })
      : await downloadReleaseAsset({
          client: createGitHubClient({ token: process.env.GITHUB_TOKEN!, baseUrl: base, timeouts, retries: 1, retryDelayMs: 10 }),
          token: process.env.GITHUB_TOKEN!,
          apiUrl: base,
          owner: repo.split("/")[0]!,
          repo: repo.split("/")[1]!,
          tag: revision,
          name: file,
          dest,
        });
  outcome = { ok: true, size: got.size, sha256: got.sha256 };
} catch (e) {
  outcome = { ok: false, error: (e as Error).message, name: (e as Error).constructor.name };
}
process.stdout.write(`${JSON.stringify({ ...outcome, peakRss: peakRss() })}\n`);
