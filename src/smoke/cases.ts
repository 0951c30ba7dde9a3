// Smoke cases: the model card's widget examples (the default), or a cases file: the old
// test.txt format (tab-separated: extra 1-based word positions to mask, then the sentence),
// a JSON list, or another model card.
import { printable } from "../util/printable.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { checkpointSource, type LoadedCheckpoint } from "../checkpoint/load.js";
import { parseModelCard, widgetTexts, type ModelCard } from "../checkpoint/model-card.js";
import { UserError } from "../report.js";

export interface SmokeCase {
  /** The text that is run (mask tokens in place); the expectations key. */
  text: string;
  /** Where it came from, e.g. `README.md widget 3`, `test.txt:4`. */
  source?: string;
  /** test.txt: the 1-based word positions masked (applied to `text` unless it needs preprocessing). */
  maskWords?: number[];
  /** The case needs a preprocessor first (`[imath]` markup: pya0), which only the Python path has. */
  preprocess?: "pya0";
}

export const PYA0_REASON =
  "contains [imath] markup, which needs the pya0 preprocessor (preprocess_for_transformer): only the Python path can run it, with pya0 installed";

/**
 * Widget examples of the model card the release publishes (README.md front matter): the config's
 * `modelCard`, else the checkpoint's README.md, wherever discovery found it.
 */
export async function widgetCases(ckpt: Pick<LoadedCheckpoint, "root" | "files" | "modelCard" | "modelCardOnHub">): Promise<SmokeCase[]> {
  // No card of our own: the one the Hub repo keeps, when it was looked up and found.
  if (ckpt.modelCard?.origin === "hub") return cardCases(ckpt.modelCard.card, ckpt.modelCard.path, "README.md on the Hub");
  const file = checkpointSource(ckpt, "README.md");
  if (!file) {
    const hub = ckpt.modelCardOnHub;
    const onHub = !hub ? "" : hub.status === "unknown" ? `; the Hub repo's README.md was not read (${hub.why})` : `; ${hub.where} has no README.md on the Hub`;
    throw new UserError(
      `${printable(path.join(ckpt.root, "README.md"))}: no model card${onHub}, so no widget examples to smoke-test (set "modelCard" in the config, or give a cases file with --cases)`,
      2,
    );
  }
  return cardCases(parseModelCard(await readFile(file, "utf8")), file);
}

/** The widget examples of a model card as cases; `file` names the card in errors, `label` in each case's source. */
export function cardCases(card: ModelCard, file: string, label = path.basename(file)): SmokeCase[] {
  if (card.error) throw new UserError(`${printable(file)}: ${card.error}`, 2);
  const texts = widgetTexts(card);
  if (!texts.length) {
    throw new UserError(`${printable(file)}: the front matter has no widget examples (widget: - text: "... [MASK] ..."); give a cases file with --cases`, 2);
  }
  return texts.map((t, i) => ({ text: t, source: `${label} widget ${i + 1}` }));
}

/** Parses the old test.txt format. `file` names the file in errors. */
export function parseTestTxt(content: string, file: string, maskToken = "[MASK]"): SmokeCase[] {
  const name = path.basename(file);
  const cases: SmokeCase[] = [];
  content.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.replace(/\s+$/, "");
    if (!line.trim() || line.trimStart().startsWith("#")) return;
    const tab = line.indexOf("\t");
    if (tab < 0) {
      throw new UserError(`${printable(file)}:${lineNo}: expected "POSITIONS<TAB>SENTENCE" (e.g. "0<TAB>Proof by [MASK] ..."), found no tab`, 2);
    }
    const posField = line.slice(0, tab).trim();
    const sentence = line.slice(tab + 1).split("\t")[0] ?? "";
    if (!/^\d+(\s*,\s*\d+)*$/.test(posField)) {
      throw new UserError(`${printable(file)}:${lineNo}: the first column must be 0 or comma-separated word positions like 4,12 (found ${JSON.stringify(posField)})`, 2);
    }
    const positions = posField.split(",").map((p) => Number(p.trim())).filter((p) => p !== 0);
    if (!sentence.trim()) throw new UserError(`${printable(file)}:${lineNo}: the sentence is empty`, 2);
    const source = `${name}:${lineNo}`;
    if (/\[imath\]/i.test(sentence)) {
      cases.push({ text: sentence, source, maskWords: positions, preprocess: "pya0" });
      return;
    }
    const words = sentence.split(/\s+/).filter(Boolean);
    for (const p of positions) {
      if (p > words.length) {
        throw new UserError(`${printable(file)}:${lineNo}: word position ${p} is past the end of the sentence (${words.length} words)`, 2);
      }
      words[p - 1] = maskToken;
    }
    // as the old script did after pya0's lowercasing
    const text = words.join(" ").replaceAll("[mask]", "[MASK]");
    cases.push({ text, source, ...(positions.length ? { maskWords: positions } : {}) });
  });
  if (!cases.length) throw new UserError(`${printable(file)}: no cases in it`, 2);
  return cases;
}

/** Reads a cases file: `.json` (a list of strings or {text} objects), `.md` (widget front matter), else test.txt format. */
export async function loadCasesFile(file: string, maskToken = "[MASK]"): Promise<SmokeCase[]> {
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${printable(file)}: cannot read the cases file (${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message})`, 2);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === ".json") {
    let v: unknown;
    try {
      v = JSON.parse(content);
    } catch (e) {
      throw new UserError(`${printable(file)}: not valid JSON (${(e as Error).message})`, 2);
    }
    const list = Array.isArray(v) ? v : (v as { cases?: unknown } | null)?.cases;
    if (!Array.isArray(list) || !list.length) throw new UserError(`${printable(file)}: expected a non-empty JSON array of case texts`, 2);
    return list.map((item, i) => {
      const text = typeof item === "string" ? item : (item as { text?: unknown } | null)?.text;
      if (typeof text !== "string" || !text.trim()) {
        throw new UserError(`${printable(file)}: case ${i + 1} is not a string nor an object with a "text" string`, 2);
      }
      return { text, source: `${path.basename(file)}#${i + 1}` };
    });
  }
  if (ext === ".md") return cardCases(parseModelCard(content), file);
  return parseTestTxt(content, file, maskToken);
}
