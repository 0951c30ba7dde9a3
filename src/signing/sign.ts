// Signing a model statement into model.sig, a Sigstore bundle (v0.3) holding a DSSE envelope,
// with sigstore-js doing the DSSE, certificate and log work:
// - keyless: a Fulcio certificate for the CI's OIDC identity and a Rekor entry (kind dsse);
// - key: a private EC key; the bundle carries the key's hint and no log entry, as the reference's.
import { sign as signBytes } from "node:crypto";
import { bundleToJSON, type Bundle, type SerializedBundle } from "@sigstore/bundle";
import { CIContextProvider, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, DSSEBundleBuilder, FulcioSigner, RekorWitness, type IdentityProvider, type Signer } from "@sigstore/sign";
import { UserError } from "../report.js";
import { redact, registerSecret } from "../util/redact.js";
import { PAYLOAD_TYPE, statementBytes, type ModelStatement } from "./format.js";
import { loadPrivateKey } from "./keys.js";

export { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL };

export type SigningMethod =
  | { kind: "key"; privateKeyFile: string }
  | {
      kind: "keyless";
      /** Fulcio's base URL (default the public-good instance). */
      fulcioURL?: string;
      /** Rekor's base URL (default the public-good instance). */
      rekorURL?: string;
      /** Per request, in milliseconds. */
      timeoutMs?: number;
    };

export interface SignedModel {
  /** model.sig as written: the bundle's JSON. */
  text: string;
  bundle: SerializedBundle;
  statement: ModelStatement;
  /** The payload signed: the statement's bytes. */
  payload: Buffer;
  /** Who signed, in words: the key's hint, or the certificate's identity. */
  signer: string;
}

export class SigningError extends UserError {}

/** Where an OIDC token can come from, for the message that says none is there. */
const TOKEN_SOURCES = "GitHub Actions with `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN), or SIGSTORE_ID_TOKEN";

/** The CI's OIDC token for audience `sigstore`; the token and the credential that fetched it are held as secrets. */
function oidcProvider(env: NodeJS.ProcessEnv): IdentityProvider {
  const ci = new CIContextProvider("sigstore");
  return {
    getToken: async () => {
      registerSecret(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
      registerSecret(env.SIGSTORE_ID_TOKEN);
      const token = await ci.getToken().catch((e: unknown) => {
        throw new SigningError(`--keyless: no OIDC token could be had from ${TOKEN_SOURCES}: ${redact(String(e instanceof Error ? e.message : e))}`);
      });
      // The Actions provider resolves to undefined when the endpoint refuses the job's credential.
      if (typeof token !== "string" || !token) {
        throw new SigningError("--keyless: GitHub Actions' OIDC endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) gave no token: the job needs `permissions: id-token: write`, and ACTIONS_ID_TOKEN_REQUEST_TOKEN must be the job's own");
      }
      registerSecret(token);
      return token;
    },
  };
}

/** Whether an OIDC token source is configured (checked before anything is hashed). */
export function hasOidcSource(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!((env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) || env.SIGSTORE_ID_TOKEN || env.BUILDKITE === "true");
}

export function assertOidcSource(env: NodeJS.ProcessEnv = process.env): void {
  if (!hasOidcSource(env)) throw new UserError(`--keyless needs an OIDC identity: run it in ${TOKEN_SOURCES}; or sign with --key PRIVATE.pem`, 2);
}

async function keySigner(file: string): Promise<{ signer: Signer; hint: string; curve: string }> {
  const k = await loadPrivateKey(file);
  return {
    hint: k.hint,
    curve: k.curve,
    signer: {
      sign: async (data: Buffer) => ({
        signature: signBytes(k.hash, data, k.privateKey),
        key: { $case: "publicKey", publicKey: k.pem, hint: k.hint },
      }),
    },
  };
}

/** The sigstore-js failure, in one line that names the service (tokens and URLs' queries redacted). */
function describeSigningFailure(e: unknown, method: Extract<SigningMethod, { kind: "keyless" }>): string {
  const err = e as { code?: string; message?: string; cause?: { message?: string } };
  const detail = [err.message, err.cause?.message].filter(Boolean).join(": ");
  const where =
    err.code === "CA_CREATE_SIGNING_CERTIFICATE_ERROR"
      ? `Fulcio (${method.fulcioURL ?? DEFAULT_FULCIO_URL}) gave no certificate`
      : err.code?.startsWith("TLOG_")
        ? `Rekor (${method.rekorURL ?? DEFAULT_REKOR_URL}) did not log the signature`
        : err.code?.startsWith("IDENTITY_TOKEN")
          ? "the OIDC token could not be read"
          : "keyless signing failed";
  return redact(`${where}: ${detail || String(e)}`);
}

/**
 * Signs the statement. The bundle's JSON is compact with no trailing newline, as the
 * reference writes model.sig.
 */
export async function signStatement(statement: ModelStatement, method: SigningMethod, env: NodeJS.ProcessEnv = process.env): Promise<SignedModel> {
  const payload = statementBytes(statement);
  let bundle: Bundle;
  let signer: string;
  if (method.kind === "key") {
    const k = await keySigner(method.privateKeyFile);
    bundle = await new DSSEBundleBuilder({ signer: k.signer, witnesses: [] }).create({ data: payload, type: PAYLOAD_TYPE });
    // The reference leaves the DSSE keyid empty; the key is named by the bundle's hint.
    if (bundle.content.$case === "dsseEnvelope") for (const s of bundle.content.dsseEnvelope.signatures) s.keyid = "";
    signer = `the ${k.curve} key with hint ${k.hint}`;
  } else {
    assertOidcSource(env);
    const opts = method.timeoutMs ? { timeout: method.timeoutMs } : {};
    const builder = new DSSEBundleBuilder({
      signer: new FulcioSigner({ fulcioBaseURL: method.fulcioURL ?? DEFAULT_FULCIO_URL, identityProvider: oidcProvider(env), ...opts }),
      witnesses: [new RekorWitness({ rekorBaseURL: method.rekorURL ?? DEFAULT_REKOR_URL, entryType: "dsse", majorApiVersion: 1, ...opts })],
    });
    try {
      bundle = await builder.create({ data: payload, type: PAYLOAD_TYPE });
    } catch (e) {
      if (e instanceof UserError) throw e;
      // Our own message from the token provider, which sigstore-js wraps in its own error.
      if ((e as { cause?: unknown }).cause instanceof UserError) throw (e as { cause: UserError }).cause;
      throw new SigningError(describeSigningFailure(e, method), 1, { cause: e });
    }
    signer = "a Fulcio certificate";
  }
  const json = bundleToJSON(bundle);
  return { text: JSON.stringify(json), bundle: json, statement, payload, signer };
}

