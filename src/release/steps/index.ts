// The remote steps of a release, one verb per file; each is idempotent and journaled by destination.
export { publishToHub } from "./publish-hub.js";
export { tagOnHub } from "./tag-hub.js";
export { pushToGitHub } from "./push-git.js";
export { createGitHubRelease } from "./release-github.js";
export { verifyRelease, hubProblems, githubProblems, VerifyError } from "./verify.js";
export { verifyDownloads } from "./verify-download.js";
export { requireHubToken, type StepRun } from "./run.js";
