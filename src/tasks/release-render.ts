// Printing a ReleaseReport: one JSON writer for --json (docs/cli-contract.md), the same plain
// text for a terminal and for CI logs, and the run's summary page in GitHub Actions. Every
// line goes through redact().
import { appendFile } from "node:fs/promises";
import { formatBytes } from "../util/format-bytes.js";
import type { GitAccess } from "../hub/index.js";
import { isSkipped, safetensorsLine, type HubTagPlan, type ReleasePlan } from "../release/plan.js";
import type { ReleaseReport, StepReport } from "../release/report.js";
import { displayPath } from "../util/display-path.js";
import { redact } from "../util/redact.js";
import { formatSummary } from "./check-command.js";
import { commandFor } from "./invocation.js";
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
    // A failed release: whether running the same command again can pass (a network or server error),
    // what to change when it cannot, and whether users can see anything of it.
    ...(r.rerunHelps !== undefined ? { rerunHelps: r.rerunHelps } : {}),
    ...(r.fix ? { fix: r.fix } : {}),
    ...(r.visible !== undefined ? { visible: r.visible } : {}),
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
      out.push(r.ok ? `\nDry run: nothing was changed. Run \`${commandFor("release").replace(/ --$/, "")}\` to publish.` : "\nNothing was published: fix the failures above and run again.");
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
  const seen =
    r.visible === false
      ? "Nothing of this release is visible to users: no tag was made anywhere, and what was staged is withdrawn or stays invisible (a Hub staging branch, a draft release)."
      : r.visible
        ? "Part of this release is visible already (see the steps above): running the release again completes it."
        : "";
  const lines = seen ? [seen] : [];
  if (r.rerunHelps && r.journal) lines.push(`This can pass on another try (a network or server error). What finished is recorded in ${r.journal}: run the same command again to resume; finished steps are skipped.`);
  else if (r.rerunHelps) lines.push("This can pass on another try (a network or server error): run the same command again.");
  else lines.push(`Running the same command again fails the same way: ${r.fix ?? "change what the message above says first"}.${r.journal ? ` Steps that finished are recorded in ${r.journal} and are not repeated.` : ""}`);
  return lines.join("\n");
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
  return [`  Not done: ${missing.join("; ")}: --only left it out. Run \`${commandFor("release")} --only ${rest}\` to finish.`];
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

/** The plan as a person reads it. */
export function renderPlan(plan: ReleasePlan): string {
  const out: string[] = [`Release plan for ${plan.tag}`];
  if (plan.safetensors) out.push("", `Safetensors: ${safetensorsLine(plan.safetensors)}`);
  if (plan.pack) out.push("", `Pack: ${plan.pack.archive} from ${plan.pack.files} files (${formatBytes(plan.pack.bytes)}), with SHA256SUMS and manifest.json`);
  if (plan.signing) out.push("", `Signature: ${plan.signing}`);
  if (plan.hub) {
    out.push("", "Hugging Face Hub:");
    if (isSkipped(plan.hub)) out.push(`  skipped: ${plan.hub.skipped}`);
    else {
      const h = plan.hub;
      if (h.remote.action === "add") out.push(`  would add git remote ${h.remote.name} → ${h.remote.url}`);
      if (h.git) out.push(`  ${gitAccessLine(h.git, h.remote.name)}`);
      out.push(`  ${h.repoExists ? "" : "would create the repo (private until the release is proven), then "}stage the commit on a branch of its own, on top of ${h.repoId}@${h.revision}${h.parentCommit ? ` (${h.parentCommit.slice(0, 12)})` : ""}; ${h.revision} changes only after the proof`);
      const rows = h.entries.map((e) => [e.action + (e.kept ? " (kept: --prune deletes)" : ""), e.path, formatBytes(e.size), e.storage]);
      out.push(...table(["action", "path", "size", "storage"], rows).map((l) => `  ${l}`));
      const sm = h.summary;
      out.push(`  ${sm.add} add, ${sm.update} update, ${sm.delete} delete, ${sm.unchanged} unchanged; ${formatBytes(sm.bytesToSend)} to send${h.noop ? " — nothing to change, no commit" : ""}`);
      out.push(`  ${hubTagLine(h.tag, h.repoId)}`);
    }
  }
  if (plan.git) {
    out.push("", "GitHub (git):");
    if (isSkipped(plan.git)) out.push(`  skipped: ${plan.git.skipped}`);
    else for (const r of plan.git.refs) out.push(`  ${r.action === "push" ? "would push" : r.action === "conflict" ? "CONFLICT:" : "unchanged:"} ${r.ref} ${r.from ? r.from.slice(0, 7) : "(new)"} → ${r.to.slice(0, 7)} on ${plan.git.remote}`);
  }
  if (plan.github) {
    out.push("", "GitHub Release:");
    if (isSkipped(plan.github)) out.push(`  skipped: ${plan.github.skipped}`);
    else {
      const g = plan.github;
      const assets = g.assets.map((a) => (a.size ? `${a.name} (${g.estimated ? "about " : ""}${formatBytes(a.size)})` : a.name)).join(", ");
      const locked = g.immutable ? " (immutable releases are on: once published, its assets and tag never change)" : "";
      if (g.release === "unchanged") out.push(`  release up to date: ${plan.tag} of ${g.repository} is published with these very assets`);
      else if (g.release === "conflict") out.push(`  CONFLICT: ${g.conflict}`);
      else out.push(`  would ${g.release === "resume" ? "complete the draft" : "create a draft of"} ${plan.tag} in ${g.repository} with ${assets}, then publish it after the proof${locked}`);
    }
  }
  const proof = plan.proof;
  if (proof?.hub || proof?.github) {
    out.push("", "Before anything is visible, prove what users will download (verify.download):");
    if (proof.hub) {
      const h = proof.hub;
      out.push(`  download the ${h.files} files (${formatBytes(h.bytes)}) from ${h.url}…, each sha256 against the manifest, and smoke-test the copy with ${h.smoke}`);
    }
    if (proof.github) out.push(`  download ${proof.github.assets.join(" and ")} from the draft GitHub Release and unpack them with the verified unpacker`);
    out.push("  then, only if that passes: push the git tag, commit the proven tree to the Hub branch and tag it, publish the GitHub Release");
  }
  if (plan.local) out.push("", `Writes on this machine: at most ${formatBytes(plan.local.bytes)} in ${displayPath(plan.local.folder)}`);
  return out.join("\n");
}

function hubTagLine(t: HubTagPlan | undefined, repoId: string): string {
  if (!t) return "published as a pull request: no tag until it is merged";
  if (t.action === "create") return `would tag the commit ${t.name}`;
  if (t.action === "unchanged") return `already tagged: ${t.name} → ${t.commit!.slice(0, 12)}`;
  return `CONFLICT: tag ${t.name} already exists on ${repoId} at ${t.commit!.slice(0, 12)}, not at the commit this release would tag: the Hub step refuses to move it`;
}

function gitAccessLine(g: GitAccess, remote: string): string {
  if (g.status === "will-create") return `git transport: ${g.url} does not exist yet: it would be created through the API, then cloned with git`;
  const head = g.head ? `branch head ${g.head.slice(0, 12)}` : "the branch does not exist yet";
  return `git transport: git ls-remote of ${remote} (${g.url}) answered (${head}); the Hub token is offered to ${g.credentialOrigin} only`;
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), ...rows.map(line)];
}
