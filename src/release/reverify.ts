// Before a rerun says "already released: nothing to do", each destination recorded as
// published and verified is checked again against the remote, cheaply (refs, the tree listing,
// the release's asset list; no download): a Hub repo deleted or reset since, or a GitHub
// Release removed, no longer counts as released. Its journal entries are forgotten and the
// reason is returned, so the release plans it again and says why. When the remote cannot be asked,
// the error is thrown and the journal is left as it was.
import { errorStatus } from "../hub/errors.js";
import { describeDestination, destinationsOf, type Destination } from "./destinations.js";
import { githubProblems, hubProblems } from "./steps/verify.js";
import type { StepRun } from "./steps/run.js";

export interface Reverified {
  /** Destinations that still hold the recorded release. */
  released: Destination[];
  /** Destinations planned again, each with a line saying why. */
  replanned: Array<{ destination: Destination; reason: string }>;
}

export async function reverifyRecorded(r: StepRun): Promise<Reverified> {
  const out: Reverified = { released: [], replanned: [] };
  for (const dest of destinationsOf(r.settings)) {
    // Released means verified and proven from a download; a destination without both is not done.
    if (!r.journal.get("verify", dest) || !r.journal.get("verify.download", dest)) continue;
    // Only evidence replans (a 404, another commit, a missing asset). An error that says nothing
    // about the remote (a network failure, a 503, a token refused) is thrown, the record kept.
    const problems = await stillHolds(r, dest);
    if (!problems.length) {
      out.released.push(dest);
      continue;
    }
    await r.journal.forget(dest);
    out.replanned.push({ destination: dest, reason: `${describeDestination(dest)} no longer holds the recorded release: ${problems.join("; ")}` });
  }
  // The GitHub Release's notes link the Hub commit: a Hub published again means notes to update.
  const github = destinationsOf(r.settings).find((d) => d.kind === "github");
  if (github && out.replanned.some((x) => x.destination.kind === "hub") && r.journal.get("github-release", github)) {
    await r.journal.forget(github, ["github-release", "verify"]);
    out.released = out.released.filter((d) => d !== github);
    out.replanned.push({ destination: github, reason: `${describeDestination(github)}: the release notes link the Hub commit, so they are written again` });
  }
  return out;
}

async function stillHolds(r: StepRun, dest: Destination): Promise<string[]> {
  if (dest.kind === "hub") {
    const hub = r.journal.get("hub", dest)?.result;
    if (!hub) return ["no Hub commit recorded"];
    const tag = hub.pullRequestUrl ? undefined : r.journal.get("hub-tag", dest)?.result.tag;
    try {
      return await hubProblems(r, { commit: hub.commit, ...(tag ? { tag } : {}), gitattributes: hub.gitattributes });
    } catch (e) {
      if (errorStatus(e) === 404) return [`${dest.repoId} or its release commit ${hub.commit.slice(0, 12)} is gone (404)`];
      throw e;
    }
  }
  const pushed = r.journal.get("git-push", dest)?.result;
  const release = r.journal.get("github-release", dest)?.result;
  if (!pushed || !release) return ["no push or release recorded"];
  // Cheap: names and recorded sizes (and the sha256 GitHub reports, when it does).
  return (await githubProblems(r, { commit: pushed.commit, assets: release.assets })).problems;
}
