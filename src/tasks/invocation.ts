// How the person ran this program, so that a hint says a command they can type: `npm run release`
// in the toolkit's own repository (an npm script), `npx azbert-release release` where the package
// is installed in a project, `azbert-release release` for a global install.
import path from "node:path";

export function commandFor(subcommand: string, env: NodeJS.ProcessEnv = process.env, argv1: string = process.argv[1] ?? ""): string {
  const script = env.npm_lifecycle_event;
  // `npm run release` runs `azbert-release release`: the script's name is the command to repeat.
  if (script && script === subcommand) return `npm run ${script} --`;
  const viaNodeModules = argv1.split(path.sep).includes("node_modules") && !argv1.includes(`${path.sep}lib${path.sep}node_modules${path.sep}`);
  return `${viaNodeModules || !argv1 ? "npx " : ""}azbert-release ${subcommand}`;
}
