// Each question asked of git's remotes once per run: `git remote get-url` and `git ls-remote`
// answer the same within a run unless the run itself changes the answer, so the preflight, the
// plan and the verification share one answer. A push forgets every ls-remote answer; `git remote
// add|set-url|remove|rename` forgets every get-url answer. The memo is the run's (withGitReads):
// outside one, or in another run, nothing is shared.
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";

type Question = "get-url" | "ls-remote";

function question(args: readonly string[]): Question | undefined {
  if (args[0] === "remote" && args[1] === "get-url") return "get-url";
  if (args[0] === "ls-remote") return "ls-remote";
  return undefined;
}

/** What a command changes of the answers above. */
function changes(args: readonly string[]): Question | undefined {
  if (args[0] === "push") return "ls-remote";
  if (args[0] === "remote" && ["add", "set-url", "remove", "rm", "rename"].includes(args[1] ?? "")) return "get-url";
  return undefined;
}

export class GitReadMemo {
  private readonly answers = new Map<string, { q: Question; answer: Promise<string> }>();

  /**
   * `run()` once per question (`cwd`, the arguments and the runner's environment and config:
   * another credential is another question); a command that changes answers forgets them.
   */
  async ask(cwd: string, args: readonly string[], context: unknown, run: () => Promise<string>, opts: { keep: boolean }): Promise<string> {
    const changed = changes(args);
    if (changed) {
      this.forget(changed);
      try {
        return await run();
      } finally {
        this.forget(changed);
      }
    }
    const q = question(args);
    if (!q || !opts.keep) return run();
    const key = createHash("sha256").update(JSON.stringify([cwd, args, context])).digest("hex");
    let known = this.answers.get(key);
    if (!known) {
      known = { q, answer: run() };
      this.answers.set(key, known);
      known.answer.catch(() => undefined); // each caller sees the failure itself
    }
    return known.answer;
  }

  private forget(q: Question): void {
    for (const [k, v] of this.answers) if (v.q === q) this.answers.delete(k);
  }
}

const current = new AsyncLocalStorage<GitReadMemo>();

/** Runs `fn` with `memo` answering its git remote questions (see GitReadMemo). */
export function withGitReads<T>(memo: GitReadMemo, fn: () => Promise<T>): Promise<T> {
  return current.run(memo, fn);
}

/** The memo of the run this call belongs to, if any. */
export function currentGitReads(): GitReadMemo | undefined {
  return current.getStore();
}
