// Remote step `github-release`: the GitHub Release of the tag, with the archive and its
// SHA256SUMS. The tag must already be on GitHub at the pushed commit: GitHub would otherwise
// create it silently from the default branch, which is never what was checked.
import { publishGitHubRelease, renderReleaseNotes, type SmokeSummary } from "../../github/index.js";
import type { PackResult } from "../../pack/index.js";
import { UserError, type CheckResult } from "../../report.js";
import { githubDestination, hubDestination } from "../destinations.js";
import { journaled } from "../journaled.js";
import { tagName } from "../settings.js";
import { githubTarget, type StepRun } from "./run.js";

export function createGitHubRelease(r: StepRun, pack: PackResult, checks: readonly CheckResult[], smoke?: SmokeSummary) {
  const dest = githubDestination(r.settings);
  return journaled(r.journal, "github-release", dest, async () => {
    const s = r.settings;
    const pushed = r.journal.get("git-push", dest)?.result;
    if (!pushed) throw new UserError(`cannot create the GitHub Release: the push of ${tagName(s)} to ${s.github.remote} is not recorded (push first)`);
    const hub = s.release.stages.has("hub") ? r.journal.get("hub", hubDestination(s))?.result : undefined;
    const tag = tagName(s);
    const body = renderReleaseNotes({
      ...(hub?.url ? { hubCommitUrl: hub.url } : {}),
      hubTag: tag,
      checks,
      ...(smoke ? { smoke } : {}),
      archiveName: pack.archive.name,
      topFolder: pack.topFolder,
      ...(s.github.attested ? { attestedRepository: `${s.github.repository!.owner}/${s.github.repository!.repo}` } : {}),
    });
    const g = await publishGitHubRelease({
      ...githubTarget(r),
      tag,
      commit: pushed.commit,
      name: tag,
      body,
      ...(s.github.retryDelayMs ? { retryDelayMs: s.github.retryDelayMs } : {}),
      assets: [
        { path: pack.archive.path, name: pack.archive.name, sha256: pack.archive.sha256, contentType: "application/gzip" },
        { path: pack.sha256sums, name: "SHA256SUMS", contentType: "text/plain" },
        { path: pack.manifestJson, name: "manifest.json", contentType: "application/json" },
      ],
    });
    return {
      status: g.release === "unchanged" && g.uploaded.length === 0 ? "unchanged" : "done",
      result: { releaseId: g.releaseId, url: g.htmlUrl, uploaded: g.uploaded, unchanged: g.unchanged, assets: g.assets.map((a) => ({ name: a.name, size: a.size, sha256: a.sha256 })) },
    };
  });
}
