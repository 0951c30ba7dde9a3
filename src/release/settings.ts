// Everything a command needs to know about where it works and where it publishes, resolved
// ONCE from the config file, the command line and the environment, then frozen: the tag, the
// checkpoint, the Hub target and token, the GitHub repository, the stages of a release. Every
// part of the program reads this one object; nothing copies fields out of it into another.
// Tokens stay in here; nothing in this object is ever printed whole.
import os from "node:os";
import path from "node:path";
import { checkpointDir, type HubAuthMode, type ReleaseConfig, type SafetensorsMode } from "../config.js";
import { gitAt, redactGitText, resolveReleaseTag, type ResolvedTag } from "../git/index.js";
import { resolveGitHubRepo, type GitHubRepo } from "../github/repo.js";
import { chooseHubAuth, resolveHubCredentials, type HubCredentials } from "../hub/credentials.js";
import { openTrustedPublishing, oidcResource, type TrustedPublishingSession } from "../hub/oidc.js";
import { createRetryFetch } from "../hub/retry-fetch.js";
import { UsageError, UserError } from "../report.js";
import { refuseCleartextEndpoint, registerSecret } from "../util/redact.js";
import { bindCredential } from "../util/credential-scope.js";

export type Stage = "check" | "smoke" | "pack" | "hub" | "github";
export const ALL_STAGES: readonly Stage[] = ["check", "smoke", "pack", "hub", "github"];

/** What the command line may override; each is applied once, here. */
export interface SettingsOverrides {
  ckpt?: string;
  offline?: boolean;
  tag?: string;
  transport?: "api" | "git";
  prune?: boolean;
  createPr?: boolean;
  force?: boolean;
  /** `--only`: comma list of stages. */
  only?: string;
  dryRun?: boolean;
  yes?: boolean;
}

export interface CheckpointSettings {
  readonly dir: string;
  /** A model card kept outside the checkpoint folder. */
  readonly modelCard: string | null;
}

export interface HubSettings extends Readonly<HubCredentials> {
  readonly auth: HubAuthMode;
  /** Trusted Publishing: `token` is the first exchanged token, and this renews it (remotes.ts wraps the Hub fetch with it). */
  readonly trustedPublishing?: TrustedPublishingSession;
  readonly repoId: string;
  readonly revision: string;
  readonly remote: string;
  readonly transport: "api" | "git";
  readonly private: boolean;
  readonly useXet: boolean;
  readonly createPr: boolean;
  readonly prune: boolean;
  /** git transport: force-push over the Hub branch. */
  readonly force: boolean;
  /** Base delay of the retry backoff, when the environment sets one. */
  readonly retryDelayMs?: number;
}

export interface GitHubSettings {
  readonly remote: string;
  readonly branch: string;
  readonly apiUrl: string;
  /** The git remote's URL, credentials removed (undefined when there is no such remote). */
  readonly remoteUrl?: string;
  readonly token?: string;
  readonly repository?: Readonly<GitHubRepo>;
  /** Why the repository is unknown, when it is. */
  readonly repositoryError?: string;
  readonly archive: string;
  readonly outDir: string;
  readonly retryDelayMs?: number;
  /** Running in GitHub Actions, where release.yml attests the archive, SHA256SUMS and manifest.json after the release. */
  readonly attested: boolean;
}

export interface ReleaseSettings {
  /** The project's git work tree: the config file's folder. */
  readonly cwd: string;
  readonly configFile: string | null;
  readonly checkpoint: CheckpointSettings;
  readonly offline: boolean;
  readonly tag: Readonly<ResolvedTag> | { readonly error: string };
  readonly hub: HubSettings;
  readonly github: GitHubSettings;
  /** What is published of the weights: model.safetensors added beside pytorch_model.bin, only safetensors, or as it is. */
  readonly weights: { readonly safetensors: SafetensorsMode };
  readonly signing: Readonly<ReleaseConfig["signing"]>;
  readonly smoke: Readonly<ReleaseConfig["smoke"]>;
  /** Paths (relative to cwd) that may be untracked without making the tree dirty. */
  readonly ignorePaths: readonly string[];
  /** What the `release` command was asked to do. */
  readonly release: {
    readonly stages: ReadonlySet<Stage>;
    readonly dryRun: boolean;
    /** Ask once after the plan (not with --yes, --dry-run or in CI). */
    readonly confirm: boolean;
  };
}

export function isCi(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return !!env.CI && env.CI !== "false" && env.CI !== "0";
}

export function parseStages(only: string | undefined): ReadonlySet<Stage> {
  if (!only) return new Set(ALL_STAGES);
  const wanted = only.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = wanted.filter((s) => !(ALL_STAGES as readonly string[]).includes(s));
  if (bad.length || !wanted.length) throw new UsageError(`--only takes a comma list of ${ALL_STAGES.join(",")}; got "${only}"`);
  return new Set(["check", ...wanted] as Stage[]);
}

export async function resolveSettings(opts: {
  config: ReleaseConfig;
  overrides?: SettingsOverrides;
  env?: Readonly<Record<string, string | undefined>>;
}): Promise<ReleaseSettings> {
  const { config } = opts;
  const o = opts.overrides ?? {};
  const env = opts.env ?? process.env;
  const cwd = config.root;
  const dryRun = !!o.dryRun;
  const stages = parseStages(o.only);
  const ckptDir = checkpointDir(config, o.ckpt);
  let tag: ReleaseSettings["tag"];
  try {
    tag = await resolveReleaseTag({ cwd, env, configVersion: config.version, ...(o.tag ? { tag: o.tag } : {}) });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    tag = { error: e.message };
  }
  // Base delay of the retry backoff (Hub and GitHub): lower it in tests, raise it on a flaky link.
  const retryDelayMs = Number(env.AZBERT_RELEASE_RETRY_DELAY_MS) > 0 ? Number(env.AZBERT_RELEASE_RETRY_DELAY_MS) : undefined;
  const githubToken = env.GITHUB_TOKEN || undefined;
  const creds = resolveHubCredentials(env, os.homedir());
  const apiUrl = (env.GITHUB_API_URL || "https://api.github.com").replace(/\/+$/, "");
  // A token is never printed, and never travels in clear text (refused before any request).
  registerSecret(creds.token);
  registerSecret(githubToken);
  refuseCleartextEndpoint("HF_ENDPOINT", creds.endpoint);
  refuseCleartextEndpoint("GITHUB_API_URL", apiUrl);
  // The Hub token goes to the Hub's origin only, wherever a server's answer points.
  bindCredential(creds.token, [creds.endpoint]);
  const hubAuth = await hubCredentialsFor(config, creds, env, { offline: !!o.offline, ...(retryDelayMs ? { retryDelayMs } : {}) });
  const githubRemoteUrl = await remoteUrl(cwd, config.github.remote);
  let repository: GitHubRepo | undefined;
  let repositoryError: string | undefined;
  try {
    // The config names the repository explicitly; else Actions' GITHUB_REPOSITORY, else the origin URL.
    repository = config.github.repository
      ? resolveGitHubRepo({ env: { GITHUB_REPOSITORY: config.github.repository } })
      : resolveGitHubRepo({ env, remoteUrl: githubRemoteUrl });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    repositoryError = e.message;
  }
  const rel = (p: string) => path.relative(cwd, p);
  const settings: ReleaseSettings = {
    cwd,
    configFile: config.configFile,
    checkpoint: { dir: ckptDir, modelCard: config.modelCard },
    offline: !!o.offline,
    tag,
    hub: {
      ...hubAuth.creds,
      auth: config.hub.auth,
      ...(hubAuth.session ? { trustedPublishing: hubAuth.session } : {}),
      repoId: config.hub.repoId,
      revision: config.hub.revision,
      remote: config.hub.remote,
      transport: o.transport ?? config.hub.transport,
      private: config.hub.private,
      useXet: config.hub.useXet,
      createPr: !!o.createPr || config.hub.createPr,
      prune: !!o.prune || config.hub.prune,
      force: !!o.force,
      ...(retryDelayMs ? { retryDelayMs } : {}),
    },
    github: {
      remote: config.github.remote,
      branch: config.github.branch,
      apiUrl,
      ...(githubRemoteUrl ? { remoteUrl: redactGitText(githubRemoteUrl) } : {}),
      ...(githubToken ? { token: githubToken } : {}),
      ...(repository ? { repository } : {}),
      ...(repositoryError ? { repositoryError } : {}),
      archive: config.github.archive,
      outDir: config.github.outDir,
      ...(retryDelayMs ? { retryDelayMs } : {}),
      attested: env.GITHUB_ACTIONS === "true",
    },
    weights: { ...config.weights },
    signing: { ...config.signing },
    smoke: { ...config.smoke },
    ignorePaths: [rel(ckptDir), rel(config.github.outDir)].filter((p) => p && !p.startsWith("..")),
    // Only a run that publishes asks first: `--only check,smoke,pack` changes nothing remote.
    release: { stages, dryRun, confirm: (stages.has("hub") || stages.has("github")) && !dryRun && !o.yes && !isCi(env) },
  };
  return deepFreeze(settings);
}

/**
 * The Hub credentials of this run (hub.auth): the configured token, or Trusted Publishing's
 * exchanged one (when online) with the session that renews it. A refused exchange is not thrown:
 * it is the hub.token check's failure, before anything is uploaded.
 */
async function hubCredentialsFor(
  config: ReleaseConfig,
  creds: HubCredentials,
  env: Readonly<Record<string, string | undefined>>,
  o: { offline: boolean; retryDelayMs?: number },
): Promise<{ creds: HubCredentials; session?: TrustedPublishingSession }> {
  const choice = chooseHubAuth(config.hub.auth, creds, env);
  if (choice.kind === "token" || choice.kind === "none") return { creds };
  const oidc: HubCredentials = { endpoint: creds.endpoint, tokenPath: creds.tokenPath, tokenSource: "oidc", oidcResource: oidcResource(config.hub.repoId) };
  if (choice.kind === "error") return { creds: { ...oidc, tokenError: choice.message } };
  if (o.offline) return { creds: oidc };
  try {
    const fetch = createRetryFetch(o.retryDelayMs ? { baseDelayMs: o.retryDelayMs } : {});
    const { token, session } = await openTrustedPublishing({ oidc: choice.oidc, endpoint: creds.endpoint, repoId: config.hub.repoId, fetch });
    return { creds: { ...oidc, token }, session };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { creds: { ...oidc, tokenError: e.message } };
  }
}

async function remoteUrl(cwd: string, remote: string): Promise<string | undefined> {
  const r = await gitAt(cwd).try(["remote", "get-url", remote]);
  return r.ok ? r.out.trim() : undefined;
}

/** The release tag as a step's title shows it (a command that never releases may have none). */
export function tagLabel(s: Pick<ReleaseSettings, "tag">): string {
  return "error" in s.tag ? "(no release tag)" : s.tag.tag;
}

/** The release tag; a settings object without one cannot release (exit 2, with the reason). */
export function tagName(s: Pick<ReleaseSettings, "tag">): string {
  if ("error" in s.tag) throw new UsageError(s.tag.error);
  return s.tag.tag;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (!(value instanceof Set)) for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
