// The proof from what is served: after the Hub commit and tag, download what a user would get
// (the public resolve/<tag>/<file> URLs, following the redirect to LFS storage with no token
// there), check every file's sha256 against the manifest, gate and smoke-test that copy; and
// download the GitHub Release's archive and unpack it with the verified unpacker. A release
// passes only if the downloaded model passes. `verify --tag` runs the same functions later,
// for anyone, taking the expected digests from the manifest.json published with the release.
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { formatBytes } from "../util/format-bytes.js";
import type { HashCache } from "../checkpoint/hash-cache.js";
import { loadCheckpoint } from "../checkpoint/load.js";
import { downloadReleaseAsset, type AssetDownloadOptions } from "../github/index.js";
import { downloadHubFile, hubResolveUrl, isPublicHubRepo, type HubDownloadOptions } from "../hub/index.js";
import { PROBE_BYTES, probeHubLfsFile } from "../hub/probe.js";
import { ARCHIVE_MANIFEST, describeUnpackProblems, differenceFromFlat, parseManifestJson, unpackVerified, type PublishedFile } from "../pack/index.js";
import { UserError } from "../report.js";
import { writtenSafetensors } from "./published.js";
import { assertWeightsPassChecks } from "../smoke/load-gate.js";
import { runSmoke } from "../smoke/main.js";
import type { ReleaseSettings } from "./settings.js";

/** What the downloaded copy proved: the report and the journal keep it. */
export interface HubProof {
  revision: string;
  /** Files downloaded through resolve/<revision>/<path>, each of the manifest's size and sha256. */
  files: number;
  bytes: number;
  /** Where the bytes came from: the Hub, and its storage host for LFS files. */
  origins: string[];
  /** Whether the Hub token was sent (to the Hub origin only): a private repo needs it, a public one is read as anyone reads it. */
  token: boolean;
  smoke: { ok: boolean; device: string; engine: string; passed: number; cases: number; notes?: string[]; carriedOver?: boolean };
  /** Files proven by what the Hub names and a ranged read (their bytes were proven by an earlier release), not downloaded again. */
  carried?: number;
  /** Downloading and hashing every file; the gate and the smoke test of the copy; the whole proof. */
  downloadMs: number;
  smokeMs: number;
  ms: number;
}

export interface GitHubProof {
  tag: string;
  archive: { name: string; size: number; sha256: string };
  /** Files the verified unpacker wrote, each matching SHA256SUMS and the manifest. */
  files: number;
  ms: number;
}

/** A proof's outcome: what was proven, and what is wrong (empty: it holds). */
export interface Proven<P> {
  proof?: P;
  problems: string[];
}

/** The Hub's proof also says which files it held the download to (`verify` checks the archive against the same list). */
export interface HubProven extends Proven<HubProof> {
  expected?: readonly PublishedFile[];
}

export type ProofSmoke = Pick<ReleaseSettings["smoke"], "device" | "topK" | "python" | "cases" | "expectations">;

export interface HubProofOptions {
  endpoint: string;
  repoId: string;
  revision: string;
  /** Sent to the Hub origin, and only when the repo is not public. */
  token?: string;
  fetch: typeof fetch;
  /** The published files; undefined: the manifest.json published at `revision`. */
  expected?: readonly PublishedFile[];
  /**
   * Objects an earlier release of this repo proved by a full download (sha256 → size), and the
   * local file with a published file's bytes: such a file is proven by a probe (what the Hub
   * names, a ranged read from storage) and its local copy stands in for it.
   */
  provenBefore?: {
    objects: ReadonlyMap<string, number>;
    localCopy(f: PublishedFile): string | undefined;
    /**
     * The caller held the revision's tree to these files (a regular file's git blob id, an LFS
     * file's sha256) before the proof: a small file an earlier proof downloaded is then the same
     * blob, and is not downloaded again. Without it, only large LFS files are carried, by a probe.
     */
    treeChecked?: boolean;
  };
  /** When no file users load changed since an earlier proof, report its smoke test as carried over instead of running it (the release; verify always runs it). */
  carrySmoke?: boolean;
  smoke: ProofSmoke;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
}

/** A temporary folder for a proof (TMPDIR decides where: a 50 GB model needs the room), always removed. */
async function inScratch<T>(prefix: string, run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;

/** Files of the proof downloaded at once: small files are a round trip each; a large one is bounded by the link either way. */
const PROOF_DOWNLOADS = 4;

/** `work` over every item, at most `limit` at a time; the results in the items' order. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    // After a failure no new item starts; those under way finish before the call rejects.
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await work(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
  return out;
}

/** Files whose change does not change what a user loads: a new card or signature needs no new smoke test. */
const NOT_THE_MODEL = new Set(["README.md", "manifest.json", "model.sig", ".gitattributes"]);

export function proveHubDownload(o: HubProofOptions): Promise<HubProven> {
  return inScratch("azbert-proof-hub-", async (scratch) => {
    const t0 = performance.now();
    const where = `${o.repoId}@${o.revision}`;
    const token = o.token && !(await isPublicHubRepo({ endpoint: o.endpoint, repoId: o.repoId, fetch: o.fetch })) ? o.token : undefined;
    const target = { endpoint: o.endpoint, repoId: o.repoId, revision: o.revision, fetch: o.fetch, ...(token ? { token } : {}), ...(o.signal ? { signal: o.signal } : {}) };
    const copy = path.join(scratch, "copy");
    let expected: readonly PublishedFile[];
    try {
      expected = o.expected ?? (await publishedManifest(target, path.join(scratch, ARCHIVE_MANIFEST)));
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { problems: [`the manifest published with ${where}: ${e.message}`] };
    }
    const problems: string[] = [];
    const origins = new Set<string>();
    let bytes = 0;
    let carried = 0;
    let changedModel = false;
    // Each file on its own; a few at once (small files are a request each, and the Hub answers them in parallel).
    /** A file proven without a download: the copy links to its local bytes. */
    const carry = async (f: PublishedFile, local: string, why: string): Promise<string[]> => {
      await mkdir(path.dirname(path.join(copy, f.path)), { recursive: true });
      await symlink(path.resolve(local), path.join(copy, f.path));
      carried++;
      o.onProgress?.(`${f.path}: ${why} (sha256 ${short(f.sha256)}), not downloaded again`);
      return [];
    };
    const proveFile = async (f: PublishedFile): Promise<string[]> => {
      const provenObject = o.provenBefore?.objects.get(f.sha256) === f.size;
      const local = provenObject ? o.provenBefore!.localCopy(f) : undefined;
      if (local && f.size < PROBE_BYTES && o.provenBefore!.treeChecked) return carry(f, local, "the blob an earlier release downloaded and proved, as the commit's tree names it");
      const source = f.size >= PROBE_BYTES ? local : undefined;
      if (source) {
        const why = await probeHubLfsFile({ ...target, path: f.path, sha256: f.sha256, size: f.size, source });
        if (why === undefined) return carry(f, source, "the same object as an earlier release proved");
        o.onProgress?.(`${f.path}: ${why}: downloading it`);
      }
      // Downloaded again (small, or its probe failed), yet the bytes an earlier release proved: not a change.
      if (!NOT_THE_MODEL.has(f.path) && o.provenBefore?.objects.get(f.sha256) !== f.size) changedModel = true;
      o.onProgress?.(`downloading ${f.path} from ${hubResolveUrl(o, o.revision, f.path)}`);
      let got;
      try {
        got = await downloadHubFile({ ...target, path: f.path, dest: path.join(copy, f.path) });
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        return [`Hub ${f.path} at ${o.revision}: ${e.message}`];
      }
      got.hops.forEach((h) => origins.add(h));
      bytes += got.size;
      if (got.size !== f.size) return [`Hub ${f.path} at ${o.revision}: ${got.size} bytes downloaded, ${f.size} in the manifest`];
      if (got.sha256 !== f.sha256) return [`Hub ${f.path} at ${o.revision}: sha256 ${short(got.sha256)} downloaded, ${short(f.sha256)} in the manifest`];
      return [];
    };
    // In the manifest's order, whatever order they finish in.
    for (const found of await inParallel(expected, PROOF_DOWNLOADS, proveFile)) problems.push(...found);
    if (problems.length) return { problems, expected };
    const downloaded = performance.now();

    const proven = (smoke: HubProof["smoke"]): HubProof => ({
      revision: o.revision,
      files: expected.length,
      bytes,
      origins: [...origins],
      token: !!token,
      ...(carried ? { carried } : {}),
      smoke,
      downloadMs: Math.round(downloaded - t0),
      smokeMs: Math.round(performance.now() - downloaded),
      ms: Math.round(performance.now() - t0),
    });
    // What users load did not change since an earlier release proved it: every file is, byte for
    // byte, one that release loaded and smoke-tested, so its smoke test stands.
    if (o.carrySmoke && !changedModel && carried > 0) {
      const proof = { ...proven({ ok: true, device: "none", engine: "carried over", passed: 0, cases: 0, carriedOver: true }), smokeMs: 0 };
      return { proof, problems, expected };
    }
    // The copy is what a user loads: the same gate as any weights handed to a loader, then the smoke test.
    // Carried files are links to the local files an earlier proof found published.
    const ckpt = await loadCheckpoint(copy, { followLinksOutside: carried > 0 });
    try {
      assertWeightsPassChecks(ckpt);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { problems: [`the copy of ${where}: ${e.message}`], expected };
    }
    o.onProgress?.(`smoke test of the copy of ${where}`);
    const smoke = await runSmoke({
      ckptDir: copy,
      checkpoint: ckpt,
      device: o.smoke.device,
      topK: o.smoke.topK,
      python: o.smoke.python,
      ...(o.smoke.cases ? { casesFile: o.smoke.cases } : {}),
      ...(o.smoke.expectations ? { expectations: o.smoke.expectations } : {}),
      fromHub: { endpoint: o.endpoint, repoId: o.repoId, revision: o.revision, ...(token ? { token } : {}) },
    });
    const failed = smoke.cases.filter((c) => c.status === "fail");
    for (const c of failed) problems.push(`smoke test of the copy of ${where} (${smoke.device}): ${c.text}: ${c.reason ?? "failed"}`);
    const proof = proven({
      ok: smoke.ok,
      device: smoke.device,
      engine: smoke.engine,
      passed: smoke.cases.filter((c) => c.status === "pass").length,
      cases: smoke.cases.length,
      ...(smoke.notes?.length ? { notes: smoke.notes } : {}),
    });
    return { proof, problems, expected };
  });
}

/** The manifest.json published at the revision: the digests `verify --tag` holds the files to. */
async function publishedManifest(t: Omit<HubDownloadOptions, "path" | "dest">, dest: string): Promise<PublishedFile[]> {
  await downloadHubFile({ ...t, path: ARCHIVE_MANIFEST, dest });
  return parseManifestJson(await readFile(dest, "utf8"), `${t.repoId}@${t.revision}: ${ARCHIVE_MANIFEST}`).files;
}

/** Where the release is: the asset download's options but the asset's name and folder. */
export interface GitHubProofOptions extends Omit<AssetDownloadOptions, "name" | "dest"> {
  archiveName: string;
  /** The archive's sha256 when this run made it. */
  archiveSha256?: string;
  /** The files the archive must hold, in the checkpoint's layout (the published files but manifest.json); undefined: its own manifest and SHA256SUMS decide. */
  expected?: readonly PublishedFile[];
  /** The Hub's files (its manifest.json): the archive's, flattened by name, must be exactly these. */
  hubFiles?: readonly PublishedFile[];
  /** Asset ids by name (a draft's assets are found by id only). */
  assetIds?: Readonly<Record<string, number>>;
  onProgress?: (line: string) => void;
}

export function proveGitHubDownload(o: GitHubProofOptions): Promise<Proven<GitHubProof>> {
  return inScratch("azbert-proof-github-", async (scratch) => {
    const t0 = performance.now();
    const { archiveName: _a, archiveSha256: _s, expected: _e, hubFiles: _h, onProgress: _p, assetIds, ...where } = o;
    const get = (name: string) => {
      o.onProgress?.(`downloading ${name} of the GitHub Release ${o.tag}`);
      const id = assetIds?.[name];
      return downloadReleaseAsset({ ...where, name, ...(id !== undefined ? { assetId: id } : {}), dest: path.join(scratch, name) });
    };
    let archive;
    try {
      archive = await get(o.archiveName);
      await get("SHA256SUMS");
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { problems: [e.message] };
    }
    if (o.archiveSha256 && archive.sha256 !== o.archiveSha256) {
      return { problems: [`GitHub ${o.archiveName} of ${o.tag}: sha256 ${short(archive.sha256)} downloaded, ${short(o.archiveSha256)} packed`] };
    }
    let unpacked;
    try {
      unpacked = await unpackVerified(path.join(scratch, o.archiveName), path.join(scratch, "unpacked"), {
        sums: path.join(scratch, "SHA256SUMS"),
        ...(o.expected ? { manifest: o.expected } : {}),
      });
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { problems: [`GitHub ${o.archiveName} of ${o.tag}: ${e.message}`] };
    }
    if (!unpacked.ok) return { problems: describeUnpackProblems(unpacked).map((p) => `GitHub ${o.archiveName} of ${o.tag}: ${p}`) };
    // Two copies of one release: the archive keeps the checkpoint's layout, the Hub has it flat.
    const differs = o.hubFiles ? differenceFromFlat(unpacked.files, o.hubFiles) : undefined;
    if (differs) return { problems: [`GitHub ${o.archiveName} of ${o.tag} and the Hub's ${ARCHIVE_MANIFEST} disagree: ${differs}`] };
    const proof: GitHubProof = {
      tag: o.tag,
      archive: { name: o.archiveName, size: archive.size, sha256: archive.sha256 },
      files: unpacked.files.length,
      ms: Math.round(performance.now() - t0),
    };
    return { proof, problems: [] };
  });
}

/** One line for people: what the proof downloaded and what it found. */
/**
 * The local file holding a published file's bytes, known without reading it: the checkpoint's
 * copy as the hash cache knows it now (same stat data, same sha256), or safetensors a conversion
 * wrote and nothing touched since.
 */
export async function knownLocalCopy(cache: HashCache, ckptDir: string, outDir: string): Promise<(f: PublishedFile) => string | undefined> {
  const written = await writtenSafetensors(path.join(outDir, "safetensors"));
  return (f) => {
    const inCkpt = path.join(ckptDir, f.path);
    if (cache.isFresh(inCkpt) && cache.cachedSha256(inCkpt) === f.sha256) return inCkpt;
    const w = written.get(f.path);
    return w?.sha256 === f.sha256 ? w.file : undefined;
  };
}

export function describeProof(p: { hub?: HubProof | { skipped: string }; github?: GitHubProof }): string {
  const parts: string[] = [];
  if (p.hub && "skipped" in p.hub) parts.push(`Hub: skipped (${p.hub.skipped})`);
  else if (p.hub) {
    const h = p.hub;
    const carried = h.carried ? ` (${h.carried} proven by an earlier release, not downloaded again)` : "";
    const smoke = h.smoke.carriedOver ? "the model is the one an earlier release smoke-tested" : `smoke test of the copy ${h.smoke.passed}/${h.smoke.cases} on ${h.smoke.device}`;
    parts.push(`${h.files} files${carried} (${formatBytes(h.bytes)} downloaded) through resolve/${h.revision} match the manifest; ${smoke}`);
  }
  if (p.github) parts.push(`${p.github.archive.name} of ${p.github.tag} downloaded and unpacked verified (${p.github.files} files)`);
  return parts.join("; ");
}
