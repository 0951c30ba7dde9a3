// `azbert-release verify-signature FILE [DIR] (--key PUBLIC.pem | --identity ID --issuer URL)`:
// checks an OpenSSF model signature (ours or the reference model_signing's) and the folder it
// signs — the checkpoint by default. Exit 1 names the first file that does not match.
import path from "node:path";
import type { GlobalOptions } from "./options.js";
import { printable } from "../util/printable.js";
import { HashCache } from "../checkpoint/hash-cache.js";
import { checkpointDir, loadConfig } from "../config.js";
import { UserError } from "../report.js";
import { describeIntegrity, readBundleFile, verifyModelSignature, type SignatureVerification, type VerificationMethod } from "../signing/index.js";
import { displayPath } from "../util/display-path.js";

export interface VerifySignatureCliOptions {
  key?: string;
  identity?: string;
  issuer?: string;
  trustedRoot?: string;
  ignore?: string[];
}

function verificationMethod(opts: VerifySignatureCliOptions): VerificationMethod {
  const keyless = opts.identity !== undefined || opts.issuer !== undefined;
  if (!!opts.key === keyless) throw new UserError("verify-signature needs either --key PUBLIC.pem or --identity and --issuer", 2);
  if (opts.key) {
    if (opts.trustedRoot) throw new UserError("--trusted-root is for keyless signatures (--identity, --issuer); a key signature is checked with the key alone", 2);
    return { kind: "key", publicKeyFile: path.resolve(opts.key) };
  }
  if (!opts.identity || !opts.issuer) throw new UserError(`--${opts.identity ? "issuer" : "identity"} is missing: a keyless signature is checked against both the signer's identity and its OIDC issuer`, 2);
  return { kind: "keyless", identity: opts.identity, issuer: opts.issuer, ...(opts.trustedRoot ? { trustedRootFile: path.resolve(opts.trustedRoot) } : {}) };
}

export async function runVerifySignatureCommand(file: string, dirArg: string | undefined, opts: GlobalOptions & VerifySignatureCliOptions): Promise<number> {
  const method = verificationMethod(opts);
  const dir = dirArg ? path.resolve(dirArg) : checkpointDir(loadConfig({ configFile: opts.config }), opts.ckpt);
  const sigFile = path.resolve(file);
  const text = await readBundleFile(sigFile);
  // Lines quote file names from the folder: no control character reaches the terminal raw.
  const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${printable(line)}\n`);
  log(`Verifying ${displayPath(sigFile)} and ${displayPath(dir)}`);
  let result: SignatureVerification | undefined;
  let error: unknown;
  try {
    result = await verifyModelSignature(text, sigFile, method, { dir, cache: new HashCache(), ...(opts.ignore?.length ? { ignorePaths: opts.ignore } : {}) });
  } catch (e) {
    if (!(e instanceof UserError) || !opts.json) throw e;
    error = e;
  }
  const model = displayPath(dir);
  const problems = result ? describeIntegrity(result.integrity, model) : [];
  const ok = !!result?.integrity.ok;
  if (opts.json) {
    const st = result?.signature.statement;
    process.stdout.write(
      `${JSON.stringify(
        {
          signature: sigFile,
          model: dir,
          ...(result
            ? {
                signer: result.signature.signer,
                ...(result.signature.identity ? { identity: result.signature.identity } : {}),
                subject: { name: st!.name, sha256: st!.rootDigest },
                serialization: st!.serialization,
                ...result.integrity,
                problems,
              }
            : { error: (error as Error).message }),
          ok,
        },
        null,
        2,
      )}\n`,
    );
    if (!ok) process.stderr.write(`azbert-release: ${printable(error ? (error as Error).message : `${model} does not match ${displayPath(sigFile)}: ${problems[0]}`)}\n`);
    return ok ? 0 : error instanceof UserError ? error.exitCode : 1;
  }
  const r = result!;
  log(`  signature: good, signed by ${r.signature.signer}`);
  log(`  subject ${r.signature.statement.name}, sha256 ${r.signature.statement.rootDigest}`);
  if (!ok) {
    for (const p of problems) log(`  ${p}`);
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""}, above)` : "";
    throw new UserError(`${model} does not match ${displayPath(sigFile)}: ${problems[0]}${more}`);
  }
  log(`Verified: ${r.integrity.resources} ${r.signature.statement.serialization.method === "files" ? "files" : "shards"} of ${model} match ${displayPath(sigFile)}.`);
  return 0;
}
