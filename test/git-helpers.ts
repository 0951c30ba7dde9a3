// Test helper: real git repositories in temp dirs, with a local bare `origin`.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { TEST_GIT_IDENTITY } from "./helpers/git-identity.js";

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", ...TEST_GIT_IDENTITY };

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export function write(cwd: string, file: string, text: string): void {
  mkdirSync(path.dirname(path.join(cwd, file)), { recursive: true });
  writeFileSync(path.join(cwd, file), text);
}

export function commitFile(cwd: string, file: string, text: string, message = `edit ${file}`): string {
  write(cwd, file, text);
  git(cwd, "add", file);
  git(cwd, "commit", "-q", "-m", message);
  return git(cwd, "rev-parse", "HEAD");
}

export interface Fixture {
  root: string;
  /** The bare `origin`. */
  origin: string;
  /** The release clone (cwd of the checks). */
  work: string;
  /** Another clone of origin, to move the remote behind the release clone's back. */
  other(): string;
}

/** A repo on `main` with package.json 0.1.0, pushed to a bare origin, ckpt/ not tracked. */
export function makeRepo(prefix = "azbert-git-"): Fixture {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  const origin = path.join(root, "origin.git");
  const work = path.join(root, "work");
  git(root, "init", "-q", "--bare", "-b", "main", origin);
  git(root, "init", "-q", "-b", "main", work);
  git(work, "config", "user.name", "Test");
  git(work, "config", "user.email", "test@example.com");
  write(work, "package.json", JSON.stringify({ name: "x", version: "0.1.0" }, null, 2) + "\n");
  write(work, "README.md", "# x\n");
  write(work, "src/a.ts", "export const a = 1;\n");
  git(work, "add", ".");
  git(work, "commit", "-q", "-m", "init");
  git(work, "remote", "add", "origin", origin);
  git(work, "push", "-q", "-u", "origin", "main");
  let n = 0;
  return {
    root,
    origin,
    work,
    other() {
      const dir = path.join(root, `other${n++}`);
      git(root, "clone", "-q", origin, dir);
      git(dir, "config", "user.name", "Other");
      git(dir, "config", "user.email", "other@example.com");
      return dir;
    },
  };
}

/** `makeRepo` for one spec file: every repository it made is removed after the file's tests. */
export function useRepos(prefix?: string): () => Fixture {
  const made: Fixture[] = [];
  afterAll(() => {
    for (const f of made) rmSync(f.root, { recursive: true, force: true });
  });
  return () => {
    const f = makeRepo(prefix);
    made.push(f);
    return f;
  };
}
