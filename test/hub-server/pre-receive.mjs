// pre-receive hook of the local Hub's bare repositories (plain JS: git runs it with node).
// Like the Hub, a push is refused when a pushed LFS pointer names an object the LFS store does
// not hold (push the objects first: `git lfs push`), or when a regular file is 10 MiB or more.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";

const ZERO = /^0+$/;
const POINTER = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n?$/;
const gitDir = process.env.GIT_DIR ?? ".";
const git = (args, input) => execFileSync("git", args, { input, maxBuffer: 1 << 30 });

const problems = [];
for (const line of readFileSync(0, "utf8").split("\n").filter(Boolean)) {
  const [, next, ref] = line.split(" ");
  if (ZERO.test(next) || !ref.startsWith("refs/heads/")) continue;
  const objects = git(["rev-list", "--objects", next, "--not", "--all"]).toString().split("\n").filter(Boolean);
  const paths = new Map(objects.map((o) => [o.slice(0, 40), o.slice(41)]));
  if (!paths.size) continue;
  const checked = git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], [...paths.keys()].join("\n") + "\n").toString();
  for (const rec of checked.split("\n").filter(Boolean)) {
    const [oid, type, sizeText] = rec.split(" ");
    if (type !== "blob") continue;
    const size = Number(sizeText);
    const name = paths.get(oid) || oid;
    if (size >= 10 * 1024 * 1024) {
      problems.push(`${name}: files of 10 MiB or more must be stored with LFS`);
      continue;
    }
    if (size > 1024) continue;
    const ptr = POINTER.exec(git(["cat-file", "blob", oid]).toString());
    if (!ptr) continue;
    const object = path.join(gitDir, "lfs", "objects", ptr[1].slice(0, 2), ptr[1].slice(2, 4), ptr[1]);
    let stored = -1;
    try {
      stored = statSync(object).size;
    } catch {
      /* missing */
    }
    if (stored !== Number(ptr[2])) problems.push(`${name}: LFS object ${ptr[1]} (${ptr[2]} bytes) was never uploaded; push it first (git lfs push)`);
  }
}
if (problems.length) {
  process.stderr.write(`push refused:\n${problems.join("\n")}\n`);
  process.exit(1);
}
