// What a real release needs beyond the checklist, as check results: a plan for every remote
// step (the user saw what will happen), the credentials the dry run may skip, and no release
// tag already taken on the remote.
import { isOk, type CheckResult } from "../report.js";
import { isSkipped, type ReleasePlan } from "./plan.js";
import type { ReleaseSettings, Stage } from "./settings.js";

export function publishGates(s: ReleaseSettings, results: readonly CheckResult[], plan: ReleasePlan): CheckResult[] {
  return [...requireCredentials(s, results), ...requirePlan(s, results, plan), ...refuseConflicts(plan)];
}

/** What the dry run must fail on as well: a plan that the real run would refuse. */
export function dryRunGates(plan: ReleasePlan): CheckResult[] {
  return refuseConflicts(plan);
}

/** Remote steps run only against a plan the user could see. */
function requirePlan(s: ReleaseSettings, results: readonly CheckResult[], plan: ReleasePlan): CheckResult[] {
  if (!isOk(results)) return [];
  const stages = s.release.stages;
  const missing: string[] = [];
  const why = (p: unknown) => (isSkipped(p) ? p.skipped : "not planned");
  if (stages.has("hub") && (!plan.hub || isSkipped(plan.hub))) missing.push(`the Hub: ${why(plan.hub)}`);
  if (stages.has("github") && (!plan.git || isSkipped(plan.git))) missing.push(`git push: ${why(plan.git)}`);
  if (stages.has("github") && (!plan.github || isSkipped(plan.github))) missing.push(`GitHub Release: ${why(plan.github)}`);
  return missing.length ? [{ id: "release.plan", title: "every remote step has a plan", status: "fail", message: missing.join("\n") }] : [];
}

/** A real release needs what the dry run may skip: credentials for every selected remote stage. */
function requireCredentials(s: ReleaseSettings, results: readonly CheckResult[]): CheckResult[] {
  const needed: Array<[Stage, string]> = [
    ["hub", "hub.token"],
    ["hub", "hub.whoami"],
    ["github", "git.remote"],
    ["github", "github.access"],
  ];
  const out: CheckResult[] = [];
  for (const [stage, id] of needed) {
    if (!s.release.stages.has(stage)) continue;
    const r = results.find((c) => c.id === id);
    if (r?.status === "skip") out.push({ id: `release.${id}`, title: `${r.title} (needed to publish)`, status: "fail", message: r.message ?? "skipped" });
  }
  return out;
}

/** A release tag already at another commit, on the git remote or on the Hub, is never moved. */
function refuseConflicts(plan: ReleasePlan): CheckResult[] {
  const out: CheckResult[] = [];
  const git = plan.git && !isSkipped(plan.git) ? plan.git : undefined;
  const conflict = git?.refs.find((r) => r.action === "conflict");
  if (conflict) {
    out.push({
      id: "release.tag-conflict",
      title: "the release tag is not taken on the remote",
      status: "fail",
      message: `${conflict.ref} already exists on ${git!.remote} at ${conflict.from?.slice(0, 7)}, not at HEAD: bump the version`,
    });
  }
  const hub = plan.hub && !isSkipped(plan.hub) ? plan.hub : undefined;
  if (hub?.tag?.action === "conflict") {
    out.push({
      id: "release.hub-tag-conflict",
      title: "the release tag is not taken on the Hub",
      status: "fail",
      message: `tag ${hub.tag.name} already exists on ${hub.repoId} at ${hub.tag.commit!.slice(0, 12)}, not at the commit this release would tag: bump the version (a released tag is never moved), or delete that tag on the Hub if it was a mistake`,
    });
  }
  return out;
}
