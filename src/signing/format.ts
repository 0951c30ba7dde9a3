// The OpenSSF model signing format (model_signing v1.x, sigstore/model-transparency): an in-toto
// Statement v1 whose one subject is the model (its name, and a sha256 over every file's digest)
// and whose predicate lists every file (`resources`) and how the folder was serialized. This
// module builds the statement from digests already computed, writes its bytes as the reference
// does (protobuf's MessageToJson: Python json, two-space indent, non-ASCII escaped), and reads
// one back with every field checked.
import { createHash } from "node:crypto";

export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
export const PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const PREDICATE_TYPE = "https://model_signing/signature/v1.0";
/** The predicate of model_signing 0.2, which listed each file as a subject. */
export const PREDICATE_TYPE_V0 = "https://model_signing/Digests/v0.1";

/** The name the signature is published under, beside the model's files. */
export const SIGNATURE_NAME = "model.sig";
/** What the reference leaves out of every signature unless told otherwise. */
export const GIT_PATHS: readonly string[] = [".git", ".gitattributes", ".github", ".gitignore"];
export const DEFAULT_IGNORE_PATHS: readonly string[] = [SIGNATURE_NAME, ...GIT_PATHS];

/** One file of the model, hashed: what the manifest already holds. */
export interface ModelFile {
  /** Relative to the model folder, `/`-separated. */
  path: string;
  /** Lowercase hex sha256 of the whole file. */
  sha256: string;
  size: number;
}

/** How the folder became resources: whole files, or files cut into shards of `shardSize` bytes. */
export type Serialization =
  | { method: "files"; allowSymlinks: boolean; ignorePaths: readonly string[] }
  | { method: "shards"; shardSize: number; allowSymlinks: boolean; ignorePaths: readonly string[] };

/** One signed item: a file (`name` = its path) or a shard (`path:start:end`). */
export interface Resource {
  name: string;
  algorithm: string;
  /** Lowercase hex. */
  digest: string;
}

export interface ModelStatement {
  /** The subject's name: informative, the model folder's name by default. */
  name: string;
  /** sha256 over the resources' digests (raw bytes) in their order. */
  rootDigest: string;
  serialization: Serialization;
  /** Sorted as the reference sorts them (path components, then shard offsets). */
  resources: Resource[];
}

export class StatementError extends Error {}

/** The algorithm name a resource carries: `sha256`, or `sha256-sharded-N` for shards. */
export function resourceAlgorithm(serialization: Serialization): string {
  return serialization.method === "files" ? "sha256" : `sha256-sharded-${serialization.shardSize}`;
}

/** Python's string order (code points), which differs from JavaScript's (UTF-16 units) above U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d) return d;
  }
}

/** PurePosixPath order, as the reference sorts its manifest: component by component ("a/b" before "a-b"). */
export function comparePaths(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const d = compareCodePoints(pa[i]!, pb[i]!);
    if (d) return d;
  }
  return pa.length - pb.length;
}

/** A shard's name `path:start:end`, split (the path itself may not hold a colon in this form). */
export function parseShardName(name: string): { path: string; start: number; end: number } | undefined {
  const parts = name.split(":");
  if (parts.length !== 3 || !/^\d+$/.test(parts[1]!) || !/^\d+$/.test(parts[2]!)) return undefined;
  return { path: parts[0]!, start: Number(parts[1]), end: Number(parts[2]) };
}

function compareResources(a: Resource, b: Resource, method: Serialization["method"]): number {
  if (method === "files") return comparePaths(a.name, b.name);
  const sa = parseShardName(a.name)!;
  const sb = parseShardName(b.name)!;
  return comparePaths(sa.path, sb.path) || sa.start - sb.start || sa.end - sb.end;
}

export function rootDigestOf(resources: readonly Resource[]): string {
  const h = createHash("sha256");
  for (const r of resources) h.update(Buffer.from(r.digest, "hex"));
  return h.digest("hex");
}

/** Resources in the reference's order, with the subject digest over them. */
export function buildStatement(name: string, serialization: Serialization, resources: readonly Resource[]): ModelStatement {
  const seen = new Set<string>();
  for (const r of resources) {
    if (seen.has(r.name)) throw new StatementError(`${r.name} is listed twice`);
    seen.add(r.name);
  }
  const sorted = [...resources].sort((a, b) => compareResources(a, b, serialization.method));
  return { name, rootDigest: rootDigestOf(sorted), serialization, resources: sorted };
}

/** The statement of whole files already hashed (the manifest's entries): nothing is read. */
export function statementForFiles(name: string, files: readonly ModelFile[], opts: { allowSymlinks?: boolean; ignorePaths?: readonly string[] } = {}): ModelStatement {
  for (const f of files) checkResourcePath(f.path);
  const serialization: Serialization = { method: "files", allowSymlinks: opts.allowSymlinks ?? false, ignorePaths: opts.ignorePaths ?? DEFAULT_IGNORE_PATHS };
  return buildStatement(name, serialization, files.map((f) => ({ name: f.path, algorithm: "sha256", digest: f.sha256.toLowerCase() })));
}

/** A resource path as the reference writes it: relative, `/`-separated, no `.` or `..` component. */
export function checkResourcePath(p: string): void {
  if (!p || p.startsWith("/") || p.split("/").some((c) => c === "" || c === "." || c === "..") || p.includes("\0")) {
    throw new StatementError(`${JSON.stringify(p)} is not a relative path inside the model`);
  }
}

/** JSON as Python's json.dumps(indent=2, ensure_ascii=True) writes it, which protobuf's MessageToJson uses. */
function pythonJson(value: unknown, indent = ""): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return pythonFloat(value);
  if (typeof value === "string") return pythonString(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => inner + pythonJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${pythonString(k)}: ${pythonJson(v, inner)}`).join(",\n")}\n${indent}}`;
}

/** A number as protobuf holds it in a Struct (a double) and Python writes it: `8.0`, `1e+16`. */
function pythonFloat(n: number): string {
  if (!Number.isFinite(n)) throw new StatementError(`${n} has no JSON form`);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    // Python's repr: the shortest digits, an exponent of at least two digits.
    const [digits, exp] = n.toExponential().split("e") as [string, string];
    const sign = exp.startsWith("-") ? "-" : "+";
    return `${digits}e${sign}${exp.replace(/^[-+]/, "").padStart(2, "0")}`;
  }
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    if (SHORT_ESCAPES[ch]) out += SHORT_ESCAPES[ch];
    // Every UTF-16 unit outside printable ASCII as \uXXXX: a character above U+FFFF becomes its surrogate pair, as in Python.
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The statement as a plain object, keys in the order the reference's documented statements show. */
export function statementObject(st: ModelStatement): Record<string, unknown> {
  const s = st.serialization;
  const serialization: Record<string, unknown> = { method: s.method, hash_type: "sha256", allow_symlinks: s.allowSymlinks };
  if (s.method === "shards") serialization.shard_size = s.shardSize;
  if (s.ignorePaths.length) serialization.ignore_paths = [...s.ignorePaths];
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: st.name, digest: { sha256: st.rootDigest } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      serialization,
      resources: st.resources.map((r) => ({ algorithm: r.algorithm, digest: r.digest, name: r.name })),
    },
  };
}

/** The DSSE payload: the statement's bytes as the reference signs them. */
export function statementBytes(st: ModelStatement): Buffer {
  return Buffer.from(pythonJson(statementObject(st)), "utf8");
}

function field<T>(obj: unknown, key: string, what: string, check: (v: unknown) => v is T, expected: string): T {
  const v = obj && typeof obj === "object" && !Array.isArray(obj) ? (obj as Record<string, unknown>)[key] : undefined;
  if (!check(v)) throw new StatementError(`${what}${key} is ${v === undefined ? "missing" : JSON.stringify(v)}, expected ${expected}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === "string";
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * Reads a signed payload back into a statement, as strictly as the reference: the statement and
 * predicate types, one subject, a known serialization, and a subject digest that matches the
 * resources. Resources keep the order they were signed in (the subject digest covers it).
 */
export function parseStatement(payload: Buffer): ModelStatement {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString("utf8"));
  } catch (e) {
    throw new StatementError(`the signed payload is not JSON (${(e as Error).message})`);
  }
  const type = field(doc, "_type", "statement ", isString, `"${STATEMENT_TYPE}"`);
  if (type !== STATEMENT_TYPE) throw new StatementError(`statement _type is "${type}", expected "${STATEMENT_TYPE}"`);
  const predicateType = field(doc, "predicateType", "statement ", isString, `"${PREDICATE_TYPE}"`);
  if (predicateType === PREDICATE_TYPE_V0) throw new StatementError(`the predicate is ${PREDICATE_TYPE_V0} (model_signing 0.2), which lists no serialization and cannot tell a missing file: sign the model again with model_signing 1.x or azbert-release`);
  if (predicateType !== PREDICATE_TYPE) throw new StatementError(`predicateType is "${predicateType}", expected "${PREDICATE_TYPE}"`);
  const subjects = field(doc, "subject", "statement ", isArray, "a list");
  if (subjects.length !== 1) throw new StatementError(`the statement has ${subjects.length} subjects, expected one (the model)`);
  const name = field(subjects[0], "name", "subject ", isString, "a string");
  const digest = field(subjects[0], "digest", "subject ", isObject, "an object");
  const rootDigest = field(digest, "sha256", "subject digest ", isString, "a hex sha256");
  const predicate = field(doc, "predicate", "statement ", isObject, "an object");
  const ser = field(predicate, "serialization", "predicate ", isObject, "an object");
  const method = field(ser, "method", "serialization ", isString, '"files" or "shards"');
  const hashType = field(ser, "hash_type", "serialization ", isString, '"sha256"');
  if (hashType !== "sha256") throw new StatementError(`serialization hash_type is "${hashType}": only sha256 is supported`);
  const allowSymlinks = field(ser, "allow_symlinks", "serialization ", isBool, "true or false");
  const ignoreRaw = ser.ignore_paths === undefined ? [] : field(ser, "ignore_paths", "serialization ", isArray, "a list of paths");
  const ignorePaths = ignoreRaw.map((p, i) => {
    if (typeof p !== "string") throw new StatementError(`serialization ignore_paths[${i}] is ${JSON.stringify(p)}, expected a path`);
    return p;
  });
  let serialization: Serialization;
  if (method === "files") serialization = { method, allowSymlinks, ignorePaths };
  else if (method === "shards") {
    const shardSize = field(ser, "shard_size", "serialization ", (v): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0, "a positive integer");
    serialization = { method, shardSize, allowSymlinks, ignorePaths };
  } else throw new StatementError(`serialization method is "${method}", expected "files" or "shards"`);
  const list = field(predicate, "resources", "predicate ", isArray, "a list");
  const algorithm = resourceAlgorithm(serialization);
  const seen = new Set<string>();
  const resources = list.map((r, i): Resource => {
    const what = `resources[${i}] `;
    const rName = field(r, "name", what, isString, "a path");
    const rAlg = field(r, "algorithm", what, isString, `"${algorithm}"`);
    const rDigest = field(r, "digest", what, (v): v is string => typeof v === "string" && /^[0-9a-fA-F]{64}$/.test(v), "a hex sha256");
    if (rAlg !== algorithm) throw new StatementError(`${rName}: algorithm is "${rAlg}", expected "${algorithm}"`);
    const p = method === "files" ? rName : parseShardName(rName)?.path;
    if (p === undefined) throw new StatementError(`${rName}: a shard's name must be path:start:end`);
    checkResourcePath(p);
    if (seen.has(rName)) throw new StatementError(`${rName} is listed twice`);
    seen.add(rName);
    return { name: rName, algorithm: rAlg, digest: rDigest.toLowerCase() };
  });
  const actual = rootDigestOf(resources);
  if (actual !== rootDigest.toLowerCase()) throw new StatementError(`the subject digest is ${rootDigest}, but the listed files hash to ${actual}: the statement was altered`);
  return { name, rootDigest: actual, serialization, resources };
}
