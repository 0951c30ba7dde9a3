import { describe, expect, it } from "vitest";

import { decodeUtf8, invalidUtf8At, JsonTextError, MAX_JSON_DEPTH, parseJson, PYTHON_JSON_DEPTH, Utf8Error } from "../../../src/checkpoint/json-text.js";

// Expected values and messages recorded from CPython 3.11's json.loads (not run at test time):
//   /usr/bin/python3 -c 'import json; print(json.loads(TEXT))'
const err = (text: string, opts: Parameters<typeof parseJson>[1] = {}): JsonTextError => {
  try {
    parseJson(text, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(JsonTextError);
    return e as JsonTextError;
  }
  throw new Error(`parsed: ${text}`);
};

describe("JSON as Python's json reads it", () => {
  it("reads what JSON.parse reads, to the same values", () => {
    const text = '{"a": [1, -2.5e3, 0, true, false, null, "x\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"], "b": {}, "c": [], "a2": {"k": 1e-12}}';
    expect(parseJson(text)).toEqual({ value: JSON.parse(text), nonFinite: [] });
  });

  it("reads NaN, Infinity and -Infinity literals and overflows to infinity, naming each by JSON pointer", () => {
    const { value, nonFinite } = parseJson('{"eps": 1e400, "m": [NaN, -Infinity, 1], "x/y": {"~k": Infinity}, "neg": -1e999}');
    const v = value as { eps: number; m: number[]; neg: number };
    expect(v.eps).toBe(Infinity);
    expect(v.m[0]).toBeNaN();
    expect(v.neg).toBe(-Infinity);
    expect(nonFinite).toEqual([
      { pointer: "/eps", literal: "1e400", becomes: "infinity (the literal overflows a double)" },
      { pointer: "/m/0", literal: "NaN", becomes: "NaN" },
      { pointer: "/m/1", literal: "-Infinity", becomes: "-infinity" },
      { pointer: "/x~1y/~0k", literal: "Infinity", becomes: "infinity" },
      { pointer: "/neg", literal: "-1e999", becomes: "-infinity (the literal overflows a double)" },
    ]);
    // A two-digit exponent on a 308-digit mantissa overflows too (Python: inf).
    const long = `1${"0".repeat(307)}e2`;
    expect(parseJson(`{"eps": ${long}}`).nonFinite).toEqual([{ pointer: "/eps", literal: long, becomes: "infinity (the literal overflows a double)" }]);
  });

  it("keeps huge integers (transformers writes model_max_length = int(1e30)) and refuses over 4300 digits, as CPython does", () => {
    expect(parseJson('{"model_max_length": 1000000000000000019884624838656}').nonFinite).toEqual([]);
    expect(err(`[${"9".repeat(4301)}]`).message).toBe("Exceeds the limit (4300 digits) for integer string conversion: line 1 column 2 (char 1)");
    // Python reads it as an int, exactly: not a non-finite number (transformers loads a config holding it).
    expect(parseJson(`[${"9".repeat(4300)}]`).nonFinite).toEqual([]);
  });

  it("words and places syntax errors as json.JSONDecodeError does", () => {
    expect(err("").message).toBe("Expecting value: line 1 column 1 (char 0)");
    expect(err('{"a": 1,}').message).toBe("Expecting property name enclosed in double quotes: line 1 column 9 (char 8)");
    expect(err("[1,]").message).toBe("Expecting value: line 1 column 4 (char 3)");
    expect(err('{"a" 1}').message).toBe("Expecting ':' delimiter: line 1 column 6 (char 5)");
    expect(err("[1 2]").message).toBe("Expecting ',' delimiter: line 1 column 4 (char 3)");
    expect(err("{} x").message).toBe("Extra data: line 1 column 4 (char 3)");
    expect(err('\n["a\tb"]').message).toBe("Invalid control character at: line 2 column 4 (char 4)");
    expect(err('["\\x"]').message).toBe("Invalid \\escape: line 1 column 3 (char 2)");
    expect(err('["\\u12G4"]').message).toBe("Invalid \\uXXXX escape: line 1 column 4 (char 3)");
    expect(err('["abc').message).toBe("Unterminated string starting at: line 1 column 2 (char 1)");
    expect(err("\ufeff{}").message).toBe("Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)");
    expect(err("[01]").message).toBe("Expecting ',' delimiter: line 1 column 3 (char 2)");
    expect(err("[-NaN]").message).toBe("Expecting value: line 1 column 2 (char 1)");
  });

  it("refuses nesting past the limit without recursion, however deep: serde_json's 128, transformers' 480 for Python's json", () => {
    const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    const serde = { dialect: "serde" } as const;
    expect(() => parseJson(deep(MAX_JSON_DEPTH), serde)).not.toThrow();
    expect(err(deep(MAX_JSON_DEPTH + 1), serde).message).toBe(`nested deeper than ${MAX_JSON_DEPTH} levels: line 1 column ${MAX_JSON_DEPTH + 1} (char ${MAX_JSON_DEPTH})`);
    expect(() => parseJson(deep(PYTHON_JSON_DEPTH))).not.toThrow();
    expect(err(deep(PYTHON_JSON_DEPTH + 1)).message).toBe(`nested deeper than ${PYTHON_JSON_DEPTH} levels: line 1 column ${PYTHON_JSON_DEPTH + 1} (char ${PYTHON_JSON_DEPTH})`);
    const t0 = performance.now();
    expect(err(deep(1_000_000)).problem).toMatch(/nested deeper/);
    expect(err(`${'{"a":'.repeat(200_000)}1${"}".repeat(200_000)}`).problem).toMatch(/nested deeper/);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it("keeps the later value of a repeated key in the first key's place, as a Python dict does; __proto__ is a plain member", () => {
    const v = parseJson('{"a": 1, "b": 2, "a": 3, "__proto__": {"polluted": true}}').value as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(["a", "b", "__proto__"]);
    expect(v.a).toBe(3);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(err('{"a": 1, "a": 2}', { uniqueKeys: true }).message).toBe('duplicate key "a": line 1 column 10 (char 9)');
  });

  it("reads as serde_json in the serde dialect: no NaN literals, no lone surrogates", () => {
    expect(err("[NaN]", { dialect: "serde" }).problem).toBe("Expecting value");
    expect(err("[1e400]", { dialect: "serde" }).problem).toBe("number out of range");
    expect(err('["\\ud800x"]', { dialect: "serde" }).problem).toBe("lone surrogate in hex escape");
    expect(err('["\\udc00"]', { dialect: "serde" }).problem).toBe("lone surrogate in hex escape");
    expect(parseJson('["\\ud83d\\ude00"]', { dialect: "serde" }).value).toEqual(["😀"]);
    // Python keeps a lone surrogate.
    expect((parseJson('["\\ud800"]').value as string[])[0]!.charCodeAt(0)).toBe(0xd800);
  });

  it("hands number literals to a custom reader (safetensors offsets must be integer literals)", () => {
    const seen: string[] = [];
    parseJson("[0, 0.0, 1e3, -0, 12]", { number: (lit) => seen.push(lit) });
    expect(seen).toEqual(["0", "0.0", "1e3", "-0", "12"]);
  });
});

describe("JSON.parse reads only the text on which it agrees with this reader", () => {
  // Each text either takes the JSON.parse path or falls back; either way the outcome (value,
  // non-finite numbers, error message) must be exactly the reader's own.
  const texts = [
    '{"a": [1, -2.5e3, 0, true, false, null, "x\\u00e9\\ud83d\\ude00\\n"], "b": {}, "__proto__": {"x": 1}, "a": 2}',
    '{"vocab": {"[CLS]": 0, "{": 1, "\\"[": 2, "1e400": 3, "0": 4, "12": 5}}',
    '{"eps": 1e400}',
    '{"eps": 1e-400}',
    '{"big": 1.5E+308, "small": 2e-308}',
    '[NaN]',
    '[-Infinity, 1]',
    '\ufeff{}',
    `[${"1".repeat(309)}]`,
    `[${"9".repeat(4301)}]`,
    '["\\ud800"]',
    '["\\ud83d\\ude00", "\\\\ud800"]',
    `${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`,
    `${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}`,
    `${'{"a":'.repeat(MAX_JSON_DEPTH + 1)}1${"}".repeat(MAX_JSON_DEPTH + 1)}`,
    `${"[".repeat(PYTHON_JSON_DEPTH)}${"]".repeat(PYTHON_JSON_DEPTH)}`,
    `${"[".repeat(PYTHON_JSON_DEPTH + 1)}${"]".repeat(PYTHON_JSON_DEPTH + 1)}`,
    `["${"[".repeat(500)}"]`,
    '{"a": 1,}',
    '{"a" 1}',
    '"\\x"',
    '1e400',
    ' 12 ',
  ];
  const outcome = (text: string, opts: Parameters<typeof parseJson>[1]) => {
    try {
      const r = parseJson(text, opts);
      return { value: JSON.stringify(r.value, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)), nonFinite: r.nonFinite, proto: Object.getPrototypeOf(r.value) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  for (const dialect of ["python", "serde"] as const) {
    it(`gives the reader's value or error for every text (${dialect})`, () => {
      for (const text of texts) expect(outcome(text, { dialect }), text.slice(0, 40)).toEqual(outcome(text, { dialect, native: false }));
    });
  }
});

describe("UTF-8 as Python's codec decodes it", () => {
  it("keeps a BOM, refuses overlong forms, surrogates and bytes past U+10FFFF, and names the offset", () => {
    expect(decodeUtf8(Buffer.from("\ufeffé", "utf8"))).toBe("\ufeffé");
    for (const [bytes, at] of [
      [[0x61, 0xff], 1],
      [[0xc0, 0xaf], 0], // overlong "/"
      [[0x61, 0xed, 0xa0, 0x80], 1], // UTF-8-encoded surrogate
      [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
      [[0x61, 0x62, 0xe2, 0x82], 2], // cut short
    ] as const) {
      expect(invalidUtf8At(Uint8Array.from(bytes))).toBe(at);
      expect(() => decodeUtf8(Uint8Array.from(bytes))).toThrow(Utf8Error);
    }
    expect(() => decodeUtf8(Buffer.from([0x61, 0xff]))).toThrow("is not valid UTF-8 (byte 0xff at offset 1)");
    expect(invalidUtf8At(Buffer.from("ok é 😀", "utf8"))).toBe(-1);
  });
});
