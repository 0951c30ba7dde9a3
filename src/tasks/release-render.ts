// Printing a ReleaseReport: one JSON writer for --json (docs/cli-contract.md), the same plain
// text for a terminal and for CI logs, and the run's summary page in GitHub Actions. Every
// line goes through redact().
import { appendFile } from "node:fs/promises";
import type { ReleaseReport, StepReport } from "../release/report.js";
import { redact } from "../util/redact.js";
import { formatSummary } from "./check-command.js";
import { humanStream, type UiOptions } from "./ui.js";

export function renderReleaseReport(report: ReleaseReport, ui: UiOptions): void {
  if (ui.json) process.stdout.write(redact(`${JSON.stringify(jsonReport(report), null, 2)}\n`));
  else humanStream(ui).write(redact(humanReport(report)));
}

/** The one JSON document of `release --json`: `plan` when nothing was published yet, else `steps`. */
export function jsonReport(r: ReleaseReport): Record<string, unknown> {
  const planned = r.outcome === "dry-run" || r.outcome === "checks-failed";
  return {
    ok: r.ok,
    outcome: r.outcome,
    checks: r.checks,
    ...(planned ? (r.plan ? { plan: r.plan } : {}) : { steps: r.steps }),
    ...(r.smoke ? { smoke: r.smoke } : {}),
    ...(!planned && r.safetensors ? { safetensors: r.safetensors } : {}),
    ...(r.notes.length ? { notes: r.notes } : {}),
    ...(r.error ? { error: r.error } : {}),
    // A failed release: whether running the same command again can pass (a network or server error).
    ...(r.rerunHelps !== undefined ? { rerunHelps: r.rerunHelps } : {}),
    ...(r.journal ? { journal: r.journal } : {}),
  };
}

function humanReport(r: ReleaseReport): string {
  const out: string[] = [];
  const byId = new Map(r.steps.map((s) => [s.id, s]));
  const links = () => {
    const hub = byId.get("hub");
    const hubTag = byId.get("hub-tag");
    const gh = byId.get("github-release");
    if (hub && "url" in hub && hub.url) out.push(`  Hub commit:     ${hub.url}`);
    if (hubTag && "tag" in hubTag && typeof hubTag.tag === "string") out.push(`  Hub tag:        ${hubTag.tag} (revision="${hubTag.tag}")`);
    if (gh && "url" in gh && gh.url) out.push(`  GitHub release: ${gh.url}`);
    const proof = byId.get("verify.download");
    if (proof && "summary" in proof && proof.summary) out.push(`  Downloaded:     ${proof.summary}`);
  };
  switch (r.outcome) {
    case "dry-run":
    case "checks-failed":
      out.push(checklist(r));
      out.push(r.ok ? "\nDry run: nothing was changed. Run `npm run release` to publish." : "\nNothing was published: fix the failures above and run again.");
      break;
    case "local-only":
      out.push(checklist(r));
      if (r.pack) out.push(`Packed ${r.pack.archive.path} (sha256 ${r.pack.archive.sha256}); no remote stage selected.`);
      break;
    case "already-released":
      out.push(`\n${r.tag} is already released${partOf(r)} and verified: nothing to do.`);
      links();
      out.push(...notPartOf(r));
      break;
    case "released":
      out.push(`\nReleased ${r.tag}${partOf(r)}`);
      links();
      out.push(...notPartOf(r));
      break;
    case "failed":
      out.push(`\nRelease failed: ${r.error ?? failedStep(r.steps) ?? "a step failed"}`, afterFailure(r));
      break;
    case "declined":
      out.push("Not published.");
      break;
    case "interrupted":
      out.push(`\n${interruptedLine(r.journal)}`);
      break;
  }
  return `${out.join("\n")}\n`;
}

/** What a rerun of the same command does after a failed step: resume only when that can help. */
function afterFailure(r: ReleaseReport): string {
  if (r.rerunHelps && r.journal) return `This can pass on another try (a network or server error). What finished is recorded in ${r.journal}: run the same command again to resume; finished steps are skipped.`;
  if (r.rerunHelps) return "This can pass on another try (a network or server error): run the same command again.";
  return `Running the same command again fails the same way: change what the message above says first.${r.journal ? ` Steps that finished are recorded in ${r.journal} and are not repeated.` : ""}`;
}

/** After Ctrl-C: what was published, and what a rerun does. */
export function interruptedLine(journal: string | undefined): string {
  return journal
    ? `Interrupted. Finished steps are recorded in ${journal}; run the release again to resume.`
    : "Interrupted before anything was published: run the release again to start over (files already hashed are not read again).";
}

/** " to the Hub only" when `--only` left a destination out. */
function partOf(r: ReleaseReport): string {
  if (r.remotes.length !== 1) return "";
  return r.remotes[0] === "hub" ? " to the Hugging Face Hub only" : " to GitHub only";
}

/** What a partial release (`--only`) did not do, said plainly. */
function notPartOf(r: ReleaseReport): string[] {
  const missing: string[] = [];
  if (!r.remotes.includes("hub")) missing.push("nothing was published to the Hugging Face Hub (no Hub commit, no Hub tag)");
  if (!r.remotes.includes("github")) missing.push("nothing went to GitHub (no git push of the branch or tag, no GitHub Release)");
  if (!missing.length) return [];
  const rest = r.remotes.includes("hub") ? "github" : "hub";
  return [`  Not done: ${missing.join("; ")}: --only left it out. Run \`npm run release -- --only ${rest}\` to finish.`];
}

function checklist(r: ReleaseReport): string {
  return formatSummary({ ok: r.ok, checks: r.checks }).replace(/\n$/, "");
}

function failedStep(steps: readonly StepReport[]): string | undefined {
  const f = steps.find((s) => s.status === "failed");
  return f ? `${f.id}: ${f.message ?? "failed"}` : undefined;
}

/** In GitHub Actions: the checklist and the outcome on the run's summary page. */
export async function writeStepSummary(r: ReleaseReport, dryRun: boolean, file = process.env.GITHUB_STEP_SUMMARY): Promise<void> {
  if (!file) return;
  const icon = { pass: "✅", fail: "❌", warn: "⚠️", skip: "⏭️" } as const;
  const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
  const lines = [
    `## azbert-release ${r.tag}: ${r.ok ? "ok" : "FAILED"}${dryRun ? " (dry run)" : ""}`,
    "",
    "| | check | details |",
    "|---|---|---|",
    ...r.checks.map((c) => `| ${icon[c.status]} | ${cell(c.title)} | ${cell(c.message ?? "")} |`),
  ];
  if (r.notes.length) lines.push("", ...r.notes.map((n) => `- ${cell(n)}`));
  if (r.steps.length) {
    lines.push("", "| step | status | result |", "|---|---|---|");
    for (const s of r.steps) {
      const result = ("url" in s && s.url) || ("commit" in s && s.commit) || ("summary" in s && s.summary) || s.message || "";
      lines.push(`| ${s.id} | ${s.status} | ${cell(String(result))} |`);
    }
  }
  await appendFile(file, `${redact(lines.join("\n"))}\n`);
}
