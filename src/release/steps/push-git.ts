// Remote step `git-push`: the release branch and tag to the GitHub remote, never forced. The
// tag itself is made before any remote step (see createReleaseTag in the release tasks).
import { pushRelease } from "../../git/index.js";
import { githubDestination } from "../destinations.js";
import { journaled } from "../journaled.js";
import { tagName } from "../settings.js";
import type { StepRun } from "./run.js";

export function pushToGitHub(r: StepRun) {
  return journaled(r.journal, "git-push", githubDestination(r.settings), async () => {
    const s = r.settings;
    const p = await pushRelease({ cwd: s.cwd, remote: s.github.remote, branch: s.github.branch, tag: tagName(s), ...(r.signal ? { signal: r.signal } : {}) });
    const changed = p.branch.status === "pushed" || p.tag.status === "pushed";
    return { status: changed ? "done" : "unchanged", result: { remote: p.remote, commit: p.commit, branch: p.branch.status, tag: p.tag.status } };
  });
}
