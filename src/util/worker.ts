// Worker threads for the work that would otherwise hold the main thread (hashing, verified
// writes): the compiled .js module next to the caller, or, when the caller runs from its
// TypeScript source (tests, benchmarks under tsx), the .ts source loaded through tsx.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

/** Starts the worker module `name` (without extension) that sits beside the module at `callerUrl`. */
export function startWorker(callerUrl: string, name: string): Worker {
  const caller = fileURLToPath(callerUrl);
  const url = new URL(`./${name}${path.extname(caller)}`, callerUrl);
  if (!caller.endsWith(".ts")) return new Worker(url);
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true });
}
