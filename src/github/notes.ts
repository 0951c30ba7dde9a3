// renderReleaseNotes: the GitHub Release body, a pure function of what the pipeline produced.
import type { CheckResult } from "../report.js";

/** The parts of `smoke --json` the notes show (see docs/cli-contract.md). */
export interface SmokeSummary {
  ok: boolean;
  device?: string;
  engine?: string;
  cases: {
    text: string;
    expect?: string[];
    status: string;
    masks?: { position?: number; top: { token: string; score: number }[] }[];
  }[];
}

export interface ReleaseNotesInput {
  /** e.g. https://huggingface.co/org/azbert/commit/<sha> */
  hubCommitUrl?: string;
  /** The Hub tag or revision name, e.g. v0.1.0. */
  hubTag?: string;
  /** The Hub repo URL (optional: derived from hubCommitUrl when it has /commit/). */
  hubRepoUrl?: string;
  checks: readonly CheckResult[];
  smoke?: SmokeSummary;
  archiveName?: string;
  topFolder?: string;
  /** owner/name whose release workflow attests the archive, SHA256SUMS and manifest.json (build provenance). */
  attestedRepository?: string;
}

/** One table cell: no pipes, no newlines, no raw HTML. */
export function mdCell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const ICON: Record<string, string> = { pass: "✅", fail: "❌", warn: "⚠️", skip: "⏭️" };

export function renderReleaseNotes(input: ReleaseNotesInput): string {
  const archive = input.archiveName ?? "ckpt.tar.gz";
  const top = input.topFolder ?? "ckpt";
  const out: string[] = [];

  out.push("## Checkpoint", "");
  if (input.hubCommitUrl) {
    const repoUrl = input.hubRepoUrl ?? input.hubCommitUrl.replace(/\/commit\/[^/]+\/?$/, "");
    const label = input.hubTag ? `\`${input.hubTag}\`` : "commit";
    out.push(`- Hugging Face Hub: [${label}](${input.hubCommitUrl})${repoUrl !== input.hubCommitUrl ? ` in [${repoUrl.replace(/^https?:\/\//, "")}](${repoUrl})` : ""}`);
  } else if (input.hubTag) {
    out.push(`- Hugging Face Hub: \`${input.hubTag}\``);
  }
  out.push(
    `- Archive: \`${archive}\` (below), checksums in \`SHA256SUMS\`:`,
    "",
    "```sh",
    `mkdir ${top} && tar xzf ${archive} -C ${top} --strip-components=1`,
    "sha256sum -c SHA256SUMS",
    "```",
    "",
    `- \`manifest.json\` (below, and in the Hub repo): every file's path, size and sha256, sorted by path.`,
    "",
  );
  if (input.attestedRepository) {
    out.push(
      "## Provenance",
      "",
      `\`${archive}\`, \`SHA256SUMS\` and \`manifest.json\` carry a GitHub build-provenance attestation made by the release workflow. Check it with:`,
      "",
      "```sh",
      `gh attestation verify ${archive} --repo ${input.attestedRepository}`,
      "```",
      "",
    );
  }

  const counts = { pass: 0, fail: 0, warn: 0, skip: 0 } as Record<string, number>;
  for (const c of input.checks) counts[c.status] = (counts[c.status] ?? 0) + 1;
  out.push("## Pre-publish checklist", "");
  const summary = [`${counts.pass} passed`, counts.warn ? `${counts.warn} warning${counts.warn === 1 ? "" : "s"}` : "", counts.skip ? `${counts.skip} skipped` : "", counts.fail ? `${counts.fail} failed` : ""]
    .filter(Boolean)
    .join(" · ");
  out.push(input.checks.length ? summary : "No checks recorded.", "");
  const notable = input.checks.filter((c) => c.status !== "pass");
  for (const c of notable) out.push(`- ${ICON[c.status] ?? ""} **${mdCell(c.title)}**${c.message ? `: ${mdCell(c.message)}` : ""}`);
  if (notable.length) out.push("");
  if (input.checks.length) {
    out.push("<details><summary>All checks</summary>", "", "| | Check | Id |", "|---|---|---|");
    for (const c of input.checks) out.push(`| ${ICON[c.status] ?? c.status} | ${mdCell(c.title)} | \`${mdCell(c.id)}\` |`);
    out.push("", "</details>", "");
  }

  out.push("## Smoke test", "");
  if (!input.smoke) {
    out.push("Not run.", "");
  } else {
    const s = input.smoke;
    const passed = s.cases.filter((c) => c.status === "pass").length;
    const where = [s.device ? `device \`${mdCell(s.device)}\`` : "", s.engine ? `engine \`${mdCell(s.engine)}\`` : ""].filter(Boolean).join(", ");
    out.push(`Fill-mask: ${passed}/${s.cases.length} cases pass${where ? ` (${where})` : ""}.`, "");
    if (s.cases.length) {
      out.push("| Input | Expected | Top predictions | Result |", "|---|---|---|---|");
      for (const c of s.cases) {
        const top = (c.masks ?? []).map((m) => m.top.slice(0, 3).map((t) => `${t.token} (${t.score.toFixed(2)})`).join(", ")).join(" / ");
        out.push(`| ${mdCell(c.text)} | ${mdCell((c.expect ?? []).join(", ") || "—")} | ${mdCell(top || "—")} | ${ICON[c.status] ?? ""} ${mdCell(c.status)} |`);
      }
      out.push("");
    }
  }
  return out.join("\n").replace(/\n+$/, "\n");
}
