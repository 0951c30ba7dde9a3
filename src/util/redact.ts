// Secrets never reach a terminal, log or error: every message that may carry a token or a
// presigned URL passes through here before it is shown.

const TOKEN_PATTERNS: RegExp[] = [
  /\bhf_[A-Za-z0-9]{6,}\b/g, // Hugging Face tokens
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /(Bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
];

/** Presigned URLs carry their credential in the query string: keep the origin and path only. */
const URL_WITH_QUERY = /\bhttps?:\/\/[^\s"'<>?]+\?[^\s"'<>]+/g; // `+`: idempotent on "?<redacted>"

export function redact(text: string, extraSecrets: readonly string[] = []): string {
  let out = text;
  for (const secret of extraSecrets) {
    if (secret.length >= 4) out = out.split(secret).join("***");
  }
  out = out.replace(URL_WITH_QUERY, (url) => `${url.slice(0, url.indexOf("?"))}?<redacted>`);
  for (const re of TOKEN_PATTERNS) {
    out = out.replace(re, (m) => (m.includes(" ") ? `${m.split(/\s+/)[0]} ***` : "***"));
  }
  return out;
}
