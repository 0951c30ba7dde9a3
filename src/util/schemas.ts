// JSON Schema validation with ajv: every schema in schemas/ compiled at build time into
// standalone validation code (tools/compile-schemas.mjs), and ajv's errors turned into sentences
// that name the file, the JSON pointer and the rule.
import type { ErrorObject, ValidateFunction } from "ajv";
import { validators } from "./schema-validators.generated.js";

export function schemaValidator(schemaFile: string): ValidateFunction {
  const fn = (validators as unknown as Record<string, ValidateFunction>)[schemaFile];
  if (!fn) throw new Error(`no compiled validator for schemas/${schemaFile}: run \`npm run build\``);
  return fn;
}

/** Validates and returns one plain-words problem per violated rule (empty when valid). */
export function validateAgainst(schemaFile: string, value: unknown, fileLabel: string): string[] {
  const validate = schemaValidator(schemaFile);
  if (validate(value)) return [];
  return dedupe((validate.errors ?? []).filter((e) => !isAnyOfNoise(e)).map((e) => `${fileLabel}: ${describeError(e)}`));
}

function isAnyOfNoise(e: ErrorObject): boolean {
  // anyOf reports every failed branch and then itself; the summary line is enough.
  return /\/anyOf\/\d+\//.test(e.schemaPath);
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

export function describeError(e: ErrorObject): string {
  const where = e.instancePath === "" ? "(top level)" : e.instancePath;
  const why = (e.parentSchema as { description?: string } | undefined)?.description;
  const because = why ? ` (${why})` : "";
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return `${where} is missing the required field "${String(p.missingProperty)}"`;
    case "additionalProperties":
      return `${where} has an unknown field "${String(p.additionalProperty)}"`;
    case "type":
      return `${where} must be of type ${String(p.type)}, not ${jsonType(e.data)}`;
    case "enum":
      return `${where} is ${JSON.stringify(e.data)}, expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}${because}`;
    case "not":
      return `${where} must not be present${because}`;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return `${where} is ${JSON.stringify(e.data)}, it ${e.message ?? "is out of range"}`;
    case "pattern":
      // A described rule says it in words; the expression itself only when nothing else does.
      return why ? `${where} is ${JSON.stringify(e.data)}, but it must be ${why}` : `${where} is ${JSON.stringify(e.data)}, which does not match ${String(p.pattern)}`;
    case "maxLength":
      return `${where} is ${String(e.data).length} characters long, at most ${String(p.limit)} are allowed${because}`;
    case "anyOf":
      return `${where} has the wrong shape: ${JSON.stringify(e.data)}`;
    default:
      return `${where} ${e.message ?? "is invalid"}${because}`;
  }
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}
