// What a release has already done, kept under .git/ (never in the work tree) so that a rerun
// of the same version skips finished remote steps instead of repeating them. Every entry is
// keyed by the step AND its destination's address (Hub endpoint, repo, revision, transport; the
// git remote and branch; the GitHub repository): a release of v1.2.0 to one repo says nothing
// about another. Each write replaces the file atomically (write + rename): an interrupted run
// leaves either the old or the new journal, never half of one.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Manifest } from "../checkpoint/types.js";
import { gitAt } from "../git/index.js";
import { UserError } from "../report.js";
import { redact } from "../util/redact.js";
import { addressKey, type Address } from "./address.js";
import type { StepId, StepOutcome, StepReportOf, StepResults } from "./report.js";

/** The journal cannot be opened or written: the message says where and why. */
export class JournalError extends UserError {}

export interface JournalEntry<K extends StepId = StepId> {
  step: K;
  destination: Address;
  at: string;
  result: StepResults[K];
}

interface JournalFile {
  version: 3;
  tag: string;
  /** The manifest the release was made of: a rerun with other bytes is a new release, not a resume. */
  manifestDigest: string;
  entries: JournalEntry[];
}

/** The digest of what is published: paths, sizes and sha256 of every file. */
export function manifestDigest(m: Manifest): string {
  return createHash("sha256").update(JSON.stringify(m.map(({ path: p, size, sha256 }) => [p, size, sha256]))).digest("hex");
}

/** A journal read for planning: what is recorded, and nothing that writes. */
export type RecordedSteps = Pick<Journal, "get" | "file">;

export class Journal {
  private constructor(
    readonly file: string,
    private data: JournalFile,
  ) {}

  static fileFor(gitDir: string, tag: string): string {
    return path.join(gitDir, "azbert-release", `journal-${tag.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
  }

  /**
   * Opens the journal of `tag` in the git repository at `cwd`. One recorded for other
   * checkpoint bytes, or by a version of this program that did not record destinations, is
   * set aside: every step then runs again, and each finds what is already there.
   */
  static async open(cwd: string, tag: string, digest: string): Promise<Journal> {
    const file = Journal.fileFor(await Journal.requireRepository(cwd), tag);
    const data = (await Journal.load(file, tag, digest)) ?? { version: 3, tag, manifestDigest: digest, entries: [] };
    // Written at once: from the first remote step on, the journal says what has finished.
    const journal = new Journal(file, data);
    await journal.save();
    return journal;
  }

  /**
   * What an earlier run of `tag` with these bytes recorded, read without writing anything (the
   * dry run's plan): undefined outside a repository or when there is no such journal.
   */
  static async read(cwd: string, tag: string, digest: string): Promise<RecordedSteps | undefined> {
    const found = await gitAt(cwd).try(["rev-parse", "--absolute-git-dir"]);
    if (!found.ok) return undefined;
    const file = Journal.fileFor(found.out.trim(), tag);
    const data = await Journal.load(file, tag, digest);
    return data ? new Journal(file, data) : undefined;
  }

  /** The journal file's content when it is one of `tag` for these bytes (else: a fresh release). */
  private static async load(file: string, tag: string, digest: string): Promise<JournalFile | undefined> {
    try {
      const prev = JSON.parse(await readFile(file, "utf8")) as Partial<JournalFile>;
      if (prev.version === 3 && prev.tag === tag && prev.manifestDigest === digest && Array.isArray(prev.entries)) return prev as JournalFile;
    } catch {
      // No journal yet (or unreadable).
    }
    return undefined;
  }

  /** The git directory that holds the journal; a folder outside any repository is an error saying so. */
  static async requireRepository(cwd: string): Promise<string> {
    const found = await gitAt(cwd).try(["rev-parse", "--absolute-git-dir"]);
    if (found.ok) return found.out.trim();
    throw new JournalError(
      `${cwd} is not inside a git repository: a release keeps its journal in .git/azbert-release/ so that a rerun resumes instead of publishing twice. Run the release from your project's clone (or \`git init\` and commit)`,
    );
  }

  get<K extends StepId>(step: K, destination: Address): JournalEntry<K> | undefined {
    const key = addressKey(destination);
    return this.data.entries.find((e): e is JournalEntry<K> => e.step === step && addressKey(e.destination) === key);
  }

  async record<K extends StepId>(step: K, destination: Address, result: StepResults[K]): Promise<void> {
    const key = addressKey(destination);
    const entry = { step, destination, at: new Date().toISOString(), result } as JournalEntry;
    this.data.entries = [...this.data.entries.filter((e) => !(e.step === step && addressKey(e.destination) === key)), entry];
    await this.save();
  }

  /** Forget what was done at a destination (every step, or only `steps`) that no longer holds there. */
  async forget(destination: Address, steps?: readonly StepId[]): Promise<void> {
    const key = addressKey(destination);
    this.data.entries = this.data.entries.filter((e) => addressKey(e.destination) !== key || (steps !== undefined && !steps.includes(e.step)));
    await this.save();
  }

  private async save(): Promise<void> {
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, `${redact(JSON.stringify(this.data, null, 2))}\n`);
      await rename(tmp, this.file);
    } catch (e) {
      throw new JournalError(`cannot write the release journal ${this.file}: ${(e as Error).message}`, 1, { cause: e });
    }
  }
}

/**
 * The one place a remote step meets the journal: a step recorded for this destination is
 * reported `skipped` with what it produced before; otherwise it runs, and what it produced is
 * recorded before the next step starts.
 */
export async function journaled<K extends StepId>(journal: Journal, step: K, destination: Address, run: () => Promise<StepOutcome<K>>): Promise<StepReportOf<K>> {
  const done = journal.get(step, destination);
  if (done) return { ...(done.result as Partial<StepResults[K]>), id: step, status: "skipped", message: `done in an earlier run (${done.at})` } as StepReportOf<K>;
  const start = performance.now();
  const r = await run();
  await journal.record(step, destination, r.result);
  return { id: step, status: r.status, ...r.result, ms: Math.round(performance.now() - start) } as StepReportOf<K>;
}

/**
 * The objects a destination's proof downloaded and found to be what was published (sha256 →
 * size), across releases: a later release of the same repo proves an unchanged object by what the
 * Hub names and a ranged read instead of downloading it again. Kept beside the journals.
 */
export class ProvenObjects {
  private constructor(
    readonly file: string,
    readonly objects: Map<string, number>,
  ) {}

  /** The record for one Hub repository: its objects, whatever branch or transport published them. */
  static async open(cwd: string, repo: { endpoint: string; repoId: string }): Promise<ProvenObjects> {
    const gitDir = await Journal.requireRepository(cwd);
    const key = createHash("sha256").update(`${repo.endpoint.replace(/\/+$/, "")}\n${repo.repoId}`).digest("hex").slice(0, 16);
    const file = path.join(gitDir, "azbert-release", `proven-${key}.json`);
    let objects = new Map<string, number>();
    try {
      const data = JSON.parse(await readFile(file, "utf8")) as { version?: number; objects?: Record<string, number> };
      if (data.version === 1 && data.objects) objects = new Map(Object.entries(data.objects).filter(([k, v]) => /^[0-9a-f]{64}$/.test(k) && Number.isInteger(v)));
    } catch {
      // none yet
    }
    return new ProvenObjects(file, objects);
  }

  async add(files: ReadonlyArray<{ sha256: string; size: number }>): Promise<void> {
    for (const f of files) this.objects.set(f.sha256, f.size);
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ version: 1, objects: Object.fromEntries(this.objects) }, null, 2)}\n`);
    await rename(tmp, this.file);
  }
}
