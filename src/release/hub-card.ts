// The card the Hub page keeps when the checkpoint has none (azbert's lives in its GitHub README,
// mirrored to the Hub): README.md of the Hub repo at the branch the release commits to, unless
// --prune would delete it. Asked once per command: `check` and the smoke stage of a release see
// the same answer.
import type { HubCardLookup } from "../checkpoint/load.js";
import type { Remotes } from "./remotes.js";
import type { ReleaseSettings } from "./settings.js";

export function hubCardLookup(s: ReleaseSettings, remotes: Remotes): () => Promise<HubCardLookup> {
  let answer: Promise<HubCardLookup> | undefined;
  return () => (answer ??= lookUp());
  async function lookUp(): Promise<HubCardLookup> {
    const where = `${s.hub.repoId}@${s.hub.revision}`;
    if (s.hub.prune) return { status: "pruned", where };
    if (s.offline) return { status: "unknown", why: "offline" };
    try {
      const { fetchHubModelCard } = await import("../hub/model-card.js");
      const r = await fetchHubModelCard({ endpoint: s.hub.endpoint, repoId: s.hub.repoId, revision: s.hub.revision, fetch: remotes.hubFetch, ...(s.hub.token ? { token: s.hub.token } : {}) });
      if (r.status === "found") return { status: "found", where, text: r.text };
      // Without a token a private repo looks absent: only a token's answer says there is no card.
      return s.hub.token ? { status: "absent", where } : { status: "unknown", why: `no Hub token, and ${where} does not show a README.md without one` };
    } catch (e) {
      return { status: "unknown", why: `the Hub could not be asked: ${(e as Error).message}` };
    }
  }
}
