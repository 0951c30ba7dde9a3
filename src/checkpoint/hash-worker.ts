// The worker thread of HashPool: reads one file at a time, hashing and scanning it in one pass
// (digestFile), and reports progress every few MiB.
import { parentPort } from "node:worker_threads";
import { digestFile } from "./hash-cache.js";
import type { HashReply, HashRequest } from "./hash-pool.js";

/** Progress is reported in steps of this many bytes (a message per MiB would be noise). */
const PROGRESS_BYTES = 16 << 20;

const port = parentPort!;
port.on("message", (req: HashRequest) => {
  let unreported = 0;
  const reply = (m: Omit<HashReply, "bytes">) => {
    port.postMessage({ bytes: unreported, ...m } satisfies HashReply);
    unreported = 0;
  };
  const onBytes = (n: number) => {
    unreported += n;
    if (unreported >= PROGRESS_BYTES) reply({});
  };
  digestFile(req.file, { onBytes, ...(req.plan ? { plan: req.plan } : {}) }).then(
    (digest) => reply({ digest }),
    (e: unknown) => {
      const err = e as NodeJS.ErrnoException & { kind?: string };
      const fields = { code: err?.code, syscall: err?.syscall, path: err?.path, kind: err?.kind };
      reply({ error: { message: err instanceof Error ? err.message : String(e), ...Object.fromEntries(Object.entries(fields).filter(([, v]) => typeof v === "string")) } });
    },
  );
});
