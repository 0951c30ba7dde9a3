export { createGitHubClient, isRetryable, isStreamBody, type GitHubClient, type GitHubClientOptions } from "./client.js";
export { parseGitHubRemoteUrl, resolveGitHubRepo, type GitHubRepo, type ResolveRepoOptions } from "./repo.js";
export { renderReleaseNotes, mdCell, type ReleaseNotesInput, type SmokeSummary } from "./notes.js";
export {
  publishGitHubRelease,
  assetLabel,
  remoteAssetSha256,
  type PublishReleaseOptions,
  type PublishReleaseResult,
  type ReleaseAssetInput,
  type PublishedAsset,
} from "./release.js";
export { verifyGitHubAccess, type GitHubAccessOptions } from "./checks.js";
