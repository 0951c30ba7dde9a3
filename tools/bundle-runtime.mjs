#!/usr/bin/env node
// npm pack: what makes the package install offline, with nothing else from this repository.
// - onnxruntime-node travels inside it (bundleDependencies) without its installer: the
//   postinstall downloads CUDA provider libraries from NuGet, which fails without internet and
//   which the CPU engine never loads.
// - npm-shrinkwrap.json (the lockfile) travels with it: every dependency at the version tested
//   here, with its integrity, so npm installs it from its cache without asking the registry.
// `prepack` makes both, `postpack` undoes what it changed in this checkout.
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const manifest = path.join(root, "node_modules", "onnxruntime-node", "package.json");
const saved = `${manifest}.with-installer`;
const shrinkwrap = path.join(root, "npm-shrinkwrap.json");
const step = process.argv[2];
if (step === "prepack") {
  if (!existsSync(saved)) renameSync(manifest, saved);
  const pkg = JSON.parse(readFileSync(saved, "utf8"));
  delete pkg.scripts?.postinstall;
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
  copyFileSync(path.join(root, "package-lock.json"), shrinkwrap);
} else if (step === "postpack") {
  if (existsSync(saved)) renameSync(saved, manifest);
  rmSync(shrinkwrap, { force: true });
} else {
  process.stderr.write("usage: bundle-runtime.mjs prepack|postpack\n");
  process.exit(2);
}
