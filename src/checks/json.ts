// Every JSON file parses, matches its schema, and carries no path from the author's machine.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import type { CheckResult } from "../report.js";
import { validateAgainst } from "../util/schemas.js";
import { fail, isRecord, pass, skip } from "./helpers.js";

export const JSON_SCHEMAS: ReadonlyArray<{ file: string; schema: string }> = [
  { file: "config.json", schema: "config.schema.json" },
  { file: "tokenizer_config.json", schema: "tokenizer-config.schema.json" },
  { file: "special_tokens_map.json", schema: "special-tokens-map.schema.json" },
  { file: "added_tokens.json", schema: "added-tokens.schema.json" },
  { file: "tokenizer.json", schema: "tokenizer.schema.json" },
];

export function checkJsonParses(ckpt: LoadedCheckpoint): CheckResult {
  const id = "json.parse";
  const title = "every JSON file parses";
  const bad = [...ckpt.json.values()].filter((d) => d.error).map((d) => `${d.path} ${d.error}`);
  return bad.length ? fail(id, title, bad) : pass(id, title, `${ckpt.json.size} files`);
}

export function checkJsonFinite(ckpt: LoadedCheckpoint): CheckResult {
  const id = "json.finite";
  const title = "every JSON number is finite as Python reads it";
  const problems = [...ckpt.json.values()].flatMap((d) =>
    (d.nonFinite ?? []).map(
      (n) => `${d.path}: ${n.pointer || "/"} is ${n.literal}, which Python's json reads as ${n.becomes}: no setting works with it, and strict JSON readers refuse the file`,
    ),
  );
  return problems.length ? fail(id, title, problems) : pass(id, title);
}

export function checkJsonSchemas(ckpt: LoadedCheckpoint): CheckResult[] {
  return JSON_SCHEMAS.map(({ file, schema }) => {
    const id = `schema.${file.replace(/\.json$/, "")}`;
    const title = `${file} matches its schema`;
    const doc = ckpt.json.get(file);
    if (!doc) return skip(id, title, `${file} is missing (see files.required)`);
    if (doc.error) return skip(id, title, `${file} does not parse (see json.parse)`);
    const problems = validateAgainst(schema, doc.value, file);
    return problems.length ? fail(id, title, problems) : pass(id, title);
  });
}

// Paths that only exist on the machine the checkpoint was trained on.
const LOCAL_PATH = /^(~[\\/]|\/(?!\/)[^\s/]+\/|[A-Za-z]:[\\/]|file:\/\/|\\\\[^\\]+\\)/;

/** Every string in `value` that looks like a local path, with its JSON pointer. Iterative: any depth. */
export function findLocalPaths(value: unknown, pointer = "", out: Array<{ pointer: string; value: string }> = []) {
  const todo: Array<[unknown, string]> = [[value, pointer]];
  for (let item = todo.pop(); item; item = todo.pop()) {
    const [v, at] = item;
    if (typeof v === "string") {
      if (LOCAL_PATH.test(v)) out.push({ pointer: at || "/", value: v });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) todo.push([v[i], `${at}/${i}`]);
    } else if (isRecord(v)) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) todo.push([entries[i]![1], `${at}/${entries[i]![0].replace(/~/g, "~0").replace(/\//g, "~1")}`]);
    }
  }
  return out;
}

export function checkNoLocalPaths(ckpt: LoadedCheckpoint): CheckResult {
  const id = "json.local-paths";
  const title = "no absolute local path in the JSON files";
  const problems: string[] = [];
  for (const doc of ckpt.json.values()) {
    if (doc.value === undefined) continue;
    let value = doc.value;
    if (doc.path === "tokenizer.json" && isRecord(value)) {
      // Token tables hold tokens, not paths ("/usr/" could be a token); check the rest.
      const { model, added_tokens: _added, ...rest } = value;
      value = { ...rest, model: isRecord(model) ? { ...model, vocab: undefined } : model };
    }
    for (const hit of findLocalPaths(value)) {
      problems.push(`${doc.path}: ${hit.pointer} is ${JSON.stringify(hit.value)}, a path on this machine that Hub users will not have; remove the field or set it to the Hub repo id`);
    }
  }
  return problems.length ? fail(id, title, problems) : pass(id, title);
}
