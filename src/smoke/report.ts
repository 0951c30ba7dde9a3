// The `smoke --json` report (../shared/docs/cli-contract.md) and its human rendering.
export type SmokeStatus = "pass" | "fail" | "warn" | "skip";

export interface SmokeTop {
  token: string;
  id: number;
  score: number;
}

export interface SmokeMask {
  /** Token index in input_ids. */
  position: number;
  top: SmokeTop[];
}

/** Agreement of the GPU run with the CPU engine on one case. */
export interface CaseAgreement {
  /** Same top-1 token at every mask. */
  top1: boolean;
  /** Mean over masks of |top-k(gpu) ∩ top-k(cpu)| / k. */
  overlap: number;
}

export interface SmokeCaseReport {
  text: string;
  /** Where the case came from, e.g. `README.md widget 3`, `test.txt:4`. */
  source?: string;
  input_ids: number[];
  masks: SmokeMask[];
  /** Tokens that must appear in the top-k (from the expectations file); empty when none. */
  expect: string[] | string[][];
  status: SmokeStatus;
  /** Why a case was skipped, warned or failed. */
  reason?: string;
  /** Milliseconds: the case's share (by tokens) of its batch's forward pass, plus its tokenization. */
  ms: number;
  agreement?: CaseAgreement;
}

export interface SmokeComparison {
  /** The engine the reported results are compared with. */
  engine: string;
  /** Cases with the same top-1 token at every mask, over the cases both ran. */
  top1Agreement: number;
  /** Mean top-k overlap over the cases both ran. */
  meanOverlap: number;
  cases: number;
}

export interface SmokeReport {
  ok: boolean;
  device: "cpu" | "cuda";
  engine: string;
  topK: number;
  cases: SmokeCaseReport[];
  /** Expectation keys that matched no case (probably stale or mistyped). */
  unmatchedExpectations?: string[];
  /** Whole-stage timings in milliseconds. */
  timings?: Record<string, number>;
  /** GPU path: the Python environment that ran it. */
  python?: { torch?: string; transformers?: string; gpu?: string | null };
  /** When cuda ran and the CPU engine ran too. */
  comparison?: SmokeComparison;
  /** Why `--device auto` chose what it chose, when it matters. */
  notes?: string[];
  /** The release's smoke test of exactly these files and cases passed before on this build, and was not run again. */
  carriedOver?: boolean;
}

export interface FormatOptions {
  color: boolean;
}

const ANSI = { green: "\x1b[32m", red: "\x1b[31m", yellow: "\x1b[33m", dim: "\x1b[2m", bold: "\x1b[1m", hi: "\x1b[92m", reset: "\x1b[0m" };

function paint(color: boolean, code: keyof typeof ANSI, s: string): string {
  return color ? `${ANSI[code]}${s}${ANSI.reset}` : s;
}

const STATUS_MARK: Record<SmokeStatus, { mark: string; color: keyof typeof ANSI }> = {
  pass: { mark: "PASS", color: "green" },
  fail: { mark: "FAIL", color: "red" },
  warn: { mark: "WARN", color: "yellow" },
  skip: { mark: "SKIP", color: "dim" },
};

/** The text with every mask token highlighted (ANSI green, or »[MASK]« without color). */
export function highlightMasks(text: string, color: boolean, maskToken = "[MASK]"): string {
  const parts = text.split(maskToken);
  const hi = color ? `${ANSI.hi}${maskToken}${ANSI.reset}` : `»${maskToken}«`;
  return parts.join(hi);
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function expectedAt(expect: string[] | string[][], maskIdx: number): string[] {
  if (!expect.length) return [];
  if (Array.isArray(expect[0])) return (expect as string[][])[maskIdx] ?? [];
  return expect as string[];
}

/** Human output, like the old test.py but with scores, expectations and timings. Pure. */
export function formatSmokeReport(report: SmokeReport, opts: FormatOptions): string {
  const c = opts.color;
  const lines: string[] = [];
  lines.push(paint(c, "bold", `smoke: ${report.device} · ${report.engine}`));
  for (const n of report.notes ?? []) lines.push(paint(c, "dim", `  note: ${n}`));
  for (const kase of report.cases) {
    const st = STATUS_MARK[kase.status];
    lines.push("");
    lines.push(`${paint(c, st.color, st.mark)} ${highlightMasks(kase.text, c)}  ${paint(c, "dim", `(${fmtMs(kase.ms)}${kase.source ? `, ${kase.source}` : ""})`)}`);
    if (kase.reason) lines.push(`     ${paint(c, st.color, kase.reason)}`);
    kase.masks.forEach((m, i) => {
      const want = new Set(expectedAt(kase.expect, i));
      const cands = m.top
        .map((t) => {
          const s = `${t.token} ${t.score.toFixed(4)}`;
          return want.has(t.token) ? paint(c, "green", c ? s : `${s} ✓`) : s;
        })
        .join(", ");
      const label = kase.masks.length > 1 ? `MASK[${i}]` : "MASK";
      lines.push(`     ${label} @${m.position}: ${cands}`);
    });
    if (kase.expect.length) {
      const flat = Array.isArray(kase.expect[0]) ? (kase.expect as string[][]).map((e) => e.join(" ")).join(" | ") : (kase.expect as string[]).join(" ");
      lines.push(paint(c, "dim", `     expect in top-${report.topK}: ${flat}`));
    }
    if (kase.agreement) {
      lines.push(paint(c, "dim", `     vs CPU engine: top-1 ${kase.agreement.top1 ? "same" : "differs"}, top-${report.topK} overlap ${(kase.agreement.overlap * 100).toFixed(0)}%`));
    }
  }
  lines.push("");
  const counts = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const k of report.cases) counts[k.status]++;
  const summary = (["pass", "fail", "warn", "skip"] as const).filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ");
  lines.push(paint(c, report.ok ? "green" : "red", `${report.ok ? "ok" : "FAILED"}: ${report.cases.length} case(s): ${summary || "none"}`));
  if (report.unmatchedExpectations?.length) {
    lines.push(paint(c, "yellow", `expectations for text that is not a case (stale or mistyped?): ${report.unmatchedExpectations.map((t) => JSON.stringify(t)).join(", ")}`));
  }
  if (report.comparison) {
    const cmp = report.comparison;
    lines.push(`agreement with ${cmp.engine}: top-1 ${(cmp.top1Agreement * 100).toFixed(0)}% of ${cmp.cases} case(s), mean top-${report.topK} overlap ${(cmp.meanOverlap * 100).toFixed(0)}%`);
  }
  if (report.timings) {
    lines.push(paint(c, "dim", Object.entries(report.timings).map(([k, v]) => `${k} ${fmtMs(v)}`).join(" · ")));
  }
  return lines.join("\n") + "\n";
}
