// A tensor's expected shape, each dimension tied to the config.json field that implies it, so a
// mismatch names the field to look at (the weights or that field is wrong), not just two shapes.

/** The config.json fields that fix a BERT tensor's dimensions. */
export type DimField = "vocab_size" | "hidden_size" | "intermediate_size" | "max_position_embeddings" | "type_vocab_size";

/** One expected dimension: its size and, unless it is a constant of the architecture, the field it comes from. */
export interface Dim {
  size: number;
  field?: DimField;
}

/** Shorthand for a dimension that config.json's `field` implies. */
export const dim = (size: number, field?: DimField): Dim => (field ? { size, field } : { size });

export function sameShape(actual: readonly number[], expected: readonly Dim[]): boolean {
  return actual.length === expected.length && expected.every((d, i) => actual[i] === d.size);
}

/**
 * "X has shape [362, 64] but config.json `vocab_size` = 369 implies [369, 64]": the fields named
 * are those whose dimension differs (all of them when even the number of dimensions differs).
 */
export function describeShapeMismatch(name: string, actual: readonly number[], expected: readonly Dim[]): string {
  const differing = actual.length === expected.length ? expected.filter((d, i) => actual[i] !== d.size) : expected;
  const fields = [...new Map(differing.filter((d) => d.field).map((d) => [d.field!, d.size])).entries()];
  const want = `[${expected.map((d) => d.size).join(", ")}]`;
  const why = fields.length
    ? `config.json ${fields.map(([f, n]) => `\`${f}\` = ${n}`).join(" and ")} ${fields.length === 1 ? "implies" : "imply"} ${want}`
    : `config.json implies ${want}`;
  return `${name} has shape [${actual.join(", ")}] but ${why}`;
}
