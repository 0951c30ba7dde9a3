// What a release has already done, kept under .git/ (never in the work tree) so that a rerun
// of the same version skips finished remote steps instead of repeating them. Each write
// replaces the file atomically (write + rename): an interrupted run leaves either the old or
// the new journal, never half of one.
import { execFile } from "node:child_process";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { redact } from "../util/redact.js";

const run = promisify(execFile);

export type StepId = "hub" | "hub-tag" | "git-push" | "github-release" | "verify";

export interface JournalEntry {
  id: StepId;
  at: string;
  /** What the step produced: commit id, tag, release id, URLs. */
  result: Record<string, unknown>;
}

interface JournalFile {
  tag: string;
  /** The manifest the release was made of: a rerun with other bytes is a new release, not a resume. */
  manifestDigest: string;
  steps: JournalEntry[];
}

export class Journal {
  private constructor(
    readonly file: string,
    private data: JournalFile,
  ) {}

  static async gitDir(cwd: string): Promise<string> {
    const { stdout } = await run("git", ["rev-parse", "--absolute-git-dir"], { cwd });
    return stdout.trim();
  }

  static fileFor(gitDir: string, tag: string): string {
    return path.join(gitDir, "azbert-release", `journal-${tag.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
  }

  /** Opens the journal of `tag`; one recorded for other checkpoint bytes is set aside, not resumed. */
  static async open(gitDir: string, tag: string, manifestDigest: string): Promise<Journal> {
    const file = Journal.fileFor(gitDir, tag);
    let data: JournalFile = { tag, manifestDigest, steps: [] };
    try {
      const prev = JSON.parse(await readFile(file, "utf8")) as JournalFile;
      if (prev.tag === tag && prev.manifestDigest === manifestDigest) data = prev;
    } catch {
      // No journal yet (or unreadable): a fresh release.
    }
    return new Journal(file, data);
  }

  get steps(): readonly JournalEntry[] {
    return this.data.steps;
  }

  get(id: StepId): JournalEntry | undefined {
    return this.data.steps.find((s) => s.id === id);
  }

  /** Forget a step whose recorded result no longer holds on the remote. */
  async forget(id: StepId): Promise<void> {
    this.data.steps = this.data.steps.filter((s) => s.id !== id);
    await this.save();
  }

  async record(id: StepId, result: Record<string, unknown>): Promise<void> {
    this.data.steps = [...this.data.steps.filter((s) => s.id !== id), { id, at: new Date().toISOString(), result }];
    await this.save();
  }

  private async save(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, redact(`${JSON.stringify(this.data, null, 2)}\n`));
    await rename(tmp, this.file);
  }
}
