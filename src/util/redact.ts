// Secrets never reach a terminal, log, report or file, and never travel in clear text.
//
// One redaction point: the tokens we hold are registered once, when they are resolved
// (registerSecret), and redact() removes them in every form a server or a tool can echo them
// in — literal; percent-encoded, `\u00XX`, `\xXX` or HTML-entity escaped, character by
// character or mixed; hex in either case; base64 in the standard and URL-safe alphabets, at
// each of the three alignments (so `user:TOKEN` as HTTP Basic sends it is caught too); and cut
// by line breaks anywhere — plus token-looking strings, credentials in URLs
// (`https://user:secret@host`) and presigned URL queries. guardOutput() puts a streaming
// redactor under every write to stdout/stderr, so a new message cannot forget it and a token
// split across two writes is still caught; file writers that may carry a message (journal,
// step summary) call redact() on what they write.
import { writeSync } from "node:fs";
import net from "node:net";
import { UserError } from "../report.js";

const TOKEN_PATTERNS: RegExp[] = [
  /\bhf_[A-Za-z0-9]{6,}\b/g, // Hugging Face tokens
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\b(Bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bBasic\s+[A-Za-z0-9+/]{8,}={0,2}/g, // HTTP Basic credentials
];

/** The start of a token-looking string at the very end of a chunk: the rest may come with the next one. */
const TOKEN_PREFIX_AT_END = /\b(?:h(?:f(?:_[A-Za-z0-9]*)?)?|g(?:h(?:[pousr](?:_[A-Za-z0-9]*)?)?|i(?:t(?:h(?:u(?:b(?:_(?:p(?:a(?:t(?:_[A-Za-z0-9_]*)?)?)?)?)?)?)?)?)?)?)$/;

/** `scheme://user:password@` in a URL: the user info is replaced, host and path stay readable. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@"'<>]+@/gi;

/** Presigned URLs carry their credential in the query string: keep the origin and path only. */
const URL_WITH_QUERY = /\bhttps?:\/\/[^\s"'<>?]+\?[^\s"'<>]+/g; // `+`: idempotent on "?<redacted>"

/** Base64 (standard or URL-safe alphabet): a run that carries a secret is replaced whole. */
const BASE64_CHAR = /[A-Za-z0-9+/_=-]/;
const BASE64_DATA_CHAR = /[A-Za-z0-9+/_-]/;

/** The longest spelling of one character with a bounded length: four `\\xNN` bytes, or a surrogate pair. */
const MAX_ESCAPE_LENGTH = 16;

/** Shorter values are not secrets worth the false positives (and would blank common words). */
const MIN_SECRET_LENGTH = 6;

/** The longest token-looking string a stream holds back whole (a fine-grained GitHub token is 93 characters). */
const TOKEN_HOLD_WINDOW = 256;
/** The longest run of base64 a stream holds back: past it, the run is written masked as it stands. */
const MAX_HELD_RUN = 4096;

/** Longer secrets are held as pieces of PIECE_LENGTH characters. */
const MAX_COMPILED_LENGTH = 128;
const PIECE_LENGTH = 64;

/** Between any two characters of an encoded secret: a line break (raw, or escaped as in JSON) and the indentation a wrapped line gets. */
const SEP = String.raw`(?:\r?\n[ \t]*|(?:\\r)?\\n[ \t]*)?`;
/** A separator a chunk may end in the middle of: the rest of it comes with the next chunk. */
const SEP_PARTIAL = String.raw`(?:\r|\\|\\r|\\r\\)`;
/** An escape a chunk may end in the middle of, after the start of a secret: one byte or code unit of several may have come already. */
const UNIT_PARTIAL = String.raw`(?:(?:%[0-9a-fA-F]{2}){0,3}(?:%[0-9a-fA-F]?)?|(?:\\[xX][0-9a-fA-F]{2}){0,3}(?:\\(?:[xX][0-9a-fA-F]?)?)?|(?:\\[uU][dD][89abAB][0-9a-fA-F]{2})?(?:\\(?:[uU][0-9a-fA-F]{0,3}|u\{[0-9a-fA-F]*|\\)?)?|&(?:#(?:[xX][0-9a-fA-F]*|[0-9]*))?)`;

interface Form {
  /** Finds the form anywhere (global). */
  full: RegExp;
  /** Matches a proper start of the form that reaches the end of the text: what a chunk may end with. */
  prefixAtEnd: RegExp;
  /** Base64 forms: the whole run of base64 around a match is replaced. */
  base64: boolean;
  /** Longest text one match can span: how much a stream ever holds back. */
  maxLength: number;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
/** A hex digit in either case. */
const hexDigitRe = (d: string): string => (/[a-f]/i.test(d) ? `[${d.toLowerCase()}${d.toUpperCase()}]` : d);
/** Hex digits, each in either case. */
const anyCaseHex = (hex: string): string => [...hex].map(hexDigitRe).join("");
/** The UTF-8 bytes of `ch`, two hex digits each: what `%XX` and `\xXX` escape. */
const bytesHex = (ch: string): string[] => [...Buffer.from(ch)].map((b) => b.toString(16).padStart(2, "0"));
/** The UTF-16 code units of `ch`, four hex digits each: what `\uXXXX` escapes (a surrogate pair above U+FFFF). */
const codeUnitsHex = (ch: string): string[] => Array.from({ length: ch.length }, (_, i) => ch.charCodeAt(i).toString(16).padStart(4, "0"));

/** Every way one character of a secret may be written: literally, or escaped for a URL, JSON, JavaScript, Python, C or HTML. */
function charUnit(ch: string): Unit {
  const bytes = bytesHex(ch);
  const code = ch.codePointAt(0)!;
  const codeHex = anyCaseHex(code.toString(16));
  const alts = [escapeRe(ch), bytes.map((b) => `%${anyCaseHex(b)}`).join(""), String.raw`\\u\{0*${codeHex}\}`, `&#0*${code};`, `&#[xX]0*${codeHex};`];
  // `\uXXXX` escapes UTF-16 code units: a character above U+FFFF is a surrogate pair (JSON, Python's ensure_ascii).
  alts.push(codeUnitsHex(ch).map((u) => String.raw`\\[uU]${anyCaseHex(u)}`).join(""));
  // `\xNN` escapes bytes: a multi-byte character is one escape per UTF-8 byte (Python's bytes repr, C).
  alts.push(bytes.map((b) => String.raw`\\[xX]${anyCaseHex(b)}`).join(""));
  if (`"\\/'`.includes(ch)) alts.push(`\\\\${escapeRe(ch)}`);
  return { re: `(?:${alts.join("|")})`, maxLength: MAX_ESCAPE_LENGTH, partial: escapedPrefixes(ch) };
}

/** Every proper start of an escaped spelling of `ch` ("%", "%6", "\\u00", "&#10", …): what a chunk may end with when a secret starts there. */
function escapedPrefixes(ch: string): string {
  const code = ch.codePointAt(0)!;
  const bytes = bytesHex(ch);
  const spellings = [
    bytes.map((b) => `%${b}`).join(""),
    bytes.map((b) => `\\x${b}`).join(""),
    codeUnitsHex(ch).map((u) => `\\u${u}`).join(""),
    `\\u{${code.toString(16)}}`,
    `&#${code};`,
    `&#x${code.toString(16)};`,
  ];
  const prefixes = new Set<string>();
  for (const sp of spellings) for (const cased of [sp, sp.toUpperCase()]) for (let n = 1; n < cased.length; n++) prefixes.add(escapeRe(cased.slice(0, n)));
  return `(?:${[...prefixes].join("|")})`;
}

interface Unit {
  re: string;
  maxLength: number;
  /** A proper start of the unit itself (an escape cut short); none for forms of single characters. */
  partial?: string;
}

/** A form as a sequence of units, any of them split from the next by SEP. */
function compileForm(units: readonly Unit[], base64: boolean): Form {
  const full = new RegExp(units.map((u) => u.re).join(SEP), "g");
  // u1 (SEP (u2 (SEP (u3 ...)?)?)?)?$ — every start of the form, anchored at the end; a chunk
  // may also end inside a separator or inside the escape of the next character.
  const escaped = units.some((u) => u.partial);
  const cutShort = escaped ? `|${SEP_PARTIAL}|${SEP}${UNIT_PARTIAL}` : `|${SEP_PARTIAL}`;
  let nested = units[units.length - 1]!.re;
  for (let i = units.length - 2; i >= 0; i--) nested = `${units[i]!.re}(?:${SEP}(?:${nested})?${cutShort})?`;
  const first = units[0]!.partial;
  const prefixAtEnd = new RegExp(`(?:${nested}${first ? `|${first}` : ""})$`);
  const maxLength = units.reduce((s, u) => s + u.maxLength + 8, 0);
  return { full, prefixAtEnd, base64, maxLength };
}

/**
 * The part of base64(prefix + secret + suffix) that does not depend on prefix or suffix, for
 * each of the three alignments the secret can have in the encoded text, in both alphabets.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const cores = new Set<string>();
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // Groups of 3 input bytes → 4 chars; keep only groups made of secret bytes alone.
    const firstGroup = Math.ceil(offset / 3);
    const lastGroup = Math.floor((offset + bytes.length) / 3) - 1;
    const core = encoded.slice(firstGroup * 4, (lastGroup + 1) * 4);
    if (core.length < 8) continue;
    cores.add(core);
    cores.add(core.replace(/\+/g, "-").replace(/\//g, "_")); // URL-safe alphabet
  }
  return [...cores];
}

/** Every form of `secret` redact() looks for. */
function compileSecret(secret: string): Form[] {
  const forms = [compileForm([...secret].map(charUnit), false)];
  const hex = [...bytesHex(secret).join("")].map((d) => ({ re: hexDigitRe(d), maxLength: 1 }));
  forms.push(compileForm(hex, false));
  for (const core of base64Cores(secret)) forms.push(compileForm([...core].map((c) => ({ re: escapeRe(c), maxLength: 1 })), true));
  return forms;
}

const registry = new Map<string, Form[]>();
/** Secrets passed to one redact() call: compiled once each. */
const extraCache = new Map<string, Form[]>();

/** Hold `value` as a secret: redact() removes it (and its encodings) from now on. */
export function registerSecret(value: string | undefined | null): void {
  const v = value?.trim();
  if (!v || v.length < MIN_SECRET_LENGTH || registry.has(v)) return;
  if (v.length > MAX_COMPILED_LENGTH) {
    // A long secret (a PEM key) is held as its lines, in pieces: any echo of it holds them, and
    // the patterns stay small (one pattern for 2 KB of key takes more memory than node has).
    for (const line of v.split(/\r?\n/)) {
      for (let at = 0; at < line.length; at += PIECE_LENGTH) registerSecret(line.length - at < MIN_SECRET_LENGTH ? line.slice(-PIECE_LENGTH) : line.slice(at, at + PIECE_LENGTH));
    }
    return;
  }
  registry.set(v, compileSecret(v));
}

/** Drop every registered secret (tests). */
export function clearSecrets(): void {
  registry.clear();
}

function formsFor(extraSecrets: readonly (string | undefined)[]): Form[] {
  const forms = [...registry.values()].flat();
  for (const s of extraSecrets) {
    const v = s?.trim();
    if (!v || v.length < MIN_SECRET_LENGTH || registry.has(v)) continue;
    let f = extraCache.get(v);
    if (!f) {
      if (extraCache.size > 64) extraCache.clear();
      extraCache.set(v, (f = compileSecret(v)));
    }
    forms.push(...f);
  }
  return forms;
}

/** [start, end) of every place a form of a secret sits in `text`, base64 runs widened to the whole run, merged. */
function secretRanges(text: string, forms: readonly Form[]): Array<[number, number]> {
  return secretRangesAndOpenRun(text, forms).ranges;
}

/**
 * secretRanges, and where a base64 run that carries a secret and reaches the end of `text`
 * begins: the run may go on in the next chunk, and all of it is the secret's.
 */
function secretRangesAndOpenRun(text: string, forms: readonly Form[]): { ranges: Array<[number, number]>; openRun: number | undefined } {
  const ranges: Array<[number, number]> = [];
  let openRun: number | undefined;
  for (const f of forms) {
    f.full.lastIndex = 0;
    for (let m = f.full.exec(text); m; m = f.full.exec(text)) {
      // Never empty: a form is at least MIN_SECRET_LENGTH characters.
      let [s, e] = [m.index, m.index + m[0].length];
      if (f.base64) {
        // Padding only ends a run: widening stops at "=" on the left and takes at most two on the right.
        while (s > 0 && BASE64_DATA_CHAR.test(text[s - 1]!)) s--;
        while (e < text.length && BASE64_DATA_CHAR.test(text[e]!)) e++;
        for (let pad = 0; pad < 2 && text[e] === "="; pad++) e++;
        if (e === text.length) openRun = s; // one run reaches the end: every match in it widens to the same start
      }
      ranges.push([s, e]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return { ranges: merged, openRun };
}

function replaceRanges(text: string, ranges: ReadonlyArray<[number, number]>): string {
  let out = "";
  let at = 0;
  for (const [s, e] of ranges) {
    out += `${text.slice(at, s)}***`;
    at = e;
  }
  return out + text.slice(at);
}

function redactPatterns(text: string): string {
  let out = text.replace(URL_CREDENTIALS, "$1***@");
  out = out.replace(URL_WITH_QUERY, (url) => `${url.slice(0, url.indexOf("?"))}?<redacted>`);
  for (const re of TOKEN_PATTERNS) {
    out = out.replace(re, (m) => (m.includes(" ") ? `${m.split(/\s+/)[0]} ***` : "***"));
  }
  return out;
}

/** A remote URL as a message quotes it: `user:password@` dropped (it is no part of where it points), the rest redacted. */
export function stripUrlCredentials(text: string): string {
  return redact(text.replace(URL_CREDENTIALS, "$1"));
}

export function redact(text: string, extraSecrets: readonly (string | undefined)[] = []): string {
  const forms = formsFor(extraSecrets);
  return redactPatterns(forms.length ? replaceRanges(text, secretRanges(text, forms)) : text);
}

/**
 * Redaction of a stream that arrives in chunks: what could be the start of a secret at the end
 * of a chunk is held back until the next chunk shows whether it is one, so a token split across
 * two writes (or two reads of a child's output) is caught whole.
 */
export class StreamRedactor {
  private held = "";
  private partial = 0;

  /** The redacted text that can be written now. */
  push(chunk: string): string {
    const text = this.held + chunk;
    const forms = formsFor([]);
    const { cut, partial } = holdFrom(text, forms);
    this.held = text.slice(cut);
    this.partial = partial;
    return redactPatterns(replaceRanges(text.slice(0, cut), secretRanges(text.slice(0, cut), forms)));
  }

  /** Whether anything is held back. */
  get pending(): boolean {
    return this.held.length > 0;
  }

  /** Whether what is held back is the start of a secret of a few characters only (a word that happens to end in a secret's first letter). */
  get holdsShortStart(): boolean {
    return this.partial <= 3;
  }

  /** Whatever is held back, redacted; a start of a secret longer than a few characters is masked too. */
  flush(): string {
    const text = this.held;
    this.held = "";
    const forms = formsFor([]);
    let out = replaceRanges(text, secretRanges(text, forms));
    if (out === text) {
      const found = partialStart(text, forms);
      if (found && text.length - found.start >= 4) out = `${text.slice(0, found.start)}***`;
    }
    return redactPatterns(out);
  }
}

/**
 * Where the text that may continue into the next chunk begins (text.length when nothing is
 * held), and how long the start of a secret found there is.
 */
function holdFrom(text: string, forms: readonly Form[]): { cut: number; partial: number } {
  let cut = text.length;
  let partial = 0;
  const generic = TOKEN_PREFIX_AT_END.exec(text.slice(-TOKEN_HOLD_WINDOW));
  if (generic) [cut, partial] = [text.length - generic[0].length, generic[0].length];
  const found = partialStart(text, forms);
  if (found && found.start < cut) {
    cut = found.start;
    partial = text.length - found.start;
    // The run of base64 a secret's start ends is replaced whole once the secret completes: hold all of it.
    if (found.base64) while (cut > 0 && BASE64_CHAR.test(text[cut - 1]!) && text.length - cut < MAX_HELD_RUN) cut--;
  }
  const { ranges, openRun } = secretRangesAndOpenRun(text, forms);
  // A run of base64 with a secret in it that reaches the end may go on in the next chunk: its
  // last characters still encode the secret's last bytes, so it is held until it ends.
  if (openRun !== undefined && openRun < cut && text.length - openRun < MAX_HELD_RUN) [cut, partial] = [openRun, text.length - openRun];
  // Never cut through a secret found whole: hold all of it.
  for (const [s, e] of ranges) if (s < cut && cut < e) cut = s;
  return { cut, partial };
}

/** The earliest index from which the rest of `text` is a proper start of some form, or undefined. */
function partialStart(text: string, forms: readonly Form[]): { start: number; base64: boolean } | undefined {
  let best: { start: number; base64: boolean } | undefined;
  for (const f of forms) {
    const from = Math.max(0, text.length - f.maxLength);
    const m = f.prefixAtEnd.exec(from ? text.slice(from) : text);
    if (m && (!best || from + m.index < best.start)) best = { start: from + m.index, base64: f.base64 };
  }
  return best;
}

type Write = NodeJS.WriteStream["write"];

/** A short held-back tail (a line that happens to end in a secret's first letter) waits no longer than this for the next write. */
const SHORT_HOLD_MS = 100;

/**
 * Put a streaming redactor under every write to `streams` (default stdout and stderr). Text is
 * redacted; bytes that are not UTF-8 text are passed through untouched. Returns a function that
 * writes what is held back and restores the original writes.
 */
const guarded = new WeakSet<NodeJS.WritableStream>();

export function guardOutput(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): () => void {
  const restore: Array<() => void> = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const stream of streams) {
    if (guarded.has(stream)) continue; // once is enough: every write already passes through
    guarded.add(stream);
    const original = stream.write as Write;
    const redactor = new StreamRedactor();
    let timer: NodeJS.Timeout | undefined;
    const send = (out: unknown, rest: unknown[]): boolean => (original as (...a: unknown[]) => boolean).call(stream, out, ...rest);
    const flushHeld = (): void => {
      clearTimeout(timer);
      timer = undefined;
      const rest = redactor.flush();
      if (rest) send(rest, []);
    };
    const write = function (this: NodeJS.WritableStream, chunk: unknown, ...rest: unknown[]): boolean {
      let text: string | undefined;
      if (typeof chunk === "string") text = chunk;
      else if (chunk instanceof Uint8Array) {
        try {
          text = decoder.decode(chunk);
        } catch {
          // binary: not text a secret could be read from
        }
      }
      if (text === undefined) {
        flushHeld();
        return send(chunk, rest);
      }
      const out = redactor.push(text);
      clearTimeout(timer);
      timer = undefined;
      if (redactor.pending && redactor.holdsShortStart) timer = setTimeout(flushHeld, SHORT_HOLD_MS).unref();
      return send(out, rest);
    };
    (stream as { write: unknown }).write = write;
    const onExit = (): void => {
      const rest = redactor.flush();
      const fd = (stream as { fd?: unknown }).fd;
      if (!rest) return;
      if (typeof fd === "number") {
        try {
          writeSync(fd, rest);
        } catch {
          /* closed: nobody to tell */
        }
      } else send(rest, []);
    };
    process.on("exit", onExit);
    restore.push(() => {
      process.off("exit", onExit);
      flushHeld();
      guarded.delete(stream);
      if ((stream as { write: unknown }).write === write) (stream as { write: unknown }).write = original;
    });
  }
  return () => restore.forEach((r) => r());
}

/**
 * `text` on stderr at once, redacted, past listr2's live renderer (which holds back what the
 * process writes while it draws): for what must show the moment it happens, like Ctrl-C.
 */
export function writeNow(text: string): void {
  try {
    writeSync(process.stderr.fd, redact(text));
  } catch {
    /* stderr is closed: nobody to tell */
  }
}

// ---- where a token may travel ----

/** localhost, *.localhost, 127.0.0.0/8 and ::1: plain http stays on this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (net.isIPv4(h)) return h.startsWith("127.");
  return h === "::1" || h === "0:0:0:0:0:0:0:1"; // URL hostnames write IPv6 compressed
}

/**
 * Refuse (exit 2) an endpoint a token would reach unencrypted: plain http to anything but a
 * loopback address. `name` is what the user set (e.g. `HF_ENDPOINT`).
 */
export function refuseCleartextEndpoint(name: string, url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`${name}=${redact(url)} is not a URL (expected https://host)`, 2);
  }
  if (u.protocol === "https:") return;
  if (u.protocol === "http:") {
    if (isLoopbackHost(u.hostname)) return;
    throw new UserError(
      `${name}=${u.origin} is plain http: the token would travel unencrypted to ${u.host}. Use https (plain http is allowed only for loopback addresses such as localhost or 127.0.0.1, for testing)`,
      2,
    );
  }
  throw new UserError(`${name}=${u.origin} uses ${u.protocol.slice(0, -1)}: only https is supported`, 2);
}
