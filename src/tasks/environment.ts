// Checks of the machine and the remotes (git-lfs, git state, Hub credentials). Filled in as the
// Hub and GitHub stages land.
import type { CheckContext } from "./check.js";

export function environmentChecks(): NonNullable<CheckContext["environment"]> {
  return [];
}
