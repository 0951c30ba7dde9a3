// Where the Hub token and endpoint come from, the way huggingface_hub resolves them.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { HubAuthMode } from "../config.js";
import type { CheckResult } from "../report.js";
import { actionsOidcFromEnv, type ActionsOidc } from "./oidc.js";

export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

export type TokenSource = "HF_TOKEN" | "HUGGING_FACE_HUB_TOKEN" | "token-file" | "oidc";

export interface HubCredentials {
  endpoint: string;
  token?: string;
  tokenSource?: TokenSource;
  /** The token file that was (or would be) read. */
  tokenPath: string;
  /** Trusted Publishing: the repo the token is exchanged for (`ns/name`). */
  oidcResource?: string;
  /** Why Trusted Publishing gave no token (the job has no OIDC token, the Hub refused it): what to fix. */
  tokenError?: string;
}

/** How this run gets its Hub token: the configured one, Trusted Publishing, none, or an error saying what to add. */
export type HubAuthChoice = { kind: "token" } | { kind: "oidc"; oidc: ActionsOidc } | { kind: "none" } | { kind: "error"; message: string };

/**
 * `hub.auth`: `token` uses the configured token only; `oidc` always exchanges the job's OIDC token
 * (an error without one); `auto` prefers a configured token, then Trusted Publishing when the job
 * has an OIDC token (GitHub Actions with `id-token: write`).
 */
export function chooseHubAuth(mode: HubAuthMode, creds: Pick<HubCredentials, "token">, env: Readonly<Record<string, string | undefined>>): HubAuthChoice {
  const oidc = actionsOidcFromEnv(env);
  if (mode === "token") return creds.token ? { kind: "token" } : { kind: "none" };
  if (mode === "oidc") {
    return oidc
      ? { kind: "oidc", oidc }
      : {
          kind: "error",
          message:
            'hub.auth is "oidc" but this job has no OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are unset): give the release job `permissions: id-token: write` in its GitHub Actions workflow, or set hub.auth to "auto" to use HF_TOKEN',
        };
  }
  if (creds.token) return { kind: "token" };
  return oidc ? { kind: "oidc", oidc } : { kind: "none" };
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
  if (creds.tokenSource === "oidc") {
    const what = `Trusted Publishing (OIDC) for ${creds.oidcResource ?? "the Hub repo"}`;
    if (creds.tokenError) return { ...base, status: "fail", message: creds.tokenError };
    if (!creds.token) return { ...base, status: "skip", message: `${what}: offline, the job's OIDC token was not exchanged` };
    return { ...base, status: "pass", message: `${what}: the Hub exchanged this job's OIDC token for a token of that repo, endpoint ${creds.endpoint}` };
  }
  if (!creds.token) {
    return {
      ...base,
      status: "skip",
      message: `no Hub token: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), or run \`huggingface-cli login\` to write ${creds.tokenPath}; in GitHub Actions, Trusted Publishing needs no token (\`permissions: id-token: write\`)`,
    };
  }
  if (!creds.token.startsWith("hf_")) {
    const where = creds.tokenSource === "token-file" ? creds.tokenPath : creds.tokenSource;
    return { ...base, status: "fail", message: `the Hub token from ${where} does not look like a Hugging Face token (it must start with "hf_")` };
  }
  const where = creds.tokenSource === "token-file" ? creds.tokenPath : `$${creds.tokenSource}`;
  return { ...base, status: "pass", message: `token from ${where}, endpoint ${creds.endpoint}` };
}
