// Downloads one file of a Hub revision in its own process, as the proof does (resolve URL, the
// redirect to storage followed by hand), and reports the file's sha256 and the process's peak
// resident memory: a download that buffered the file would show its size here.
//   node --import tsx test/hub-download-child.ts <endpoint> <repoId> <revision> <path> <dest>   (token in HF_TOKEN, optional)
import { readFileSync } from "node:fs";
import { createRetryFetch, downloadHubFile } from "../src/hub/index.js";

const [endpoint, repoId, revision, file, dest] = process.argv.slice(2) as [string, string, string, string, string];
const got = await downloadHubFile({ endpoint, repoId, revision, path: file, dest, fetch: createRetryFetch(), ...(process.env.HF_TOKEN ? { token: process.env.HF_TOKEN } : {}) });
const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
process.stdout.write(`${JSON.stringify({ ...got, peakRss: peak ? Number(peak[1]) * 1024 : process.resourceUsage().maxRSS * 1024 })}\n`);
