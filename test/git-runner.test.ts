// The one git runner: a cwd, extra environment, per-call `-c key=value`, secrets that never
// reach a message, and an AbortSignal that stops a git that is running.
import { readFileSync, watch, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Git, GitError, redactGitText } from "../src/git/index.js";
import { UserError } from "../src/report.js";
import { useRepos } from "./git-helpers.js";

const repo = useRepos();

describe("git runner", () => {
  it("runs in its cwd, with the environment and -c config it is given (per runner and per call)", async () => {
    const { work } = repo();
    const git = new Git({ cwd: work, env: { GIT_AUTHOR_NAME: "Runner Env", GIT_AUTHOR_EMAIL: "env@azbert.invalid" }, config: { "azbert.level": "runner" } });
    expect(await git.run(["rev-parse", "--show-toplevel"])).toBe(work);
    expect(await git.run(["var", "GIT_AUTHOR_IDENT"])).toMatch(/^Runner Env <env@azbert\.invalid> \d+ [+-]\d{4}$/);
    expect(await git.run(["config", "--get", "azbert.level"])).toBe("runner");
    expect(await git.run(["config", "--get", "azbert.level"], { config: { "azbert.level": "call" } })).toBe("call");
    expect(await git.run(["config", "--get", "azbert.level"])).toBe("runner"); // the call's config stays with the call
    const derived = git.with({ config: { "azbert.other": "yes" } });
    expect(await derived.run(["config", "--get", "azbert.other"])).toBe("yes");
    expect(await derived.run(["config", "--get", "azbert.level"])).toBe("runner");
  });

  it("works beside the user's own EDITOR, PAGER and GIT_SSH_COMMAND when it adds environment", async () => {
    const { work } = repo();
    const saved = { ...process.env };
    Object.assign(process.env, { EDITOR: "vim", PAGER: "less", GIT_SSH_COMMAND: "ssh -o BatchMode=yes" });
    try {
      expect(await new Git({ cwd: work, env: { GIT_TERMINAL_PROMPT: "0" } }).run(["rev-parse", "--is-inside-work-tree"])).toBe("true");
    } finally {
      for (const k of ["EDITOR", "PAGER", "GIT_SSH_COMMAND"]) if (saved[k] === undefined) delete process.env[k];
    }
  });

  it("a failure is a GitError (a UserError) naming the command, with git's words, secrets redacted", async () => {
    const { work } = repo();
    const secret = "s3cr3t-value-for-the-test";
    const git = new Git({ cwd: work, secrets: [secret] });
    const err = (await git.run(["rev-parse", "--verify", secret]).catch((e: unknown) => e)) as GitError;
    expect(err).toBeInstanceOf(GitError);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe(`git rev-parse failed in ${work}: fatal: Needed a single revision`);
    const ambiguous = (await git.run(["log", secret]).catch((e: unknown) => e)) as GitError;
    expect(ambiguous.message).toMatch(/^git log failed in .*: fatal: ambiguous argument '\*\*\*'/);
    expect(ambiguous.message).not.toContain(secret);
    expect(String((ambiguous.cause as Error).message)).not.toContain(secret);
    expect(await git.try(["log", secret])).toEqual({ ok: false, err: expect.stringMatching(/ambiguous argument '\*\*\*'/) });
  });

  it("exec answers with git's exit code and streams whatever the code; only an aborted or unstartable git throws", async () => {
    const { work } = repo();
    const secret = "s3cr3t-value-for-exec";
    const git = new Git({ cwd: work, secrets: [secret] });
    expect(await git.exec(["rev-parse", "--is-inside-work-tree"])).toEqual({ code: 0, stdout: "true\n", stderr: "" });
    // A refused answer with stderr (what simple-git alone would turn into an error) is still an answer.
    const refused = await git.exec(["rev-parse", "--verify", secret]);
    expect(refused).toEqual({ code: 128, stdout: "", stderr: "fatal: Needed a single revision\n" });
    const silent = await git.exec(["rev-parse", "--verify", "-q", "refs/heads/no-such-branch"]);
    expect(silent.code).toBe(1);
    const controller = new AbortController();
    controller.abort();
    await expect(new Git({ cwd: work, signal: controller.signal }).exec(["status"])).rejects.toBeInstanceOf(GitError);
  });

  it("credentials in a remote URL never reach a message", async () => {
    const { work } = repo();
    const hangUp = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://user:ghp_tokenTokenTokenToken0123456789@127.0.0.1:${(hangUp.address() as AddressInfo).port}/o/r.git`;
      const r = await new Git({ cwd: work }).try(["ls-remote", url]);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.err).toMatch(/^fatal: unable to access 'http:\/\/.*127\.0\.0\.1:\d+\/o\/r\.git\/'/);
      expect(JSON.stringify(r)).not.toContain("ghp_tokenToken");
      // What git itself would print whole (a remote's URL) is redacted by the runner's text filter.
      expect(redactGitText(`origin → ${url}`)).toBe(`origin → http://***@127.0.0.1:${(hangUp.address() as AddressInfo).port}/o/r.git`);
    } finally {
      await new Promise<void>((resolve) => hangUp.close(() => resolve()));
    }
  });

  it("an aborted signal stops a running git, and refuses to start one", async () => {
    const { root, work } = repo();
    const controller = new AbortController();
    // `hash-object --stdin` waits for input that never comes: only the abort ends it. GIT_TRACE
    // (asked for: the runner clears trace variables otherwise) says when git has started; abort then.
    const trace = path.join(root, "trace");
    writeFileSync(trace, "");
    const started = new Promise<void>((resolve) => {
      const watcher = watch(trace, () => {
        if (!readFileSync(trace, "utf8").includes("hash-object")) return;
        watcher.close();
        resolve();
      });
    });
    const running = new Git({ cwd: work, signal: controller.signal, env: { GIT_TRACE: trace, AZBERT_RELEASE_GIT_TRACE: "1" } }).run(["hash-object", "--stdin"]);
    await started;
    controller.abort();
    await expect(running).rejects.toBeInstanceOf(GitError);
    await expect(new Git({ cwd: work, signal: controller.signal }).run(["status"])).rejects.toThrow(/git status failed in .*: Abort already signaled/);
  });
});
