// Remote step `hub-tag`: the release tag on the Hub commit, so users can pin
// `revision="vX.Y.Z"`. When the publish already made it, this records it without a request.
import { tagHubRevision } from "../../hub/index.js";
import { UserError } from "../../report.js";
import { hubDestination } from "../destinations.js";
import { journaled } from "../journaled.js";
import type { StepReport } from "../report.js";
import { tagName } from "../settings.js";
import { hubTarget, type StepRun } from "./run.js";

export async function tagOnHub(r: StepRun): Promise<StepReport> {
  const dest = hubDestination(r.settings);
  const hub = r.journal.get("hub", dest)?.result;
  if (!hub) throw new UserError("cannot tag on the Hub: the Hub commit is not known (publish first)");
  if (hub.pullRequestUrl) return { id: "hub-tag", status: "skipped", message: "published as a pull request: tag it once it is merged" };
  return journaled(r.journal, "hub-tag", dest, async () => {
    if (hub.tag) return { status: hub.tag.created ? "done" : "unchanged", result: { tag: hub.tag.tag, commit: hub.tag.commit } };
    const tag = tagName(r.settings);
    const t = await tagHubRevision({ ...hubTarget(r), tag, commit: hub.commit, message: `Release ${tag}` });
    return { status: t.status === "created" ? "done" : "unchanged", result: { tag: t.tag, commit: t.commit } };
  });
}
