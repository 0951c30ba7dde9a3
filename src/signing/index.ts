// OpenSSF model signatures (model_signing v1.x format), for a folder or for files already hashed.
//
//   signModelFiles(files, { name, method })       the release: the manifest's {path, sha256, size}, nothing read again
//   signFolder(dir, { method, out })               `sign`: the folder as the reference serializes it
//   verifyModelSignature(text, file, method, to)   `verify-signature` and `verify --tag`: to a folder or to a file list
import path from "node:path";
import type { HashCache } from "../checkpoint/hash-cache.js";
import { isInside, realPath } from "../pack/out-dir.js";
import { buildStatement, DEFAULT_IGNORE_PATHS, SIGNATURE_NAME, statementForFiles, type ModelFile, type Resource, type Serialization } from "./format.js";
import { hashFileShards, hashFolderFiles, ignoreListFor, listModelFiles, modelNameOf } from "./folder.js";
import { assertOidcSource, signStatement, type SignedModel, type SigningMethod } from "./sign.js";
import { compareWithFiles, compareWithFolder, verifyBundle, type IntegrityResult, type VerificationMethod, type VerifiedSignature } from "./verify.js";

export { BUNDLE_MEDIA_TYPE, DEFAULT_IGNORE_PATHS, PREDICATE_TYPE, SIGNATURE_NAME, statementBytes, type ModelFile, type ModelStatement } from "./format.js";
export { assertOidcSource, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, type SignedModel, type SigningMethod } from "./sign.js";
export { compareWithFiles, describeIntegrity, readBundleFile, SignatureError, type IntegrityResult, type VerificationMethod, type VerifiedSignature } from "./verify.js";

export interface SignFilesOptions {
  /** The subject's name (the model's): the Hub repo's name for a release. */
  name: string;
  method: SigningMethod;
  /** Recorded in the statement; default model.sig and git's files. */
  ignorePaths?: readonly string[];
}

/** Signs files the caller has hashed (the release's manifest, by published path): no file is read. */
export async function signModelFiles(files: readonly ModelFile[], opts: SignFilesOptions): Promise<SignedModel> {
  const ignore = opts.ignorePaths ?? DEFAULT_IGNORE_PATHS;
  const signed = files.filter((f) => !ignore.some((ig) => f.path === ig || f.path.startsWith(`${ig}/`)));
  return signStatement(statementForFiles(opts.name, signed, { ignorePaths: ignore }), opts.method);
}

export interface SignFolderOptions {
  method: SigningMethod;
  /** Default: the folder's name, as the reference takes it. */
  name?: string;
  /** Where the signature will be written: ignored (by its relative path) when inside the folder. */
  out?: string;
  /** More paths to leave out, relative to the folder. */
  ignorePaths?: readonly string[];
  allowSymlinks?: boolean;
  /** Sign shards of this many bytes instead of whole files (the reference's `shards` method). */
  shardSize?: number;
  cache?: HashCache;
  signal?: AbortSignal;
}

/** The ignore list for a folder signature: model.sig (and the output, when inside), the caller's paths, git's files. */
export function folderIgnoreList(dir: string, out: string | undefined, extra: readonly string[] = []): string[] {
  const own = [SIGNATURE_NAME];
  if (out) {
    const [o, root] = [realPath(out), realPath(dir)];
    if (o !== root && isInside(o, root)) own.push(path.relative(root, o).split(path.sep).join("/"));
  }
  return ignoreListFor([...own, ...extra]);
}

export async function signFolder(dir: string, opts: SignFolderOptions): Promise<SignedModel> {
  if (opts.method.kind === "keyless") assertOidcSource();
  const ignorePaths = folderIgnoreList(dir, opts.out, opts.ignorePaths);
  const allowSymlinks = opts.allowSymlinks ?? false;
  const files = await listModelFiles(dir, { ignorePaths, allowSymlinks });
  const name = opts.name ?? (await modelNameOf(dir));
  if (opts.shardSize === undefined) {
    const hashed = await hashFolderFiles(files, { ...(opts.cache ? { cache: opts.cache } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    return signStatement(statementForFiles(name, hashed, { allowSymlinks, ignorePaths }), opts.method);
  }
  const serialization: Serialization = { method: "shards", shardSize: opts.shardSize, allowSymlinks, ignorePaths };
  const resources: Resource[] = [];
  for (const f of files) resources.push(...(await hashFileShards(f, opts.shardSize, opts.signal)));
  return signStatement(buildStatement(name, serialization, resources), opts.method);
}

export type VerifyAgainst = { dir: string; ignorePaths?: readonly string[]; cache?: HashCache; signal?: AbortSignal } | { files: readonly ModelFile[] };

export interface SignatureVerification {
  signature: VerifiedSignature;
  integrity: IntegrityResult;
}

/** The signature, then the model it signs: a folder on disk, or files already hashed. */
export async function verifyModelSignature(text: string, file: string, method: VerificationMethod, against: VerifyAgainst): Promise<SignatureVerification> {
  const signature = await verifyBundle(text, file, method);
  const integrity =
    "files" in against
      ? compareWithFiles(signature.statement, against.files)
      : await compareWithFolder(signature.statement, against.dir, {
          signatureFile: file,
          ...(against.ignorePaths ? { ignorePaths: against.ignorePaths } : {}),
          ...(against.cache ? { cache: against.cache } : {}),
          ...(against.signal ? { signal: against.signal } : {}),
        });
  return { signature, integrity };
}
