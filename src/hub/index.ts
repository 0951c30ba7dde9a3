// Public API of the Hub publisher. Every function takes explicit options: no global config.
export * from "./types.js";
export { resolveHubCredentials, hubTokenPath, checkHubToken, DEFAULT_HUB_ENDPOINT, type HubCredentials, type TokenSource } from "./credentials.js";
export { createRetryFetch, parseRetryAfter, retryableErrorCode, isReplayableBody, type RetryOptions } from "./retry-fetch.js";
export {
  buildGitattributes,
  lfsPatterns,
  matchesLfsPattern,
  isLfsEntry,
  isBinaryFile,
  gitattributesPatternToRegExp,
  LFS_SIZE_THRESHOLD,
  RELEASE_LFS_PATTERNS,
  HUB_DEFAULT_LFS_PATTERNS,
} from "./gitattributes.js";
export { getRevisionHead, listRemoteTree, gitBlobSha1 } from "./tree.js";
export { planHubPublish, computeHubPlan, type PlanOptions } from "./plan.js";
export { publishHubApi, type PublishApiOptions } from "./publish-api.js";
export { tagHubRevision, getHubTag, getHubRefs, type TagOptions, type HubRefs } from "./tag.js";
export { verifyHubRevision, type VerifyOptions, type VerifyResult, type VerifyMismatch } from "./verify.js";
export { redactHub, stripUrlCredentials, toHubUserError, HubPublishError } from "./errors.js";
export { buildPlan, type PlanInput, type DesiredFile, type DetailedPlan } from "./plan.js";
export { checkHubWhoami, hubWritePermission, type WhoAmIV2, type WritePermission, type WhoamiCheckOptions } from "./whoami-check.js";
export { checkHubRepo, type RepoCheckOptions } from "./repo-check.js";
export { checkHubRemote, ensureHubRemote, checkGitLfs, hubRepoUrl, normalizeRemoteUrl, remoteMatchesRepo, type RemoteCheckOptions } from "./remote-check.js";
export { publishHubGit, hubCloneUrl, type PublishGitOptions } from "./publish-git.js";
export { hubGitEnv, runHubGit, hubOrigin, hubGitUrl, type HubGitEnvOptions, type HubGitResult, type HubGitRunOptions } from "./hub-git.js";
export { checkHubGitAccess, type GitAccess, type GitAccessOptions } from "./git-access-check.js";
export { commitKnownOids, type HubCommitRequest, type KnownOidCommitOptions, type KnownOidCommitResult } from "./commit.js";
export { assertUnchangedSinceManifest, changedSinceManifest } from "./file-guard.js";
export { uploadLfsObjects, type LfsObject, type LfsUploadOptions, type LfsUploadResult } from "./lfs-upload.js";
export { DiskBlob, readRegularFile, MAX_WHOLE_READ } from "./file-blob.js";
export { fileStreamingFetch } from "../util/http-transport.js";
export { fileBody } from "../util/file-body.js";
export { downloadHubFile, hubResolveUrl, isPublicHubRepo, type HubDownloadOptions } from "./download.js";
export { fetchHubModelCard, type HubModelCard } from "./model-card.js";
