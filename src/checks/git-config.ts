// Git and git-lfs configuration carried inside the checkpoint. The release writes the Hub repo's
// .gitattributes itself and publishes through git and git-lfs (the git transport clones, adds and
// pushes): a .lfsconfig (lfs.url) would send the LFS objects to another server, a .gitmodules
// names other repositories to fetch, and a filter, diff or merge driver other than lfs runs
// whatever program the machine's git config names for it.
import path from "node:path";
import type { LoadedCheckpoint } from "../checkpoint/load.js";
import type { CheckResult } from "../report.js";
import { fail, pass } from "./helpers.js";

/** Files that configure git or git-lfs wherever they sit in the checkpoint (they flatten to the repo root). */
const GIT_CONFIG_FILES = [".lfsconfig", ".gitmodules"] as const;

/** Attributes whose value names a driver git runs; `lfs` is the only one the Hub uses. */
const DRIVER_ATTRIBUTES = ["filter", "diff", "merge"] as const;

export interface AttributeProblem {
  line: number;
  text: string;
  attribute: string;
  value: string;
}

/**
 * Driver attributes of a .gitattributes that name anything but lfs, as git's attr.c reads the
 * file: a line is a pattern (or an `[attr]name` macro definition) and whitespace-separated
 * attributes (`name`, `-name`, `!name`, `name=value`); blank lines and `#` comments are skipped;
 * a pattern in double quotes may hold spaces.
 */
export function foreignDrivers(text: string): AttributeProblem[] {
  const problems: AttributeProblem[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "").trimStart();
    if (!line || line.startsWith("#")) return;
    const quoted = line.startsWith('"') ? /^"(?:[^"\\]|\\.)*"/.exec(line) : null;
    const rest = quoted ? line.slice(quoted[0].length) : line.replace(/^\S+/, "");
    for (const attr of rest.split(/[ \t]+/).filter(Boolean)) {
      const eq = attr.indexOf("=");
      if (eq < 0) continue;
      const name = attr.slice(0, eq);
      const value = attr.slice(eq + 1);
      if ((DRIVER_ATTRIBUTES as readonly string[]).includes(name) && value !== "lfs") problems.push({ line: i + 1, text: line, attribute: name, value });
    }
  });
  return problems;
}

export function checkGitConfig(ckpt: LoadedCheckpoint): CheckResult {
  const id = "files.git-config";
  const title = "no git or git-lfs configuration in the checkpoint";
  const where = (repoPath: string) => {
    const f = ckpt.files.find((x) => x.repoPath === repoPath);
    return f ? path.relative(ckpt.root, f.source) || repoPath : repoPath;
  };
  const remove = "remove it: the release writes the Hub repo's .gitattributes itself";
  const problems: string[] = [];
  for (const name of GIT_CONFIG_FILES) {
    if (!ckpt.files.some((f) => f.repoPath === name)) continue;
    const what = name === ".lfsconfig" ? "sets where git-lfs uploads and downloads the weights (lfs.url)" : "names other repositories for git to fetch";
    problems.push(`${where(name)}: git configuration that ${what}; ${remove}`);
  }
  const attributes = ckpt.gitAttributes;
  if (attributes?.error) problems.push(`${where(".gitattributes")} ${attributes.error}`);
  for (const p of foreignDrivers(attributes?.text ?? "")) {
    problems.push(`${where(".gitattributes")}: line ${p.line} (${p.text}) sets ${p.attribute}=${p.value}, a driver git would run instead of lfs; ${remove}`);
  }
  return problems.length ? fail(id, title, problems) : pass(id, title);
}
