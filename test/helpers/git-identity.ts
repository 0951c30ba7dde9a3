/**
 * The author and committer of every commit a test helper makes: a clean machine (no global git
 * identity, an empty HOME) must be able to commit too.
 */
export const TEST_GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "azbert tests",
  GIT_AUTHOR_EMAIL: "tests@azbert.invalid",
  GIT_COMMITTER_NAME: "azbert tests",
  GIT_COMMITTER_EMAIL: "tests@azbert.invalid",
} as const;
