// `azbert-release init`: adopt the toolkit in a model repository. It finds the checkpoint folder
// (flat or nested: the smallest folder holding the config, the weights and the tokenizer), guesses
// the Hub repo (the `hgf` remote, else a huggingface.co link in the model card), and writes
// release.config.json, .github/workflows/release.yml and the .gitignore lines the release needs.
// It never overwrites a file unless asked (`--force`), and says what it did and what is next.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseModelCard } from "../checkpoint/model-card.js";
import { gitAt } from "../git/run.js";
import { parseGitHubRemoteUrl } from "../github/repo.js";
import { UsageError } from "../report.js";
import { releaseWorkflow } from "./workflow.js";

/** Folders never searched for a checkpoint. */
const SKIP = new Set([".git", "node_modules", "out", ".github", ".venv", "venv", "__pycache__", "dist"]);
const WEIGHTS = /^(pytorch_model(-\d+-of-\d+)?\.bin|model(-\d+-of-\d+)?\.safetensors|(pytorch_model\.bin|model\.safetensors)\.index\.json)$/;
const TOKENIZER = /^(vocab\.txt|tokenizer\.json)$/;
// A repo name ends with a letter, digit, `_` or `-`: a sentence's full stop after the link is not part of it.
const HUB_LINK = /https?:\/\/(?:www\.)?(?:huggingface\.co|hf\.co)\/(?!datasets\/|spaces\/|docs\/|models\/?|blog\/)([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9](?:[\w.-]*[\w-])?)/;

async function walk(dir: string, depth: number, out: Map<string, string[]>): Promise<void> {
  if (depth < 0) return;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith(".")) await walk(path.join(dir, e.name), depth - 1, out);
    else if (e.isFile()) {
      const list = out.get(e.name) ?? [];
      list.push(dir);
      out.set(e.name, list);
    }
  }
}

function commonAncestor(dirs: readonly string[]): string {
  const parts = dirs.map((d) => d.split(path.sep));
  const first = parts[0]!;
  let n = 0;
  while (n < first.length && parts.every((p) => p[n] === first[n])) n++;
  return first.slice(0, n).join(path.sep) || path.sep;
}

/** The checkpoint folder under `root`: the smallest folder holding config.json, the weights and the tokenizer, nested or flat. */
export async function findCheckpointFolder(root: string): Promise<string | undefined> {
  const found = new Map<string, string[]>();
  await walk(root, 5, found);
  const configs = found.get("config.json") ?? [];
  const weights = [...found].filter(([name]) => WEIGHTS.test(name)).flatMap(([, dirs]) => dirs);
  const tokenizers = [...found].filter(([name]) => TOKENIZER.test(name)).flatMap(([, dirs]) => dirs);
  // The config that sits with weights; then the tokenizer closest to it.
  const config = configs.find((c) => weights.includes(c)) ?? configs[0];
  if (!config || !weights.length) return undefined;
  const weight = weights.find((w) => w === config) ?? weights[0]!;
  const near = (dirs: string[]) => [...dirs].sort((a, b) => commonAncestor([config, b]).length - commonAncestor([config, a]).length)[0];
  const tokenizer = near(tokenizers);
  return commonAncestor([config, weight, ...(tokenizer ? [tokenizer] : [])]);
}

export interface HubRepoGuess {
  repoId: string;
  /** Where it came from, as the summary says it. */
  source: string;
}

/** The Hub repo: the `hgf` remote's, else the first huggingface.co/<ns>/<name> link of a model card. */
export async function guessHubRepo(root: string, cards: readonly string[], remote = "hgf"): Promise<HubRepoGuess | undefined> {
  const url = await gitAt(root).try(["remote", "get-url", remote]);
  if (url.ok) {
    const m = /(?:huggingface\.co|hf\.co)[/:]([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*?)(?:\.git)?\/?$/.exec(url.out.trim());
    if (m) return { repoId: `${m[1]}/${m[2]}`, source: `the git remote ${remote}` };
  }
  for (const card of cards) {
    const text = await readFile(card, "utf8").catch(() => "");
    const m = HUB_LINK.exec(text);
    if (m) return { repoId: `${m[1]}/${m[2]}`, source: `a link in ${path.relative(root, card)}` };
  }
  return undefined;
}

/** A README.md whose front matter is a model card's (license, pipeline_tag or widget). */
export async function isModelCard(file: string): Promise<boolean> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return false;
  const fm = parseModelCard(text).frontMatter;
  return !!fm && ("license" in fm || "pipeline_tag" in fm || "widget" in fm);
}

/** owner/name of the GitHub `origin`, when it is one. */
async function githubRepository(root: string): Promise<string | undefined> {
  const url = await gitAt(root).try(["remote", "get-url", "origin"]);
  const repo = url.ok ? parseGitHubRemoteUrl(url.out.trim()) : undefined;
  return repo ? `${repo.owner}/${repo.repo}` : undefined;
}

export interface InitOptions {
  root: string;
  /** The toolkit version the workflow pins. */
  version: string;
  ckpt?: string;
  hubRepo?: string;
  force?: boolean;
  /** Asks for what cannot be found (an interactive terminal); absent: a usage error says what to pass. */
  ask?: (question: string) => Promise<string>;
}

export interface InitResult {
  written: string[];
  /** Files that exist and were left alone (without --force). */
  kept: string[];
  checkpoint: string;
  hubRepo: HubRepoGuess;
  /** The model card the release will use. */
  card?: string;
  nextSteps: string[];
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export async function initProject(o: InitOptions): Promise<InitResult> {
  const root = path.resolve(o.root);
  const rel = (p: string) => path.relative(root, p).split(path.sep).join("/") || ".";
  const ckptDir = o.ckpt ? path.resolve(root, o.ckpt) : await findCheckpointFolder(root);
  if (!ckptDir || !existsSync(ckptDir)) {
    throw new UsageError(`no checkpoint folder found under ${root} (a folder holding config.json and the weights): pass --ckpt DIR`);
  }
  const cards = [path.join(ckptDir, "README.md"), path.join(root, "README.md")].filter((f) => existsSync(f));
  let hub: HubRepoGuess | undefined = o.hubRepo ? { repoId: o.hubRepo, source: "--hub-repo" } : await guessHubRepo(root, cards);
  if (!hub && o.ask) {
    const answer = (await o.ask("Hugging Face Hub repo to publish to (namespace/name): ")).trim();
    if (answer) hub = { repoId: answer, source: "your answer" };
  }
  if (!hub) throw new UsageError("cannot tell which Hub repo to publish to (no hgf remote, no huggingface.co link in the model card): pass --hub-repo namespace/name");
  if (!REPO_ID.test(hub.repoId)) throw new UsageError(`${hub.repoId} is not a Hub repo id (namespace/name)`);

  const card = (await isModelCard(path.join(ckptDir, "README.md")))
    ? path.join(ckptDir, "README.md")
    : (await isModelCard(path.join(root, "README.md")))
      ? path.join(root, "README.md")
      : undefined;
  const outDir = "out";
  const config = {
    checkpoint: rel(ckptDir),
    hub: { repoId: hub.repoId },
    github: { outDir },
  };
  const written: string[] = [];
  const kept: string[] = [];
  const put = async (file: string, text: string) => {
    const full = path.join(root, file);
    if (existsSync(full) && !o.force) return void kept.push(file);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, text);
    written.push(file);
  };
  await put("release.config.json", `${JSON.stringify(config, null, 2)}\n`);
  const repository = await githubRepository(root);
  await put(path.join(".github", "workflows", "release.yml"), releaseWorkflow({ version: o.version, outDir, archive: "ckpt.tar.gz", ...(repository ? { repository } : {}) }));
  // .gitignore: lines added, never replaced.
  const ignoreFile = path.join(root, ".gitignore");
  const current = existsSync(ignoreFile) ? await readFile(ignoreFile, "utf8") : "";
  const want = [`/${outDir}/`];
  const missing = want.filter((l) => !current.split(/\r?\n/).some((x) => x.trim() === l || x.trim() === l.replace(/^\//, "")));
  if (missing.length) {
    await writeFile(ignoreFile, `${current}${current && !current.endsWith("\n") ? "\n" : ""}# azbert-release: what a release writes locally\n${missing.join("\n")}\n`);
    written.push(".gitignore");
  }
  const nextSteps = [
    "npx azbert-release check            # the checklist, as the release runs it",
    "npx azbert-release smoke            # fill-mask on the model card's widget examples",
    "npx azbert-release release --dry-run --tag v1.0.0",
    `On the Hub (${hub.repoId} → Settings → Trusted Publishers), add: provider GitHub Actions, repository ${repository ?? "<owner>/<name> of this GitHub repository"}, workflow release.yml, ref refs/tags/v* (the tags you release from). The workflow then needs no HF_TOKEN secret (a Hub token as HF_TOKEN stays the fallback).`,
    "Release from Actions: commit these files, then `git tag v1.0.0 && git push origin v1.0.0`. Or locally: `npx azbert-release release --tag v1.0.0` (the workflow then finds it released and changes nothing).",
  ];
  return { written, kept, checkpoint: rel(ckptDir), hubRepo: hub, ...(card ? { card: rel(card) } : {}), nextSteps };
}
