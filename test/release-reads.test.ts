// Each question asked once, and a rerun with nothing to publish cheap, end to end against the
// local Hub (its request log) and real git (its own trace, through the runner's opt-in): a dry
// run and a no-op rerun send each Hub GET once and ask git each remote question once; a release
// still reads what it wrote; a second `release --yes` rewrites neither the archive nor the
// safetensors; a README change re-packs and keeps the conversion.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { cleanups, git, makeProject, type Project } from "./helpers/release-project.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Report {
  ok: boolean;
  outcome: string;
  steps: Array<{ id: string; status: string; hub?: unknown }>;
  safetensors?: { action: string };
  smoke?: { ok: boolean; carriedOver?: boolean; cases: Array<{ text: string }> };
  pack?: { kept?: boolean };
}

/** The Hub GETs (method, path, whether a token was sent) asked more than once since the log was cleared. */
function repeatedGets(p: Project): string[] {
  const seen = new Map<string, number>();
  for (const r of p.hub.requests) {
    if (r.origin !== "hub" || (r.method !== "GET" && r.method !== "HEAD")) continue;
    const k = `${r.method} ${r.path} ${r.authorization ? "token" : "anonymous"}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${n}x ${k}`);
}

/** `git remote get-url` and `git ls-remote` commands the release ran (git's own trace), each with how often. */
function gitRemoteQuestions(trace: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readFileSync(trace, "utf8").split("\n")) {
    const q = /built-in: git ((?:remote get-url|ls-remote) .*)$/.exec(line)?.[1];
    if (q) m.set(q, (m.get(q) ?? 0) + 1);
  }
  return m;
}

/** Runs the release with git tracing into a fresh file: the report, the git questions and the Hub requests it made. */
async function traced(p: Project, ...args: string[]) {
  const trace = path.join(p.root, "git-trace.txt");
  rmSync(trace, { force: true });
  writeFileSync(trace, "");
  p.hub.requests.length = 0;
  const r = await p.release(...args, "--json");
  return { r, report: r.stdout ? (JSON.parse(r.stdout) as Report) : undefined, git: gitRemoteQuestions(trace), requests: [...p.hub.requests] };
}

function stamp(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.ino}:${st.mtimeNs}`;
}

async function tracedProject(): Promise<Project> {
  const p = await makeProject();
  Object.assign(p.env, { AZBERT_RELEASE_GIT_TRACE: "1", GIT_TRACE: path.join(p.root, "git-trace.txt") });
  return p;
}

describe("each question asked once per run", () => {
  it("a dry run sends each Hub GET once and asks git each remote's URL and each ls-remote once", async () => {
    const p = await tracedProject();
    const dry = await traced(p, "--dry-run");
    expect(dry.r.code, dry.r.stderr).toBe(0);
    expect(dry.requests.some((r) => r.path.endsWith("/api/whoami-v2"))).toBe(true);
    expect(repeatedGets(p)).toEqual([]);
    expect([...dry.git.keys()]).toEqual(expect.arrayContaining(["remote get-url origin", "remote get-url hgf"]));
    expect([...dry.git].filter(([, n]) => n > 1)).toEqual([]);
  });

  it("a release reads what it wrote (the tag it made is verified); the no-op rerun asks each question once and writes nothing", async () => {
    const p = await tracedProject();
    const first = await traced(p, "--yes");
    expect(first.r.code, first.r.stderr).toBe(0);
    expect(first.report!.steps.find((s) => s.id === "verify")?.status).toBe("done");
    // The refs are read after the tag is made, not answered from before it.
    const tagAt = first.requests.findIndex((r) => r.method === "POST" && r.path.includes("/tag/"));
    expect(first.requests.findIndex((r, i) => i > tagAt && r.method === "GET" && r.path.endsWith("/refs"))).toBeGreaterThan(tagAt);

    const again = await traced(p, "--yes");
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.report!.outcome).toBe("already-released");
    expect(again.requests.filter((r) => r.method !== "GET" && r.method !== "HEAD")).toEqual([]);
    expect(repeatedGets(p)).toEqual([]);
    expect([...again.git].filter(([, n]) => n > 1)).toEqual([]);
  });
});

describe("a rerun with nothing to publish is cheap", () => {
  it("a second release --yes leaves the archive and the safetensors as they were (same inode and mtime) and says nothing is left to do", async () => {
    const p = await makeProject();
    const first = await p.release("--yes", "--json");
    expect(first.code, first.stderr).toBe(0);
    const archive = path.join(p.work, "out", "ckpt.tar.gz");
    const safetensors = path.join(p.work, "out", "safetensors", "model.safetensors");
    const before = [stamp(archive), stamp(safetensors)];
    const again = await p.release("--yes");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).toMatch(/already released.*nothing to do/);
    expect(again.stdout + again.stderr).toMatch(/Kept .*ckpt\.tar\.gz/);
    expect([stamp(archive), stamp(safetensors)]).toEqual(before);
  });

  it("a README change re-packs the archive (it holds the README) and keeps the conversion", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const archive = path.join(p.work, "out", "ckpt.tar.gz");
    const safetensors = path.join(p.work, "out", "safetensors", "model.safetensors");
    const [archiveBefore, safetensorsBefore] = [stamp(archive), stamp(safetensors)];
    const readme = path.join(p.work, "ckpt", "README.md");
    writeFileSync(readme, `${readFileSync(readme, "utf8")}\nA corrected sentence.\n`);
    const pkg = path.join(p.work, "package.json");
    writeFileSync(pkg, readFileSync(pkg, "utf8").replace('"1.2.0"', '"1.2.1"'));
    git(p.work, "commit", "-qam", "README fix, 1.2.1");
    git(p.work, "push", "-q", "origin", "main");
    const mark = p.hub.requests.length;
    const next = await p.release("--yes", "--json");
    expect(next.code, next.stderr).toBe(0);
    const report = JSON.parse(next.stdout) as Report;
    expect(report.outcome).toBe("released");
    expect(report.safetensors?.action).toBe("kept");
    expect(report.pack?.kept).toBeFalsy();
    expect(stamp(safetensors)).toBe(safetensorsBefore);
    expect(stamp(archive)).not.toBe(archiveBefore);
    expect(execFileSync("tar", ["tzf", archive], { encoding: "utf8" })).toContain("ckpt/README.md");
    // Nothing the model loads changed and the widget examples are the same: the smoke test that
    // passed on these very files is carried over, here and in the proof.
    expect(report.smoke).toMatchObject({ ok: true, carriedOver: true });
    expect(report.steps.find((s) => s.id === "verify.download")).toMatchObject({ status: "done", hub: { smoke: { carriedOver: true } } });
    // It costs what changed: of the files only the card and manifest.json are downloaded (and the
    // Hub's .gitattributes, which the plan merges with); the staged commit goes to main with
    // nothing asked or uploaded again, and no staging branch was there to remove first.
    const sent = p.hub.requests.slice(mark).filter((r) => r.origin === "hub");
    expect(sent.filter((r) => r.method === "GET" && r.path.includes("/resolve/")).map((r) => path.basename(r.path)).sort()).toEqual([".gitattributes", "README.md", "manifest.json"]);
    expect(sent.filter((r) => r.path.includes("/preupload/main") || r.path.endsWith("/info/lfs/objects/batch"))).toEqual([]);
    expect(sent.filter((r) => r.method === "DELETE").length).toBe(1);
  });

  it("a new widget example or new expectations run the smoke test again; a failed one is never carried over", async () => {
    const p = await makeProject();
    const first = await p.release("--yes", "--json");
    expect(first.code, first.stderr).toBe(0);
    expect((JSON.parse(first.stdout) as Report).smoke?.carriedOver).toBeUndefined();
    const smokeOf = async () => {
      const r = await runCli(["release", "--only", "check,smoke", "--json"], { cwd: p.work, env: p.env });
      return (JSON.parse(r.stdout) as Report).smoke;
    };
    // The checks and smoke alone after it: the same files and cases.
    expect(await smokeOf()).toMatchObject({ ok: true, carriedOver: true });
    const readme = path.join(p.work, "ckpt", "README.md");
    const card = readFileSync(readme, "utf8");
    writeFileSync(readme, card.replace("widget:\n", 'widget:\n- text: "a new [MASK] example"\n'));
    const widened = await smokeOf();
    expect(widened?.carriedOver).toBeUndefined();
    expect(widened?.cases.map((c) => c.text)).toContain("a new [MASK] example");
    writeFileSync(readme, card);
    // An expectation that fails: the run fails, and the next one runs the model again.
    const exp = path.join(p.work, "smoke-expectations.json");
    const expectations = readFileSync(exp, "utf8");
    writeFileSync(exp, expectations.replace('["happiness"]', '["nothing-like-this"]'));
    const failing = await smokeOf();
    expect(failing?.ok).toBe(false);
    expect((await smokeOf())?.carriedOver).toBeUndefined();
    writeFileSync(exp, expectations);
    expect(await smokeOf()).toMatchObject({ ok: true, carriedOver: true });
  });
});
