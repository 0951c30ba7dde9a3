// The model card is README.md with YAML front matter; the Hub reads license, pipeline_tag and
// the widget examples from it.
import { parse as parseYaml } from "yaml";

export interface ModelCard {
  frontMatter: Record<string, unknown> | null;
  body: string;
  /** Why the front matter could not be read, when it could not. */
  error?: string;
}

const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/;

export function parseModelCard(text: string): ModelCard {
  const m = FRONT_MATTER.exec(text.replace(/^\uFEFF/, ""));
  if (!m) return { frontMatter: null, body: text, error: "has no YAML front matter (a block between --- lines at the top)" };
  const body = text.slice(m[0].length);
  try {
    const value: unknown = parseYaml(m[1] ?? "");
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return { frontMatter: null, body, error: "front matter is not a YAML mapping" };
    }
    return { frontMatter: value as Record<string, unknown>, body };
  } catch (e) {
    return { frontMatter: null, body, error: `front matter is not valid YAML: ${(e as Error).message.split("\n")[0]}` };
  }
}

/** The widget example texts, in order (the default smoke cases). */
export function widgetTexts(card: ModelCard): string[] {
  const widget = card.frontMatter?.widget;
  if (!Array.isArray(widget)) return [];
  return widget
    .map((w) => (w && typeof w === "object" ? (w as { text?: unknown }).text : undefined))
    .filter((t): t is string => typeof t === "string");
}
