// The model card the Hub renders: front matter that parses, a license, a pipeline, and widget
// examples the hosted widget can actually run.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import { widgetTexts } from "../checkpoint/model-card.js";
import type { CheckResult } from "../report.js";
import { validateAgainst } from "../util/schemas.js";
import { fail, isRecord, pass, skip, warn } from "./helpers.js";
import { maskToken } from "./tokenizer.js";

export function checkModelCardFrontMatter(ckpt: LoadedCheckpoint): CheckResult {
  const id = "card.front-matter";
  const title = "model card front matter parses and has a license";
  const mc = ckpt.modelCard;
  if (!mc) return noCardHere(id, title, ckpt.modelCardOnHub);
  if (mc.card.error) return fail(id, title, [`${mc.path}: ${mc.card.error}`]);
  const problems = validateAgainst("model-card.schema.json", mc.card.frontMatter, `${mc.path} front matter`);
  if (problems.length) return fail(id, title, problems);
  const kept = mc.origin === "hub" ? `${mc.path}, kept by the release (no card in the checkpoint); ` : "";
  return pass(id, title, `${kept}license ${String(mc.card.frontMatter!.license)}`);
}

/**
 * No card in the checkpoint and none configured: fine when the Hub repo keeps one (azbert mirrors
 * its GitHub README there); a failure only when no card would exist after the release.
 */
function noCardHere(id: string, title: string, onHub: LoadedCheckpoint["modelCardOnHub"]): CheckResult {
  const here = "no README.md in the checkpoint and no `modelCard` in release.config.json";
  const fix = "set `modelCard` to the card to publish (e.g. your repository's README.md), or put README.md in the checkpoint";
  switch (onHub?.status) {
    case "absent":
      return fail(id, title, [`${here}, and ${onHub.where} has no README.md on the Hub: the Hub page would be empty. To fix, ${fix}`]);
    case "pruned":
      return fail(id, title, [`${here}, and --prune (hub.prune) deletes the README.md ${onHub.where} has on the Hub: the Hub page would be empty. To fix, ${fix}, or publish without pruning`]);
    default:
      return warn(id, title, [
        `${here}: the Hub page keeps the README.md the Hub repo has, if it has one (not checked: ${onHub?.why ?? "the Hub was not asked"}). If it has none, ${fix}`,
      ]);
  }
}

const FILL_MASK_ARCHS = ["BertForMaskedLM", "BertForPreTraining"];

export function checkPipelineTag(ckpt: LoadedCheckpoint): CheckResult {
  const id = "card.pipeline";
  const title = "the model card declares its pipeline";
  const fm = ckpt.modelCard?.card.frontMatter;
  if (!fm) return skip(id, title, "no readable front matter (see card.front-matter)");
  if (typeof fm.pipeline_tag === "string") return pass(id, title, fm.pipeline_tag);
  const config = ckpt.json.get("config.json")?.value;
  const archs = isRecord(config) && Array.isArray(config.architectures) ? (config.architectures as string[]) : [];
  if (archs.some((a) => FILL_MASK_ARCHS.includes(a))) {
    return warn(id, title, [`${ckpt.modelCard!.path}: no pipeline_tag; the Hub will derive fill-mask from ${archs.join(", ")}. Add "pipeline_tag: fill-mask" to be explicit`]);
  }
  return fail(id, title, [`${ckpt.modelCard!.path}: no pipeline_tag and none can be derived from config.json architectures`]);
}

export function checkWidgetExamples(ckpt: LoadedCheckpoint): CheckResult {
  const id = "card.widget";
  const title = "every widget example contains the mask token";
  const mc = ckpt.modelCard;
  if (!mc?.card.frontMatter) return skip(id, title, "no readable front matter (see card.front-matter)");
  const texts = widgetTexts(mc.card);
  if (!texts.length) return warn(id, title, [`${mc.path}: no widget examples; the Hub will show a generic one`]);
  const mask = maskToken(ckpt);
  const bad = texts.filter((t) => !t.includes(mask)).map((t) => `${mc.path}: widget example "${t}" has no ${mask} token, so the fill-mask widget cannot run it`);
  return bad.length ? fail(id, title, bad) : pass(id, title, `${texts.length} examples`);
}
