// JSON read the way the loaders read it. transformers opens every JSON file with
// `open(f, encoding="utf-8")` and Python's `json`; the tokenizers library and the safetensors
// header use Rust's serde_json. They differ from JSON.parse where it matters for a verdict: Python
// accepts NaN / Infinity literals and turns 1e400 into infinity, refuses a byte-order mark and
// integers over 4300 digits; serde_json reads at most 127 levels of nesting. This reader follows them,
// keeps each number's literal available (safetensors offsets must be integer literals), and is
// iterative, so no input can exhaust the stack.

/**
 * The deepest nesting serde_json reads (tokenizer.json, safetensors headers): its recursion limit
 * of 128 counts down one per array or object, and reaching 0 is the error, so 127 levels load and
 * 128 fail ("recursion limit exceeded"; measured with tokenizers and safetensors 0.8).
 */
export const MAX_JSON_DEPTH = 127;

/**
 * The deepest nesting transformers gets through in the files it reads with Python's json. json
 * itself reads ~990 levels (Python 3.11's recursion limit of 1000, less the frames below it), but
 * from_pretrained copies config and tokenizer values with copy.deepcopy, two frames a level: with
 * transformers 5.18 on Python 3.11, 492 levels load and 494 raise RecursionError. The margin
 * leaves room for a caller's deeper stack (a pipeline, a notebook).
 */
export const PYTHON_JSON_DEPTH = 480;

/** CPython's limit on the digits of an integer read from text (sys.get_int_max_str_digits()). */
const PYTHON_INT_MAX_DIGITS = 4300;

export type JsonDialect =
  /** Python's json.loads: NaN, Infinity and -Infinity literals are numbers, a BOM is refused. */
  | "python"
  /** serde_json: standard JSON only; lone surrogate escapes and numbers beyond a double refused. */
  | "serde";

export interface JsonParseOptions {
  dialect?: JsonDialect;
  /** Deepest nesting of arrays and objects accepted (default: PYTHON_JSON_DEPTH for Python, MAX_JSON_DEPTH for serde). */
  maxDepth?: number;
  /** The value of a number, from its literal (default: the nearest double, as Python's float). */
  number?: (literal: string) => unknown;
  /** Refuse a key given twice in one object (default: the later value wins, as in Python and serde_json). */
  uniqueKeys?: boolean;
  /**
   * Let JSON.parse read text on which it gives exactly this reader's value (default true; false:
   * always this reader, for tests that compare the two).
   */
  native?: boolean;
}

/** A number that parses but is not a finite value (NaN, an overflow to infinity). */
export interface NonFiniteNumber {
  /** JSON pointer of the value, e.g. `/layer_norm_eps`. */
  pointer: string;
  literal: string;
  /** What it becomes, in words. */
  becomes: string;
}

export interface ParsedJson {
  value: unknown;
  nonFinite: NonFiniteNumber[];
}

/** A syntax error, worded and positioned as Python's json.JSONDecodeError. */
export class JsonTextError extends Error {
  constructor(
    readonly problem: string,
    /** Offset in the text (UTF-16 units). */
    readonly offset: number,
    text: string,
  ) {
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    super(`${problem}: line ${line} column ${column} (char ${offset})`);
    this.name = "JsonTextError";
  }
}

interface Frame {
  container: unknown[] | Record<string, unknown>;
  isArray: boolean;
  /** The member being read (objects). */
  key: string;
  keyAt: number;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
const STRING_SPECIAL = /["\\\u0000-\u001f]/g;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

function pointerOf(stack: readonly Frame[]): string {
  return stack
    .map((f) => `/${f.isArray ? (f.container as unknown[]).length : f.key.replace(/~/g, "~0").replace(/\//g, "~1")}`)
    .join("");
}

function setMember(obj: Record<string, unknown>, key: string, value: unknown): void {
  // An own "__proto__" member, as JSON.parse makes it, never the prototype.
  if (key === "__proto__") Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

/** A JSON string token (in text JSON.parse accepted, so escapes and quotes are well formed). */
const STRING_OR_NON_BRACKETS = /"(?:[^"\\]|\\.)*"|[^[\]{}"]+/g;
/**
 * A number literal that may overflow a double or pass Python's digit limit: 309+ digits, a
 * three-digit exponent (1e400), or a long mantissa with any exponent (1 and 307 zeros, then e2);
 * strings may match too.
 */
const BIG_NUMBER = /(?:^|[:,[])\s*-?(?:\d{309}|\d+(?:\.\d+)?[eE][+-]?\d{3}|\d{20,}(?:\.\d+)?[eE])/;
/** A \uD800-\uDFFF escape (serde_json refuses a lone one); an escaped backslash before `u` may match too. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * JSON.parse's value of `text` when it is exactly this reader's: the text is valid JSON (else
 * JSON.parse throws: NaN, a BOM, any syntax error), nests at most `maxDepth` deep, has no number
 * that could overflow or pass Python's digit limit and, for serde, no surrogate escape. Any doubt
 * (a match inside a string included) leaves the text to the reader below. In a short-lived process
 * the engine's parser reads a 650 KB tokenizer.json ~4x faster than this file's code.
 */
function parseNative(text: string, python: boolean, maxDepth: number): { value: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (BIG_NUMBER.test(text) || (!python && SURROGATE_ESCAPE.test(text))) return undefined;
  const brackets = text.replace(STRING_OR_NON_BRACKETS, "");
  let depth = 0;
  for (let k = 0; k < brackets.length; k++) {
    const c = brackets.charCodeAt(k);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return undefined;
    } else depth--;
  }
  return { value };
}

/** Parses JSON text (already decoded). Throws JsonTextError. */
export function parseJson(text: string, opts: JsonParseOptions = {}): ParsedJson {
  const python = (opts.dialect ?? "python") === "python";
  const maxDepth = opts.maxDepth ?? (python ? PYTHON_JSON_DEPTH : MAX_JSON_DEPTH);
  if (opts.native !== false && !opts.number && !opts.uniqueKeys) {
    const fast = parseNative(text, python, maxDepth);
    if (fast) return { value: fast.value, nonFinite: [] };
  }
  const n = text.length;
  const nonFinite: NonFiniteNumber[] = [];
  const stack: Frame[] = [];
  let i = 0;

  const fail = (problem: string, at = i): never => {
    throw new JsonTextError(problem, at, text);
  };
  const ws = () => {
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
  };
  const hex4 = (at: number): number => {
    const h = text.slice(at, at + 4);
    if (!HEX4.test(h)) fail("Invalid \\uXXXX escape", at - 1);
    return parseInt(h, 16);
  };
  const readString = (): string => {
    const start = i;
    let out = "";
    let from = ++i;
    for (;;) {
      STRING_SPECIAL.lastIndex = i;
      const m = STRING_SPECIAL.exec(text);
      if (!m) return fail("Unterminated string starting at", start);
      i = m.index;
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(from, i++);
        return out;
      }
      if (c !== 0x5c) fail("Invalid control character at");
      out += text.slice(from, i);
      const esc = text[i + 1];
      if (esc === undefined) fail("Unterminated string starting at", start);
      if (esc !== "u") {
        const e = ESCAPES[esc!];
        if (e === undefined) fail("Invalid \\escape", i);
        out += e;
        i += 2;
      } else {
        const u = hex4(i + 2);
        if (!python && u >= 0xd800 && u <= 0xdfff) {
          // serde_json decodes escapes into a Rust String: a surrogate must come as a valid pair.
          const low = u <= 0xdbff && text.startsWith("\\u", i + 6) ? hex4(i + 8) : -1;
          if (low < 0xdc00 || low > 0xdfff) fail("lone surrogate in hex escape", i);
          out += String.fromCharCode(u, low);
          i += 12;
        } else {
          out += String.fromCharCode(u);
          i += 6;
        }
      }
      from = i;
    }
  };
  const number = (literal: string, value: number, becomes: string | undefined): unknown => {
    if (becomes) nonFinite.push({ pointer: pointerOf(stack), literal, becomes });
    return opts.number ? opts.number(literal) : value;
  };
  const readScalar = (): unknown => {
    const c = text[i];
    if (c === '"') return readString();
    if (c === "n" && text.startsWith("null", i)) return (i += 4), null;
    if (c === "t" && text.startsWith("true", i)) return (i += 4), true;
    if (c === "f" && text.startsWith("false", i)) return (i += 5), false;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      const literal = m[0];
      const at = i;
      i += literal.length;
      const v = Number(literal);
      const isFloat = m[1] !== undefined || m[2] !== undefined;
      if (!python && !Number.isFinite(v)) fail("number out of range", at);
      if (!isFloat && python && literal.replace("-", "").length > PYTHON_INT_MAX_DIGITS) {
        fail(`Exceeds the limit (${PYTHON_INT_MAX_DIGITS} digits) for integer string conversion`, at);
      }
      // Python reads an integer of any length (up to its digit limit) exactly: only a float literal overflows.
      const becomes = Number.isFinite(v) || !isFloat ? undefined : `${v > 0 ? "" : "-"}infinity (the literal overflows a double)`;
      return number(literal, v, becomes);
    }
    if (python) {
      if (text.startsWith("NaN", i)) return (i += 3), number("NaN", NaN, "NaN");
      if (text.startsWith("Infinity", i)) return (i += 8), number("Infinity", Infinity, "infinity");
      if (text.startsWith("-Infinity", i)) return (i += 9), number("-Infinity", -Infinity, "-infinity");
    }
    return fail("Expecting value");
  };
  const readKey = (frame: Frame) => {
    if (text.charCodeAt(i) !== 0x22) fail("Expecting property name enclosed in double quotes");
    frame.keyAt = i;
    frame.key = readString();
    ws();
    if (text.charCodeAt(i) !== 0x3a) fail("Expecting ':' delimiter");
    i++;
    ws();
  };
  const open = (container: Frame["container"], isArray: boolean): Frame => {
    if (stack.length >= maxDepth) fail(`nested deeper than ${maxDepth} levels`);
    i++;
    ws();
    return { container, isArray, key: "", keyAt: i };
  };

  if (python && text.charCodeAt(0) === 0xfeff) fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
  ws();
  for (;;) {
    // Read one value; containers push a frame and come back here for their first member.
    let v: unknown;
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      const frame = open({}, false);
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        v = frame.container;
      } else {
        readKey(frame);
        stack.push(frame);
        continue;
      }
    } else if (c === 0x5b /* [ */) {
      const frame = open([], true);
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        v = frame.container;
      } else {
        stack.push(frame);
        continue;
      }
    } else {
      v = readScalar();
    }
    // Store the value in its container; close every container that ends here.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        ws();
        if (i !== n) fail("Extra data");
        return { value: v, nonFinite };
      }
      if (top.isArray) (top.container as unknown[]).push(v);
      else {
        const obj = top.container as Record<string, unknown>;
        if (opts.uniqueKeys && Object.hasOwn(obj, top.key)) fail(`duplicate key ${JSON.stringify(top.key)}`, top.keyAt);
        setMember(obj, top.key, v);
      }
      ws();
      const d = text.charCodeAt(i);
      if (d === 0x2c /* , */) {
        i++;
        ws();
        if (!top.isArray) readKey(top);
        break;
      }
      if (d !== (top.isArray ? 0x5d : 0x7d)) fail("Expecting ',' delimiter");
      i++;
      stack.pop();
      v = top.container;
    }
  }
}

// ---- bytes → text -------------------------------------------------------------------------------

/** Offset of the first byte that is not valid UTF-8 (overlong forms, surrogates and > U+10FFFF included), or -1. */
export function invalidUtf8At(b: Uint8Array): number {
  const n = b.length;
  for (let i = 0; i < n; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const x = b[i + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes strict UTF-8, keeping a BOM as U+FEFF (as Python's "utf-8" codec does). Throws with the offset on invalid bytes. */
export function decodeUtf8(b: Uint8Array): string {
  try {
    return strictUtf8.decode(b);
  } catch {
    const at = invalidUtf8At(b);
    throw new Utf8Error(at, b[at] ?? 0);
  }
}

export class Utf8Error extends Error {
  constructor(
    readonly offset: number,
    readonly byte: number,
  ) {
    super(`is not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, "0")} at offset ${offset})`);
    this.name = "Utf8Error";
  }
}
