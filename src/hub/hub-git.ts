// Every git and git-lfs invocation of the git transport goes through runHubGit(), with the
// environment hubGitEnv() builds:
// - the Hub token is given only to the Hub's own origin (scheme + host + port), by a credential
//   helper registered for that origin alone, which itself checks the origin it is asked about.
//   git and git-lfs ask it only when that origin answers 401; the LFS storage host, a redirect
//   target or any other host never gets it. The token travels in the environment of the git
//   processes, never in a URL or on a command line (process lists are world-readable);
// - the user's credential helpers are not consulted (they could store the token), and the
//   machine commit and tag in the temporary clone run no hooks and are never signed, whatever
//   the user's global config says (`commit.gpgsign`, `tag.gpgsign`, `core.hooksPath`).
import { Git } from "../git/run.js";
import { HubPublishError, redactHub } from "./errors.js";

/** Environment variables the credential helper reads (set for git's child processes only). */
const TOKEN_VAR = "AZBERT_RELEASE_HUB_TOKEN";
const ORIGIN_VAR = "AZBERT_RELEASE_HUB_ORIGIN";

/**
 * The helper, as git runs it (`sh -c '<this> get'`): answers `get` only when git asks about the
 * Hub origin, with any user name and the token as password (what the Hub expects); ignores
 * `store` and `erase`.
 */
const CREDENTIAL_HELPER = [
  "!f() {",
  'test "$1" = get || exit 0;',
  "p=; h=;",
  'while IFS= read -r l && [ -n "$l" ]; do case "$l" in protocol=*) p=${l#protocol=};; host=*) h=${l#host=};; esac; done;',
  `[ -n "$${TOKEN_VAR}" ] && [ "$p://$h" = "$${ORIGIN_VAR}" ] || exit 0;`,
  `printf 'username=hf_user\\npassword=%s\\n' "$${TOKEN_VAR}";`,
  "}; f",
].join(" ");

/** `https://host[:port]` of the Hub, as git names it to a credential helper (default port omitted). */
export function hubOrigin(endpoint: string): string {
  const u = new URL(endpoint);
  return `${u.protocol}//${u.host}`;
}

/** The repo URL git talks to: the Hub origin plus the repo id, nothing else (no user info). */
export function hubGitUrl(endpoint: string, repoId: string): string {
  const u = new URL(endpoint);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}/${repoId}`;
}

export interface HubGitEnvOptions {
  /** The Hub endpoint: the only origin the token is given to. */
  endpoint: string;
  token?: string;
  /** Default: process.env. */
  base?: NodeJS.ProcessEnv;
}

/** The environment of every git call of the git transport (config through GIT_CONFIG_*, not argv). */
export function hubGitEnv(opts: HubGitEnvOptions): NodeJS.ProcessEnv {
  const base = opts.base ?? process.env;
  const pairs: Array<[string, string]> = [
    ["filter.lfs.process", "git-lfs filter-process"],
    ["filter.lfs.smudge", "git-lfs smudge -- %f"],
    ["filter.lfs.clean", "git-lfs clean -- %f"],
    ["filter.lfs.required", "true"],
    ["lfs.locksverify", "false"],
    ["advice.detachedHead", "false"],
    // A machine commit in a temporary clone: never signed, no hooks.
    ["commit.gpgsign", "false"],
    ["tag.gpgsign", "false"],
    ["tag.forceSignAnnotated", "false"],
    ["push.gpgSign", "false"],
    ["core.hooksPath", "/dev/null"],
    // No helper of the user's is asked or told about the token: the list is reset first.
    ["credential.helper", ""],
  ];
  const env: NodeJS.ProcessEnv = { ...base, GIT_TERMINAL_PROMPT: "0", GCM_INTERACTIVE: "never", GIT_LFS_SKIP_SMUDGE: "1" };
  delete env[TOKEN_VAR];
  delete env[ORIGIN_VAR];
  if (opts.token) {
    const origin = hubOrigin(opts.endpoint);
    pairs.push([`credential.${origin}.helper`, CREDENTIAL_HELPER]);
    env[TOKEN_VAR] = opts.token;
    env[ORIGIN_VAR] = origin;
  }
  const start = Number(base.GIT_CONFIG_COUNT ?? 0) || 0;
  env.GIT_CONFIG_COUNT = String(start + pairs.length);
  pairs.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${start + i}`] = k;
    env[`GIT_CONFIG_VALUE_${start + i}`] = v;
  });
  return env;
}

export interface HubGitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HubGitRunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that are an answer, not a failure (e.g. 128 for "not found"). */
  okCodes?: number[];
  /** Kills a running git (Ctrl-C) and refuses to start another. */
  signal?: AbortSignal;
}

/**
 * Run git through the project's git runner with exactly `opts.env` (nothing of this process's
 * environment that `env` left out); a failure is a HubPublishError naming the command, with
 * every secret removed.
 */
export async function runHubGit(args: string[], opts: HubGitRunOptions): Promise<HubGitResult> {
  const secrets = [opts.env[TOKEN_VAR]].filter((t): t is string => !!t);
  const env: Record<string, string | undefined> = { ...opts.env };
  for (const k of Object.keys(process.env)) if (!(k in opts.env)) env[k] = undefined;
  const git = new Git({ cwd: opts.cwd ?? process.cwd(), env, secrets, ...(opts.signal ? { signal: opts.signal } : {}) });
  let r: HubGitResult;
  try {
    r = await git.exec(args);
  } catch (e) {
    throw new HubPublishError(redactHub(`cannot run git: ${(e as Error).message}`, secrets), undefined, { cause: e });
  }
  const result = { ...r, stderr: redactHub(r.stderr, secrets) };
  if (r.code === 0 || opts.okCodes?.includes(r.code)) return result;
  const what = args.filter((a) => !a.includes("://")).slice(0, 3).join(" ");
  throw new HubPublishError(redactHub(`git ${what} failed: ${lastLines(r.stderr, 6)}`, secrets));
}

/** The last lines of git's stderr, on one line (what a message quotes). */
export function lastLines(text: string, n: number): string {
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .slice(-n)
    .join(" | ");
}
