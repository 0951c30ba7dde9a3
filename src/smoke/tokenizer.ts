// The checkpoint's own fast tokenizer (tokenizer.json) through @huggingface/tokenizers: added
// tokens such as `$fact$` stay whole, and the mask token comes from the checkpoint's files.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
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
    throw new UserError(`${file}: cannot read (${code === "ENOENT" ? "no such file" : (e as Error).message})`, 2);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`, 2);
  }
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return undefined;
}

export async function loadTokenizer(ckptDir: string): Promise<SmokeTokenizer> {
  const tokFile = path.join(ckptDir, "tokenizer.json");
  const tokenizerJson = await readJson(tokFile, true);
  const tokenizerConfig = (await readJson(path.join(ckptDir, "tokenizer_config.json"), false)) ?? {};
  const specialMap = (await readJson(path.join(ckptDir, "special_tokens_map.json"), false)) ?? {};
  const maskToken = tokenString(specialMap.mask_token) ?? tokenString(tokenizerConfig.mask_token);
  if (!maskToken) {
    throw new UserError(`${ckptDir}: no mask token: neither special_tokens_map.json nor tokenizer_config.json sets "mask_token"`, 2);
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
