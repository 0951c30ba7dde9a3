// A local OIDC issuer standing for GitHub Actions': the job's ID-token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL, answering `{"value": <JWT>}` to a request that carries
// ACTIONS_ID_TOKEN_REQUEST_TOKEN), the issuer's discovery document and its JWKS. Tokens are RS256
// JWTs with the claims GitHub puts in them (repository, ref, workflow_ref, ...), for the audience
// the job asks for. A relying party (the local Hub) verifies them as it would GitHub's.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface JobClaims {
  /** owner/name of the repository running the workflow. */
  repository: string;
  /** e.g. refs/tags/v1.2.0 */
  ref: string;
  /** e.g. owner/name/.github/workflows/release.yml@refs/tags/v1.2.0 */
  workflow_ref: string;
  [claim: string]: unknown;
}

export interface OidcIssuerOptions {
  claims: JobClaims;
  /** Lifetime of an issued ID token (default 300 s, as GitHub's). */
  ttlSeconds?: number;
}

export interface IdTokenRequest {
  audience: string | null;
  /** Whether the request carried the job's request token. */
  authorized: boolean;
}

export interface OidcIssuer {
  /** The issuer (`iss`), also where discovery lives. */
  issuer: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL (it already has a query, as GitHub's does). */
  requestUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
  requestToken: string;
  requests: IdTokenRequest[];
  /** Every ID token issued, to assert none leaks. */
  issued: string[];
  /** A JWT signed by this issuer with any claims (for tokens the Hub must refuse). */
  sign(claims: Record<string, unknown>): string;
  close(): Promise<void>;
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString("base64url");

export async function startOidcIssuer(opts: OidcIssuerOptions): Promise<OidcIssuer> {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
  const requestToken = `actions-request-${randomBytes(16).toString("hex")}`;
  const requests: IdTokenRequest[] = [];
  const issued: string[] = [];
  let issuer = "";

  const jwt = (claims: Record<string, unknown>, key: KeyObject = privateKey): string => {
    const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
    const body = b64url(JSON.stringify(claims));
    return `${head}.${body}.${b64url(sign("RSA-SHA256", Buffer.from(`${head}.${body}`), key))}`;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    const json = (status: number, body: unknown) => {
      const data = Buffer.from(JSON.stringify(body));
      res.writeHead(status, { "content-type": "application/json", "content-length": String(data.length) });
      res.end(data);
    };
    if (url.pathname === "/.well-known/openid-configuration") return json(200, { issuer, jwks_uri: `${issuer}/.well-known/jwks`, id_token_signing_alg_values_supported: ["RS256"] });
    if (url.pathname === "/.well-known/jwks") return json(200, { keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }] });
    if (url.pathname === "/_apis/token") {
      const authorized = req.headers.authorization === `bearer ${requestToken}` || req.headers.authorization === `Bearer ${requestToken}`;
      const audience = url.searchParams.get("audience");
      requests.push({ audience, authorized });
      if (!authorized) return json(401, { message: "Unauthorized" });
      const now = Math.floor(Date.now() / 1000);
      const token = jwt({
        jti: randomBytes(8).toString("hex"),
        sub: `repo:${opts.claims.repository}:ref:${opts.claims.ref}`,
        aud: audience ?? `https://github.com/${opts.claims.repository.split("/")[0]}`,
        iss: issuer,
        iat: now,
        nbf: now - 5,
        exp: now + (opts.ttlSeconds ?? 300),
        repository_owner: opts.claims.repository.split("/")[0],
        ...opts.claims,
      });
      issued.push(token);
      return json(200, { count: 1, value: token });
    }
    json(404, { message: "Not Found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    requestUrl: `${issuer}/_apis/token?api-version=2.0`,
    requestToken,
    requests,
    issued,
    sign: (claims) => jwt(claims),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
