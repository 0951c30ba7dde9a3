// A model card kept on the Hub, as azbert kept it (its GitHub README mirrored there), not in the
// checkpoint: offline the checklist warns and names the `modelCard` key; online the Hub repo's
// README.md at the release branch is the card, checked like one in the checkpoint, and its widget
// examples are the release's smoke cases; only when no card would exist after the release does
// the checklist fail.
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { cleanups, git, makeProject, REPO_ID, type Project } from "./helpers/release-project.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Report {
  ok: boolean;
  checks: Array<{ id: string; status: string; message?: string }>;
  smoke?: { cases: Array<{ source?: string; status: string }> };
}

/** The release project with its model card moved out of the checkpoint (committed and pushed). */
async function projectWithoutCard(): Promise<{ p: Project; card: string }> {
  const p = await makeProject();
  const cardFile = path.join(p.work, "ckpt", "README.md");
  const card = readFileSync(cardFile, "utf8");
  rmSync(cardFile);
  git(p.work, "commit", "-qam", "the model card lives in the repository README");
  git(p.work, "push", "-q", "origin", "main");
  return { p, card };
}

async function putHubReadme(p: Project, text: string): Promise<void> {
  if (!(await p.hub.store.resolve(REPO_ID, "main").catch(() => undefined))) await p.hub.createRepo(REPO_ID);
  await p.hub.store.commit(REPO_ID, "main", { summary: "README from GitHub" }, [{ kind: "file", path: "README.md", content: Buffer.from(text) }]);
}

async function run(p: Project, ...args: string[]): Promise<{ code: number; report: Report; stdout: string }> {
  const r = await runCli([...args, "--json"], { cwd: p.work, env: p.env });
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stdout: r.stdout };
}

const card = (r: Report, id = "card.front-matter") => r.checks.find((c) => c.id === id);

describe("a model card kept on the Hub", () => {
  it("offline: a warning that names the modelCard config key, not a failure", async () => {
    const { p } = await projectWithoutCard();
    const r = await run(p, "check", "--offline");
    expect(r.code).toBe(0);
    expect(card(r.report)).toMatchObject({ status: "warn", message: expect.stringMatching(/no README\.md in the checkpoint and no `modelCard` in release\.config\.json: .*not checked: offline.*set `modelCard`/) });
  });

  it("online: the Hub's README.md passes, checked like the checkpoint's own; the release smokes its widget examples", async () => {
    const { p, card: text } = await projectWithoutCard();
    await putHubReadme(p, text);
    const r = await run(p, "check");
    expect(card(r.report)).toMatchObject({ status: "pass", message: `README.md of ${REPO_ID}@main (on the Hub), kept by the release (no card in the checkpoint); license mit` });
    expect(card(r.report, "card.widget")).toMatchObject({ status: "pass", message: "5 examples" });
    const dry = await run(p, "release", "--dry-run");
    expect(dry.code, dry.stdout).toBe(0);
    expect(dry.report.smoke?.cases.map((c) => c.source)).toEqual([1, 2, 3, 4, 5].map((i) => `README.md on the Hub widget ${i}`));
    expect(dry.report.smoke?.cases.every((c) => c.status === "pass")).toBe(true);
    // `smoke` on its own finds the same cases (the GPU smoke job of the release workflow runs it so).
    const smoke = await runCli(["smoke", "--device", "cpu", "--json"], { cwd: p.work, env: p.env });
    expect(smoke.code, smoke.stderr).toBe(0);
    expect((JSON.parse(smoke.stdout) as NonNullable<Report["smoke"]>).cases.map((c) => c.source)).toEqual(dry.report.smoke?.cases.map((c) => c.source));

    // The same rules as a card in the checkpoint: no license fails, naming where the card is.
    await putHubReadme(p, text.replace(/^license: mit\n/m, "").replace("Proof by [MASK] that", "Proof by induction that"));
    const bad = await run(p, "check");
    expect(bad.code).toBe(1);
    expect(card(bad.report)).toMatchObject({ status: "fail", message: expect.stringContaining(`README.md of ${REPO_ID}@main (on the Hub) front matter`) });
    expect(card(bad.report, "card.widget")).toMatchObject({ status: "fail", message: expect.stringContaining("has no [MASK] token") });
  });

  it("fails only when no card would exist after the release: none on the Hub, or --prune deletes it", async () => {
    const { p, card: text } = await projectWithoutCard();
    const none = await run(p, "check");
    expect(none.code).toBe(1);
    const smoke = await runCli(["smoke", "--device", "cpu"], { cwd: p.work, env: p.env });
    expect(smoke.code).toBe(2);
    expect(smoke.stderr).toContain(`no model card; ${REPO_ID}@main has no README.md on the Hub, so no widget examples to smoke-test (set "modelCard" in the config`);
    expect(card(none.report)).toMatchObject({ status: "fail", message: expect.stringMatching(new RegExp(`${REPO_ID}@main has no README\\.md on the Hub: the Hub page would be empty\\. To fix, set \`modelCard\``)) });
    await putHubReadme(p, text);
    const pruned = await run(p, "release", "--dry-run", "--prune");
    expect(pruned.code).toBe(1);
    expect(card(pruned.report)).toMatchObject({ status: "fail", message: expect.stringMatching(/--prune \(hub\.prune\) deletes the README\.md .* has on the Hub: the Hub page would be empty/) });
  });
});
