// A local Sigstore for keyless tests: @sigstore/mock's Fulcio (an ephemeral CA with a CT log) and
// Rekor behind one loopback HTTP server, a GitHub Actions OIDC token endpoint beside them, and
// the trusted_root.json that trusts exactly these. Nothing leaves the machine.
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler, type HandlerFn } from "@sigstore/mock";

export const GHA_REQUEST_TOKEN = "gha-request-credential-7f3a9c2e5b";

export interface MockSigstore {
  url: string;
  fulcioURL: string;
  rekorURL: string;
  trustedRoot: string;
  /** The env a GitHub Actions job with `id-token: write` has, pointing at this server. */
  actionsEnv: NodeJS.ProcessEnv;
  /** The OIDC token the endpoint hands out (an unsigned JWT: the mock Fulcio reads its claims). */
  idToken: string;
  identity: string;
  issuer: string;
  /** Every request, as method and URL (with query). */
  requests: { method: string; url: string; authorization?: string }[];
  close(): Promise<void>;
}

const b64url = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
const sha256hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/**
 * A dsse entry as Rekor stores it: the envelope replaced by its hash, the payload's hash and each
 * signature with its verifier (the mock logs what it is sent, which no verifier accepts).
 */
function asRekorStoresDsse(body: string): string {
  const entry = JSON.parse(body) as { apiVersion: string; kind: string; spec?: { proposedContent?: { envelope: string; verifiers: string[] } } };
  const proposed = entry.spec?.proposedContent;
  if (entry.kind !== "dsse" || !proposed) return body;
  const envelope = JSON.parse(proposed.envelope) as { payload: string; signatures: { sig: string }[] };
  return JSON.stringify({
    apiVersion: entry.apiVersion,
    kind: "dsse",
    spec: {
      envelopeHash: { algorithm: "sha256", value: sha256hex(proposed.envelope) },
      payloadHash: { algorithm: "sha256", value: sha256hex(Buffer.from(envelope.payload, "base64")) },
      signatures: envelope.signatures.map((s) => ({ signature: s.sig, verifier: proposed.verifiers[0] })),
    },
  });
}

export async function startMockSigstore(opts: { identity?: string; issuer?: string } = {}): Promise<MockSigstore> {
  const identity = opts.identity ?? "https://github.com/castorini/azbert-release/.github/workflows/release.yml@refs/tags/v0.1.0";
  const issuer = opts.issuer ?? "https://token.actions.githubusercontent.com";
  const idToken = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ iss: issuer, sub: identity, aud: "sigstore", exp: Math.floor(Date.now() / 1000) + 600 })}.c2lnbmF0dXJl`;
  const key = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
  // Real time throughout: certificates are issued before their signature is logged, and X.509 and Rekor both count whole seconds.
  const ctlog = await initializeCTLog(key());
  const ca = await initializeCA(key(), ctlog);
  const requests: MockSigstore["requests"] = [];
  const routes = new Map<string, HandlerFn>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const u = new URL(req.url ?? "/", "http://x");
      if (req.method === "GET" && u.pathname === "/oidc/token") {
        const ok = req.headers.authorization === `Bearer ${GHA_REQUEST_TOKEN}` && u.searchParams.get("audience") === "sigstore";
        res.writeHead(ok ? 200 : 401, { "content-type": "application/json" }).end(JSON.stringify(ok ? { value: idToken } : { message: "bad credential or audience" }));
        return;
      }
      const handler = req.method === "POST" ? routes.get(u.pathname) : undefined;
      if (!handler) return void res.writeHead(404).end("not found");
      handler(Buffer.concat(chunks).toString("utf8")).then(
        ({ statusCode, response, contentType }) => res.writeHead(statusCode, { "content-type": contentType ?? "text/plain" }).end(response),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tlogKey = key();
  const tlog = await initializeTLog(url, tlogKey);
  const fulcio = fulcioHandler(ca);
  const rekor = rekorHandler(tlog);
  routes.set(fulcio.path, fulcio.fn);
  routes.set(rekor.path, (body) => rekor.fn(asRekorStoresDsse(body)));

  const dir = mkdtempSync(path.join(os.tmpdir(), "azbert-sigstore-"));
  const trustedRoot = path.join(dir, "trusted_root.json");
  const start = new Date(Date.now() - 3600_000).toISOString();
  const p256 = (raw: Buffer) => ({ rawBytes: raw.toString("base64"), keyDetails: "PKIX_ECDSA_P256_SHA_256", validFor: { start } });
  writeFileSync(
    trustedRoot,
    JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
      tlogs: [{ baseUrl: url, hashAlgorithm: "SHA2_256", publicKey: p256(tlog.publicKey), logId: { keyId: createHash("sha256").update(tlog.publicKey).digest("base64") } }],
      certificateAuthorities: [
        {
          subject: { organization: "sigstore.mock", commonName: "sigstore" },
          uri: url,
          certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer, ca.rootCertificate.byteOffset, ca.rootCertificate.byteLength).toString("base64") }] },
          validFor: { start },
        },
      ],
      ctlogs: [{ baseUrl: url, hashAlgorithm: "SHA2_256", publicKey: p256(ctlog.publicKey), logId: { keyId: Buffer.from(ctlog.logID.buffer, ctlog.logID.byteOffset, ctlog.logID.byteLength).toString("base64") } }],
      timestampAuthorities: [],
    }),
  );
  return {
    url,
    fulcioURL: url,
    rekorURL: url,
    trustedRoot,
    actionsEnv: { ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/oidc/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: GHA_REQUEST_TOKEN },
    idToken,
    identity,
    issuer,
    requests,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The folder the reference's tests call sample_model_folder (tests/conftest.py): d0/f00…d1/f12 and f0…f3. */
export function writeReferenceSampleFolder(parent: string): string {
  const root = path.join(parent, "sample_model");
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      const file = path.join(root, `d${i}`, `f${i}${j}`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `This is file f${i}${j} in d${i}.`);
    }
  }
  for (let i = 0; i < 4; i++) writeFileSync(path.join(root, `f${i}`), `This is file f${i} in root.`);
  return root;
}
