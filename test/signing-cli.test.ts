// `sign` and `verify-signature` as a user runs them: exit codes, the message that names the file,
// one --json document, the bytes written, and no secret on any stream.
import { generateKeyPairSync } from "node:crypto";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copySample, fixtureProject, runCli } from "./helpers/cli.js";
import { GHA_REQUEST_TOKEN, startMockSigstore, type MockSigstore } from "./signing-helpers.js";

const fixtures = path.join(path.dirname(new URL(import.meta.url).pathname), "fixtures", "signing");
const tmp = mkdtempSync(path.join(os.tmpdir(), "azbert-signing-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const keyFile = path.join(tmp, "signing.pem");
const pubFile = path.join(tmp, "signing.pub");
const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
writeFileSync(keyFile, privatePem);
writeFileSync(pubFile, publicKey.export({ type: "spki", format: "pem" }));
/** A line of the private key's base64: it must appear nowhere. */
const privateLine = privatePem.split("\n")[1]!;

let n = 0;
const outFile = () => path.join(tmp, `sig-${n++}`, "model.sig");

async function signedSample(): Promise<{ dir: string; sig: string }> {
  const dir = await copySample();
  const sig = outFile();
  const r = await runCli(["sign", dir, "--key", keyFile, "--out", sig]);
  expect(r.code, r.stderr).toBe(0);
  return { dir, sig };
}

describe("sign --key, then verify-signature --key", () => {
  it("signs the sample checkpoint and verifies it; --json prints one report", async () => {
    const { dir, sig } = await signedSample();
    const bundle = JSON.parse(readFileSync(sig, "utf8")) as { mediaType: string; verificationMaterial: { publicKey: { hint: string } } };
    expect(bundle.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    expect(bundle.verificationMaterial.publicKey.hint).toMatch(/^[0-9a-f]{64}$/);
    const ok = await runCli(["verify-signature", sig, dir, "--key", pubFile]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/Verified: \d+ files of .* match .*model\.sig/);
    const json = await runCli(["verify-signature", sig, dir, "--key", pubFile, "--json"]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { ok: boolean; resources: number; subject: { name: string } };
    expect(report.ok).toBe(true);
    expect(report.subject.name).toBe(path.basename(dir));
    expect(report.resources).toBeGreaterThan(3);
    for (const r of [ok, json]) expect(r.stdout + r.stderr).not.toContain(privateLine);
  });

  it("a changed file fails with exit 1 and its name; --json lists it", async () => {
    const { dir, sig } = await signedSample();
    appendFileSync(path.join(dir, "config.json"), " ");
    const r = await runCli(["verify-signature", sig, dir, "--key", pubFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not match .*model\.sig: config\.json: sha256 [0-9a-f]{64} in .*, [0-9a-f]{64} signed \(the file was changed\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const json = await runCli(["verify-signature", sig, dir, "--key", pubFile, "--json"]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; mismatched: { path: string }[]; problems: string[] };
    expect(report.ok).toBe(false);
    expect(report.mismatched.map((m) => m.path)).toEqual(["config.json"]);
  });

  it("a file added and a file missing are each named", async () => {
    const { dir, sig } = await signedSample();
    writeFileSync(path.join(dir, "extra.txt"), "not signed");
    const added = await runCli(["verify-signature", sig, dir, "--key", pubFile]);
    expect(added.code).toBe(1);
    expect(added.stderr).toMatch(/extra\.txt: in .*, but not signed \(a file was added\)/);
    unlinkSync(path.join(dir, "extra.txt"));
    unlinkSync(path.join(dir, "vocab.txt"));
    const missing = await runCli(["verify-signature", sig, dir, "--key", pubFile]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/vocab\.txt: signed, but missing from /);
  });

  it("a signature inside the folder is left out of what it signs, and another key is refused", async () => {
    const dir = await copySample();
    const sig = path.join(dir, "model.sig");
    expect((await runCli(["sign", dir, "--key", keyFile, "--out", sig])).code).toBe(0);
    expect((await runCli(["verify-signature", sig, dir, "--key", pubFile])).code).toBe(0);
    const other = path.join(tmp, "other.pub");
    writeFileSync(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }));
    const r = await runCli(["verify-signature", sig, dir, "--key", other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model\.sig was signed by another key: its hint is [0-9a-f]{64}, .*other\.pub's is [0-9a-f]{64}/);
  });

  it("signs the configured checkpoint into <github.outDir>/model.sig by default", async () => {
    const dir = await copySample();
    const r = await runCli(["--ckpt", dir, "sign", "--key", keyFile]);
    expect(r.code, r.stderr).toBe(0);
    const sig = path.join(fixtureProject(), "out", "model.sig");
    expect(existsSync(sig)).toBe(true);
    expect((await runCli(["--ckpt", dir, "verify-signature", sig, "--key", pubFile])).code).toBe(0);
  });
});

describe("the reference's bundles, through the CLI", () => {
  it("verifies model_signing's P-384 key bundle and its public-good keyless bundle", async () => {
    const ref = path.join(fixtures, "reference");
    const key = await runCli(["verify-signature", path.join(ref, "v1.1.0-elliptic-key", "model.sig"), path.join(ref, "v1.1.0-elliptic-key"), "--key", path.join(ref, "signing-key-pub.pem")]);
    expect(key.code, key.stderr).toBe(0);
    expect(key.stdout).toContain("Verified: 2 files");
    const keyless = await runCli([
      "verify-signature",
      path.join(ref, "v1.1.0-sigstore", "model.sig"),
      path.join(ref, "v1.1.0-sigstore"),
      "--identity",
      "stefanb@us.ibm.com",
      "--issuer",
      "https://sigstore.verify.ibm.com/oauth2",
      "--trusted-root",
      path.join(fixtures, "public-good-trusted-root.json"),
    ]);
    expect(keyless.code, keyless.stderr).toBe(0);
    expect(keyless.stdout).toContain("signed by stefanb@us.ibm.com (issuer https://sigstore.verify.ibm.com/oauth2)");
  });
});

describe("usage and bad input", () => {
  it("exit 2 for a missing or doubled signing method, a half identity, a missing file; nothing written", async () => {
    const dir = await copySample();
    const out = outFile();
    for (const [args, message] of [
      [["sign", dir, "--out", out], /exactly one of --key PRIVATE\.pem or --keyless/],
      [["sign", dir, "--key", keyFile, "--keyless", "--out", out], /exactly one of --key/],
      [["sign", dir, "--keyless", "--out", out], /--keyless needs an OIDC identity/],
      [["sign", dir, "--key", path.join(tmp, "nope.pem"), "--out", out], /--key .*nope\.pem: no such file/],
      [["verify-signature", out, dir, "--identity", "me@example.com"], /--issuer is missing/],
      [["verify-signature", out, dir], /either --key PUBLIC\.pem or --identity and --issuer/],
      [["verify-signature", path.join(tmp, "absent.sig"), dir, "--key", pubFile], /absent\.sig: no such file/],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, `${args.join(" ")}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });

  it("a plain-http Fulcio off this machine is refused before any request", async () => {
    const dir = await copySample();
    const r = await runCli(["sign", dir, "--keyless", "--fulcio-url", "http://fulcio.example.com", "--out", outFile()], { env: { SIGSTORE_ID_TOKEN: "eyJhbGciOiJub25lIn0.e30.sig" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fulcio-url=http:\/\/fulcio\.example\.com is plain http/);
  });

  it("a key that is not an EC private key is refused by name, its bytes never printed", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const rsaFile = path.join(tmp, "rsa.pem");
    writeFileSync(rsaFile, rsa);
    const r = await runCli(["sign", await copySample(), "--key", rsaFile, "--out", outFile()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--key .*rsa\.pem holds a key of type rsa: model signatures use P-256, P-384 or P-521 keys/);
    expect(r.stdout + r.stderr).not.toContain(rsa.split("\n")[1]!);
  });

  it("a file name with an escape sequence is named escaped, never raw, on every stream", async () => {
    const { dir, sig } = await signedSample();
    writeFileSync(path.join(dir, "evil\x1b[2J.txt"), "not signed");
    for (const json of [false, true]) {
      const r = await runCli(["verify-signature", sig, dir, "--key", pubFile, ...(json ? ["--json"] : [])]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("evil\\x1b[2J.txt: in ");
      expect(r.stdout + r.stderr).not.toContain("\x1b");
    }
  });

  it("a damaged bundle is named, exit 1", async () => {
    const { dir, sig } = await signedSample();
    writeFileSync(sig, readFileSync(sig, "utf8").slice(0, 100));
    const r = await runCli(["verify-signature", sig, dir, "--key", pubFile, "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: expect.stringMatching(/model\.sig is not JSON/) });
  });
});

describe("sign --keyless in GitHub Actions, against a local Fulcio and Rekor", () => {
  let sigstore: MockSigstore;
  beforeAll(async () => {
    sigstore = await startMockSigstore();
  });
  afterAll(() => sigstore.close());

  it("takes the job's OIDC token, never prints it, and the signature verifies for the workflow's identity", async () => {
    const dir = await copySample();
    const sig = outFile();
    const env = { ...sigstore.actionsEnv };
    const signed = await runCli(["sign", dir, "--keyless", "--fulcio-url", sigstore.fulcioURL, "--rekor-url", sigstore.rekorURL, "--out", sig, "--json"], { env });
    expect(signed.code, signed.stderr).toBe(0);
    const report = JSON.parse(signed.stdout) as { ok: boolean; method: string };
    expect(report).toMatchObject({ ok: true, method: "keyless" });
    const token = sigstore.requests.find((r) => r.url.startsWith("/oidc/token"))!;
    expect(new URL(token.url, "http://x").searchParams.get("audience")).toBe("sigstore");
    expect(token.authorization).toBe(`Bearer ${GHA_REQUEST_TOKEN}`);
    for (const secret of [sigstore.idToken, GHA_REQUEST_TOKEN]) expect(signed.stdout + signed.stderr).not.toContain(secret);

    const args = ["verify-signature", sig, dir, "--identity", sigstore.identity, "--issuer", sigstore.issuer, "--trusted-root", sigstore.trustedRoot];
    const ok = await runCli(args);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`signed by ${sigstore.identity} (issuer ${sigstore.issuer}), logged in Rekor`);
    const wrong = await runCli([...args.slice(0, 4), "https://github.com/someone/else/.github/workflows/release.yml@refs/heads/main", ...args.slice(5)]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/signed by someone else: certificate identity error/);
  });

  it("an OIDC endpoint that refuses the job's credential fails the signing (exit 1), names the cause, writes nothing", async () => {
    const sig = outFile();
    const credential = "wrong-credential-5d1e8a";
    const env = { ...sigstore.actionsEnv, ACTIONS_ID_TOKEN_REQUEST_TOKEN: credential };
    const r = await runCli(["sign", await copySample(), "--keyless", "--fulcio-url", sigstore.fulcioURL, "--rekor-url", sigstore.rekorURL, "--out", sig], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--keyless: GitHub Actions' OIDC endpoint \(ACTIONS_ID_TOKEN_REQUEST_URL\) gave no token: the job needs `permissions: id-token: write`/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout + r.stderr).not.toContain(credential);
    expect(existsSync(sig)).toBe(false);
  });
});
