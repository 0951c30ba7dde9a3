export { startHubServer, globToRegExp } from "./server.js";
export type { HubServer, HubServerOptions, TokenSpec, TokenRole, FineGrainedScope, Fault, FaultKind, RequestLogEntry } from "./server.js";
export { RepoStore, lfsPointer, parseLfsPointer, HUB_DEFAULT_GITATTRIBUTES } from "./repo-store.js";
export { git, gitText, hermeticGitEnv, isolateGit } from "./git.js";
