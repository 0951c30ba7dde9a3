// The checkpoint's own fast tokenizer (tokenizer.json) through @huggingface/tokenizers: added
// tokens such as `$fact$` stay whole, and the mask token comes from the checkpoint's files.
import { printable } from "../util/printable.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { checkpointSource, type LoadedCheckpoint } from "../checkpoint/load.js";
import { UserError } from "../report.js";

export interface SmokeTokenizer {
  encode(text: string): { ids: number[]; tokens: string[] };
  idToToken(id: number): string;
  readonly maskToken: string;
  readonly maskId: number;
}

async function readJson(file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${printable(file)}: cannot read (${code === "ENOENT" ? "no such file" : (e as Error).message})`, 2);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${printable(file)}: not valid JSON (${(e as Error).message})`, 2);
  }
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return undefined;
}

/**
 * The tokenizer of a checkpoint read through the inventory (nested layouts flattened, as `check`
 * reads them), or of a flat folder.
 */
export async function loadTokenizer(source: string | Pick<LoadedCheckpoint, "root" | "files">): Promise<SmokeTokenizer> {
  const root = typeof source === "string" ? source : source.root;
  const where = (name: string): string | undefined => (typeof source === "string" ? path.join(source, name) : checkpointSource(source, name));
  const tokFile = where("tokenizer.json");
  if (!tokFile) throw new UserError(`${root}: no tokenizer.json in the checkpoint (the fast tokenizer file the CPU engine reads)`, 2);
  const tokenizerJson = await readJson(tokFile, true);
  const optional = async (name: string) => {
    const file = where(name);
    return (file ? await readJson(file, false) : undefined) ?? {};
  };
  const tokenizerConfig = await optional("tokenizer_config.json");
  const specialMap = await optional("special_tokens_map.json");
  const maskToken = tokenString(specialMap.mask_token) ?? tokenString(tokenizerConfig.mask_token);
  if (!maskToken) {
    throw new UserError(`${root}: no mask token: neither special_tokens_map.json nor tokenizer_config.json sets "mask_token"`, 2);
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson as object, tokenizerConfig as object);
  } catch (e) {
    throw new UserError(`${tokFile}: the tokenizer cannot be built from it (${(e as Error).message})`, 2);
  }
  const maskId = tok.token_to_id(maskToken);
  if (maskId === undefined || maskId === null) {
    throw new UserError(`${tokFile}: the mask token ${maskToken} is not in the tokenizer's vocabulary`, 2);
  }
  return {
    maskToken,
    maskId,
    encode(text: string) {
      const e = tok.encode(text);
      return { ids: e.ids, tokens: e.tokens };
    },
    idToToken(id: number) {
      return tok.id_to_token(id) ?? `[${id}]`;
    },
  };
}
