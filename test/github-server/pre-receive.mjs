// pre-receive hook of the bare repositories the local GitHub stands for (plain JS: git runs it
// with node). Like GitHub with immutable releases: the tag of an immutable release cannot be
// moved or deleted, and a tag whose immutable release was deleted can never be created again.
import { readFileSync } from "node:fs";
import path from "node:path";

const gitDir = process.env.GIT_DIR ?? ".";
const state = JSON.parse(readFileSync(path.join(gitDir, "fake-github-refs.json"), "utf8"));
const ZERO = /^0+$/;
const problems = [];
for (const line of readFileSync(0, "utf8").split("\n").filter(Boolean)) {
  const [old, , ref] = line.split(" ");
  if (!ref.startsWith("refs/tags/")) continue;
  const tag = ref.slice("refs/tags/".length);
  if (state.locked.includes(tag) && !ZERO.test(old)) {
    problems.push(`GH013: Repository rule violations found for ${ref}.`, "- Cannot update this protected ref: the tag of an immutable release cannot be moved or deleted.");
  } else if (state.burned.includes(tag) && ZERO.test(old)) {
    problems.push(`GH013: Repository rule violations found for ${ref}.`, "- Cannot create ref due to creations being restricted.");
  }
}
if (problems.length) {
  process.stderr.write(`${problems.join("\n")}\n`);
  process.exit(1);
}
