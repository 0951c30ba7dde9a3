// release.config.json: read once, validated against schemas/release-config.schema.json (unknown
// keys are an error, exit 2), defaults filled in, paths resolved against the config's folder.
import { existsSync, readdirSync, readFileSync, type Dirent } from "node:fs";
import { parseModelCard } from "./checkpoint/model-card.js";
import path from "node:path";
import { UserError } from "./report.js";
import { validateAgainst } from "./util/schemas.js";

export interface ReleaseConfig {
  /** Folder of the config file: every relative path is resolved against it. */
  root: string;
  configFile: string | null;
  checkpoint: string;
  /** The version released, for a repository without package.json. */
  version: string | null;
  /** The card published as README.md when the checkpoint has none of its own (see modelCardFor). */
  modelCard: string | null;
  hub: {
    repoId: string;
    remote: string;
    revision: string;
    private: boolean;
    /** Where the Hub token comes from: a configured one, Trusted Publishing (OIDC), or whichever the run has (auto). */
    auth: HubAuthMode;
    transport: "api" | "git";
    useXet: boolean;
    createPr: boolean;
    prune: boolean;
  };
  github: { remote: string; branch: string; repository: string | null; archive: string; outDir: string };
  /** `safetensors`: add model.safetensors beside pytorch_model.bin (default), publish it `only`, or `off`. */
  weights: { safetensors: SafetensorsMode };
  /** model.sig: how the published files are signed (paths resolved). */
  signing: {
    method: "auto" | "key" | "keyless" | "off";
    key: string | null;
    publicKey: string | null;
    identity: string | null;
    issuer: string | null;
    trustedRoot: string | null;
    fulcioUrl: string | null;
    rekorUrl: string | null;
  };
  smoke: {
    device: "auto" | "cpu" | "cuda";
    topK: number;
    python: string;
    cases: string | null;
    expectations: string | null;
    gpuRunnerLabel: string | null;
  };
}

export type SafetensorsMode = "add" | "only" | "off";
export type HubAuthMode = "auto" | "token" | "oidc";

type RawConfig = {
  checkpoint?: string;
  version?: string;
  modelCard?: string;
  hub?: Partial<ReleaseConfig["hub"]>;
  github?: Partial<Omit<ReleaseConfig["github"], "repository">> & { repository?: string };
  weights?: Partial<ReleaseConfig["weights"]>;
  signing?: Partial<Record<keyof ReleaseConfig["signing"], string>>;
  smoke?: Partial<ReleaseConfig["smoke"]>;
};

export const DEFAULT_CONFIG_FILE = "release.config.json";

export function loadConfig(opts: { configFile?: string; cwd?: string } = {}): ReleaseConfig {
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.configFile !== undefined;
  const file = path.resolve(cwd, opts.configFile ?? DEFAULT_CONFIG_FILE);
  let raw: RawConfig = {};
  let configFile: string | null = null;
  if (existsSync(file)) {
    configFile = file;
    const label = path.relative(cwd, file) || file;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new UserError(`${label}: not valid JSON (${(e as Error).message})`, 2);
    }
    const problems = validateAgainst("release-config.schema.json", parsed, label);
    if (problems.length) throw new UserError(problems.join("\n"), 2);
    raw = parsed as RawConfig;
  } else if (explicit) {
    throw new UserError(`${opts.configFile}: config file not found`, 2);
  }
  const root = configFile ? path.dirname(configFile) : cwd;
  const rel = (p: string | undefined | null) => (p ? path.resolve(root, p) : null);
  const label = configFile ? path.relative(cwd, configFile) || configFile : DEFAULT_CONFIG_FILE;
  for (const [key, value] of [
    ["modelCard", raw.modelCard],
    ["smoke.cases", raw.smoke?.cases],
    ["smoke.expectations", raw.smoke?.expectations],
    ["signing.key", raw.signing?.key],
    ["signing.publicKey", raw.signing?.publicKey],
    ["signing.trustedRoot", raw.signing?.trustedRoot],
  ] as const) {
    if (value && !existsSync(path.resolve(root, value))) throw new UserError(`${label}: ${key} names ${value}, which does not exist`, 2);
  }
  return {
    root,
    configFile,
    checkpoint: path.resolve(root, raw.checkpoint ?? "ckpt"),
    version: raw.version ?? null,
    modelCard: rel(raw.modelCard) ?? repositoryCard(root, path.resolve(root, raw.checkpoint ?? "ckpt")),
    hub: {
      repoId: raw.hub?.repoId ?? "castorini/azbert-base",
      remote: raw.hub?.remote ?? "hgf",
      revision: raw.hub?.revision ?? "main",
      private: raw.hub?.private ?? false,
      auth: raw.hub?.auth ?? "auto",
      transport: raw.hub?.transport ?? "api",
      useXet: raw.hub?.useXet ?? false,
      createPr: raw.hub?.createPr ?? false,
      prune: raw.hub?.prune ?? false,
    },
    github: {
      remote: raw.github?.remote ?? "origin",
      branch: raw.github?.branch ?? "main",
      repository: raw.github?.repository ?? null,
      archive: raw.github?.archive ?? "ckpt.tar.gz",
      outDir: path.resolve(root, raw.github?.outDir ?? "out"),
    },
    weights: { safetensors: raw.weights?.safetensors ?? "add" },
    signing: {
      method: (raw.signing?.method as ReleaseConfig["signing"]["method"] | undefined) ?? "auto",
      key: rel(raw.signing?.key),
      publicKey: rel(raw.signing?.publicKey),
      identity: raw.signing?.identity ?? null,
      issuer: raw.signing?.issuer ?? null,
      trustedRoot: rel(raw.signing?.trustedRoot),
      fulcioUrl: raw.signing?.fulcioUrl ?? null,
      rekorUrl: raw.signing?.rekorUrl ?? null,
    },
    smoke: {
      device: raw.smoke?.device ?? "auto",
      topK: raw.smoke?.topK ?? 5,
      python: raw.smoke?.python ?? "python3",
      cases: rel(raw.smoke?.cases),
      expectations: rel(raw.smoke?.expectations),
      gpuRunnerLabel: raw.smoke?.gpuRunnerLabel ?? null,
    },
  };
}

/**
 * The card of a model repository whose README.md is the model card (azbert's: hosted on GitHub,
 * mirrored to the Hub), when the checkpoint has no README.md of its own: used as if `modelCard`
 * named it. A README.md without a card's front matter (license, pipeline_tag, widget) is not one.
 */
function repositoryCard(root: string, checkpoint: string): string | null {
  const readme = path.join(root, "README.md");
  if (!existsSync(readme) || hasReadme(checkpoint, 4)) return null;
  let text: string;
  try {
    text = readFileSync(readme, "utf8");
  } catch {
    return null;
  }
  const fm = parseModelCard(text).frontMatter;
  return fm && ("license" in fm || "pipeline_tag" in fm || "widget" in fm) ? readme : null;
}

/** A README.md anywhere in the checkpoint (a nested layout flattens it to the repo's README.md). */
function hasReadme(dir: string, depth: number): boolean {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((e) => (e.isFile() && e.name === "README.md") || (depth > 0 && e.isDirectory() && !e.name.startsWith(".") && hasReadme(path.join(dir, e.name), depth - 1)));
}

/** The checkpoint folder a command works on: `--ckpt` (relative to the current folder), else the config's. */
export function checkpointDir(config: Pick<ReleaseConfig, "checkpoint">, ckpt?: string): string {
  return ckpt ? path.resolve(ckpt) : config.checkpoint;
}
