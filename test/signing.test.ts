// The OpenSSF model signature format, held to the reference implementation's published data
// (sigstore/model-transparency at e3430730bca924e672b2e59f10524a7ffb5adf79, copied under
// test/fixtures/signing/reference/): the statement a folder signs to, the bundles it wrote with a
// P-384 key and with Sigstore's public-good instance; and keyless signing through a local mock of
// Fulcio and Rekor.
import { generateKeyPairSync } from "node:crypto";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashCache } from "../src/checkpoint/hash-cache.js";
import { buildStatement, comparePaths, statementBytes, statementForFiles, type Resource } from "../src/signing/format.js";
import { hashFileShards, hashFolderFiles, listModelFiles } from "../src/signing/folder.js";
import { signFolder, signModelFiles, verifyModelSignature } from "../src/signing/index.js";
import { signStatement } from "../src/signing/sign.js";
import { compareWithFiles } from "../src/signing/verify.js";
import { redact } from "../src/util/redact.js";
import { startMockSigstore, writeReferenceSampleFolder, type MockSigstore } from "./signing-helpers.js";

const fixtures = path.join(path.dirname(new URL(import.meta.url).pathname), "fixtures", "signing");
const reference = path.join(fixtures, "reference");
const referencePublicKey = path.join(reference, "signing-key-pub.pem");

const tmp = mkdtempSync(path.join(os.tmpdir(), "azbert-signing-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const scratch = () => mkdtempSync(path.join(tmp, `t${n++}-`));
const cache = () => new HashCache(null);

function keyPair(curve = "P-256"): { priv: string; pub: string } {
  const dir = scratch();
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
  const priv = path.join(dir, "key.pem");
  const pub = path.join(dir, "key.pub");
  writeFileSync(priv, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  return { priv, pub };
}

function payloadOf(text: string): { json: Record<string, unknown>; bytes: Buffer } {
  const bundle = JSON.parse(text) as { dsseEnvelope: { payload: string } };
  const bytes = Buffer.from(bundle.dsseEnvelope.payload, "base64");
  return { json: JSON.parse(bytes.toString()) as Record<string, unknown>, bytes };
}

/** A copy of a reference fixture folder, so a test may change it. */
function copyOf(name: string): string {
  const dest = path.join(scratch(), name);
  cpSync(path.join(reference, name), dest, { recursive: true });
  return dest;
}

describe("the statement, as the reference writes it", () => {
  it("a folder built like the reference's sample_model_folder signs to its golden statement, byte for byte", async () => {
    // tests/_signing/testdata/signing/TestPayload/sample_model_folder: file serialization, links allowed, nothing ignored.
    const golden = readFileSync(path.join(reference, "TestPayload", "sample_model_folder.json"), "utf8");
    const dir = writeReferenceSampleFolder(scratch());
    const files = await hashFolderFiles(await listModelFiles(dir, { ignorePaths: [], allowSymlinks: true }), { cache: cache() });
    const { priv, pub } = keyPair();
    const signed = await signStatement(statementForFiles("sample_model", files, { allowSymlinks: true, ignorePaths: [] }), { kind: "key", privateKeyFile: priv });
    // MessageToJson's bytes, as the golden file holds them (plus the newline the reference's test appends).
    expect(`${payloadOf(signed.text).bytes.toString()}\n`).toBe(golden);
    expect(signed.statement.rootDigest).toBe("143cc682e555951649f18e2761c3d526d2502996f5e32dc187ef7f8a614f8df7");
    const sig = path.join(scratch(), "model.sig");
    writeFileSync(sig, signed.text);
    const v = await verifyModelSignature(signed.text, sig, { kind: "key", publicKeyFile: pub }, { dir, cache: cache() });
    expect(v.integrity).toMatchObject({ ok: true, resources: 10 });
  });

  it("the same folder in 8-byte shards gives the reference's small-shards statement, byte for byte", async () => {
    const golden = readFileSync(path.join(reference, "TestPayload", "sample_model_folder_small_shards.json"), "utf8");
    const dir = writeReferenceSampleFolder(scratch());
    const resources: Resource[] = [];
    for (const f of await listModelFiles(dir, { ignorePaths: [], allowSymlinks: true })) resources.push(...(await hashFileShards(f, 8)));
    const st = buildStatement("sample_model", { method: "shards", shardSize: 8, allowSymlinks: true, ignorePaths: [] }, resources);
    expect(`${statementBytes(st).toString()}\n`).toBe(golden);
  });

  it("sorts paths component by component and escapes non-ASCII as Python's json does", () => {
    expect(["a-b/x", "a/b", "a/a/c", "B"].sort(comparePaths)).toEqual(["B", "a/a/c", "a/b", "a-b/x"]);
    const st = statementForFiles("modèle", [{ path: "tokenizer/词表.txt", sha256: "00".repeat(32), size: 1 }], { ignorePaths: [] });
    const text = statementBytes(st).toString();
    expect(text).toContain('"name": "mod\\u00e8le"');
    expect(text).toContain('"name": "tokenizer/\\u8bcd\\u8868.txt"');
    expect(text).not.toMatch(/[^\x00-\x7f]/);
  });

  it("records model.sig and git's files as ignored, and a folder signature leaves them out", async () => {
    const dir = writeReferenceSampleFolder(scratch());
    writeFileSync(path.join(dir, "model.sig"), "an older signature");
    writeFileSync(path.join(dir, ".gitattributes"), "*.bin filter=lfs\n");
    const { priv } = keyPair();
    const signed = await signFolder(dir, { method: { kind: "key", privateKeyFile: priv }, cache: cache() });
    const predicate = payloadOf(signed.text).json.predicate as { serialization: { ignore_paths: string[]; allow_symlinks: boolean }; resources: { name: string }[] };
    expect(predicate.serialization.ignore_paths).toEqual(["model.sig", ".git", ".gitattributes", ".github", ".gitignore"]);
    expect(predicate.serialization.allow_symlinks).toBe(false);
    expect(predicate.resources.map((r) => r.name)).not.toContain("model.sig");
    expect(predicate.resources.map((r) => r.name)).not.toContain(".gitattributes");
  });
});

describe("the reference's own bundles", () => {
  it("verifies the P-384 key bundle model_signing 1.1.0 wrote (scripts/tests/v1.1.0-elliptic-key)", async () => {
    const dir = copyOf("v1.1.0-elliptic-key");
    const sig = path.join(dir, "model.sig");
    const v = await verifyModelSignature(readFileSync(sig, "utf8"), sig, { kind: "key", publicKeyFile: referencePublicKey }, { dir, cache: cache() });
    expect(v.signature.signer).toContain("P-384");
    expect(v.signature.statement.rootDigest).toBe("92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4");
    expect(v.integrity).toMatchObject({ ok: true, resources: 2, missing: [], added: [], mismatched: [] });
  });

  it("verifies the keyless bundle it wrote with Sigstore's public-good instance, and holds it to the signer's identity", async () => {
    const dir = copyOf("v1.1.0-sigstore");
    const sig = path.join(dir, "model.sig");
    const text = readFileSync(sig, "utf8");
    const trustedRootFile = path.join(fixtures, "public-good-trusted-root.json");
    const method = { kind: "keyless", identity: "stefanb@us.ibm.com", issuer: "https://sigstore.verify.ibm.com/oauth2", trustedRootFile } as const;
    const v = await verifyModelSignature(text, sig, method, { dir, cache: cache() });
    expect(v.integrity.ok).toBe(true);
    expect(v.signature.identity).toEqual({ subject: "stefanb@us.ibm.com", issuer: "https://sigstore.verify.ibm.com/oauth2" });
    await expect(verifyModelSignature(text, sig, { ...method, identity: "someone@example.com" }, { dir })).rejects.toThrow(/signed by someone else: .*expected someone@example.com, got stefanb@us.ibm.com/);
    await expect(verifyModelSignature(text, sig, { ...method, issuer: "https://accounts.google.com" }, { dir })).rejects.toThrow(/signed by someone else/);
  });
});

describe("tampering fails verification, with the reason", () => {
  const setup = async () => {
    const dir = writeReferenceSampleFolder(scratch());
    const { priv, pub } = keyPair("P-384");
    const signed = await signFolder(dir, { method: { kind: "key", privateKeyFile: priv }, cache: cache() });
    const sig = path.join(scratch(), "model.sig");
    writeFileSync(sig, signed.text);
    const verify = (text: string, publicKeyFile = pub) => verifyModelSignature(text, sig, { kind: "key", publicKeyFile }, { dir, cache: cache() });
    return { dir, text: signed.text, verify };
  };

  it("a changed, a missing and an added file are each named", async () => {
    const { dir, text, verify } = await setup();
    appendFileSync(path.join(dir, "d0", "f01"), "!");
    unlinkSync(path.join(dir, "f2"));
    writeFileSync(path.join(dir, "d1", "extra.bin"), "not signed");
    const { integrity } = await verify(text);
    expect(integrity.ok).toBe(false);
    expect(integrity.mismatched.map((m) => m.path)).toEqual(["d0/f01"]);
    expect(integrity.missing).toEqual(["f2"]);
    expect(integrity.added).toEqual(["d1/extra.bin"]);
  });

  it("a statement edited after signing (one digest changed) fails the signature", async () => {
    const { text, verify } = await setup();
    const bundle = JSON.parse(text) as { dsseEnvelope: { payload: string } };
    const payload = Buffer.from(bundle.dsseEnvelope.payload, "base64").toString();
    bundle.dsseEnvelope.payload = Buffer.from(payload.replace(/"digest": "[0-9a-f]/, (m) => `${m.slice(0, -1)}${m.endsWith("0") ? "1" : "0"}`)).toString("base64");
    await expect(verify(JSON.stringify(bundle))).rejects.toThrow(/the signature does not verify with .*key\.pub: the statement or the signature was altered/);
  });

  it("a changed signature byte, and another key, fail the signature", async () => {
    const { text, verify } = await setup();
    const bundle = JSON.parse(text) as { dsseEnvelope: { signatures: { sig: string }[] } };
    const sig = Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, "base64");
    sig[sig.length - 1]! ^= 1;
    bundle.dsseEnvelope.signatures[0]!.sig = sig.toString("base64");
    await expect(verify(JSON.stringify(bundle))).rejects.toThrow(/the signature does not verify/);
    await expect(verify(text, keyPair("P-384").pub)).rejects.toThrow(/was signed by another key: its hint is [0-9a-f]{64}, .*'s is [0-9a-f]{64}/);
  });

  it("a bundle that is not one is refused by name", async () => {
    const { verify } = await setup();
    await expect(verify("{not json")).rejects.toThrow(/model\.sig is not JSON/);
    await expect(verify(JSON.stringify({ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json" }))).rejects.toThrow(/model\.sig is not a valid Sigstore bundle/);
  });
});

describe("hashing", () => {
  it("goes through the hash cache: signing again and verifying read no file that has not changed", async () => {
    const dir = writeReferenceSampleFolder(scratch());
    const { priv, pub } = keyPair();
    const shared = new HashCache(path.join(scratch(), "sha256-cache.json"));
    const signed = await signFolder(dir, { method: { kind: "key", privateKeyFile: priv }, cache: shared });
    expect(shared.hashedFiles).toBe(10);
    await signFolder(dir, { method: { kind: "key", privateKeyFile: priv }, cache: shared });
    const sig = path.join(scratch(), "model.sig");
    writeFileSync(sig, signed.text);
    const warm = new HashCache(shared.file);
    expect((await verifyModelSignature(signed.text, sig, { kind: "key", publicKeyFile: pub }, { dir, cache: warm })).integrity.ok).toBe(true);
    expect([shared.hashedFiles, warm.hashedFiles]).toEqual([10, 0]);
    // A changed file is read again, and only it.
    appendFileSync(path.join(dir, "f0"), "!");
    const after = new HashCache(shared.file);
    expect((await verifyModelSignature(signed.text, sig, { kind: "key", publicKeyFile: pub }, { dir, cache: after })).integrity.mismatched.map((m) => m.path)).toEqual(["f0"]);
    expect(after.hashedFiles).toBe(1);
  });
});

describe("files already hashed (the release's manifest)", () => {
  it("signs the list without reading a file, to the statement a folder signature of the same files has", async () => {
    const dir = writeReferenceSampleFolder(scratch());
    const { priv, pub } = keyPair();
    const fromFolder = await signFolder(dir, { method: { kind: "key", privateKeyFile: priv }, name: "azbert-base", cache: cache() });
    const files = await hashFolderFiles(await listModelFiles(dir, { ignorePaths: [], allowSymlinks: false }), { cache: cache() });
    // Paths that do not exist: nothing is read, the digests are taken as given.
    const elsewhere = files.map((f) => ({ ...f }));
    const fromList = await signModelFiles(elsewhere, { name: "azbert-base", method: { kind: "key", privateKeyFile: priv } });
    expect(fromList.payload.equals(fromFolder.payload)).toBe(true);
    const sig = path.join(scratch(), "model.sig");
    writeFileSync(sig, fromList.text);
    const ok = await verifyModelSignature(fromList.text, sig, { kind: "key", publicKeyFile: pub }, { files });
    expect(ok.integrity.ok).toBe(true);
    const changed = compareWithFiles(ok.signature.statement, [...files.slice(1), { path: "added.txt", sha256: "ab".repeat(32), size: 3 }]);
    expect(changed).toMatchObject({ ok: false, missing: [files[0]!.path], added: ["added.txt"] });
  });
});

describe("keyless, through a mock Fulcio and Rekor", () => {
  let sigstore: MockSigstore;
  beforeAll(async () => {
    sigstore = await startMockSigstore();
  });
  afterAll(() => sigstore.close());

  it("signs with the Actions OIDC token (audience sigstore), logs the signature, and verifies against the mock's trusted root", async () => {
    const dir = writeReferenceSampleFolder(scratch());
    Object.assign(process.env, sigstore.actionsEnv);
    try {
      const signed = await signFolder(dir, { method: { kind: "keyless", fulcioURL: sigstore.fulcioURL, rekorURL: sigstore.rekorURL }, cache: cache() });
      const bundle = JSON.parse(signed.text) as { mediaType: string; verificationMaterial: { certificate?: unknown; tlogEntries: { kindVersion: { kind: string } }[] } };
      expect(bundle.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
      expect(bundle.verificationMaterial.certificate).toBeDefined();
      expect(bundle.verificationMaterial.tlogEntries.map((e) => e.kindVersion.kind)).toEqual(["dsse"]);
      const tokenRequest = sigstore.requests.find((r) => r.url.startsWith("/oidc/token"));
      expect(new URL(tokenRequest!.url, "http://x").searchParams.get("audience")).toBe("sigstore");
      expect(sigstore.requests.map((r) => `${r.method} ${r.url.split("?")[0]}`)).toEqual(expect.arrayContaining(["POST /api/v2/signingCert", "POST /api/v1/log/entries"]));
      // Both tokens are held as secrets from then on.
      expect(redact(`token ${sigstore.idToken} and ${sigstore.actionsEnv.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`)).not.toMatch(new RegExp(`${sigstore.idToken.slice(0, 20)}|gha-request-credential`));

      const sig = path.join(scratch(), "model.sig");
      writeFileSync(sig, signed.text);
      const method = { kind: "keyless", identity: sigstore.identity, issuer: sigstore.issuer, trustedRootFile: sigstore.trustedRoot } as const;
      const v = await verifyModelSignature(signed.text, sig, method, { dir, cache: cache() });
      expect(v.integrity.ok).toBe(true);
      expect(v.signature.identity).toEqual({ subject: sigstore.identity, issuer: sigstore.issuer });
      await expect(verifyModelSignature(signed.text, sig, { ...method, identity: "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main" }, { dir })).rejects.toThrow(/signed by someone else/);
      // The logged statement edited, the log entry dropped: each fails, with sigstore-js' reason.
      const edited = JSON.parse(signed.text) as { dsseEnvelope: { payload: string }; verificationMaterial: { tlogEntries: unknown[] } };
      edited.dsseEnvelope.payload = Buffer.from(Buffer.from(edited.dsseEnvelope.payload, "base64").toString().replace('"f0"', '"f9"')).toString("base64");
      await expect(verifyModelSignature(JSON.stringify(edited), sig, method, { dir })).rejects.toThrow(/model\.sig: the signature does not verify: DSSE payload hash mismatch/);
      const unlogged = JSON.parse(signed.text) as typeof edited;
      unlogged.verificationMaterial.tlogEntries = [];
      await expect(verifyModelSignature(JSON.stringify(unlogged), sig, method, { dir })).rejects.toThrow(/model\.sig: the signature does not verify: expected 1 timestamps, got 0/);
      // A trusted root of public-good Sigstore does not trust the mock's CA.
      await expect(verifyModelSignature(signed.text, sig, { ...method, trustedRootFile: path.join(fixtures, "public-good-trusted-root.json") }, { dir })).rejects.toThrow(/the signature does not verify/);
    } finally {
      delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
      delete process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    }
  });

  it("without an OIDC source, says where a token comes from before anything is hashed", async () => {
    // The folder does not exist: the missing token is said first, before any walk or read.
    const missing = path.join(scratch(), "missing");
    const before = sigstore.requests.length;
    await expect(signFolder(missing, { method: { kind: "keyless", fulcioURL: sigstore.fulcioURL, rekorURL: sigstore.rekorURL } })).rejects.toThrow(/--keyless needs an OIDC identity: .*id-token: write/);
    expect(sigstore.requests.length).toBe(before);
  });
});
