// Command-line entry: parses the contract of docs/cli-contract.md and hands each
// command to its stage in src/tasks/. Exit codes: 0 pass, 1 a check or step failed, 2 usage.
import type { GlobalOptions, ReleaseCliOptions, SmokeCliOptions } from "./tasks/options.js";
import { Command, CommanderError, Option } from "commander";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { printable } from "./util/printable.js";
import type { InitCliOptions } from "./tasks/init-command.js";
import type { VerifyCliOptions } from "./tasks/verify-command.js";
import type { SignCliOptions } from "./tasks/sign-command.js";
import type { VerifySignatureCliOptions } from "./tasks/verify-signature-command.js";
import { UserError } from "./report.js";
import { guardOutput, redact, writeNow } from "./util/redact.js";

/** This package's package.json: above this module, whether it runs from dist/ or from the bundle in dist/bin/. */
function ownPackageJson(): { version: string } {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)), i = 0; i < 4; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as { version: string };
  }
  throw new Error("package.json not found above the CLI");
}
const pkg = ownPackageJson();


function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("azbert-release")
    .description("Validate, smoke-test, pack and publish a BERT-style checkpoint to the Hugging Face Hub and GitHub")
    .version(pkg.version)
    .option("--config <file>", "release config (default ./release.config.json)")
    .option("--ckpt <dir>", "checkpoint folder (default: the config's, else ./ckpt)")
    .option("--json", "print exactly one JSON report on stdout")
    .showHelpAfterError()
    .exitOverride()
    .hook("preAction", (_program, action) => sayWhenInterrupted(action.name()));

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;

  program
    .command("init")
    .description("adopt the toolkit in a model repository: release.config.json, the release workflow, .gitignore lines")
    .option("--hub-repo <namespace/name>", "the Hub repo to publish to (default: the hgf remote, else a huggingface.co link in the model card)")
    .option("--force", "replace files that exist")
    .action(async (opts: InitCliOptions, cmd: Command) => {
      const { runInitCommand } = await import("./tasks/init-command.js");
      setExit(await runInitCommand({ ...globals(cmd), ...opts }, pkg.version));
    });

  program
    .command("check")
    .description("run every verification the release would make (no side effects)")
    .option("--offline", "skip whatever needs the network or credentials")
    .option("--tag <tag>", "the release tag to check for (default: the config's version, package.json's, or the tag at HEAD)")
    .action(async (opts: { offline?: boolean; tag?: string }, cmd: Command) => {
      const { runCheckCommand } = await import("./tasks/check-command.js");
      setExit(await runCheckCommand({ ...globals(cmd), offline: !!opts.offline, ...(opts.tag ? { tag: opts.tag } : {}) }));
    });

  program
    .command("smoke")
    .description("fill-mask inference on the smoke cases")
    .addOption(new Option("--device <device>", "where to run").choices(["auto", "cpu", "cuda"]))
    .option("--cases <file>", "cases file (test.txt format); default: the model card's widget examples")
    .option("--expect <file>", "expectations file (default: the config's)")
    .option("--top-k <n>", "how many predictions to show per mask", (v) => parsePositiveInt(v, "--top-k"))
    .option("--python <exe>", "Python interpreter for the GPU path")
    .action(async (opts: SmokeCliOptions, cmd: Command) => {
      const { runSmokeCommand } = await import("./tasks/smoke-command.js");
      setExit(await runSmokeCommand({ ...globals(cmd), ...opts }));
    });

  program
    .command("pack")
    .description("write ckpt.tar.gz, SHA256SUMS and manifest.json")
    .option("--out <dir>", "output folder (default: the config's github.outDir)")
    .action(async (opts: { out?: string }, cmd: Command) => {
      const { runPackCommand } = await import("./tasks/pack-command.js");
      setExit(await runPackCommand({ ...globals(cmd), ...opts }));
    });

  program
    .command("convert")
    .description("write safetensors from pytorch_model.bin (single or sharded) and prove them equal")
    .option("--out <dir>", "output folder (default: <github.outDir>/safetensors; the checkpoint folder only when named)")
    .action(async (opts: { out?: string }, cmd: Command) => {
      const { runConvertCommand } = await import("./tasks/convert-command.js");
      setExit(await runConvertCommand({ ...globals(cmd), ...opts }));
    });

  program
    .command("unpack")
    .alias("verify-archive")
    .description("verify a downloaded archive against SHA256SUMS and its manifest, and unpack it safely")
    .argument("<archive>", "the .tar.gz to verify and unpack")
    .requiredOption("--out <dir>", "folder to unpack into (created if missing; existing files are never overwritten)")
    .option("--sums <file>", "SHA256SUMS to check against (default: the one beside the archive)")
    .action(async (archive: string, opts: { out: string; sums?: string }, cmd: Command) => {
      const { runUnpackCommand } = await import("./tasks/unpack-command.js");
      setExit(await runUnpackCommand(archive, { ...globals(cmd), ...opts }));
    });

  program
    .command("verify")
    .description("prove a published release from what users download: the Hub revision and the GitHub archive (publishes nothing)")
    .option("--tag <tag>", "release tag (default: the tag CI builds, the config's version, package.json's, or the tag at HEAD)")
    .addOption(new Option("--device <device>", "where the smoke test of the download runs").choices(["auto", "cpu", "cuda"]))
    .option("--python <exe>", "Python interpreter for the GPU path")
    .option("--key <public.pem>", "check model.sig against this public key (default: the config's signing.publicKey)")
    .option("--identity <identity>", "check a keyless model.sig was signed by this identity, exactly")
    .option("--issuer <url>", "and through this OIDC issuer, exactly")
    .option("--trusted-root <file>", "a Sigstore trusted_root.json for a keyless model.sig")
    .option("--full", "download every file, even those an earlier proof from this repository already downloaded")
    .action(async (opts: VerifyCliOptions, cmd: Command) => {
      const { runVerifyCommand } = await import("./tasks/verify-command.js");
      setExit(await runVerifyCommand({ ...globals(cmd), ...opts }));
    });

  program
    .command("sign")
    .description("write an OpenSSF model signature (model.sig, a Sigstore bundle) of a folder, the checkpoint by default")
    .argument("[dir]", "the model folder (default: the checkpoint)")
    .option("--key <private.pem>", "sign with this EC private key (P-256, P-384 or P-521)")
    .option("--keyless", "sign with Sigstore: a Fulcio certificate for the CI's OIDC identity, logged in Rekor")
    .option("--out <file>", "where to write the signature (default: <github.outDir>/model.sig)")
    .option("--name <name>", "the model's name in the signature (default: the folder's name)")
    .option("--ignore <path>", "another path to leave out, relative to the folder (repeatable)", collect, [] as string[])
    .option("--allow-symlinks", "sign a linked file as its target (links are refused otherwise)")
    .option("--shard-size <bytes>", "sign shards of this many bytes instead of whole files", (v) => parsePositiveInt(v, "--shard-size"))
    .option("--fulcio-url <url>", "Fulcio (default: SIGSTORE_FULCIO_URL, else the public-good instance)")
    .option("--rekor-url <url>", "Rekor (default: SIGSTORE_REKOR_URL, else the public-good instance)")
    .action(async (dir: string | undefined, opts: SignCliOptions, cmd: Command) => {
      const { runSignCommand } = await import("./tasks/sign-command.js");
      setExit(await runSignCommand(dir, { ...globals(cmd), ...opts }));
    });

  program
    .command("verify-signature")
    .description("check a model signature (ours or model_signing's) and the folder it signs, the checkpoint by default")
    .argument("<file>", "the signature (model.sig)")
    .argument("[dir]", "the model folder (default: the checkpoint)")
    .option("--key <public.pem>", "the public key of a key signature")
    .option("--identity <identity>", "a keyless signature's signer: the certificate's identity, exactly")
    .option("--issuer <url>", "a keyless signature's OIDC issuer, exactly")
    .option("--trusted-root <file>", "a Sigstore trusted_root.json (default: the public-good root, through TUF)")
    .option("--ignore <path>", "another path to leave out of the folder, relative to it (repeatable; beside the signature's own list)", collect, [] as string[])
    .action(async (file: string, dir: string | undefined, opts: VerifySignatureCliOptions, cmd: Command) => {
      const { runVerifySignatureCommand } = await import("./tasks/verify-signature-command.js");
      setExit(await runVerifySignatureCommand(file, dir, { ...globals(cmd), ...opts }));
    });

  program
    .command("release")
    .description("check → smoke → pack → Hub → GitHub → verify")
    .option("--dry-run", "print the checklist and the plan; change nothing")
    .option("-y, --yes", "no confirmation (implied by CI=true)")
    .option("--only <stages>", "comma list of check,smoke,pack,hub,github")
    .addOption(new Option("--transport <transport>", "how to push to the Hub").choices(["api", "git"]))
    .option("--tag <tag>", "release tag (default: the tag CI builds, the config's version, package.json's, or the tag at HEAD)")
    .option("--prune", "delete Hub files that are not in the checkpoint")
    .option("--create-pr", "open a pull request on the Hub instead of committing to the branch")
    .option("--force", "git transport: force-push over the Hub branch (rewrites its history)")
    .option("--offline", "dry run without network: skip remote checks and plans")
    .action(async (opts: ReleaseCliOptions, cmd: Command) => {
      const { runReleaseCommand } = await import("./tasks/release-command.js");
      setExit(await runReleaseCommand({ ...globals(cmd), ...opts }));
    });
  return program;
}

/** What Ctrl-C leaves behind, per command (release handles Ctrl-C itself: it has a journal to keep). */
const AFTER_INTERRUPT: Record<string, string> = {
  check: "check changes nothing: run it again",
  smoke: "smoke changes nothing: run it again",
  pack: "no archive was finished (a .partial file may be left in the output folder): run pack again",
  convert: "no safetensors file was finished (.partial files may be left in the output folder): run convert again",
  unpack: "the output folder may hold part of the archive: remove what is there, then run unpack again",
  sign: "no signature was written (a .partial file may be left beside it): run sign again",
  "verify-signature": "verify-signature changes nothing: run it again",
};

/**
 * Ctrl-C says "interrupted" and what a rerun does, then exits 130 (128 + SIGINT), instead of a
 * bare ^C. Written past any live renderer, which holds back what the process writes.
 */
function sayWhenInterrupted(command: string): void {
  const after = AFTER_INTERRUPT[command === "verify-archive" ? "unpack" : command];
  if (!after) return;
  process.once("SIGINT", () => {
    writeNow(`\nInterrupted (Ctrl-C): ${after}.\n`);
    process.exit(130);
  });
}



/** A repeatable option's values, in the order given. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parsePositiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} must be a positive integer, got "${v}"`, 2);
  return n;
}

/** The words of an error the operating system raised about a path (ENOSPC, EACCES, ENOTDIR, ...), or undefined for anything else. */
function fileSystemError(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== "string" || !/^E[A-Z0-9]+$/.test(err.code) || typeof err.syscall !== "string") return undefined;
  const where = typeof err.path === "string" ? `${printable(err.path)}: ` : "";
  const what = err.message.replace(/^E[A-Z0-9]+: /, "").replace(/, [a-z]+ '.*'$/, "");
  return `${where}${what} (${err.code}, ${err.syscall})`;
}

export async function main(argv: string[]): Promise<number> {
  // Every byte this process prints passes through the redactor (tokens, presigned URLs).
  guardOutput();
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (e) {
    const json = argv.includes("--json");
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other parse problem is a usage error (commander has
      // said it on stderr), and --json still gets its one document.
      if (e.exitCode === 0) return 0;
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: redact(e.message.replace(/^error: /, "")) })}\n`);
      return 2;
    }
    if (e instanceof UserError) {
      // Messages quote file names from the checkpoint: no control character reaches the terminal raw.
      const message = redact(e.message).split("\n").map(printable).join("\n");
      process.stderr.write(`azbert-release: ${message}\n`);
      // --json promises one document on stdout, failures included.
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
      return e.exitCode;
    }
    const fs = fileSystemError(e);
    if (fs) {
      // The file system refused something (no room, no permission, not a folder): the user's to fix, not a bug.
      process.stderr.write(`azbert-release: ${redact(fs)}\n`);
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: redact(fs) })}\n`);
      return 1;
    }
    process.stderr.write(`azbert-release: unexpected error: ${redact(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: redact(e instanceof Error ? e.message : String(e)) })}\n`);
    return 1;
  }
}
