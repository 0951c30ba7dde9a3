// Everything a release needs to know about where it goes, resolved once from the config, the
// command line and the environment: the tag, the Hub target and token, the GitHub repository.
// Tokens stay in here; nothing in this object is ever printed whole.
import os from "node:os";
import path from "node:path";
import type { ReleaseConfig } from "../config.js";
import { resolveReleaseTag, tryGit, type ResolvedTag } from "../git/index.js";
import { createGitHubClient, resolveGitHubRepo, type GitHubClient, type GitHubRepo } from "../github/index.js";
import { createRetryFetch, resolveHubCredentials, type HubCredentials } from "../hub/index.js";
import { UserError } from "../report.js";
import { refuseCleartextEndpoint, registerSecret } from "../util/redact.js";

export interface ReleaseSettings {
  config: ReleaseConfig;
  /** The project's git work tree (the config's folder). */
  cwd: string;
  ckptDir: string;
  offline: boolean;
  env: NodeJS.ProcessEnv;
  tag: ResolvedTag | { error: string };
  hub: HubCredentials & {
    repoId: string;
    revision: string;
    remote: string;
    transport: "api" | "git";
    fetch: typeof fetch;
  };
  github: {
    apiUrl: string;
    token?: string;
    repo?: GitHubRepo;
    /** Why the repository is unknown, when it is. */
    repoError?: string;
    client?: GitHubClient;
    retryDelayMs?: number;
  };
  /** Paths (relative to cwd) that may be untracked without making the tree dirty. */
  ignorePaths: string[];
}

async function remoteUrl(cwd: string, remote: string): Promise<string | undefined> {
  const r = await tryGit(cwd, ["remote", "get-url", remote]);
  return r.ok ? r.out.trim() : undefined;
}

export async function resolveSettings(opts: {
  config: ReleaseConfig;
  ckptDir?: string;
  offline?: boolean;
  tag?: string;
  transport?: "api" | "git";
  env?: NodeJS.ProcessEnv;
}): Promise<ReleaseSettings> {
  const { config } = opts;
  const env = opts.env ?? process.env;
  const cwd = config.root;
  const ckptDir = opts.ckptDir ? path.resolve(opts.ckptDir) : config.checkpoint;
  let tag: ReleaseSettings["tag"];
  try {
    tag = await resolveReleaseTag({ cwd, env, ...(opts.tag ? { tag: opts.tag } : {}) });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    tag = { error: e.message };
  }
  const creds = resolveHubCredentials(env, os.homedir());
  // Base delay of the retry backoff (Hub and GitHub): lower it in tests, raise it on a flaky link.
  const retryDelayMs = Number(env.AZBERT_RELEASE_RETRY_DELAY_MS) > 0 ? Number(env.AZBERT_RELEASE_RETRY_DELAY_MS) : undefined;
  const githubToken = env.GITHUB_TOKEN || undefined;
  const apiUrl = (env.GITHUB_API_URL || "https://api.github.com").replace(/\/+$/, "");
  // A token is never printed, and never travels in clear text (refused before any request).
  registerSecret(creds.token);
  registerSecret(githubToken);
  refuseCleartextEndpoint("HF_ENDPOINT", creds.endpoint);
  refuseCleartextEndpoint("GITHUB_API_URL", apiUrl);
  let repo: GitHubRepo | undefined;
  let repoError: string | undefined;
  try {
    // The config names the repository explicitly; else Actions' GITHUB_REPOSITORY, else the origin URL.
    repo = config.github.repository
      ? resolveGitHubRepo({ env: { GITHUB_REPOSITORY: config.github.repository } })
      : resolveGitHubRepo({ env, remoteUrl: await remoteUrl(cwd, config.github.remote) });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    repoError = e.message;
  }
  const rel = (p: string) => path.relative(cwd, p);
  return {
    config,
    cwd,
    ckptDir,
    offline: !!opts.offline,
    env,
    tag,
    hub: {
      ...creds,
      repoId: config.hub.repoId,
      revision: config.hub.revision,
      remote: config.hub.remote,
      transport: opts.transport ?? config.hub.transport,
      fetch: createRetryFetch(retryDelayMs ? { baseDelayMs: retryDelayMs } : {}),
    },
    github: {
      apiUrl,
      ...(githubToken ? { token: githubToken, client: createGitHubClient({ token: githubToken, baseUrl: apiUrl, ...(retryDelayMs ? { retryDelayMs } : {}) }) } : {}),
      ...(retryDelayMs ? { retryDelayMs } : {}),
      ...(repo ? { repo } : {}),
      ...(repoError ? { repoError } : {}),
    },
    ignorePaths: [rel(ckptDir), rel(config.github.outDir)].filter((p) => p && !p.startsWith("..")),
  };
}

export function tagName(s: ReleaseSettings): string {
  if ("error" in s.tag) throw new UserError(s.tag.error, 2);
  return s.tag.tag;
}
