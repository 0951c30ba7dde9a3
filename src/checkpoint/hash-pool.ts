// Hashing (and the fused NaN/Inf scan) of large files on worker threads: the main thread keeps
// running the checklist while the weights are read and hashed, and several large files (shards)
// are hashed at once, one per core: a worker per core but one, and the calling thread itself for
// one more file (its reads are asynchronous: it goes on with other work between chunks). A worker
// costs ~12 MB of memory; the calling thread costs nothing more, so memory stays flat with the
// number of files. Small files are hashed on the calling thread: a worker's start-up costs more
// than hashing a config file.
import os from "node:os";
import type { Worker } from "node:worker_threads";
import { startWorker } from "../util/worker.js";
import type { ScanPlan } from "./finite-scan.js";
import { digestFile, type DigestOptions, type FileDigest } from "./hash-cache.js";

/** Files from this size on are hashed on a worker thread. */
export const WORKER_MIN_BYTES = 16 << 20;

/** What the main thread asks a worker: one file, and the float ranges to scan in the same read. */
export interface HashRequest {
  file: string;
  plan?: ScanPlan;
}

/** What a worker answers: progress (`bytes` read since the last message), then the digest or the error. */
export interface HashReply {
  bytes: number;
  digest?: FileDigest;
  error?: { message: string; code?: string; syscall?: string; path?: string; kind?: string };
}

interface Job extends HashRequest {
  onBytes?: (n: number) => void;
  resolve: (d: FileDigest) => void;
  reject: (e: unknown) => void;
}

export interface HashPoolOptions {
  /** Worker threads (default: the cores this process may use, less one, at least one); the calling thread hashes one more file. */
  workers?: number;
  /** Smaller files are hashed on the calling thread (default WORKER_MIN_BYTES). */
  minWorkerBytes?: number;
}

export class HashPool {
  private readonly max: number;
  private readonly minWorkerBytes: number;
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Job[] = [];
  private closed = false;
  /** Whether the calling thread is hashing a queued file. */
  private hereBusy = false;
  private readonly stop = new AbortController();

  constructor(opts: HashPoolOptions = {}) {
    this.max = Math.max(1, opts.workers ?? os.availableParallelism() - 1);
    this.minWorkerBytes = opts.minWorkerBytes ?? WORKER_MIN_BYTES;
  }

  /** Starts the workers that files of these sizes will need, so that their start-up overlaps other work. */
  prepare(sizes: readonly number[]): void {
    const wanted = Math.min(this.max, sizes.filter((s) => this.onWorker(s)).length);
    while (!this.closed && this.all.length < wanted) this.idle.push(this.spawn());
  }

  /** Whether a file of `size` bytes is hashed on a worker (else on the calling thread). */
  onWorker(size: number): boolean {
    return size >= this.minWorkerBytes;
  }

  /** sha256 of `file` (and its scan, with a plan); `size` says whether a worker is worth it. */
  digest(file: string, size: number, opts: DigestOptions = {}): Promise<FileDigest> {
    if (this.closed) return Promise.reject(new Error(`hashing stopped before ${file} was read`));
    if (!this.onWorker(size)) return digestFile(file, opts);
    return new Promise<FileDigest>((resolve, reject) => {
      this.queue.push({ file, ...(opts.plan ? { plan: opts.plan } : {}), ...(opts.onBytes ? { onBytes: opts.onBytes } : {}), resolve, reject });
      this.pump();
    });
  }

  /** Ends the workers; a file being hashed or waiting for a worker is not hashed (its digest rejects). */
  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort(new Error("hashing stopped"));
    for (const job of this.queue.splice(0)) job.reject(new Error(`hashing stopped before ${job.file} was read`));
    await Promise.all(this.all.splice(0).map((w) => w.terminate()));
    this.idle.length = 0;
  }

  private pump(): void {
    while (this.queue.length && (this.idle.length || this.all.length < this.max)) {
      const worker = this.idle.pop() ?? this.spawn();
      this.run(worker, this.queue.shift()!);
    }
    if (this.queue.length && !this.hereBusy) {
      const job = this.queue.shift()!;
      this.hereBusy = true;
      digestFile(job.file, { ...(job.plan ? { plan: job.plan } : {}), ...(job.onBytes ? { onBytes: job.onBytes } : {}), signal: this.stop.signal })
        .then(job.resolve, job.reject)
        .finally(() => {
          this.hereBusy = false;
          if (!this.closed) this.pump();
        });
    }
  }

  private spawn(): Worker {
    const worker = startWorker(import.meta.url, "hash-worker");
    this.all.push(worker);
    return worker;
  }

  private run(worker: Worker, job: Job): void {
    const done = (settle: () => void) => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
      settle();
      if (!this.closed) {
        this.idle.push(worker);
        this.pump();
      }
    };
    const onMessage = (m: HashReply) => {
      if (m.bytes) job.onBytes?.(m.bytes);
      if (m.digest) done(() => job.resolve(m.digest!));
      else if (m.error) done(() => job.reject(Object.assign(new Error(m.error!.message), m.error)));
    };
    const onError = (e: unknown) => {
      this.drop(worker);
      job.reject(e);
    };
    const onExit = (code: number) => {
      this.drop(worker);
      job.reject(new Error(`the hashing thread stopped (exit code ${code}) while hashing ${job.file}`));
    };
    worker.on("message", onMessage);
    worker.once("error", onError);
    worker.once("exit", onExit);
    const request: HashRequest = { file: job.file, ...(job.plan ? { plan: job.plan } : {}) };
    worker.postMessage(request);
  }

  private drop(worker: Worker): void {
    const i = this.all.indexOf(worker);
    if (i >= 0) this.all.splice(i, 1);
    void worker.terminate();
  }
}
