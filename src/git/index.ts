export {
  verifyInsideWorkTree,
  verifyRemoteExists,
  verifyWorkingTreeIsClean,
  verifyReleaseBranch,
  verifyNotBehindRemote,
  verifyTagMatchesVersion,
  verifyReleaseTagIsFree,
  verifyNoLargeFilesToPush,
  GITHUB_FILE_LIMIT,
  GITHUB_FILE_WARNING,
  resolveReleaseTag,
  remoteTagCommit,
  runGitPreflight,
  type ResolvedTag,
  type GitPreflightOptions,
  type CleanOptions,
  type BranchOptions,
  type UpstreamOptions,
  type TagOptions,
} from "./preflight.js";
export { ensureReleaseTag, pushRelease, type EnsureTagOptions, type EnsureTagResult, type PushOptions, type PushResult, type PushStatus } from "./push.js";
export { Git, GitError, gitAt, redactGitText, tryGit, type GitCallOptions, type GitResult, type GitRunnerOptions } from "./run.js";
