#!/usr/bin/env bash
# Runs the test suite on a "hostile" developer machine: a global git config that signs every
# commit and tag (with no key to sign with) and has no identity, an empty HOME, and a time zone
# other than UTC. The suite must pass unchanged: tests isolate their git from the user's config.
# Usage: tools/test-hermetic.sh [vitest args...]   (builds first, like `npm test`)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d "${TMPDIR:-/tmp}/azbert-hermetic-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/home"
cat > "$scratch/gitconfig" <<'CFG'
[commit]
	gpgsign = true
[tag]
	gpgsign = true
[user]
	useConfigOnly = true
[gpg]
	program = false
CFG
npm run build >/dev/null
env -u GIT_AUTHOR_NAME -u GIT_AUTHOR_EMAIL -u GIT_COMMITTER_NAME -u GIT_COMMITTER_EMAIL -u EMAIL \
  -u GIT_CONFIG_NOSYSTEM -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_HOME -u GITHUB_TOKEN -u GITHUB_REPOSITORY -u CI \
  HOME="$scratch/home" GIT_CONFIG_GLOBAL="$scratch/gitconfig" TZ=America/New_York \
  npx vitest run "$@"
