import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../../src/report.js";
import { clearSecrets, guardOutput, isLoopbackHost, redact, refuseCleartextEndpoint, registerSecret, StreamRedactor } from "../../../src/util/redact.js";

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

/** The forms a hostile or careless server can echo a token in, each as that server would write it. */
const ECHO_FORMS: Array<[string, (t: string) => string]> = [
  ["hex, lower case", (t) => Buffer.from(t).toString("hex")],
  ["hex, upper case", (t) => Buffer.from(t).toString("hex").toUpperCase()],
  ["every character %XX", (t) => [...Buffer.from(t)].map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("")],
  ["every character \\u00XX (a JSON text body)", (t) => [...t].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")],
  ["every character \\xXX", (t) => [...Buffer.from(t)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")],
  ["every character an HTML entity", (t) => [...t].map((c) => `&#${c.charCodeAt(0)};`).join("")],
  ["every character \\u{X} (JavaScript)", (t) => [...t].map((c) => `\\u{${c.charCodeAt(0).toString(16)}}`).join("")],
  ["every character &#xNN; (HTML, hex)", (t) => [...t].map((c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`).join("")],
  ["every character %xx, lower case", (t) => [...Buffer.from(t)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")],
  ["slashes and quotes escaped (PHP's json_encode)", (t) => `${t}/"'`.replace(/[/"']/g, (c) => `\\${c}`)],
  ["escapes mixed with literal characters", (t) => [...t].map((c, i) => (i % 3 === 0 ? `%${c.charCodeAt(0).toString(16)}` : i % 3 === 1 ? `\\u00${c.charCodeAt(0).toString(16)}` : c)).join("")],
  ["cut by a line break", (t) => `${t.slice(0, 9)}\n${t.slice(9)}`],
  ["cut by CRLF and indented", (t) => `${t.slice(0, 7)}\r\n    ${t.slice(7)}`],
  ["HTTP Basic as git sends it", (t) => `Authorization: Basic ${b64(`hf_user:${t}`)}`],
  ["base64 wrapped at 76 columns (MIME)", (t) => b64(`x-access-token:${t}`.repeat(3)).replace(/(.{76})/g, "$1\n")],
];

describe("a token echoed in another form", () => {
  for (const [name, encode] of ECHO_FORMS) {
    it.each(TOKENS)(`${name}: %s is removed`, (token) => {
      registerSecret(token);
      const text = `error from server: ${encode(token)} (end)`;
      const out = redact(text);
      expect(out).toContain("error from server:");
      expect(out).toContain("(end)");
      expect(out.replace(/\r?\n\s*/g, "")).not.toContain(encode(token).replace(/\r?\n\s*/g, "").slice(2, -2));
      expect(out).not.toContain(token);
    });
  }

  it.each(ECHO_FORMS)("%s, split across two writes at every position, never reaches the stream whole", (_name, encode) => {
    const token = TOKENS[0]!;
    registerSecret(token);
    const text = `echo: ${encode(token)} done`;
    for (let at = 1; at < text.length; at++) {
      const r = new StreamRedactor();
      const out = r.push(text.slice(0, at)) + r.push(text.slice(at)) + r.flush();
      expect(out, `split at ${at}`).toContain("done");
      expect(out.replace(/\r?\n\s*/g, ""), `split at ${at}`).not.toContain(encode(token).replace(/\r?\n\s*/g, "").slice(2, -2));
    }
  });

  it("a secret whose base64 holds `-` and `_` is caught in the URL-safe alphabet at each alignment", () => {
    const token = "s3cr3t?>>~~~??value";
    expect(b64(token)).toMatch(/[+/]/);
    registerSecret(token);
    for (const user of ["", "a:", "ab:"]) {
      const encoded = b64url(`${user}${token}`);
      expect(encoded).toMatch(/[-_]/);
      expect(redact(`token=${encoded};`)).toBe("token=***;");
    }
  });
});
