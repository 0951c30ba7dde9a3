// The environment groups of the checklist, in the order a user fixes them.
import { gitChecks, githubChecks, hubChecks, stripExtras } from "../release/environment.js";
import type { ReleaseSettings } from "../release/settings.js";
import type { CheckContext } from "./check.js";

export function environmentChecks(settings: ReleaseSettings): NonNullable<CheckContext["environment"]> {
  const strip = (f: (s: ReleaseSettings) => Promise<import("../report.js").CheckResult[]>) => async () => (await f(settings)).map(stripExtras);
  return [
    { title: "Git", run: strip(gitChecks) },
    { title: "Hugging Face Hub", run: strip(hubChecks) },
    { title: "GitHub", run: strip(githubChecks) },
  ];
}
