// Text from a checkpoint (file names, tensor names, JSON keys, tokens) reaches terminals, CI logs and
// line-oriented files such as SHA256SUMS. A line break in a name can forge a line there, and an
// escape sequence can rewrite the terminal; such characters are never printed raw.

/** C0 controls, DEL, C1 controls, Unicode line/paragraph separators, bidi overrides and isolates, BOM. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, "g");

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** True when `s` holds a character that must not be printed raw. */
export function hasUnsafeChars(s: string): boolean {
  return UNSAFE.test(s);
}

/** `s` with every unsafe character written as an escape (`\n`, `\t`, `\x1b`, `\u2028`). */
export function printable(s: string): string {
  return s.replace(UNSAFE_ALL, (c) => NAMED[c] ?? escapeCode(c.charCodeAt(0)));
}

function escapeCode(code: number): string {
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** What kind of unsafe character `s` holds first, in words (for messages); undefined when none. */
export function unsafeCharKind(s: string): string | undefined {
  const m = UNSAFE.exec(s);
  if (!m) return undefined;
  const c = m[0];
  const code = escapeCode(c.charCodeAt(0));
  if (c === "\n" || c === "\r" || c === "\u2028" || c === "\u2029") return `a line break (${NAMED[c] ?? code})`;
  if (c === "\t") return "a tab (\\t)";
  if (c === "\x1b") return "an escape character (\\x1b)";
  if (/[\u202a-\u202e\u2066-\u2069]/.test(c)) return `a bidirectional text control (${code})`;
  return `a control character (${code})`;
}
