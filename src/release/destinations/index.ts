// The destinations of a release, one file each; a new destination (a second Hub mirror, a dataset
// repo) is one more file here and a line below.
import type { Destination } from "../destination.js";
import type { ReleaseSettings } from "../settings.js";
import { githubDestination } from "./github.js";
import { hubDestination } from "./hub.js";
import { originDestination } from "./origin.js";

export { githubAddress, githubTarget } from "./github.js";
export { hubAddress } from "./hub.js";
export { originAddress } from "./origin.js";

/** Where the stages of this run publish: the Hub for `hub`; the git remote and the GitHub Release for `github`. */
export function releaseDestinations(s: ReleaseSettings): Destination[] {
  const stages = s.release.stages;
  // In the checklist's order; the driver orders stage, proof and release itself.
  return [...(stages.has("github") ? [originDestination(s)] : []), ...(stages.has("hub") ? [hubDestination(s)] : []), ...(stages.has("github") ? [githubDestination(s)] : [])];
}

/** Every destination, for `check`: the checklist shows each one's preflight. */
export function allDestinations(s: ReleaseSettings): Destination[] {
  return [originDestination(s), hubDestination(s), githubDestination(s)];
}
