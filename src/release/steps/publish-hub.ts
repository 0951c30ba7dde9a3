// Remote step `hub`: one commit with the checkpoint on the Hub (api or git transport). The api
// transport tags the commit in the same call (it refuses before committing when the tag is
// taken elsewhere); the tag step then only records it.
import { ensureHubRemote, publishHubApi, publishHubGit, type HubPlan, type HubProgress } from "../../hub/index.js";
import { hubDestination } from "../destinations.js";
import { journaled } from "../journaled.js";
import { gitAt } from "../../git/index.js";
import { githubWebUrl } from "../../github/index.js";
import { tagName, type ReleaseSettings } from "../settings.js";
import { hubTarget, type StepRun } from "./run.js";

export function publishToHub(r: StepRun, plan: HubPlan | undefined, onProgress?: HubProgress) {
  return journaled(r.journal, "hub", hubDestination(r.settings), async () => {
    const s = r.settings;
    const target = hubTarget(r);
    await ensureHubRemote({ cwd: s.cwd, remote: s.hub.remote, endpoint: s.hub.endpoint, repoId: s.hub.repoId });
    const tag = tagName(s);
    const message = await commitMessage(s, tag);
    const common = {
      endpoint: target.endpoint,
      repoId: target.repoId,
      token: target.token,
      revision: s.hub.revision,
      manifest: r.manifest,
      prune: s.hub.prune,
      summary: message.summary,
      ...(message.description ? { description: message.description } : {}),
      ...(s.hub.createPr ? {} : { tag }),
      onProgress,
    };
    const p =
      s.hub.transport === "git"
        ? await publishHubGit({ ...common, summary: message.description ? `${message.summary}\n\n${message.description}` : message.summary, cwd: s.cwd, remote: s.hub.remote, tag, force: s.hub.force, fetch: target.fetch, createRepo: true, private: s.hub.private, ...(r.signal ? { signal: r.signal } : {}), ...(plan ? { plan } : {}) })
        : await publishHubApi({
            ...common,
            fetch: target.fetch,
            createRepo: true,
            private: s.hub.private,
            createPr: s.hub.createPr,
            useXet: s.hub.useXet,
            ...(r.signal ? { abortSignal: r.signal } : {}),
            ...(plan ? { plan } : {}),
          });
    return {
      status: p.status === "unchanged" ? "unchanged" : "done",
      result: {
        commit: p.commit,
        url: p.url,
        transport: p.transport,
        uploaded: p.uploaded,
        deduplicated: p.deduplicated,
        deleted: p.deleted,
        ...(p.pullRequestUrl ? { pullRequestUrl: p.pullRequestUrl } : {}),
        gitattributes: p.plan.gitattributes,
        ...(p.tag ? { tag: { tag: p.tag.tag, commit: p.tag.commit, created: p.tag.status === "created" } } : {}),
      },
    };
  });
}

/**
 * The Hub commit names the source it was released from: `Release v1.2.0 (owner/name@abc1234)`,
 * and the GitHub address of that commit in the description. Without a known repository or
 * commit, just `Release v1.2.0`.
 */
export async function commitMessage(s: ReleaseSettings, tag: string): Promise<{ summary: string; description?: string }> {
  const repo = s.github.repository;
  const head = await gitAt(s.cwd).try(["rev-parse", "--verify", "HEAD"]);
  if (!repo || !head.ok) return { summary: `Release ${tag}` };
  const sha = head.out.trim();
  const name = `${repo.owner}/${repo.repo}`;
  return { summary: `Release ${tag} (${name}@${sha.slice(0, 7)})`, description: `Source: ${githubWebUrl(s.github.apiUrl)}/${name}/commit/${sha}` };
}
