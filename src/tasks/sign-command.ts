// `azbert-release sign [DIR] (--key PRIVATE.pem | --keyless) [--out FILE] [--name NAME]`: an
// OpenSSF model signature (model.sig) of a folder, the checkpoint by default, as the reference
// model_signing writes it. Its only side effect is the signature file.
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { GlobalOptions } from "./options.js";
import { printable } from "../util/printable.js";
import { HashCache } from "../checkpoint/hash-cache.js";
import { checkpointDir, loadConfig } from "../config.js";
import { UserError } from "../report.js";
import { assertOidcSource, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, SIGNATURE_NAME, signFolder, type SigningMethod } from "../signing/index.js";
import { refuseCleartextEndpoint } from "../util/redact.js";
import { displayPath } from "../util/display-path.js";

export interface SignCliOptions {
  key?: string;
  keyless?: boolean;
  out?: string;
  name?: string;
  ignore?: string[];
  allowSymlinks?: boolean;
  shardSize?: number;
  fulcioUrl?: string;
  rekorUrl?: string;
}

/** Fulcio and Rekor: the flag, else the environment, else the public-good instance; https only (loopback may be http, for tests). */
export function sigstoreServices(opts: Pick<SignCliOptions, "fulcioUrl" | "rekorUrl">, env: NodeJS.ProcessEnv = process.env): { fulcioURL: string; rekorURL: string } {
  const fulcioURL = opts.fulcioUrl ?? env.SIGSTORE_FULCIO_URL ?? DEFAULT_FULCIO_URL;
  const rekorURL = opts.rekorUrl ?? env.SIGSTORE_REKOR_URL ?? DEFAULT_REKOR_URL;
  refuseCleartextEndpoint(opts.fulcioUrl ? "--fulcio-url" : "SIGSTORE_FULCIO_URL", fulcioURL);
  refuseCleartextEndpoint(opts.rekorUrl ? "--rekor-url" : "SIGSTORE_REKOR_URL", rekorURL);
  return { fulcioURL, rekorURL };
}

function signingMethod(opts: SignCliOptions): SigningMethod {
  if (!!opts.key === !!opts.keyless) throw new UserError("sign needs exactly one of --key PRIVATE.pem or --keyless", 2);
  if (opts.key) {
    if (opts.fulcioUrl || opts.rekorUrl) throw new UserError("--fulcio-url and --rekor-url are for --keyless; a key signature uses neither", 2);
    return { kind: "key", privateKeyFile: path.resolve(opts.key) };
  }
  assertOidcSource();
  return { kind: "keyless", ...sigstoreServices(opts) };
}

export async function runSignCommand(dirArg: string | undefined, opts: GlobalOptions & SignCliOptions): Promise<number> {
  const method = signingMethod(opts);
  const config = loadConfig({ configFile: opts.config });
  const dir = dirArg ? path.resolve(dirArg) : checkpointDir(config, opts.ckpt);
  const out = path.resolve(opts.out ?? path.join(config.github.outDir, SIGNATURE_NAME));
  const outStat = await stat(out).catch(() => undefined);
  if (outStat?.isDirectory()) throw new UserError(`--out ${displayPath(out)} is a folder: name the signature file (e.g. ${displayPath(path.join(out, SIGNATURE_NAME))})`, 2);
  // Lines quote file names from the folder: no control character reaches the terminal raw.
  const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${printable(line)}\n`);
  log(`Signing ${displayPath(dir)} ${method.kind === "key" ? `with ${displayPath(method.privateKeyFile)}` : `keyless (Fulcio ${method.fulcioURL}, Rekor ${method.rekorURL})`}`);
  const signed = await signFolder(dirArg ?? dir, {
    method,
    out,
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.ignore?.length ? { ignorePaths: opts.ignore } : {}),
    ...(opts.allowSymlinks ? { allowSymlinks: true } : {}),
    ...(opts.shardSize ? { shardSize: opts.shardSize } : {}),
    cache: new HashCache(),
  });
  // Written whole or not at all: a reader never sees half a signature.
  await mkdir(path.dirname(out), { recursive: true });
  const partial = `${out}.${process.pid}.partial`;
  await writeFile(partial, signed.text);
  await rename(partial, out);
  const st = signed.statement;
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          ok: true,
          signature: out,
          model: dir,
          name: st.name,
          method: method.kind,
          signer: signed.signer,
          subject: { name: st.name, sha256: st.rootDigest },
          serialization: st.serialization,
          resources: st.resources.length,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    log(`  ${st.resources.length} ${st.serialization.method === "files" ? "files" : "shards"} signed; ignored: ${st.serialization.ignorePaths.join(", ") || "nothing"}`);
    log(`  subject ${st.name}, sha256 ${st.rootDigest}`);
    log(`Signed by ${signed.signer}: wrote ${displayPath(out)}`);
  }
  return 0;
}
