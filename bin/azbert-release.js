#!/usr/bin/env node
// Thin launcher: the TypeScript is compiled to dist/ and bundled into dist/bin/ by `npm run build`
// (run by `npm ci` via prepare).
import { main } from "../dist/bin/cli.js";

// `azbert-release check | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await main(process.argv.slice(2));
