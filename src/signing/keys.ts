// Elliptic-curve keys as model_signing takes them: PEM files, P-256 / P-384 / P-521 only, each
// signing with the hash of its size (the Sigstore key details PKIX_ECDSA_P*_SHA_*). A key-signed
// bundle names its key by a hint: the sha256 of the public key's SubjectPublicKeyInfo PEM.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { open } from "node:fs/promises";
import { UserError } from "../report.js";
import { registerSecret } from "../util/redact.js";

/** The environment variable that holds the passphrase of an encrypted private key. */
export const KEY_PASSWORD_ENV = "AZBERT_RELEASE_SIGNING_KEY_PASSWORD";

const HASH_BY_CURVE: Record<string, "sha256" | "sha384" | "sha512"> = { prime256v1: "sha256", secp384r1: "sha384", secp521r1: "sha512" };
const CURVE_NAMES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

/** A PEM file is a few kilobytes: anything much larger is not a key. */
const MAX_KEY_FILE_BYTES = 64 << 10;

export interface PublicKeyInfo {
  key: KeyObject;
  /** The hash the curve signs with. */
  hash: "sha256" | "sha384" | "sha512";
  /** SubjectPublicKeyInfo PEM, as the reference writes it to compute the hint. */
  pem: string;
  /** sha256 hex of `pem`: the bundle's `publicKey.hint`. */
  hint: string;
  curve: string;
}

export interface PrivateKeyInfo extends PublicKeyInfo {
  privateKey: KeyObject;
}

/** A whole small file (a key, a bundle), read only when it is a regular file of at most `maxBytes`. */
export async function readBoundedFile(file: string, maxBytes: number, label: string, tooLargeExit: 1 | 2 = 2): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${label}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`, 2);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UserError(`${label} is not a regular file`, 2);
    if (st.size > maxBytes) throw new UserError(`${label} is ${st.size} bytes, more than ${maxBytes}: not what it should hold`, tooLargeExit);
    const buf = Buffer.alloc(st.size);
    await fh.read(buf, 0, st.size, 0);
    return buf;
  } finally {
    await fh.close();
  }
}

const readKeyFile = (file: string, flag: string) => readBoundedFile(file, MAX_KEY_FILE_BYTES, `${flag} ${file}`);

function describePublic(key: KeyObject, file: string, flag: string): PublicKeyInfo {
  const curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const hash = curve ? HASH_BY_CURVE[curve] : undefined;
  if (!curve || !hash) {
    const what = key.asymmetricKeyType === "ec" ? `an elliptic-curve key on ${curve ?? "an unnamed curve"}` : `a key of type ${key.asymmetricKeyType ?? "unknown"}`;
    throw new UserError(`${flag} ${file} holds ${what}: model signatures use P-256, P-384 or P-521 keys`, 2);
  }
  const pem = key.export({ type: "spki", format: "pem" }).toString();
  return { key, hash, pem, curve: CURVE_NAMES[curve]!, hint: createHash("sha256").update(pem).digest("hex") };
}

/** Reads an EC private key (PEM; encrypted ones with the passphrase from AZBERT_RELEASE_SIGNING_KEY_PASSWORD), held as a secret. */
export async function loadPrivateKey(file: string, env: NodeJS.ProcessEnv = process.env): Promise<PrivateKeyInfo> {
  const text = (await readKeyFile(file, "--key")).toString("utf8");
  // The key never reaches a message: neither whole nor any line of it.
  registerSecret(text);
  for (const line of text.split(/\r?\n/)) if (!line.startsWith("-----")) registerSecret(line);
  const passphrase = env[KEY_PASSWORD_ENV];
  registerSecret(passphrase);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: "pem", ...(passphrase ? { passphrase } : {}) });
  } catch (e) {
    const msg = (e as Error).message;
    if (/passphrase|decrypt|bad decrypt/i.test(msg)) {
      throw new UserError(`--key ${file} is encrypted and ${passphrase ? "the passphrase in" : "no passphrase is in"} ${KEY_PASSWORD_ENV} ${passphrase ? "does not open it" : ""}`.trim(), 2);
    }
    throw new UserError(`--key ${file} is not a PEM private key`, 2);
  }
  if (privateKey.type !== "private") throw new UserError(`--key ${file} holds a public key: signing needs the private key`, 2);
  return { ...describePublic(createPublicKey(privateKey), file, "--key"), privateKey };
}

/** Reads an EC public key (PEM: SubjectPublicKeyInfo or a certificate's key). */
export async function loadPublicKey(file: string): Promise<PublicKeyInfo> {
  const text = (await readKeyFile(file, "--key")).toString("utf8");
  if (/PRIVATE KEY-----/.test(text)) {
    registerSecret(text);
    throw new UserError(`--key ${file} holds a private key: verification takes the public key (openssl ec -in KEY -pubout)`, 2);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    throw new UserError(`--key ${file} is not a PEM public key`, 2);
  }
  return describePublic(key, file, "--key");
}
