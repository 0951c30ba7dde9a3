// Verifying model.sig: the bundle's signature (a public key, or a Fulcio certificate checked
// against a Sigstore trusted root, its Rekor entry and the expected identity), then the signed
// statement, then the model itself — every file's digest, no file missing, none added outside the
// signature's ignore list — either a folder on disk or a list already hashed (the manifest).
import path from "node:path";
import { bundleFromJSON, type Bundle } from "@sigstore/bundle";
import { crypto as sigstoreCrypto, dsse } from "@sigstore/core";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { getTrustedRoot } from "@sigstore/tuf";
import { toSignedEntity, toTrustMaterial, Verifier, type TrustMaterial } from "@sigstore/verify";
import { defaultCacheFile, type HashCache } from "../checkpoint/hash-cache.js";
import { isInside, realPath } from "../pack/out-dir.js";
import { UserError } from "../report.js";
import { redact } from "../util/redact.js";
import { GIT_PATHS, PAYLOAD_TYPE, parseStatement, StatementError, type ModelFile, type ModelStatement, type Resource } from "./format.js";
import { hashFileShards, hashFolderFiles, ignoreListFor, listModelFiles, type FolderFile } from "./folder.js";
import { loadPublicKey, readBoundedFile } from "./keys.js";

export type VerificationMethod =
  | { kind: "key"; publicKeyFile: string }
  | {
      kind: "keyless";
      /** The certificate's subject (an e-mail, or a workflow URI for GitHub Actions), exactly. */
      identity: string;
      /** The OIDC issuer recorded in the certificate, exactly. */
      issuer: string;
      /** A trusted_root.json; default: the public-good root through Sigstore's TUF repository. */
      trustedRootFile?: string;
    };

/** A bundle is JSON of a few megabytes at most (a resource line per file). */
const MAX_BUNDLE_BYTES = 64 << 20;

export class SignatureError extends UserError {}

export interface VerifiedSignature {
  statement: ModelStatement;
  /** Who signed, in words. */
  signer: string;
  /** For keyless signatures: the certificate's identity and issuer. */
  identity?: { subject: string; issuer: string };
}

export interface Mismatch {
  path: string;
  expected: string;
  actual: string;
}

export interface IntegrityResult {
  ok: boolean;
  /** Resources the statement lists: files, or shards. */
  resources: number;
  /** Signed, not in the model. */
  missing: string[];
  /** In the model, not signed (and not ignored). */
  added: string[];
  mismatched: Mismatch[];
}

/** Reads model.sig (bounded) as text. */
export async function readBundleFile(file: string): Promise<string> {
  return (await readBoundedFile(file, MAX_BUNDLE_BYTES, file, 1)).toString("utf8");
}

/** The bundle, parsed and checked by @sigstore/bundle; the reference's older key bundles (no tlogEntries) are read too. */
export function parseBundle(text: string, file: string): Bundle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SignatureError(`${file} is not JSON (${(e as Error).message}): not a Sigstore bundle`);
  }
  const vm = (json as { verificationMaterial?: Record<string, unknown> } | null)?.verificationMaterial;
  if (vm && typeof vm === "object" && vm.tlogEntries === undefined) vm.tlogEntries = [];
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    throw new SignatureError(`${file} is not a valid Sigstore bundle: ${(e as Error).message}`);
  }
  if (bundle.content.$case !== "dsseEnvelope") throw new SignatureError(`${file} signs a message, not a DSSE envelope: it is not a model signature`);
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== PAYLOAD_TYPE) throw new SignatureError(`${file}: the envelope's payloadType is "${env.payloadType}", expected "${PAYLOAD_TYPE}"`);
  if (!env.signatures.length) throw new SignatureError(`${file}: the envelope holds no signature`);
  return bundle;
}

async function verifyWithKey(bundle: Bundle, file: string, keyFile: string): Promise<string> {
  const key = await loadPublicKey(keyFile);
  const vm = bundle.verificationMaterial.content;
  if (vm.$case !== "publicKey") {
    throw new SignatureError(`${file} was signed with a ${vm.$case === "x509CertificateChain" ? "certificate chain" : "Sigstore certificate (keyless)"}, not a key: verify it with --identity and --issuer`);
  }
  const hint = vm.publicKey.hint;
  if (hint && hint !== key.hint) {
    throw new SignatureError(`${file} was signed by another key: its hint is ${hint}, ${keyFile}'s is ${key.hint}`);
  }
  if (bundle.content.$case !== "dsseEnvelope") throw new SignatureError(`${file} holds no DSSE envelope`);
  const env = bundle.content.dsseEnvelope;
  // The curve's own hash (P-384 signs with SHA-384), as the reference signs and verifies.
  const ok = sigstoreCrypto.verify(dsse.preAuthEncoding(env.payloadType, env.payload), key.key, env.signatures[0]!.sig, key.hash);
  if (!ok) throw new SignatureError(`${file}: the signature does not verify with ${keyFile}: the statement or the signature was altered, or another key signed it`);
  return `the ${key.curve} key ${keyFile} (hint ${key.hint})`;
}

async function trustedRoot(file: string | undefined): Promise<TrustMaterial> {
  if (file) {
    const text = (await readBoundedFile(file, MAX_BUNDLE_BYTES, `--trusted-root ${file}`)).toString("utf8");
    try {
      return toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(text)));
    } catch (e) {
      throw new UserError(`--trusted-root ${file} is not a Sigstore trusted_root.json: ${(e as Error).message}`, 2);
    }
  }
  try {
    return toTrustMaterial(await getTrustedRoot({ cachePath: path.join(path.dirname(defaultCacheFile()), "sigstore-tuf") }));
  } catch (e) {
    throw new SignatureError(`the Sigstore trusted root could not be fetched from its TUF repository (${redact((e as Error).message)}): check the network, or pass --trusted-root FILE`, 1, { cause: e });
  }
}

async function verifyKeyless(bundle: Bundle, file: string, method: Extract<VerificationMethod, { kind: "keyless" }>): Promise<{ signer: string; identity: { subject: string; issuer: string } }> {
  if (bundle.verificationMaterial.content.$case === "publicKey") {
    throw new SignatureError(`${file} was signed with a key (hint ${bundle.verificationMaterial.content.publicKey.hint || "none"}), not keyless: verify it with --key PUBLIC.pem`);
  }
  const trust = await trustedRoot(method.trustedRootFile);
  let signer;
  try {
    signer = new Verifier(trust).verify(toSignedEntity(bundle), { subjectAlternativeName: method.identity, extensions: { issuer: method.issuer } });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    throw new SignatureError(`${file}: ${err.code === "UNTRUSTED_SIGNER_ERROR" ? "signed by someone else" : "the signature does not verify"}: ${err.message ?? String(e)}`, 1, { cause: e });
  }
  const subject = signer.identity?.subjectAlternativeName ?? method.identity;
  const issuer = signer.identity?.extensions?.issuer ?? method.issuer;
  return { signer: `${subject} (issuer ${issuer}), logged in Rekor`, identity: { subject, issuer } };
}

/** Checks the bundle's signature and returns the statement it signs. Nothing of the model is read. */
export async function verifyBundle(text: string, file: string, method: VerificationMethod): Promise<VerifiedSignature> {
  const bundle = parseBundle(text, file);
  let signer: string;
  let identity: VerifiedSignature["identity"];
  if (method.kind === "key") signer = await verifyWithKey(bundle, file, method.publicKeyFile);
  else ({ signer, identity } = await verifyKeyless(bundle, file, method));
  if (bundle.content.$case !== "dsseEnvelope") throw new SignatureError(`${file} holds no DSSE envelope`);
  let statement: ModelStatement;
  try {
    statement = parseStatement(bundle.content.dsseEnvelope.payload);
  } catch (e) {
    if (e instanceof StatementError) throw new SignatureError(`${file}: ${e.message}`);
    throw e;
  }
  return { statement, signer, ...(identity ? { identity } : {}) };
}

function compare(expected: readonly Resource[], actual: ReadonlyMap<string, string>): IntegrityResult {
  const signed = new Map(expected.map((r) => [r.name, r.digest]));
  const missing = [...signed.keys()].filter((n) => !actual.has(n));
  const added = [...actual.keys()].filter((n) => !signed.has(n)).sort();
  const mismatched: Mismatch[] = [];
  for (const [name, digest] of signed) {
    const got = actual.get(name);
    if (got !== undefined && got !== digest) mismatched.push({ path: name, expected: digest, actual: got });
  }
  return { ok: !missing.length && !added.length && !mismatched.length, resources: expected.length, missing, added, mismatched };
}

/** The statement held to files already hashed (the release's manifest, by published path): nothing is read. */
export function compareWithFiles(statement: ModelStatement, files: readonly ModelFile[]): IntegrityResult {
  if (statement.serialization.method !== "files") {
    throw new SignatureError(`the signature lists shards of ${statement.serialization.shardSize} bytes, which whole-file digests cannot be held to: verify it against the folder`);
  }
  const ignore = ignoreListFor(statement.serialization.ignorePaths);
  const actual = new Map(files.filter((f) => !ignore.some((ig) => f.path === ig || f.path.startsWith(`${ig}/`))).map((f) => [f.path, f.sha256.toLowerCase()]));
  return compare(statement.resources, actual);
}

export interface FolderCheckOptions {
  /** The signature file: left out of the folder's files when it lies inside it. */
  signatureFile?: string;
  /** More paths to leave out, relative to the folder (the reference's --ignore-paths). */
  ignorePaths?: readonly string[];
  cache?: HashCache;
  signal?: AbortSignal;
}

/**
 * The statement held to a folder, serialized as the signature says it was (files or shards,
 * links, ignored paths; git's files ignored as the reference does by default).
 */
export async function compareWithFolder(statement: ModelStatement, dir: string, opts: FolderCheckOptions = {}): Promise<IntegrityResult> {
  const s = statement.serialization;
  const ignore = [...s.ignorePaths, ...GIT_PATHS, ...(opts.ignorePaths ?? [])];
  if (opts.signatureFile) {
    const [sig, root] = [realPath(opts.signatureFile), realPath(dir)];
    if (isInside(sig, root) && sig !== root) ignore.push(path.relative(root, sig).split(path.sep).join("/"));
  }
  const files: FolderFile[] = await listModelFiles(dir, { ignorePaths: ignoreListFor(ignore), allowSymlinks: s.allowSymlinks });
  const actual = new Map<string, string>();
  if (s.method === "files") {
    for (const f of await hashFolderFiles(files, { ...(opts.cache ? { cache: opts.cache } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })) actual.set(f.path, f.sha256);
  } else {
    for (const f of files) for (const r of await hashFileShards(f, s.shardSize, opts.signal)) actual.set(r.name, r.digest);
  }
  return compare(statement.resources, actual);
}

/** Each problem in one line, the first one first: what exit 1 names. */
export function describeIntegrity(r: IntegrityResult, model: string): string[] {
  return [
    ...r.mismatched.map((m) => `${m.path}: sha256 ${m.actual} in ${model}, ${m.expected} signed (the file was changed)`),
    ...r.missing.map((p) => `${p}: signed, but missing from ${model}`),
    ...r.added.map((p) => `${p}: in ${model}, but not signed (a file was added)`),
  ];
}
