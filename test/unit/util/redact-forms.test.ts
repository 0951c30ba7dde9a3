// What a user sees of a secret: never the secret, in any spelling a server, a tool or a split
// write can give it, and every character around it exactly as it was.
import * as fs from "node:fs";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { UserError } from "../../../src/report.js";
import { clearSecrets, guardOutput, isLoopbackHost, redact, refuseCleartextEndpoint, registerSecret, StreamRedactor, stripUrlCredentials, writeNow } from "../../../src/util/redact.js";

// writeNow and the exit handler write with writeSync, past the stream: record what they write.
vi.mock("node:fs", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs")>();
  return { ...actual, writeSync: vi.fn(actual.writeSync) };
});

const HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345";
const GHP = "ghp_0123456789abcdefABCDEF0123456789abcd";
const PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV";
// An OIDC token from GitHub Actions: one line, longer than the pieces a long secret is held in.
const JWT =
  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjFGMkFCODM0MDRDMDhFQzlFQTBCQjk5REFFRDAyMTg2QjA5MURCRjQifQ" +
  ".eyJzdWIiOiJyZXBvOmFjbWUvbW9kZWw6cmVmOnJlZnMvaGVhZHMvbWFpbiIsImF1ZCI6Imh0dHBzOi8vZ2l0aHViLmNvbS9hY21lIiwiaXNzIjoiaHR0cHM6Ly90b2tlbi5hY3Rpb25zLmdpdGh1YnVzZXJjb250ZW50LmNvbSIsImV4cCI6MTc2NTAwMDAwMH0" +
  ".c2lnbmF0dXJlLWJ5dGVzLWZvci10aGUtb2lkYy10b2tlbi0wMTIzNDU2Nzg5QUJDREVGR0hJSktMTU5PUFFSU1RV";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const b64url = (s: string) => Buffer.from(s).toString("base64url");
const hex = (s: string) => Buffer.from(s).toString("hex");
const pct = (s: string, upper = true) => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, "0")[upper ? "toUpperCase" : "toLowerCase"]()}`).join("");

/** What a stream shows of `text` written in two pieces, cut at `at`. */
function splitAt(text: string, at: number): string {
  const r = new StreamRedactor();
  return r.push(text.slice(0, at)) + r.push(text.slice(at)) + r.flush();
}

/** `text` cut at every position: each time the stream shows exactly `expected`. */
function expectEverySplit(text: string, expected: string): void {
  for (let at = 1; at < text.length; at++) expect(splitAt(text, at), `split at ${at}: ${JSON.stringify(text.slice(0, at))}`).toBe(expected);
}

afterEach(() => clearSecrets());

describe("token-looking strings nobody registered", () => {
  it.each([
    ["a Hugging Face token", `got ${HF}!`, "got ***!"],
    ["a GitHub classic token", `push with ${GHP} failed`, "push with *** failed"],
    ["GitHub app, OAuth, user and refresh tokens", "ghs_ABCDEFGHIJKLMNOPQRSTuv gho_ABCDEFGHIJKLMNOPQRSTuv ghu_ABCDEFGHIJKLMNOPQRSTuv ghr_ABCDEFGHIJKLMNOPQRSTuv", "*** *** *** ***"],
    ["a fine-grained GitHub token", `GH_TOKEN=${PAT}`, "GH_TOKEN=***"],
  ])("%s is masked and the words around it stay", (_name, text, expected) => {
    expect(redact(text)).toBe(expected);
  });

  it("keeps the scheme of an Authorization header and masks its credential", () => {
    expect(redact("Authorization: Bearer abc.def-ghi_jkl~mno+pqr/stu=")).toBe("Authorization: Bearer ***");
    expect(redact("Authorization: token 0123456789abcdef")).toBe("Authorization: token ***");
    expect(redact(`Authorization: Basic ${b64("user:password1")}\r\nHost: example.com`)).toBe("Authorization: Basic ***\r\nHost: example.com");
  });

  it("leaves words that only look like the start of a token alone", () => {
    // Too short to be a token: ordinary identifiers and prose.
    const text = "hf_abc ghp_short Bearer abc Basic xyz the hf_ prefix, gh_pages, github_pat_ docs";
    expect(redact(text)).toBe(text);
  });

  it("replaces the user info of a URL and keeps host, path and the rest of the line", () => {
    expect(redact("fatal: unable to access 'https://oauth2:s3cretpass@gitlab.example.com/acme/model.git/': 403")).toBe(
      "fatal: unable to access 'https://***@gitlab.example.com/acme/model.git/': 403",
    );
    expect(redact("remote: git+ssh://deploy:pw@host/repo ok")).toBe("remote: git+ssh://***@host/repo ok");
  });

  it("drops the user info of a quoted remote URL entirely", () => {
    expect(stripUrlCredentials("origin https://x-access-token:abcdefgh@github.com/acme/model.git (push)")).toBe("origin https://github.com/acme/model.git (push)");
    // What is left is redacted too.
    expect(stripUrlCredentials(`remote https://github.com/acme/model.git uses ${HF}`)).toBe("remote https://github.com/acme/model.git uses ***");
  });

  it("keeps only origin and path of a presigned URL: the signature is in the query", () => {
    const url =
      "https://bucket.s3.us-east-1.amazonaws.com/lfs/0a1b2c?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=deadbeefcafe0123456789";
    expect(redact(`upload to ${url} failed (403)`)).toBe("upload to https://bucket.s3.us-east-1.amazonaws.com/lfs/0a1b2c?<redacted> failed (403)");
    expect(redact(`"href": "http://cdn.example.com/file.bin?Signature=abc&Expires=1"`)).toBe(`"href": "http://cdn.example.com/file.bin?<redacted>"`);
  });

  it("a URL without a query and text without a token come through unchanged", () => {
    const text = "see https://huggingface.co/acme/model/tree/main and https://github.com/acme/model/releases/tag/v1.0.0 (token: none)";
    expect(redact(text)).toBe(text);
  });
});

describe("registering secrets", () => {
  it("a value read with surrounding whitespace is caught without it", () => {
    registerSecret(`  ${HF}\n`);
    expect(redact(`got ${HF}.`)).toBe("got ***.");
    // One that looks like no token at all: only the registration catches it.
    registerSecret("  plain-Secret-42\n");
    expect(redact("got plain-Secret-42.")).toBe("got ***.");
  });

  it("nothing, an empty value and values under six characters are not secrets: text keeps them", () => {
    expect(() => registerSecret(undefined)).not.toThrow();
    expect(() => registerSecret(null)).not.toThrow();
    registerSecret("");
    registerSecret("   ");
    registerSecret("admin");
    registerSecret(" main ");
    expect(redact("admin pushed to main")).toBe("admin pushed to main");
  });

  it("a secret of exactly six characters is caught", () => {
    registerSecret("Zq9!xW");
    expect(redact("password is Zq9!xW, ok")).toBe("password is ***, ok");
  });

  it("registering the same secret twice still catches it once", () => {
    registerSecret(GHP);
    registerSecret(GHP);
    expect(redact(`a ${GHP} b`)).toBe("a *** b");
  });

  it("after clearSecrets a former secret prints as it is", () => {
    registerSecret("plain-words-here");
    clearSecrets();
    expect(redact("plain-words-here")).toBe("plain-words-here");
  });

  it("secrets passed to one call are caught in that call only, in every form", () => {
    const secret = "s3cr3t-V4lue.with/odd+chars";
    expect(redact(`a ${secret} b ${encodeURIComponent(secret)} c ${b64(`u:${secret}`)} d ${hex(secret)} e`, [secret])).toBe("a *** b *** c *** d *** e");
    expect(redact(`a ${secret} b`)).toBe(`a ${secret} b`);
    // Given with whitespace around it, or of exactly six characters: still caught.
    expect(redact("got plain-Secret-42 and Zq9!xW.", [" plain-Secret-42\n", "Zq9!xW"])).toBe("got *** and ***.");
    // Missing and short values are skipped, not treated as secrets.
    expect(redact("the cat sat", [undefined, "", "cat", " sat "])).toBe("the cat sat");
    // The same secret given again, and many different ones, are all still caught.
    for (let i = 0; i < 70; i++) expect(redact(`x secret-number-${i} y`, [`secret-number-${i}`])).toBe("x *** y");
    expect(redact(`a ${secret} b`, [secret])).toBe("a *** b");
    // A secret given per call that is also registered is caught once.
    registerSecret(secret);
    expect(redact(`a ${secret} b`, [secret])).toBe("a *** b");
  });
});

describe("a long single-line secret (an OIDC token)", () => {
  it("is masked whole, its end included", () => {
    expect(JWT.length).toBeGreaterThan(128);
    expect(JWT.length % 64).toBeLessThan(6); // the last piece is a few characters only
    registerSecret(JWT);
    expect(redact(`got ${JWT} end`)).toBe("got *** end");
    expect(redact(`Authorization: bearer\n${JWT}\n`)).toBe("Authorization: bearer\n***\n");
    // Its end alone (a log that cut the start off): the last characters are masked too.
    const tail = redact(`...${JWT.slice(-70)} end`);
    expect(tail.endsWith("*** end")).toBe(true);
    expect(tail).not.toContain(JWT.slice(-8));
  });

  it("is masked whole in base64, percent-encoded and JSON", () => {
    registerSecret(JWT);
    expect(redact(`{"auth":"${b64(`x:${JWT}`)}"}`)).toBe(`{"auth":"***"}`);
    expect(redact(`{"auth":"${b64(`xy:${JWT}`)}"}`)).toBe(`{"auth":"***"}`);
    expect(redact(`q=${pct(JWT)}&x=1`)).toBe("q=***&x=1");
    expect(redact(JSON.stringify({ id_token: JWT }))).toBe(`{"id_token":"***"}`);
  });
});

describe("where a secret sits in ordinary text", () => {
  it("two echoes of a secret keep the text between them", () => {
    registerSecret(GHP);
    expect(redact(`first ${GHP} then ${GHP} last`)).toBe("first *** then *** last");
  });

  it("two different secrets back to back are one mask, nothing of either left", () => {
    registerSecret("alpha-secret-1");
    registerSecret("beta-secret-22");
    expect(redact("[alpha-secret-1beta-secret-22]")).toBe("[***]");
    expect(redact("[alpha-secret-1 beta-secret-22]")).toBe("[*** ***]");
  });

  it("a secret that holds another one is masked whole", () => {
    registerSecret("user:Passw0rd!9");
    registerSecret("Passw0rd!9");
    expect(redact("creds user:Passw0rd!9 end")).toBe("creds *** end");
  });

  it("characters right next to a literal secret are kept", () => {
    const secret = "Xk2mP9qLw7Rt";
    registerSecret(secret);
    expect(redact(`id-${secret}-suffix`)).toBe("id-***-suffix");
    expect(redact(`https://host/api/${secret}/info`)).toBe("https://host/api/***/info");
    expect(redact(`x${secret}y`)).toBe("x***y");
  });

  it("hex of a secret keeps the 0x before it", () => {
    const secret = "Xk2mP9qLw7Rt";
    registerSecret(secret);
    expect(redact(`value=0x${hex(secret)}, next`)).toBe("value=0x***, next");
    expect(redact(`key_${hex(secret).toUpperCase()}_end`)).toBe("key_***_end");
  });

  it("a base64 run that carries a secret is masked whole, padding included, at the end of the text too", () => {
    registerSecret(HF);
    const padded = b64(`a:${HF}`);
    expect(padded.endsWith("==")).toBe(true);
    expect(redact(`{"auth":"${padded}"}`)).toBe(`{"auth":"***"}`);
    expect(redact(`X-Auth: ${padded}`)).toBe("X-Auth: ***");
    expect(redact(`X-Auth: ${b64(`abc:${HF}`)}`)).toBe("X-Auth: ***");
    // The `=` of `key=` before the run and a divider after the padding are not base64 data.
    expect(redact(`key=${padded}=== end`)).toBe("key=***=== end");
  });

  it("a short password is caught in base64 at every alignment, as a registry auth stores it", () => {
    const pw = "Pa55w0rd";
    registerSecret(pw);
    for (const user of ["ab:", "abc:", "abcd:"]) expect(redact(`{"auths":{"ghcr.io":{"auth":"${b64(`${user}${pw}`)}"}}}`), user).toBe(`{"auths":{"ghcr.io":{"auth":"***"}}}`);
  });

  it("a secret whose base64 holds `+` and `/` is caught in the standard alphabet at each alignment", () => {
    const token = "s3cr3t?>>~~~??value";
    registerSecret(token);
    for (const user of ["", "a:", "ab:"]) {
      const encoded = b64(`${user}${token}`);
      expect(encoded).toMatch(/[+/]/);
      expect(redact(`token=${encoded};`), user).toBe("token=***;");
    }
  });

  it("a secret with a control character in it (a pasted tab) is caught percent-encoded and in hex", () => {
    const secret = "tab\there-99";
    registerSecret(secret);
    expect(redact("pw=tab%09here-99;")).toBe("pw=***;");
    expect(redact(`hex ${hex(secret)} end`)).toBe("hex *** end");
  });

  it("ordinary base64 that shares three bytes with a six-character secret is kept", () => {
    registerSecret("Zq9!xW");
    const unrelated = b64("abcq9!def");
    expect(unrelated).toContain(b64("q9!"));
    expect(redact(`sha=${unrelated}`)).toBe(`sha=${unrelated}`);
  });

  it("ordinary base64 that shares only a few bytes with a short secret is kept", () => {
    registerSecret("Pa55w0rd");
    // "55w" sits aligned in this digest as it does in the secret, the rest differs.
    const unrelated = b64("xyz55wabcdefghi");
    expect(unrelated).toContain(b64("55w"));
    expect(redact(`sha=${unrelated}`)).toBe(`sha=${unrelated}`);
  });

  it("ordinary text, shas and sizes stay exactly as they were with many secrets registered", () => {
    [HF, GHP, PAT, JWT, "Pa55w0rd", "s3cr3t-V4lue.with/odd+chars"].forEach(registerSecret);
    const text = [
      "commit 1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c (HEAD -> main, origin/main)",
      "uploading model.safetensors: 442155337 bytes, sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      'json: {"path":"a/b.bin","size":12,"ok":true}\r\n',
      "percent %20 and \\u0041 and &#65; and \\x41 stay",
    ].join("\n");
    expect(redact(text)).toBe(text);
  });
});

describe("a secret in other spellings", () => {
  it("non-ASCII characters of a secret are caught percent-encoded", () => {
    const secret = "pässwört-Zürich";
    registerSecret(secret);
    expect(redact(`https://example.com/login?next=1 pw=${encodeURIComponent(secret)}&x`)).toBe("https://example.com/login?<redacted> pw=***&x");
    expect(redact(`pw=${encodeURIComponent(secret)}&x`)).toBe("pw=***&x");
    expect(redact(`pw=${pct(secret, false)};`)).toBe("pw=***;");
  });

  it.each([
    ["\\U00XX", (t: string) => [...t].map((c) => `\\U${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")],
    ["\\XXX", (t: string) => [...t].map((c) => `\\X${c.charCodeAt(0).toString(16)}`).join("")],
    ["&#XNN;", (t: string) => [...t].map((c) => `&#X${c.charCodeAt(0).toString(16)};`).join("")],
    ["zero-padded &#0NNN;", (t: string) => [...t].map((c) => `&#0${c.charCodeAt(0)};`).join("")],
    ["\\u{00XX}", (t: string) => [...t].map((c) => `\\u{00${c.charCodeAt(0).toString(16)}}`).join("")],
    ["JSON with escaped slashes", (t: string) => JSON.stringify(t).slice(1, -1).replace(/\//g, "\\/")],
  ])("every character written as %s is caught", (_name, encode) => {
    const secret = "s3cr3t-V4lue.with/odd+chars";
    registerSecret(secret);
    expect(redact(`echo: ${encode(secret)} done`)).toBe("echo: *** done");
  });

  it.each([
    ["JSON's \\uXXXX, a surrogate pair above U+FFFF (Python's ensure_ascii)", (t: string) => [...Array(t.length).keys()].map((i) => `\\u${t.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")],
    ["upper-case surrogate pairs", (t: string) => [...Array(t.length).keys()].map((i) => `\\u${t.charCodeAt(i).toString(16).padStart(4, "0").toUpperCase()}`).join("")],
    ["&#NNNNNN; by code point", (t: string) => [...t].map((c) => `&#${c.codePointAt(0)};`).join("")],
    ["&#xHHHHH; by code point", (t: string) => [...t].map((c) => `&#x${c.codePointAt(0)!.toString(16)};`).join("")],
    ["\\u{HHHHH} by code point", (t: string) => [...t].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join("")],
    ["Python's bytes repr, one \\xNN per UTF-8 byte", (t: string) => [...Buffer.from(t)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")],
    ["bytes repr with printable bytes as themselves", (t: string) => [...Buffer.from(t)].map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("")],
  ])("a secret with characters beyond ASCII and above U+FFFF is caught as %s", (_name, encode) => {
    const secret = "pä55-😀-wörd-𝔘x";
    registerSecret(secret);
    expect(redact(`echo: ${encode(secret)} done`)).toBe("echo: *** done");
    expectEverySplit(`echo: ${encode(secret)} done`, "echo: *** done");
  });

  it.each([
    ["percent-encoded", (t: string) => pct(t)],
    ["as \\xNN bytes", (t: string) => [...Buffer.from(t)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")],
    ["as \\uXXXX code units", (t: string) => [...Array(t.length).keys()].map((i) => `\\u${t.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")],
    ["as &#NNN; code points", (t: string) => [...t].map((c) => `&#${c.codePointAt(0)};`).join("")],
  ])("a secret whose first character is above U+FFFF is masked at every cut, %s", (_name, encode) => {
    const secret = "😀ä-s3cr3t-Wert";
    registerSecret(secret);
    expectEverySplit(`pw=${encode(secret)} done`, "pw=*** done");
  });

  it("a secret broken by JSON-escaped CRLF and indentation is caught", () => {
    registerSecret(HF);
    expect(redact(`"msg": "${HF.slice(0, 10)}\\r\\n  ${HF.slice(10)}"`)).toBe(`"msg": "***"`);
    expect(redact(`hex: ${hex(HF).slice(0, 20)}\r\n\t${hex(HF).slice(20)} end`)).toBe("hex: *** end");
  });
});

/** Forms of HF as a server or a tool writes them, each in a line of ordinary text. */
const STREAM_FORMS: Array<[string, (t: string) => string]> = [
  ["plain", (t) => t],
  ["percent-encoded, upper case", (t) => pct(t)],
  ["percent-encoded, lower case", (t) => pct(t, false)],
  ["\\u00XX (JSON)", (t) => [...t].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")],
  ["\\U00XX", (t) => [...t].map((c) => `\\U${c.charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()}`).join("")],
  ["\\XXX", (t) => [...t].map((c) => `\\X${c.charCodeAt(0).toString(16)}`).join("")],
  ["&#XNN;", (t) => [...t].map((c) => `&#X${c.charCodeAt(0).toString(16)};`).join("")],
  ["&#NNN;", (t) => [...t].map((c) => `&#${c.charCodeAt(0)};`).join("")],
  ["cut by CRLF", (t) => `${t.slice(0, 8)}\r\n${t.slice(8)}`],
  ["cut by an escaped CRLF", (t) => `${t.slice(0, 8)}\\r\\n${t.slice(8)}`],
  ["hex cut by CRLF", (t) => `${hex(t).slice(0, 30)}\r\n${hex(t).slice(30)}`],
  ["hex cut by an escaped CRLF", (t) => `${hex(t).slice(0, 30)}\\r\\n${hex(t).slice(30)}`],
];

/**
 * Base64 of `user:token`. Written whole, the run is masked but for `kept` leading characters (a
 * line of its own that encodes the user name only). A stream cut before the token's bytes start
 * may show up to `maxShown` leading characters: the user name's encoding, up to the group it
 * shares with the token's first byte.
 */
const STREAM_BASE64: Array<[string, (t: string) => string, number, number]> = [
  ["base64 of hf_user:token", (t) => b64(`hf_user:${t}`), 0, 12],
  ["base64url of a:token", (t) => b64url(`a:${t}`), 0, 4],
  ["base64 wrapped with CRLF", (t) => b64(`x-access-token:${t}`).replace(/(.{20})/g, "$1\r\n"), 22, 22],
];

/**
 * `before + run + after` cut at every position: the stream shows the text around the run
 * exactly, at most `maxShown` leading characters of the run, then the mask, and nothing of the
 * run after it (a cut inside the run's last group of four included: those characters encode
 * the token's last bytes).
 */
function expectEverySplitOfRun(before: string, run: string, after: string, kept: number, maxShown: number): void {
  const text = before + run + after;
  for (let at = 1; at < text.length; at++) {
    const out = splitAt(text, at);
    const where = `split at ${at}: ${JSON.stringify(out)}`;
    expect(out.startsWith(before), where).toBe(true);
    expect(out.endsWith(after), where).toBe(true);
    const middle = out.slice(before.length, out.length - after.length);
    const mask = middle.indexOf("***");
    expect(mask, where).toBeGreaterThanOrEqual(0);
    const [shown, trailing] = [middle.slice(0, mask), middle.slice(mask + 3)];
    expect(run.startsWith(shown), where).toBe(true);
    expect(shown.length, where).toBeLessThanOrEqual(maxShown);
    expect(trailing, where).toBe("");
    // Once the cut is past the start of the token's bytes, nothing more of the run is shown than written whole.
    if (at > before.length + maxShown) expect(out, where).toBe(`${before}${run.slice(0, kept)}***${after}`);
  }
}

describe("a secret split across two writes", () => {
  it.each(STREAM_FORMS)("%s: the stream shows the line with the secret masked, at every cut", (_name, encode) => {
    registerSecret(HF);
    expectEverySplit(`echo: ${encode(HF)} done`, "echo: *** done");
  });

  it.each(STREAM_BASE64)("%s: the stream shows no more of the run than the user name", (_name, encode, kept, maxShown) => {
    registerSecret(HF);
    expectEverySplitOfRun("echo: ", encode(HF), " done", kept, maxShown);
  });

  it("base64 at the very start of the output is masked at every cut", () => {
    registerSecret(HF);
    expectEverySplitOfRun("", b64(`ab:${HF}`), " done", 0, 4);
  });

  it("a secret after a long stretch of output is masked at every cut", () => {
    registerSecret(GHP);
    const long = `${"progress 42% ".repeat(200)}`;
    const text = `${long}${pct(GHP)} done`;
    for (let at = long.length; at < text.length; at++) expect(splitAt(text, at), `split at ${at}`).toBe(`${long}*** done`);
  });

  it("a secret starting with a non-ASCII character is masked at every cut of its percent-encoding", () => {
    registerSecret("äbc-secret-1");
    expectEverySplit(`pw=${encodeURIComponent("äbc-secret-1")}&x=1`, "pw=***&x=1");
  });

  it("an unregistered token is masked at every cut, with other secrets registered", () => {
    [GHP, "s3cr3t-V4lue.with/odd+chars", "Pa55w0rd", "0123456789abcdef0123456789abcdef01234567"].forEach(registerSecret);
    for (const token of [HF, "ghs_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"]) expectEverySplit(`use ${token} done`, "use *** done");
  });

  it("an unregistered token is masked at every cut, nothing registered", () => {
    expectEverySplit(`use ${HF} done`, "use *** done");
  });

  it("the long OIDC token is masked at every cut: nothing but masks between the text around it", () => {
    registerSecret(JWT);
    const text = `id_token=${JWT}&x=1`;
    for (let at = 1; at < text.length; at++) {
      const out = splitAt(text, at);
      expect(out, `split at ${at}`).toMatch(/^id_token=(\*\*\*)+&x=1$/);
    }
  });

  it("a secret inside another registered one shows nothing of either at every cut", () => {
    // A connection string registered whole, and the password in it registered too.
    registerSecret("Passw0rd!9");
    registerSecret("svc:Passw0rd!9@vault.internal");
    expectEverySplit("dsn=svc:Passw0rd!9@vault.internal ok", "dsn=*** ok");
  });

  it("ordinary text is shown exactly at every cut", () => {
    [HF, GHP].forEach(registerSecret);
    const text = "hello gh the hf_ docs say: ghost hosts\r\nhash 0a1b2c, h";
    expectEverySplit(text, text);
  });
});

describe("what a stream holds back", () => {
  it("holds back only a possible start of a secret, and says so", () => {
    registerSecret(HF);
    const r = new StreamRedactor();
    expect(r.push("line one\n")).toBe("line one\n");
    expect(r.pending).toBe(false);
    expect(r.push("then hf_AbCd")).toBe("then ");
    expect(r.pending).toBe(true);
    expect(r.holdsShortStart).toBe(false);
    expect(r.push("EfGhIjKlMnOpQrStUvWxYz012345 end")).toBe("*** end");
    expect(r.pending).toBe(false);
    expect(r.flush()).toBe("");
  });

  it("what comes before a possible start is written at once, a path or base64 included", () => {
    registerSecret("s3cr3t-V4lue");
    const r = new StreamRedactor();
    expect(r.push("path/to/s3c")).toBe("path/to/");
    expect(r.flush()).toBe("s3c");
  });

  it("a base64 run that carries a secret and has ended is written at once, masked", () => {
    registerSecret(HF);
    const r = new StreamRedactor();
    expect(r.push(`auth ${b64(`user:${HF}`)} ok\n`)).toBe("auth *** ok\n");
    expect(r.pending).toBe(false);
    // Ended by the end of the text and nothing else: it may go on, so it waits.
    expect(r.push(`auth ${b64(`user:${HF}`)}`)).toBe("auth ");
    expect(r.pending).toBe(true);
    expect(r.holdsShortStart).toBe(false);
    expect(r.flush()).toBe("***");
  });

  it("a start of a literal secret right after a path is held alone: the path is written at once", () => {
    registerSecret(HF);
    const r = new StreamRedactor();
    expect(r.push(`see:path/to/${HF.slice(0, 8)}`)).toBe("see:path/to/");
    expect(r.push(`${HF.slice(8)} done`)).toBe("*** done");
  });

  it("a base64 run of 3000 characters that ends in a token's base64 is masked whole once the token completes", () => {
    registerSecret(HF);
    // 2250 bytes before the token: its base64 starts 3000 characters into the run; the cut falls 8 characters after.
    const run = b64(`${"x".repeat(2250)}${HF}`);
    const text = `data:${run} end`;
    expect(splitAt(text, "data:".length + 3000 + 8)).toBe("data:*** end");
  });

  it("a base64 run longer than 4 KB that carries a secret is written masked at once, not held", () => {
    registerSecret(HF);
    const run = b64(`${HF}${"y".repeat(4000)}`);
    expect(run.length).toBeGreaterThan(4096);
    const r = new StreamRedactor();
    expect(r.push(`blob ${run}`)).toBe("blob ***");
    expect(r.pending).toBe(false);
  });

  it("a base64 run that ends in the start of a token's base64 is held whole, and shown as it was if nothing follows", () => {
    registerSecret(HF);
    expect(b64(HF).startsWith("aGZ")).toBe(true);
    const r = new StreamRedactor();
    expect(r.push("hash: 0123456789abcdefaGZ")).toBe("hash: ");
    expect(r.flush()).toBe("0123456789abcdefaGZ");
  });

  it("a long base64 blob is not held back whole waiting for a token: at most 4 KB of it", () => {
    registerSecret(HF);
    const blob = Buffer.from(Array.from({ length: 7500 }, (_, i) => (i * 7) % 256)).toString("base64");
    const text = `img data:image/png;base64,${blob}aGZ`;
    const r = new StreamRedactor();
    const now = r.push(text);
    expect(text.startsWith(now)).toBe(true);
    expect(text.length - now.length).toBeLessThanOrEqual(4096);
    expect(now + r.flush()).toBe(text);
  });

  it("a long token that ends the output is masked whole, wherever the last write began", () => {
    registerSecret(JWT);
    const text = `id_token=${JWT}`;
    for (let at = 1; at <= text.length; at++) {
      const r = new StreamRedactor();
      const out = r.push(text.slice(0, at)) + r.push(text.slice(at)) + r.flush();
      expect(out, `split at ${at}`).toMatch(/^id_token=(\*\*\*)+$/);
    }
  });

  it("a word that ends in a secret's first letters is a short start", () => {
    registerSecret("s3cr3t-V4lue");
    const r = new StreamRedactor();
    expect(r.push("the words s3c")).toBe("the words ");
    expect(r.pending).toBe(true);
    expect(r.holdsShortStart).toBe(true);
    expect(r.flush()).toBe("s3c"); // three characters: kept as they were
    expect(r.pending).toBe(false);
  });

  it("the start of a secret left at the end of the output is masked once it is four characters or more", () => {
    registerSecret("s3cr3t-V4lue");
    const r = new StreamRedactor();
    expect(r.push("cut off: s3cr")).toBe("cut off: ");
    expect(r.flush()).toBe("***");
    const r2 = new StreamRedactor();
    expect(r2.push(`died: ${HF.slice(0, 12)}`)).toBe("died: ");
    expect(r2.flush()).toBe("***"); // unregistered, but long enough to look like a token
  });

  it("a held tail that is no secret start comes out unchanged on flush", () => {
    const r = new StreamRedactor();
    expect(r.push("see gh")).toBe("see ");
    expect(r.flush()).toBe("gh");
    expect(r.flush()).toBe("");
    expect(r.push("next")).toBe("next");
  });

  it("an empty flush gives nothing and the next write starts clean", () => {
    const r = new StreamRedactor();
    expect(r.flush()).toBe("");
    expect(r.push("abc ")).toBe("abc ");
  });
});

/** A stream whose output is collected as text. */
function collected(): { stream: PassThrough; text: () => string; bytes: () => Buffer } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString(), bytes: () => Buffer.concat(chunks) };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("guardOutput", () => {
  it("a line that ends in a secret's first letter shows within a moment without another write", async () => {
    registerSecret("s3cr3t-V4lue");
    const out = collected();
    const restore = guardOutput([out.stream]);
    try {
      out.stream.write("waiting for s");
      expect(out.text()).toBe("waiting for ");
      await sleep(250);
      expect(out.text()).toBe("waiting for s");
    } finally {
      restore();
    }
  });

  it("`hf_` at the end of a write is a short start too: it shows within a moment", async () => {
    const out = collected();
    const restore = guardOutput([out.stream]);
    try {
      out.stream.write("prefix is hf_");
      await sleep(250);
      expect(out.text()).toBe("prefix is hf_");
    } finally {
      restore();
    }
  });

  it("a token written slowly, piece by piece, is never shown in part", async () => {
    registerSecret(HF);
    const out = collected();
    const restore = guardOutput([out.stream]);
    try {
      out.stream.write("see h");
      await sleep(60);
      out.stream.write(HF.slice(1, 12));
      await sleep(200);
      out.stream.write(`${HF.slice(12)} done\n`);
      expect(out.text()).toBe("see *** done\n");
    } finally {
      restore();
    }
  });

  it("restore writes what is held back and puts the original write back", () => {
    registerSecret(HF);
    const out = collected();
    const original = out.stream.write;
    const restore = guardOutput([out.stream]);
    out.stream.write("ends with h");
    restore();
    expect(out.text()).toBe("ends with h");
    expect(out.stream.write).toBe(original);
    out.stream.write(`after ${HF}`);
    expect(out.text()).toBe(`ends with hafter ${HF}`);
  });

  it("held text comes before binary bytes written after it", () => {
    registerSecret(HF);
    const out = collected();
    const restore = guardOutput([out.stream]);
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    out.stream.write("text h");
    out.stream.write(binary);
    restore();
    expect(out.bytes().equals(Buffer.concat([Buffer.from("text h"), binary]))).toBe(true);
  });

  it("guarding a stream twice redacts once, and one restore undoes it", () => {
    registerSecret(HF);
    const out = collected();
    const original = out.stream.write;
    const restore1 = guardOutput([out.stream]);
    const restore2 = guardOutput([out.stream]);
    out.stream.write(`a ${HF} b\n`);
    restore2();
    restore1();
    expect(out.stream.write).toBe(original);
    expect(out.text()).toBe("a *** b\n");
  });

  it("guarding twice and restoring in the order the guards were made puts the original write back", () => {
    registerSecret(HF);
    const out = collected();
    const original = out.stream.write;
    const restore1 = guardOutput([out.stream]);
    const restore2 = guardOutput([out.stream]);
    restore1();
    restore2();
    expect(out.stream.write).toBe(original);
    out.stream.write("plain\n");
    expect(out.text()).toBe("plain\n");
  });

  it("a token written after binary data, piece by piece, is never shown in part", async () => {
    registerSecret(HF);
    const out = collected();
    const restore = guardOutput([out.stream]);
    try {
      out.stream.write("see h");
      await sleep(30);
      out.stream.write(Buffer.from([0xff, 0x00]));
      out.stream.write(`then ${HF.slice(0, 11)}`);
      await sleep(200);
      out.stream.write(`${HF.slice(11)} done\n`);
      expect(out.text()).not.toContain(HF.slice(11));
      expect(out.bytes().equals(Buffer.concat([Buffer.from("see h"), Buffer.from([0xff, 0x00]), Buffer.from("then *** done\n")]))).toBe(true);
    } finally {
      restore();
    }
  });

  it("restoring with nothing held back adds no write", () => {
    const calls: unknown[] = [];
    const sink = { write: (chunk: unknown) => (calls.push(chunk), true) } as unknown as NodeJS.WritableStream;
    const restore = guardOutput([sink]);
    sink.write("all done\n");
    restore();
    expect(calls).toEqual(["all done\n"]);
  });

  it("guards stdout and stderr when no stream is named", () => {
    const [stdout, stderr] = [process.stdout.write, process.stderr.write];
    const seen: string[] = [];
    const capture = (chunk: unknown) => (seen.push(String(chunk)), true);
    (process.stdout as { write: unknown }).write = capture;
    (process.stderr as { write: unknown }).write = capture;
    try {
      registerSecret(HF);
      const restore = guardOutput();
      process.stdout.write(`out ${HF}\n`);
      process.stderr.write(`err ${HF}\n`);
      restore();
    } finally {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    }
    expect(seen).toEqual(["out ***\n", "err ***\n"]);
  });

  it("a stream can be guarded again after restore", () => {
    registerSecret(HF);
    const out = collected();
    guardOutput([out.stream])();
    const restore = guardOutput([out.stream]);
    out.stream.write(`again ${HF}\n`);
    restore();
    expect(out.text()).toBe("again ***\n");
  });

  it("restore leaves a write that someone put over the guard in place", () => {
    const out = collected();
    const restore = guardOutput([out.stream]);
    // A live renderer (listr2) puts its own write over ours: restoring must not take it away.
    const overlay = function (this: unknown, ...args: unknown[]): boolean {
      return (out.stream.constructor.prototype.write as (...a: unknown[]) => boolean).apply(out.stream, args);
    };
    (out.stream as { write: unknown }).write = overlay;
    restore();
    expect(out.stream.write).toBe(overlay);
  });

  it("at exit, what is held back is written, redacted; restore removes the exit handler", () => {
    registerSecret("s3cr3t-V4lue");
    const before = process.listeners("exit");
    const out = collected();
    const restore = guardOutput([out.stream]);
    const added = process.listeners("exit").filter((l) => !before.includes(l));
    expect(added).toHaveLength(1);
    out.stream.write("last words s3cr");
    (added[0] as () => void)();
    expect(out.text()).toBe("last words ***");
    restore();
    expect(process.listeners("exit").filter((l) => !before.includes(l))).toHaveLength(0);
  });

  it("at exit, a stream with a file descriptor gets the held text synchronously", () => {
    const spy = vi.mocked(fs.writeSync);
    const before = process.listeners("exit");
    const out = collected();
    (out.stream as unknown as { fd: number }).fd = 97;
    const restore = guardOutput([out.stream]);
    const onExit = process.listeners("exit").filter((l) => !before.includes(l))[0] as () => void;
    out.stream.write("bye gh");
    spy.mockClear();
    spy.mockImplementationOnce(() => 0);
    onExit();
    onExit(); // nothing held any more: nothing written
    restore();
    expect(spy.mock.calls.filter((c) => c[0] === 97)).toEqual([[97, "gh"]]);
    expect(out.text()).toBe("bye ");
  });

  it("at exit, a closed descriptor is no error", () => {
    const spy = vi.mocked(fs.writeSync);
    const before = process.listeners("exit");
    const out = collected();
    (out.stream as unknown as { fd: number }).fd = 98;
    const restore = guardOutput([out.stream]);
    const onExit = process.listeners("exit").filter((l) => !before.includes(l))[0] as () => void;
    out.stream.write("bye gh");
    spy.mockImplementationOnce(() => {
      throw new Error("EBADF");
    });
    expect(() => onExit()).not.toThrow();
    restore();
  });
});

describe("writeNow", () => {
  it("writes the text redacted straight to stderr's descriptor", () => {
    const spy = vi.mocked(fs.writeSync);
    spy.mockImplementationOnce(() => 0);
    writeNow(`\ninterrupted: ${HF}\n`);
    expect(spy).toHaveBeenLastCalledWith(process.stderr.fd, "\ninterrupted: ***\n");
  });

  it("a closed stderr is no error", () => {
    vi.mocked(fs.writeSync).mockImplementationOnce(() => {
      throw new Error("EBADF");
    });
    expect(() => writeNow("bye")).not.toThrow();
  });
});

describe("where a token may travel", () => {
  it("IPv6 loopback in either spelling is loopback; other IPv6 addresses are not", () => {
    expect(isLoopbackHost("::1")).toBe(true);
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("0:0:0:0:0:0:0:1")).toBe(true);
    expect(isLoopbackHost("::2")).toBe(false);
    expect(isLoopbackHost("[fe80::1]")).toBe(false);
    expect(isLoopbackHost("LOCALHOST")).toBe(true);
    expect(isLoopbackHost("example.com")).toBe(false);
  });

  function refusal(name: string, url: string): UserError {
    try {
      refuseCleartextEndpoint(name, url);
    } catch (e) {
      return e as UserError;
    }
    throw new Error(`${url} was accepted`);
  }

  it("refuses a scheme other than http(s), naming it", () => {
    const err = refusal("HF_ENDPOINT", "ftp://files.example.com/hub");
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("HF_ENDPOINT=ftp://files.example.com uses ftp: only https is supported");
  });

  it("refuses what is not a URL, without echoing a token in it", () => {
    const err = refusal("HF_ENDPOINT", `not a url ${HF}`);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("HF_ENDPOINT=not a url *** is not a URL (expected https://host)");
  });

  it("says which host plain http would reach", () => {
    expect(refusal("GITHUB_API_URL", "http://api.example.com:8080/v3").message).toBe(
      "GITHUB_API_URL=http://api.example.com:8080 is plain http: the token would travel unencrypted to api.example.com:8080. Use https (plain http is allowed only for loopback addresses such as localhost or 127.0.0.1, for testing)",
    );
  });
});

describe("an unregistered fine-grained GitHub token split across two writes", () => {
  it("is masked whole wherever the cut falls, its last characters included", () => {
    expectEverySplit(`use ${PAT} done`, "use *** done");
    expectEverySplit(`use ${PAT}`, "use ***");
  });

  it("is held back after any start of github_pat_ and masked whole", async () => {
    const { StreamRedactor } = await import("../../../src/util/redact.js");
    const token = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV";
    const text = `use ${token} done`;
    for (let cut = 5; cut <= 4 + 11; cut++) {
      const r = new StreamRedactor();
      const out = r.push(text.slice(0, cut)) + r.push(text.slice(cut)) + r.flush();
      expect(out, `cut at ${cut}`).toBe("use *** done");
    }
  });
});
