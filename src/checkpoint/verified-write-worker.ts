// The worker thread of the safetensors writer: one verified write at a time (verified-write.ts),
// progress as it goes, then the bytes verified (and their sha256) or the error.
import { parentPort } from "node:worker_threads";
import { UserError } from "../report.js";
import { writeVerified, type VerifiedWriteJob, type VerifiedWritten } from "./verified-write.js";

export type VerifiedWriteReply =
  | { bytes: number }
  | { verified: VerifiedWritten }
  | { error: { message: string; exitCode?: number; code?: string } };

const port = parentPort!;
port.on("message", (job: VerifiedWriteJob) => {
  writeVerified(job, (bytes) => port.postMessage({ bytes } satisfies VerifiedWriteReply)).then(
    (verified) => port.postMessage({ verified } satisfies VerifiedWriteReply),
    (e: unknown) => {
      const err = e as Error & { code?: unknown };
      port.postMessage({
        error: { message: err instanceof Error ? err.message : String(e), ...(e instanceof UserError ? { exitCode: e.exitCode } : {}), ...(typeof err?.code === "string" ? { code: err.code } : {}) },
      } satisfies VerifiedWriteReply);
    },
  );
});
