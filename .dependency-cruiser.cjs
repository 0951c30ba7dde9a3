// The layering of src/ (docs/architecture.md draws it). `npm test` runs these rules first.
//
//   cli.ts → tasks/ (commands, rendering) → release/ (the pipeline and its destinations)
//          → adapters: hub/, github/, git/ │ products: pack/, smoke/ │ rules: checks/
//          → readers: checkpoint/ → ground: util/, report.ts, config.ts
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "a cycle has no layer to live in", from: {}, to: { circular: true } },
    {
      name: "only-the-ui-renders",
      severity: "error",
      comment: "listr2 (the terminal UI) is used by src/tasks/ only; nothing but the CLI entry imports src/tasks/",
      from: { path: "^src/", pathNot: "^src/(tasks/|cli\\.ts)" },
      to: { path: "(^src/tasks/|node_modules/listr2/)" },
    },
    {
      name: "checks-are-pure",
      severity: "error",
      comment: "a check is a function of what the readers read: no file, process or network access of its own",
      from: { path: "^src/checks/" },
      to: { path: "^(node:)?(fs|fs/promises|child_process|net|http|https|worker_threads)$|^src/(hub|github|git|release|tasks|smoke|pack)/" },
    },
    {
      name: "readers-stand-alone",
      severity: "error",
      comment: "the checkpoint readers know nothing of checks, products, remotes or the release",
      from: { path: "^src/checkpoint/" },
      to: { path: "^src/(checks|hub|github|git|release|tasks|smoke|pack)/" },
    },
    {
      name: "util-is-the-ground",
      severity: "error",
      comment: "shared helpers import nothing of the program but each other and the report shapes",
      from: { path: "^src/util/" },
      to: { path: "^src/", pathNot: "^src/(util/|report\\.ts$)" },
    },
    {
      name: "adapters-never-import-each-other",
      severity: "error",
      comment: "the Hub and GitHub clients are independent; both may run git through its one runner (git/run.ts)",
      from: { path: "^src/(hub|github|git)/" },
      to: { path: "^src/(hub|github|git)/", pathNot: ["^src/$1/", "^src/git/run\\.ts$"] },
    },
    {
      name: "nothing-below-calls-the-release",
      severity: "error",
      comment: "the release composes adapters, products and rules; they never call back into it",
      from: { path: "^src/(hub|github|git|pack|smoke|checks|checkpoint|util)/" },
      to: { path: "^src/release/" },
    },
    {
      name: "products-apart",
      severity: "error",
      comment: "pack/ and smoke/ are local products: neither talks to a remote (smoke's load gate runs the checklist's weights checks)",
      from: { path: "^src/(pack|smoke)/" },
      to: { path: "^src/(hub|github|git|tasks)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(\\.test\\.ts$|\\.generated\\.ts$)" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js"] },
  },
};
