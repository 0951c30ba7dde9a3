// Secrets never reach a terminal, log, report or file, and never travel in clear text.
//
// One redaction point: the tokens we hold are registered once, when they are resolved
// (registerSecret), and redact() removes them — their literal value in any shape, and every
// base64 form that carries them (`user:TOKEN` as HTTP Basic sends it, `x-access-token:TOKEN`,
// bare) — plus token-looking strings and presigned URL queries. guardOutput() puts redact()
// under every write to stdout/stderr, so a new message cannot forget it; file writers that
// may carry a message (journal, step summary) call redact() on what they write.
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

/** Presigned URLs carry their credential in the query string: keep the origin and path only. */
const URL_WITH_QUERY = /\bhttps?:\/\/[^\s"'<>?]+\?[^\s"'<>]+/g; // `+`: idempotent on "?<redacted>"

/** A run of base64 (standard or URL-safe alphabet): the unit replaced when it carries a secret. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{8,}={0,2}/g;

/** Shorter values are not secrets worth the false positives (and would blank common words). */
const MIN_SECRET_LENGTH = 6;

interface Registered {
  literals: string[];
  /** Substrings every base64 encoding of a text containing the secret must contain. */
  base64Cores: string[];
}

const registry = new Map<string, Registered>();

/**
 * The part of base64(prefix + secret + suffix) that does not depend on prefix or suffix,
 * for each of the three alignments the secret can have in the encoded text.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const cores = new Set<string>();
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // Groups of 3 input bytes → 4 chars; keep only groups made of secret bytes alone.
    const firstGroup = Math.ceil(offset / 3);
    const lastGroup = Math.floor((offset + bytes.length) / 3) - 1;
    if (lastGroup < firstGroup) continue;
    const core = encoded.slice(firstGroup * 4, (lastGroup + 1) * 4);
    if (core.length < 8) continue;
    cores.add(core);
    cores.add(core.replace(/\+/g, "-").replace(/\//g, "_")); // URL-safe alphabet
  }
  return [...cores];
}

/** Hold `value` as a secret: redact() removes it (and its encodings) from now on. */
export function registerSecret(value: string | undefined | null): void {
  const v = value?.trim();
  if (!v || v.length < MIN_SECRET_LENGTH || registry.has(v)) return;
  const literals = new Set([v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1)]);
  registry.set(v, { literals: [...literals], base64Cores: base64Cores(v) });
}

/** Drop every registered secret (tests). */
export function clearSecrets(): void {
  registry.clear();
}

export function redact(text: string, extraSecrets: readonly (string | undefined)[] = []): string {
  let out = text;
  const entries = [...registry.values()];
  for (const s of extraSecrets) {
    const v = s?.trim();
    if (v && v.length >= 4 && !registry.has(v)) entries.push({ literals: [v], base64Cores: v.length >= MIN_SECRET_LENGTH ? base64Cores(v) : [] });
  }
  // Longest first: a secret that contains another is removed whole.
  const literals = entries.flatMap((e) => e.literals).sort((a, b) => b.length - a.length);
  for (const lit of literals) if (out.includes(lit)) out = out.split(lit).join("***");
  const cores = entries.flatMap((e) => e.base64Cores);
  if (cores.length) out = out.replace(BASE64_RUN, (run) => (cores.some((c) => run.includes(c)) ? "***" : run));
  out = out.replace(URL_WITH_QUERY, (url) => `${url.slice(0, url.indexOf("?"))}?<redacted>`);
  for (const re of TOKEN_PATTERNS) {
    out = out.replace(re, (m) => (m.includes(" ") ? `${m.split(/\s+/)[0]} ***` : "***"));
  }
  return out;
}

type Write = NodeJS.WriteStream["write"];

/**
 * Put redact() under every write to `streams` (default stdout and stderr). Text is redacted;
 * bytes are passed through untouched unless they decode to text that carries a secret.
 * Returns a function that restores the original writes.
 */
const guarded = new WeakSet<NodeJS.WritableStream>();

export function guardOutput(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): () => void {
  const restore: Array<() => void> = [];
  for (const stream of streams) {
    if (guarded.has(stream)) continue; // once is enough: every write already passes through
    guarded.add(stream);
    const original = stream.write as Write;
    const write = function (this: NodeJS.WritableStream, chunk: unknown, ...rest: unknown[]): boolean {
      let out = chunk;
      if (typeof chunk === "string") out = redact(chunk);
      else if (chunk instanceof Uint8Array) {
        const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8");
        const clean = redact(text);
        if (clean !== text) out = clean;
      }
      return (original as (...a: unknown[]) => boolean).call(this, out, ...rest);
    };
    (stream as { write: unknown }).write = write;
    restore.push(() => {
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
  if (net.isIPv6(h)) return h === "::1" || h === "0:0:0:0:0:0:0:1";
  return false;
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
