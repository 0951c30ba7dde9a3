import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../report.js";
import { clearSecrets, guardOutput, isLoopbackHost, redact, refuseCleartextEndpoint, registerSecret } from "./redact.js";

// Token shapes we may hold: Hub, GitHub classic/app/fine-grained, 40-hex classic, arbitrary.
const TOKENS = [
  "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
  "ghp_0123456789abcdefABCDEF0123456789abcd",
  "ghs_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210",
  "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
  "0123456789abcdef0123456789abcdef01234567",
  "s3cr3t-V4lue.with/odd+chars",
];
const b64 = (s: string) => Buffer.from(s).toString("base64");
const b64url = (s: string) => Buffer.from(s).toString("base64url");

afterEach(() => clearSecrets());

describe("redact with registered secrets", () => {
  it.each(TOKENS)("removes %s literally and in every base64 form", (token) => {
    registerSecret(token);
    const forms = [
      token,
      `Authorization: Basic ${b64(`hf_user:${token}`)}`,
      `header AUTHORIZATION: basic ${b64(`x-access-token:${token}`)}`,
      `extraheader = ${b64(`${token}`)}`,
      `user a: ${b64(`a:${token}`)} / ab: ${b64(`ab:${token}`)} / abc: ${b64(`abc:${token}`)}`,
      `url-safe ${b64url(`someone:${token}`)}`,
      `json {"token":${JSON.stringify(token)}}`,
      `encoded ${encodeURIComponent(token)}`,
    ];
    for (const text of forms) {
      const out = redact(text);
      expect(out, text).not.toContain(token);
      for (const user of ["hf_user:", "x-access-token:", "", "a:", "ab:", "abc:", "someone:"]) {
        expect(out, text).not.toContain(b64(`${user}${token}`).slice(4, -4));
      }
    }
  });

  it("keeps ordinary text, git shas and sizes intact", () => {
    TOKENS.forEach(registerSecret);
    const text = "commit 1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c at main: 442155337 bytes, basic multipart transfer";
    expect(redact(text)).toBe(text);
  });

  it("the server echo of the GitHub error message is clean", () => {
    const token = "0123456789abcdef0123456789abcdef01234567";
    registerSecret(token);
    expect(redact(`cannot reach GitHub: credential ${token} is not allowed here`)).toBe("cannot reach GitHub: credential *** is not allowed here");
  });
});

describe("guardOutput", () => {
  it("redacts every string and byte write of the guarded stream, passes other bytes untouched", () => {
    const token = "hf_GuardedTokenValue0123456789";
    registerSecret(token);
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    const restore = guardOutput([stream]);
    stream.write(`one ${token}\n`);
    stream.write(Buffer.from(`two ${b64(`u:${token}`)}\n`));
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    stream.write(binary);
    restore();
    stream.write(`after ${token.slice(0, 5)}\n`);
    const all = Buffer.concat(chunks);
    expect(all.toString()).not.toContain(token);
    expect(all.toString()).toContain("one ***");
    expect(all.toString()).toContain("two ***");
    expect(all.includes(binary)).toBe(true);
  });
});

describe("plain http endpoints", () => {
  it("refuses http off loopback with exit 2 and says why", () => {
    for (const url of ["http://hub.example.com", "http://10.0.0.5:8080/", "http://user:pw@huggingface.co"]) {
      let err: unknown;
      try {
        refuseCleartextEndpoint("HF_ENDPOINT", url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(2);
      expect((err as UserError).message).toMatch(/^HF_ENDPOINT=http:\/\/[^ ]+ is plain http: the token would travel unencrypted/);
      expect((err as UserError).message).not.toContain("pw");
    }
  });
  it("allows https and loopback http", () => {
    for (const url of ["https://huggingface.co", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "http://127.0.0.2", "http://hub.localhost"]) {
      expect(() => refuseCleartextEndpoint("GITHUB_API_URL", url), url).not.toThrow();
    }
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
    expect(isLoopbackHost("localhost.example.com")).toBe(false);
  });
});

describe("a long secret (a PEM private key)", () => {
  it("is redacted whole, line by line and inside other text; registering it stays cheap", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    registerSecret(pem);
    expect(redact(`key: ${pem}`)).not.toMatch(/[A-Za-z0-9+/]{20,}/);
    const line = pem.split("\n")[5]!;
    expect(redact(`got ${line} back`)).toBe("got *** back");
    expect(redact(`hex ${Buffer.from(line).toString("hex")}`)).toBe("hex ***");
  });
});
