// `azbert-release release`: the local stages, the plan, one confirmation, then the remote steps.
// `--dry-run` stops after the plan and changes nothing.
import { appendFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline/promises";
import type { GlobalOptions, ReleaseCliOptions } from "../cli.js";
import { loadConfig } from "../config.js";
import { createHash } from "node:crypto";
import type { Manifest } from "../checkpoint/types.js";
import { Journal } from "../release/journal.js";
import { ALL_STAGES, isSkipped, renderPlan, type Stage } from "../release/plan.js";
import { resolveSettings, tagName } from "../release/settings.js";
import { isOk, UserError, type CheckResult } from "../report.js";
import { redact } from "../util/redact.js";
import { stageFailure } from "./check.js";
import { printSummary } from "./check-command.js";
import { localTasks, releaseEnvironment, remoteTasks, type ReleaseContext } from "./release.js";
import { detectUi, isCi, makeListr } from "./ui.js";

export function parseStages(only: string | undefined): Set<Stage> {
  if (!only) return new Set(ALL_STAGES);
  const wanted = only.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = wanted.filter((s) => !(ALL_STAGES as readonly string[]).includes(s));
  if (bad.length || !wanted.length) throw new UserError(`--only takes a comma list of ${ALL_STAGES.join(",")}; got "${only}"`, 2);
  return new Set(["check", ...wanted] as Stage[]);
}

export function manifestDigest(m: Manifest): string {
  return createHash("sha256").update(JSON.stringify(m.map(({ path: p, size, sha256 }) => [p, size, sha256]))).digest("hex");
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Remote steps run only against a plan the user could see. */
function requirePlan(ctx: ReleaseContext): CheckResult[] {
  if (!isOk(ctx.results)) return [];
  const missing: string[] = [];
  if (ctx.stages.has("hub") && (!ctx.plan.hub || isSkipped(ctx.plan.hub))) missing.push(`the Hub: ${ctx.plan.hub && isSkipped(ctx.plan.hub) ? ctx.plan.hub.skipped : "not planned"}`);
  if (ctx.stages.has("github") && (!ctx.plan.git || isSkipped(ctx.plan.git))) missing.push(`git push: ${ctx.plan.git && isSkipped(ctx.plan.git) ? ctx.plan.git.skipped : "not planned"}`);
  if (ctx.stages.has("github") && (!ctx.plan.github || isSkipped(ctx.plan.github))) missing.push(`GitHub Release: ${ctx.plan.github && isSkipped(ctx.plan.github) ? ctx.plan.github.skipped : "not planned"}`);
  return missing.length ? [{ id: "release.plan", title: "every remote step has a plan", status: "fail", message: missing.join("\n") }] : [];
}

/** A real release needs what the dry run may skip: credentials for every selected remote stage. */
function requireCredentials(ctx: ReleaseContext): CheckResult[] {
  const needed: Array<[Stage, string]> = [
    ["hub", "hub.token"],
    ["hub", "hub.whoami"],
    ["github", "git.remote"],
    ["github", "github.access"],
  ];
  const out: CheckResult[] = [];
  for (const [stage, id] of needed) {
    if (!ctx.stages.has(stage)) continue;
    const r = ctx.results.find((c) => c.id === id);
    if (r?.status === "skip") out.push({ id: `release.${id}`, title: `${r.title} (needed to publish)`, status: "fail", message: r.message ?? "skipped" });
  }
  return out;
}

export async function runReleaseCommand(opts: GlobalOptions & ReleaseCliOptions): Promise<number> {
  const env = process.env;
  const config = loadConfig({ configFile: opts.config });
  const stages = parseStages(opts.only);
  const dryRun = !!opts.dryRun;
  if (opts.offline && !dryRun) throw new UserError("--offline only makes sense with --dry-run: a release needs the network", 2);
  const interactive = !dryRun && !opts.yes && !isCi(env);
  // Say it before minutes of checks and packing, not after.
  if (interactive && !process.stdin.isTTY) throw new UserError("refusing to publish without a confirmation: run in a terminal, or pass --yes", 2);
  const settings = await resolveSettings({
    config,
    offline: !!opts.offline,
    ...(opts.ckpt ? { ckptDir: opts.ckpt } : {}),
    ...(opts.tag ? { tag: opts.tag } : {}),
    ...(opts.transport ? { transport: opts.transport } : {}),
  });
  const ctx: ReleaseContext = {
    config,
    ckptDir: settings.ckptDir,
    offline: !!opts.offline,
    results: [],
    settings,
    stages,
    dryRun,
    prune: !!opts.prune || config.hub.prune,
    createPr: !!opts.createPr || config.hub.createPr,
    force: !!opts.force,
    outDir: config.github.outDir,
    plan: { tag: "error" in settings.tag ? "(unknown)" : settings.tag.tag },
    steps: [],
  };
  ctx.environment = releaseEnvironment(ctx);
  const ui = detectUi(!!opts.json, env);
  const human = opts.json ? process.stderr : process.stdout;

  try {
    await makeListr(localTasks(ctx), ui, ctx).run();
  } catch (e) {
    // A stage that stopped with an error (smoke unavailable, unreadable folder, unreachable
    // remote...) is a failure of the run, never something to publish past.
    ctx.results.push(stageFailure(e));
  }
  if (!dryRun) ctx.results.push(...requireCredentials(ctx), ...requirePlan(ctx));
  const localOk = isOk(ctx.results) && (!ctx.smoke || ctx.smoke.ok) && (dryRun || !(stages.has("pack") || stages.has("github")) || !!ctx.pack);
  const planned = ctx.plan.hub || ctx.plan.git || ctx.plan.github;
  if (planned && isOk(ctx.results)) human.write(`\n${renderPlan(ctx.plan)}\n`);

  if (dryRun || !localOk) {
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: localOk, checks: ctx.results, plan: ctx.plan, ...(ctx.smoke ? { smoke: ctx.smoke } : {}) }, null, 2)}\n`);
    else printSummary({ ok: localOk, checks: ctx.results }, human);
    if (dryRun && localOk) human.write(`\nDry run: nothing was changed. Run \`npm run release\` to publish.\n`);
    if (!localOk) human.write(`\nNothing was published: fix the failures above and run again.\n`);
    await writeStepSummary(ctx, localOk);
    return localOk ? 0 : 1;
  }
  if (!(stages.has("hub") || stages.has("github"))) {
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, checks: ctx.results, steps: [] }, null, 2)}\n`);
    else {
      printSummary({ ok: true, checks: ctx.results }, human);
      if (ctx.pack) human.write(`Packed ${ctx.pack.archive.path} (sha256 ${ctx.pack.archive.sha256}); no remote stage selected.\n`);
    }
    return 0;
  }

  const conflict = ctx.plan.git && !isSkipped(ctx.plan.git) && ctx.plan.git.refs.find((r) => r.action === "conflict");
  if (conflict) throw new UserError(`${conflict.ref} already exists on ${ctx.config.github.remote} at ${conflict.from?.slice(0, 7)}, not at HEAD: bump the version`);

  const gitDir = await Journal.gitDir(settings.cwd);
  ctx.journal = await Journal.open(gitDir, tagName(settings), manifestDigest(ctx.manifest!));
  if (ctx.journal.get("verify") && (!stages.has("hub") || ctx.journal.get("hub-tag")) && (!stages.has("github") || ctx.journal.get("github-release"))) {
    const hub = ctx.journal.get("hub")?.result;
    const gh = ctx.journal.get("github-release")?.result;
    human.write(`\n${tagName(settings)} is already released and verified: nothing to do.\n`);
    if (hub?.url) human.write(`  Hub commit:     ${String(hub.url)}\n`);
    if (gh?.url) human.write(`  GitHub release: ${String(gh.url)}\n`);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, checks: ctx.results, steps: ctx.journal.steps.map((s) => ({ id: s.id, status: "skipped", ...s.result })) }, null, 2)}\n`);
    return 0;
  }

  if (interactive) {
    if (!(await confirm(`\nPublish ${tagName(settings)} as planned above? [y/N] `))) {
      human.write("Not published.\n");
      return 1;
    }
  }

  // Ctrl-C: the journal is written atomically after each step, so stopping here is safe.
  const onSigint = () => {
    process.stderr.write(`\nInterrupted. Finished steps are recorded in ${path.relative(settings.cwd, ctx.journal!.file)}; run the release again to resume.\n`);
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  let ok = true;
  try {
    await makeListr(remoteTasks(ctx), ui, ctx).run();
  } catch (e) {
    ok = false;
    human.write(`\nRelease failed: ${redact((e as Error).message)}\nWhat finished is recorded in ${path.relative(settings.cwd, ctx.journal.file)}; run the release again to resume.\n`);
  } finally {
    process.off("SIGINT", onSigint);
  }
  ok = ok && ctx.steps.every((s) => s.status !== "failed");
  if (opts.json) process.stdout.write(`${JSON.stringify({ ok, checks: ctx.results, steps: ctx.steps, ...(ctx.smoke ? { smoke: ctx.smoke } : {}) }, null, 2)}\n`);
  else if (ok) printReleaseSummary(ctx, human);
  await writeStepSummary(ctx, ok);
  return ok ? 0 : 1;
}

function printReleaseSummary(ctx: ReleaseContext, out: NodeJS.WritableStream): void {
  const byId = new Map(ctx.steps.map((s) => [s.id, s]));
  out.write(`\nReleased ${tagName(ctx.settings)}\n`);
  const hub = byId.get("hub");
  if (hub?.url) out.write(`  Hub commit:     ${String(hub.url)}\n`);
  if (byId.get("hub-tag")?.tag) out.write(`  Hub tag:        ${String(byId.get("hub-tag")!.tag)} (revision="${String(byId.get("hub-tag")!.tag)}")\n`);
  const gh = byId.get("github-release");
  if (gh?.url) out.write(`  GitHub release: ${String(gh.url)}\n`);
}

/** In GitHub Actions: the checklist and the outcome on the run's summary page. */
async function writeStepSummary(ctx: ReleaseContext, ok: boolean): Promise<void> {
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (!file) return;
  const icon = { pass: "✅", fail: "❌", warn: "⚠️", skip: "⏭️" } as const;
  const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
  const lines = [
    `## azbert-release ${ctx.plan.tag}: ${ok ? "ok" : "FAILED"}${ctx.dryRun ? " (dry run)" : ""}`,
    "",
    "| | check | details |",
    "|---|---|---|",
    ...ctx.results.map((c) => `| ${icon[c.status]} | ${cell(c.title)} | ${cell(c.message ?? "")} |`),
  ];
  if (ctx.steps.length) {
    lines.push("", "| step | status | result |", "|---|---|---|");
    for (const s of ctx.steps) lines.push(`| ${s.id} | ${s.status} | ${cell(String(s.url ?? s.commit ?? s.message ?? ""))} |`);
  }
  await appendFile(file, `${redact(lines.join("\n"))}\n`);
}
