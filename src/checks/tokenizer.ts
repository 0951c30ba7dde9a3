// The tokenizer files agree with each other and with config.json: a mismatch here is what
// makes a Hub model load but predict garbage.
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import type { CheckResult } from "../report.js";
import { fail, isRecord, pass, skip, tokenContent, warn } from "./helpers.js";

export const SPECIAL_TOKEN_KEYS = ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] as const;

function value(ckpt: LoadedCheckpoint, file: string): Record<string, unknown> | undefined {
  const v = ckpt.json.get(file)?.value;
  return isRecord(v) ? v : undefined;
}

/** token -> id of vocab.txt as BertTokenizer's load_vocab builds it: a repeated line takes the later id. */
function lineIds(lines: readonly string[]): Map<string, number> {
  const ids = new Map<string, number>();
  lines.forEach((t, i) => ids.set(t, i));
  return ids;
}

/** token -> id over vocab.txt and added_tokens.json, the way BertTokenizer builds it. */
export function slowVocabulary(ckpt: LoadedCheckpoint): Map<string, number> | undefined {
  if (!ckpt.vocab) return undefined;
  const vocab = lineIds(ckpt.vocab);
  const added = value(ckpt, "added_tokens.json");
  for (const [t, id] of Object.entries(added ?? {})) if (typeof id === "number") vocab.set(t, id);
  return vocab;
}

/** The mask token the model card and the smoke test must use. */
export function maskToken(ckpt: LoadedCheckpoint): string {
  return tokenContent(value(ckpt, "special_tokens_map.json")?.mask_token) ?? tokenContent(value(ckpt, "tokenizer_config.json")?.mask_token) ?? "[MASK]";
}

export function checkVocabularySizes(ckpt: LoadedCheckpoint): CheckResult {
  const id = "coherence.vocab";
  const title = "vocab.txt + added tokens = tokenizer.json vocabulary = config vocab_size";
  const config = value(ckpt, "config.json");
  const added = value(ckpt, "added_tokens.json");
  const tok = value(ckpt, "tokenizer.json");
  if (ckpt.vocabError) return fail(id, title, [`vocab.txt ${ckpt.vocabError}`]);
  if (!ckpt.vocab || !config || !added || !tok) return skip(id, title, "needs vocab.txt, added_tokens.json, tokenizer.json and config.json");
  const problems: string[] = [];
  const nPlain = ckpt.vocab.length;
  const addedIds = Object.entries(added).filter((e): e is [string, number] => typeof e[1] === "number");
  addedIds.forEach(([t, tid]) => {
    if (tid < nPlain && ckpt.vocab![tid] !== t) problems.push(`added_tokens.json: "${t}" has id ${tid}, which vocab.txt already gives to "${ckpt.vocab![tid]}"`);
  });
  const newAdded = addedIds.filter(([t, tid]) => !(tid < nPlain && ckpt.vocab![tid] === t));
  const sorted = newAdded.map(([, i]) => i).sort((a, b) => a - b);
  sorted.forEach((tid, k) => {
    if (tid !== nPlain + k && problems.length < 20) problems.push(`added_tokens.json: ids must continue vocab.txt (${nPlain}, ${nPlain + 1}, …) but found ${tid} at position ${k + 1}`);
  });
  const slowSize = nPlain + newAdded.length;

  const model = isRecord(tok.model) ? tok.model : {};
  const fastVocab = isRecord(model.vocab) ? (model.vocab as Record<string, number>) : {};
  const fastIds = new Set<number>(Object.values(fastVocab));
  const fastAdded = Array.isArray(tok.added_tokens) ? (tok.added_tokens as Array<{ id?: number; content?: string } | null>).filter(isRecord) : [];
  for (const a of fastAdded) if (typeof a.id === "number") fastIds.add(a.id);
  const fastSize = fastIds.size;
  const mismatched: string[] = [];
  for (const [t, i] of lineIds(ckpt.vocab)) if (!Object.hasOwn(fastVocab, t) || fastVocab[t] !== i) mismatched.push(t);
  if (mismatched.length) {
    problems.push(`tokenizer.json: its WordPiece vocabulary differs from vocab.txt for ${mismatched.length} tokens (first: "${mismatched[0]}")`);
  }
  const fastAddedByContent = new Map<unknown, { id?: unknown }>();
  for (const a of fastAdded) if (!fastAddedByContent.has(a.content)) fastAddedByContent.set(a.content, a);
  for (const [t, tid] of newAdded) {
    const entry = fastAddedByContent.get(t);
    if (!entry) problems.push(`tokenizer.json: added token "${t}" (id ${tid} in added_tokens.json) is missing from added_tokens`);
    else if (entry.id !== tid) problems.push(`tokenizer.json: added token "${t}" has id ${entry.id}, added_tokens.json says ${tid}`);
  }
  const vocabSize = config.vocab_size;
  if (slowSize !== fastSize) problems.push(`vocab.txt (${nPlain} lines) + added_tokens.json (${newAdded.length}) = ${slowSize}, but tokenizer.json has ${fastSize} tokens`);
  const sizes = `vocab.txt (${nPlain} lines) + added_tokens.json (${newAdded.length}) = ${slowSize}`;
  if (typeof vocabSize === "number" && vocabSize < slowSize) problems.push(`config.json: vocab_size is ${vocabSize}, but ${sizes}: the tokenizer yields ids the model has no embedding for`);
  if (problems.length) return fail(id, title, problems);
  // Embeddings padded past the tokenizer (to a multiple of 8, say) load fine; say so, do not fail.
  if (typeof vocabSize === "number" && vocabSize > slowSize) return warn(id, title, [`config.json: vocab_size is ${vocabSize}, but ${sizes}: ${vocabSize - slowSize} embedding rows are never used (padding?)`]);
  return pass(id, title, `${slowSize} tokens (${nPlain} + ${newAdded.length} added)`);
}

export function checkSpecialTokens(ckpt: LoadedCheckpoint): CheckResult {
  const id = "coherence.special-tokens";
  const title = "special tokens exist in the vocabulary and agree across files";
  const map = value(ckpt, "special_tokens_map.json");
  const tcfg = value(ckpt, "tokenizer_config.json");
  const vocab = slowVocabulary(ckpt);
  if (!map || !vocab) return skip(id, title, "needs special_tokens_map.json and vocab.txt");
  const problems: string[] = [];
  for (const key of SPECIAL_TOKEN_KEYS) {
    const tok = tokenContent(map[key]);
    if (tok === undefined) continue; // the schema check reports missing keys
    if (!vocab.has(tok)) problems.push(`special_tokens_map.json: ${key} "${tok}" is not in the vocabulary (vocab.txt or added_tokens.json)`);
    const other = tcfg ? tokenContent(tcfg[key]) : undefined;
    if (other !== undefined && other !== tok) problems.push(`tokenizer_config.json: ${key} is "${other}" but special_tokens_map.json says "${tok}"`);
  }
  const config = value(ckpt, "config.json");
  const pad = tokenContent(map.pad_token);
  if (config && typeof config.pad_token_id === "number" && pad && vocab.has(pad) && vocab.get(pad) !== config.pad_token_id) {
    problems.push(`config.json: pad_token_id is ${config.pad_token_id}, but "${pad}" has id ${vocab.get(pad)}`);
  }
  return problems.length ? fail(id, title, problems) : pass(id, title);
}

export function checkAttentionHeads(ckpt: LoadedCheckpoint): CheckResult {
  const id = "coherence.heads";
  const title = "hidden_size is divisible by num_attention_heads";
  const c = value(ckpt, "config.json");
  if (!c || typeof c.hidden_size !== "number" || typeof c.num_attention_heads !== "number") return skip(id, title, "needs config.json with hidden_size and num_attention_heads");
  return c.hidden_size % c.num_attention_heads === 0
    ? pass(id, title, `${c.num_attention_heads} heads of ${c.hidden_size / c.num_attention_heads}`)
    : fail(id, title, [`config.json: hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads}`]);
}
