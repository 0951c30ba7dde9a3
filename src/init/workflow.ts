// The GitHub Actions workflow `init` writes into a model repository: the checklist on pull
// requests, the release on a tag push. It runs the toolkit at the version that wrote it (pinned),
// never the toolkit's own tests, and publishes to the Hub through Trusted Publishing (OIDC): no
// long-lived HF_TOKEN secret; a Hub token passed as HF_TOKEN is the fallback (its comment says how).

export interface WorkflowOptions {
  /** The toolkit version the workflow installs. */
  version: string;
  /** Where the release writes its outputs (github.outDir, relative to the repository). */
  outDir: string;
  archive: string;
  /** The GitHub repository (owner/name), when known: the Trusted Publisher names it. */
  repository?: string;
}

export function releaseWorkflow(o: WorkflowOptions): string {
  const tool = `npx --yes azbert-release@${o.version}`;
  return `# Written by azbert-release init (${o.version}). The checklist on every pull request; the release on
# a tag push (git tag v1.2.0 && git push origin v1.2.0).
#
# Hub access: Trusted Publishing (no HF_TOKEN secret). On the Hub, in the model repo's Settings →
# Trusted Publishers, add: provider GitHub Actions, repository ${o.repository ?? "owner/name (this one)"},
# workflow file release.yml, and the tag refs you release from (refs/tags/v*). The release job below has
# \`id-token: write\`: its OIDC token is exchanged for a token of that one repo, for one hour.
# Fallback: a Hub write token as the secret HF_TOKEN of the release environment, passed to the
# Release step as \`env: HF_TOKEN: \${{ secrets.HF_TOKEN }}\` (a configured token wins).
name: release

on:
  pull_request:
  push:
    tags: ["v*"]

permissions:
  contents: read

jobs:
  check:
    if: \${{ github.event_name == 'pull_request' }}
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
        with:
          lfs: true
      - uses: actions/setup-node@v4
        with:
          node-version: 22
      - name: "The release checklist (offline: a pull request has no release credentials)"
        run: ${tool} check --offline

  release:
    if: \${{ startsWith(github.ref, 'refs/tags/v') }}
    runs-on: ubuntu-latest
    timeout-minutes: 120
    # Keep any secret here and require a reviewer (Settings → Environments → release).
    environment: release
    # One release at a time: two tags pushed together would race on the Hub branch.
    concurrency:
      group: release
      cancel-in-progress: false
    permissions:
      contents: write
      # Trusted Publishing on the Hub, keyless signing of model.sig, build provenance.
      id-token: write
      attestations: write
    steps:
      - uses: actions/checkout@v4
        with:
          lfs: true
          fetch-depth: 0
      - uses: actions/setup-node@v4
        with:
          node-version: 22
      - name: Install git-lfs
        run: sudo apt-get update -qq && sudo apt-get install -y -qq git-lfs && git lfs install
      - name: Release
        run: ${tool} release --yes
        env:
          GITHUB_TOKEN: \${{ github.token }}
      - name: Attest the released files (build provenance)
        uses: actions/attest-build-provenance@v2
        with:
          subject-path: |
            ${o.outDir}/${o.archive}
            ${o.outDir}/SHA256SUMS
            ${o.outDir}/manifest.json
`;
}
