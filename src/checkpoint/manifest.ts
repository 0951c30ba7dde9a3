// The manifest (path, size, sha256 of every published file) that the Hub plan, the archive
// and post-publish verification all compare against. The read that hashes a weights file also
// scans its float tensors for NaN and Inf (weights.finite). Large files are hashed on worker
// threads, several at once (shards), while the calling thread goes on with other work.
import { scanPlanFor, type FiniteScan, type ScanPlan } from "./finite-scan.js";
import { HashCache } from "./hash-cache.js";
import { HashPool, type HashPoolOptions } from "./hash-pool.js";
import { loadCheckpoint, type LoadedCheckpoint } from "./load.js";
import { compareCheckpointWeights } from "./weights-compare.js";
import type { CheckpointFile, Manifest, ManifestEntry } from "./types.js";

export interface HashProgress {
  file: string;
  fileBytes: number;
  fileSize: number;
  totalBytes: number;
  totalSize: number;
}

export interface ManifestOptions {
  cache?: HashCache;
  onProgress?: (p: HashProgress) => void;
  /** Scan plans by source path: those files are scanned for non-finite floats in the same read. */
  plans?: ReadonlyMap<string, ScanPlan>;
  onScan?: (file: CheckpointFile, scan: FiniteScan) => void;
  /** Worker threads for large files (default: one per core, files of WORKER_MIN_BYTES and more). */
  workers?: HashPoolOptions;
  /** A pool the caller made (and closes) instead of one for this manifest. */
  pool?: HashPool;
  /** Stops the hashing (the command ended early): the workers end, the manifest rejects. */
  signal?: AbortSignal;
}

/**
 * Hashes every file of a loaded checkpoint and scans its readable weights files for NaN and Inf;
 * the scans land in `ckpt.finite` (by repo path) for the weights.finite check.
 */
export async function hashCheckpoint(
  ckpt: Pick<LoadedCheckpoint, "files" | "weights" | "finite"> & Partial<Pick<LoadedCheckpoint, "weightSets" | "agreement">>,
  opts: Omit<ManifestOptions, "plans" | "onScan"> = {},
): Promise<Manifest> {
  const plans = new Map<string, ScanPlan>();
  for (const w of ckpt.weights) if (w.index) plans.set(w.index.file, scanPlanFor(w.index));
  const finite = new Map<string, FiniteScan>();
  const manifest = await buildManifest(ckpt.files, { ...opts, plans, onScan: (f, scan) => finite.set(f.repoPath, scan) });
  ckpt.finite = finite;
  if (ckpt.weightSets) await compareWeights(ckpt as Pick<LoadedCheckpoint, "weightSets" | "agreement">);
  return manifest;
}

/** A checkpoint with both pytorch_model.bin and model.safetensors: every tensor of one against the other (weights.agree). */
async function compareWeights(ckpt: Pick<LoadedCheckpoint, "weightSets" | "agreement">): Promise<void> {
  ckpt.agreement = (await compareCheckpointWeights(ckpt.weightSets)) ?? null;
}

export async function buildManifest(files: readonly CheckpointFile[], opts: ManifestOptions = {}): Promise<Manifest> {
  opts.signal?.throwIfAborted();
  const cache = opts.cache ?? new HashCache();
  const totalSize = files.reduce((s, f) => s + f.size, 0);
  let totalBytes = 0;
  const pool = opts.pool ?? new HashPool(opts.workers);
  const stop = () => void pool.close();
  opts.signal?.addEventListener("abort", stop, { once: true });
  const entry = async (f: CheckpointFile): Promise<ManifestEntry> => {
    let fileBytes = 0;
    const plan = opts.plans?.get(f.source);
    const { sha256, scan } = await cache.digest(f.source, {
      pool,
      onBytes: (n) => {
        fileBytes += n;
        totalBytes += n;
        opts.onProgress?.({ file: f.repoPath, fileBytes, fileSize: f.size, totalBytes, totalSize });
      },
      ...(plan ? { plan } : {}),
    });
    if (scan) opts.onScan?.(f, scan);
    const stamp = cache.stamp(f.source);
    return { path: f.repoPath, size: f.size, sha256, source: f.source, ...(stamp ? { stamp } : {}), ...(f.layout ? { layout: f.layout } : {}) };
  };
  // Large files all go to the pool at once (it runs as many as it has workers); the small ones
  // are hashed here meanwhile, one at a time (each read holds its own buffers).
  const large = files.filter((f) => pool.onWorker(f.size)).sort((a, b) => b.size - a.size);
  const small = files.filter((f) => !pool.onWorker(f.size));
  let manifest: Manifest;
  try {
    const hashedLarge = Promise.all(large.map(entry));
    hashedLarge.catch(() => undefined); // awaited below; a failure meanwhile is not "unhandled"
    const hashedSmall: ManifestEntry[] = [];
    for (const f of small) {
      opts.signal?.throwIfAborted();
      hashedSmall.push(await entry(f));
    }
    manifest = [...(await hashedLarge), ...hashedSmall];
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    if (!opts.pool) await pool.close();
  }
  await cache.save();
  return manifest.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface CheckpointRead {
  checkpoint: Promise<LoadedCheckpoint>;
  /** The manifest; once it resolves, the checkpoint's `finite` holds the scans. */
  manifest: Promise<Manifest>;
  /** Settles once the hashing has begun, or is known to read nothing large (a warm cache), or the read failed: other work may start without delaying it. */
  hashing: Promise<void>;
  cache: HashCache;
  /** Set to follow the hashing. */
  onProgress?: (p: HashProgress) => void;
  /** Stops the reading and hashing when the command ends without them (a no-op once they are done). */
  cancel(): void;
}

/**
 * loadCheckpoint and hashCheckpoint at once: the hashing starts (on worker threads) as soon as the
 * files and weights indexes are known, and goes on while the rest is read and checked.
 */
export function readAndHashCheckpoint(dir: string, opts: { modelCard?: string | null; cache?: HashCache } = {}): CheckpointRead {
  const cache = opts.cache ?? new HashCache();
  const pool = new HashPool();
  const stop = new AbortController();
  stop.signal.addEventListener("abort", () => void pool.close(), { once: true });
  let hashed: Promise<Manifest> | undefined;
  let early: Pick<LoadedCheckpoint, "files" | "weights" | "finite"> | undefined;
  let begun!: () => void;
  const hashing = new Promise<void>((resolve) => (begun = resolve));
  const checkpoint = loadCheckpoint(dir, {
    modelCard: opts.modelCard ?? null,
    cache,
    // The workers start up while the weights indexes are read; with nothing large to read, other work need not wait.
    onFiles: (files) => {
      const toRead = files.filter((f) => pool.onWorker(f.size) && !cache.isFresh(f.source));
      pool.prepare(toRead.map((f) => f.size));
      if (!toRead.length) begun();
    },
    onWeightsRead: (read) => {
      early = { ...read };
      hashed = hashCheckpoint(early, { cache, pool, signal: stop.signal, onProgress: (p) => started.onProgress?.(p) });
      hashed.catch(() => undefined); // awaited through `manifest`
      begun();
    },
  });
  const manifest = checkpoint.then(async (ckpt) => {
    const m = await hashed!;
    ckpt.finite = early!.finite;
    await compareWeights(ckpt);
    return m;
  });
  // Both are awaited by the caller, maybe after other work: a failure meanwhile is not "unhandled".
  checkpoint.then(begun, begun);
  manifest.catch(() => undefined);
  manifest.finally(() => void pool.close()).catch(() => undefined);
  const started: CheckpointRead = { checkpoint, manifest, hashing, cache, cancel: () => stop.abort() };
  return started;
}
