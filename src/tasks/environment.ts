// The environment groups of the checklist, in the order a user fixes them.
import { gitChecks, githubChecks, hubChecks, stripExtras } from "../release/environment.js";
import type { ReleaseSettings } from "../release/settings.js";
import type { CheckResult } from "../report.js";
import type { CheckContext } from "./check.js";

/** `which` picks the groups a command needs (default: all, as `check` runs them). */
export function environmentChecks(
  settings: ReleaseSettings,
  which: { git: boolean; hub: boolean; github: boolean } = { git: true, hub: true, github: true },
): NonNullable<CheckContext["environment"]> {
  const group = (title: string, f: (s: ReleaseSettings) => Promise<CheckResult[]>) => ({ title, run: async () => (await f(settings)).map(stripExtras) });
  return [
    ...(which.git ? [group("Git", gitChecks)] : []),
    ...(which.hub ? [group("Hugging Face Hub", hubChecks)] : []),
    ...(which.github ? [group("GitHub", githubChecks)] : []),
  ];
}
