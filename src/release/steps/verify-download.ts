// Remote step `verify.download`: the release passes only if what users download passes. The Hub
// part downloads every published file through resolve/<tag>/<file> (storage reached by the
// redirect, without the token), checks each sha256 against this run's manifest and smoke-tests
// the copy; the GitHub part downloads the archive and SHA256SUMS and unpacks them with the
// verified unpacker. A failure is not forgotten into a republish (the Hub already holds the
// right tree; its storage served other bytes): the step fails, and a rerun proves again.
import { ARCHIVE_MANIFEST, toPublished, type PackResult } from "../../pack/index.js";
import { UserError } from "../../report.js";
import { githubDestination, hubDestination } from "../destinations.js";
import { journaled } from "../journaled.js";
import { describeProof, proveGitHubDownload, proveHubDownload } from "../proof.js";
import type { StepReport, VerifyDownloadResult } from "../report.js";
import { tagName } from "../settings.js";
import { githubTarget, type StepRun } from "./run.js";
import { VerifyError } from "./verify.js";

export async function verifyDownloads(r: StepRun, pack: PackResult | undefined, onProgress?: (line: string) => void): Promise<StepReport> {
  const s = r.settings;
  const tag = tagName(s);
  const parts: StepReport[] = [];
  const problems: string[] = [];
  // Both destinations are proven even when the first fails: the report names every bad file.
  const prove = async (run: () => Promise<StepReport>) => {
    try {
      parts.push(await run());
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      problems.push(e.message);
    }
  };
  const progress = onProgress ? { onProgress } : {};
  const signal = r.signal ? { signal: r.signal } : {};

  if (s.release.stages.has("hub")) {
    const dest = hubDestination(s);
    await prove(() =>
      journaled(r.journal, "verify.download", dest, async () => {
        const hub = r.journal.get("hub", dest)?.result;
        if (!hub) throw new VerifyError("no Hub commit recorded: run the release again");
        if (hub.pullRequestUrl) {
          const skipped = { skipped: `published as a pull request: run \`azbert-release verify --tag ${tag}\` once it is merged and tagged` };
          return { status: "done", result: { hub: skipped, summary: describeProof({ hub: skipped }) } };
        }
        const revision = r.journal.get("hub-tag", dest)?.result.tag ?? tag;
        const p = await proveHubDownload({
          endpoint: s.hub.endpoint,
          repoId: s.hub.repoId,
          revision,
          ...(s.hub.token ? { token: s.hub.token } : {}),
          fetch: r.remotes.hubFetch,
          expected: toPublished(r.manifest),
          smoke: s.smoke,
          ...signal,
          ...progress,
        });
        if (p.problems.length) throw new VerifyError(p.problems.join("\n"));
        return { status: "done", result: { hub: p.proof!, summary: describeProof({ hub: p.proof! }) } };
      }),
    );
  }
  if (s.release.stages.has("github") && pack) {
    const dest = githubDestination(s);
    await prove(() =>
      journaled(r.journal, "verify.download", dest, async () => {
        const { client, owner, repo } = githubTarget(r);
        const p = await proveGitHubDownload({
          client,
          ...(s.github.token ? { token: s.github.token } : {}),
          apiUrl: s.github.apiUrl,
          owner,
          repo,
          tag,
          archiveName: pack.archive.name,
          archiveSha256: pack.archive.sha256,
          expected: toPublished(r.manifest.filter((e) => e.path !== ARCHIVE_MANIFEST)),
          ...signal,
          ...progress,
        });
        if (p.problems.length) throw new VerifyError(p.problems.join("\n"));
        return { status: "done", result: { github: p.proof!, summary: describeProof({ github: p.proof! }) } };
      }),
    );
  }
  if (problems.length) throw new VerifyError(`what users download does not pass:\n${problems.join("\n")}`);
  const merged: Omit<VerifyDownloadResult, "summary"> = Object.assign({}, ...parts.map(({ id: _id, status: _status, message: _message, ...result }) => result));
  const status = parts.length && parts.every((p) => p.status === "skipped") ? "skipped" : "done";
  return { id: "verify.download", status, ...merged, summary: describeProof(merged) };
}
