export { createGitHubClient, isRetryable, isStreamBody, type GitHubClient, type GitHubClientOptions } from "./client.js";
export { GitHubError, toGitHubError } from "./errors.js";
export { githubWebUrl, parseGitHubRemoteUrl, resolveGitHubRepo, type GitHubRepo, type ResolveRepoOptions } from "./repo.js";
export { renderReleaseNotes, mdCell, type ReleaseNotesInput, type SmokeSummary } from "./notes.js";
export {
  stageDraftRelease,
  publishDraftRelease,
  deleteDraftRelease,
  findReleaseByTag,
  githubReleaseByTag,
  githubTagCommit,
  immutableReleasesOn,
  listReleaseAssets,
  compareAssets,
  assetLabel,
  remoteAssetSha256,
  type LocalAsset,
  type RemoteAsset,
  type RemoteRelease,
  type ReleaseTarget,
  type StagedRelease,
  type PublishedRelease,
} from "./release.js";
export { verifyGitHubAccess, verifyOriginIsReleaseRepository, type GitHubAccessOptions, type OriginRepositoryOptions } from "./checks.js";
export { downloadReleaseAsset, type AssetDownloadOptions } from "./download.js";
