// The tests a mutation run uses: those that run the mutated modules in their own process (a test
// that drives the built CLI or a child process would see none of the mutants).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/pack.test.ts", "test/release-journal.test.ts", "test/release-driver.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    setupFiles: ["test/helpers/hermetic-env.ts"],
  },
});
