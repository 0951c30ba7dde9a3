#!/usr/bin/env node
// Build step (after tsc): the CLI as one bundle in dist/bin/ (bin/azbert-release.js loads it), with
// a chunk per lazily loaded command or stage (esbuild's code splitting keeps every dynamic import
// lazy) and the worker threads' entries beside it. Loading ~150 small modules costs a command more
// start-up than its work (`check` of a cached checkpoint: ~0.1 s of ~0.3 s); one file per part
// costs a fraction. The modules under dist/ stay as tsc wrote them (benchmarks, debugging).
// Packages that read files beside their own code (WebAssembly, native binaries) stay external.
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "package.json"));
const esbuild = require("esbuild");

// Chunk names carry a content hash: a previous build's chunks would pile up.
rmSync(path.join(root, "dist", "bin"), { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: {
    cli: "dist/cli.js",
    // startWorker() finds a worker's module beside the code that starts it: here, the chunks.
    "hash-worker": "dist/checkpoint/hash-worker.js",
    "verified-write-worker": "dist/checkpoint/verified-write-worker.js",
  },
  outdir: "dist/bin",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["@huggingface/hub", "@huggingface/tokenizers", "onnxruntime-node", "onnx-proto"],
  // CommonJS packages inside an ES module bundle still call require().
  banner: { js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);' },
  logLevel: "warning",
});
