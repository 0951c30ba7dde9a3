export { createGitHubClient, isRetryable, isStreamBody, type GitHubClient, type GitHubClientOptions } from "./client.js";
export { GitHubError, toGitHubError } from "./errors.js";
export { githubWebUrl, parseGitHubRemoteUrl, resolveGitHubRepo, type GitHubRepo, type ResolveRepoOptions } from "./repo.js";
export { renderReleaseNotes, mdCell, type ReleaseNotesInput, type SmokeSummary } from "./notes.js";
export {
  publishGitHubRelease,
  githubReleaseByTag,
  githubTagCommit,
  listReleaseAssets,
  assetLabel,
  remoteAssetSha256,
  type PublishReleaseOptions,
  type PublishReleaseResult,
  type ReleaseAssetInput,
  type PublishedAsset,
  type RemoteAsset,
  type RemoteRelease,
} from "./release.js";
export { verifyGitHubAccess, type GitHubAccessOptions } from "./checks.js";
export { downloadReleaseAsset, type AssetDownloadOptions } from "./download.js";
