import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn git, servers and the CLI; two cores here.
    pool: "forks",
    // No test sees the developer's HOME, git config, tokens or CI variables.
    setupFiles: ["test/helpers/hermetic-env.ts"],
  },
});
