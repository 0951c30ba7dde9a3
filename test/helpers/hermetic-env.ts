// Set up before every test file (vitest `setupFiles`): the tests, and every git and CLI process
// they start, see none of the developer's machine. A fresh empty HOME; a global git config of
// our own (an identity, no signing) in place of the user's, and no system config; no token,
// repository or CI variable from the shell. Whatever the user's ~/.gitconfig says
// (commit.gpgsign, no identity, ...) cannot change an outcome. Tests that exercise such a
// config set it explicitly, in their own repository.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";

const home = mkdtempSync(path.join(os.tmpdir(), "azbert-test-home-"));
const gitconfig = path.join(home, "test.gitconfig");
writeFileSync(
  gitconfig,
  ["[user]", "\tname = azbert tests", "\temail = tests@azbert.invalid", "[commit]", "\tgpgsign = false", "[tag]", "\tgpgsign = false", "[init]", "\tdefaultBranch = main", ""].join("\n"),
);

const FROM_THE_SHELL = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_AUTHOR_NAME",
  "GIT_AUTHOR_EMAIL",
  "GIT_AUTHOR_DATE",
  "GIT_COMMITTER_NAME",
  "GIT_COMMITTER_EMAIL",
  "GIT_COMMITTER_DATE",
  "EMAIL",
  "GIT_CONFIG",
  "GIT_CONFIG_COUNT",
  "GIT_CONFIG_PARAMETERS",
  "GIT_ASKPASS",
  "SSH_ASKPASS",
  "HF_TOKEN",
  "HUGGING_FACE_HUB_TOKEN",
  "HF_HOME",
  "HF_TOKEN_PATH",
  "HF_ENDPOINT",
  "XDG_CACHE_HOME",
  "XDG_CONFIG_HOME",
  "GITHUB_TOKEN",
  "GITHUB_REPOSITORY",
  "GITHUB_API_URL",
  "GITHUB_REF_TYPE",
  "GITHUB_REF_NAME",
  "GITHUB_STEP_SUMMARY",
  "AZBERT_RELEASE_CACHE_DIR",
  "AZBERT_RELEASE_RETRY_DELAY_MS",
  "AZBERT_RELEASE_SIGNING_KEY_PASSWORD",
  "ACTIONS_ID_TOKEN_REQUEST_URL",
  "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
  "SIGSTORE_ID_TOKEN",
  "SIGSTORE_FULCIO_URL",
  "SIGSTORE_REKOR_URL",
  "BUILDKITE",
  "CI",
];
for (const name of FROM_THE_SHELL) delete process.env[name];
Object.assign(process.env, { HOME: home, GIT_CONFIG_GLOBAL: gitconfig, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" });

afterAll(() => rmSync(home, { recursive: true, force: true }));
