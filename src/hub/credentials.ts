// Where the Hub token and endpoint come from, the way huggingface_hub resolves them.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { CheckResult } from "../report.js";

export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

export type TokenSource = "HF_TOKEN" | "HUGGING_FACE_HUB_TOKEN" | "token-file";

export interface HubCredentials {
  endpoint: string;
  token?: string;
  tokenSource?: TokenSource;
  /** The token file that was (or would be) read. */
  tokenPath: string;
}

/** Token file location: `HF_TOKEN_PATH`, else `$HF_HOME/token`, else `$XDG_CACHE_HOME/huggingface/token`, else `~/.cache/huggingface/token`. */
export function hubTokenPath(env: Readonly<Record<string, string | undefined>>, homedir: string): string {
  if (env.HF_TOKEN_PATH) return expandHome(env.HF_TOKEN_PATH, homedir);
  if (env.HF_HOME) return path.join(expandHome(env.HF_HOME, homedir), "token");
  const cache = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME, homedir) : path.join(homedir, ".cache");
  return path.join(cache, "huggingface", "token");
}

function expandHome(p: string, homedir: string): string {
  return p === "~" ? homedir : p.startsWith("~/") ? path.join(homedir, p.slice(2)) : p;
}

/**
 * Resolve token (`HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, then the token file) and endpoint
 * (`HF_ENDPOINT`, default https://huggingface.co, trailing slashes removed). Pure apart from
 * reading the token file; `readFile` can be injected for tests.
 */
export function resolveHubCredentials(
  env: Readonly<Record<string, string | undefined>>,
  homedir: string,
  readFile: (p: string) => string | undefined = readTokenFile,
): HubCredentials {
  const endpoint = (env.HF_ENDPOINT?.trim() || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, "");
  const tokenPath = hubTokenPath(env, homedir);
  const fromEnv = (name: "HF_TOKEN" | "HUGGING_FACE_HUB_TOKEN"): string | undefined => env[name]?.trim() || undefined;
  const hf = fromEnv("HF_TOKEN");
  if (hf) return { endpoint, token: hf, tokenSource: "HF_TOKEN", tokenPath };
  const legacy = fromEnv("HUGGING_FACE_HUB_TOKEN");
  if (legacy) return { endpoint, token: legacy, tokenSource: "HUGGING_FACE_HUB_TOKEN", tokenPath };
  const fileToken = readFile(tokenPath)?.trim();
  if (fileToken) return { endpoint, token: fileToken, tokenSource: "token-file", tokenPath };
  return { endpoint, tokenPath };
}

function readTokenFile(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

/** `hub.token`: a token is configured (never shows it). No token → skip with what to set. */
export function checkHubToken(creds: HubCredentials): CheckResult {
  const base = { id: "hub.token", title: "A Hugging Face Hub token is configured" };
  if (!creds.token) {
    return {
      ...base,
      status: "skip",
      message: `no Hub token: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), or run \`huggingface-cli login\` to write ${creds.tokenPath}`,
    };
  }
  if (!creds.token.startsWith("hf_")) {
    const where = creds.tokenSource === "token-file" ? creds.tokenPath : creds.tokenSource;
    return { ...base, status: "fail", message: `the Hub token from ${where} does not look like a Hugging Face token (it must start with "hf_")` };
  }
  const where = creds.tokenSource === "token-file" ? creds.tokenPath : `$${creds.tokenSource}`;
  return { ...base, status: "pass", message: `token from ${where}, endpoint ${creds.endpoint}` };
}
