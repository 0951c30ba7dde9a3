// The release signs exactly what it publishes to the Hub (the published layout: model.safetensors,
// manifest.json and the card included) in the OpenSSF model signing format, as model.sig, which
// goes to the Hub beside the files and to the GitHub Release. Keyless (Sigstore: a certificate for
// the workflow's OIDC identity, a Rekor entry) in GitHub Actions, a key when one is configured, or
// off with a line in the plan saying so. A signature made earlier for the same files is kept, so
// a rerun publishes the same model.sig and changes nothing.
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ManifestEntry } from "../checkpoint/types.js";
import { normalizeManifest } from "../pack/index.js";
import { UsageError, UserError } from "../report.js";
// The sigstore libraries load only when a signature is read or made: most releases sign nothing.
import type { SigningMethod, VerificationMethod } from "../signing/index.js";
import { parseStatement, SIGNATURE_NAME } from "../signing/format.js";
import { displayPath } from "../util/display-path.js";
import type { LocalContext } from "./local-context.js";
import type { PipelineStep } from "./pipeline.js";
import { tagName, type ReleaseSettings } from "./settings.js";

export interface SigningPlan {
  method?: SigningMethod;
  /** How a signature of this release is checked (verify --tag, and the release's own check). */
  verification?: VerificationMethod;
  /** One line for the plan. */
  line: string;
}

const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";

/** How this release signs, from the config and where it runs. */
export function signingPlan(s: ReleaseSettings, env: Readonly<Record<string, string | undefined>> = process.env): SigningPlan {
  const c = s.signing;
  const inActions = env.GITHUB_ACTIONS === "true" && !!env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const method = c.method === "auto" ? (c.key ? "key" : inActions ? "keyless" : "off") : c.method;
  if (method === "off") {
    return { line: c.method === "off" ? "signing.method is off: no model.sig" : "no model.sig: set signing.key to sign with a key, or release from GitHub Actions with id-token: write (keyless)" };
  }
  if (method === "key") {
    if (!c.key) throw new UsageError("signing.method is key, and signing.key names no private key");
    return {
      method: { kind: "key", privateKeyFile: c.key },
      ...(c.publicKey ? { verification: { kind: "key", publicKeyFile: c.publicKey } } : {}),
      line: `model.sig signed with the key ${displayPath(c.key)}`,
    };
  }
  const identity = c.identity ?? (env.GITHUB_WORKFLOW_REF ? `https://github.com/${env.GITHUB_WORKFLOW_REF}` : undefined);
  return {
    method: { kind: "keyless", ...(c.fulcioUrl ? { fulcioURL: c.fulcioUrl } : {}), ...(c.rekorUrl ? { rekorURL: c.rekorUrl } : {}) },
    ...(identity ? { verification: { kind: "keyless", identity, issuer: c.issuer ?? GITHUB_ACTIONS_ISSUER, ...(c.trustedRoot ? { trustedRootFile: c.trustedRoot } : {}) } } : {}),
    line: `model.sig signed keyless (Sigstore)${identity ? ` as ${identity}` : ""}`,
  };
}

/** The model's name in the statement: the Hub repo's name, as a folder of it would be named. */
function modelName(s: ReleaseSettings): string {
  return s.hub.repoId.split("/").pop()!;
}

/** The statement of an existing model.sig, without checking its signature: is it of these very files? */
async function signsTheseFiles(file: string, files: readonly ManifestEntry[]): Promise<boolean> {
  try {
    const text = await readFile(file, "utf8");
    const { compareWithFiles, parseBundle } = await import("../signing/verify.js");
    const payload = parseBundle(text, file).content;
    if (!("dsseEnvelope" in payload)) return false;
    const statement = parseStatement(Buffer.from(payload.dsseEnvelope.payload));
    return compareWithFiles(statement, files).ok;
  } catch {
    return false;
  }
}

/** A key signature is checked with the private key's own public half when no public key is configured. */
async function withKey<T>(plan: SigningPlan, run: (v: VerificationMethod | undefined) => Promise<T>): Promise<T> {
  if (plan.verification || plan.method?.kind !== "key") return run(plan.verification);
  const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-sig-"));
  try {
    const pem = createPublicKey(createPrivateKey(await readFile(plan.method.privateKeyFile, "utf8"))).export({ type: "spki", format: "pem" }).toString();
    const file = path.join(dir, "public.pem");
    await writeFile(file, pem);
    return await run({ kind: "key", publicKeyFile: file });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UsageError(`signing.key ${displayPath(plan.method.privateKeyFile)}: not an EC private key in PEM (${(e as Error).message.split("\n")[0]})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function signStep<C extends LocalContext>(): PipelineStep<C> {
  return {
    title: "Sign the published files (model.sig)",
    enabled: (c) => c.settings.release.stages.has("hub") || c.settings.release.stages.has("github"),
    skip: (c) => (!c.published ? "nothing to sign" : false),
    run: async (c, out) => {
      const s = c.settings;
      const plan = signingPlan(s);
      c.plan.signing = plan.line;
      if (!plan.method) return out.title(`Not signed: ${plan.line}`);
      if (s.release.dryRun) return out.title(`Would sign: ${plan.line}`);
      const files = c.published!.hub;
      const target = path.join(s.github.outDir, SIGNATURE_NAME);
      const reused = existsSync(target) && (await signsTheseFiles(target, files));
      let text: string;
      if (reused) text = await readFile(target, "utf8");
      else {
        const { signModelFiles } = await import("../signing/index.js");
        text = (await signModelFiles(files, { name: modelName(s), method: plan.method })).text;
        await mkdir(path.dirname(target), { recursive: true });
        const tmp = `${target}.${process.pid}.partial`;
        await writeFile(tmp, text);
        await rename(tmp, target);
      }
      // The signature is checked as users will check it, when this run knows how.
      const { verifyModelSignature } = await import("../signing/index.js");
      const verified = await withKey(plan, async (v) => (v ? verifyModelSignature(text, target, v, { files }) : undefined));
      if (verified && !verified.integrity.ok) throw new UserError(`${displayPath(target)} does not sign the files this release publishes`);
      const st = await stat(target);
      const entry: ManifestEntry = { path: SIGNATURE_NAME, size: st.size, sha256: createHash("sha256").update(text).digest("hex"), source: target };
      c.published = { ...c.published!, hub: normalizeManifest([...files, entry]), signature: { path: target, signer: verified?.signature.signer ?? plan.line, reused } };
      out.title(`${reused ? "Kept" : "Wrote"} ${displayPath(target)}: ${files.length} files signed${verified ? `, verified (${verified.signature.signer})` : ""}`);
    },
  };
}

/** The "Verify this model" section the published card ends with. */
export function verifySection(s: ReleaseSettings, plan: SigningPlan): string {
  const tag = "error" in s.tag ? "vX.Y.Z" : tagName(s);
  const repo = s.github.repository ? `${s.github.repository.owner}/${s.github.repository.repo}` : undefined;
  const lines = [
    "",
    "## Verify this model",
    "",
    "`manifest.json` lists every file of this release with its sha256. To download the release as `from_pretrained` does, check every file against it and smoke-test the copy:",
    "",
    "```sh",
    `npx azbert-release verify --tag ${tag}`,
    "```",
  ];
  if (plan.method) {
    const how =
      plan.verification?.kind === "keyless"
        ? `--identity ${plan.verification.identity} --issuer ${plan.verification.issuer}`
        : plan.method.kind === "key"
          ? "--key <the publisher's public key>"
          : "--identity <the release workflow> --issuer https://token.actions.githubusercontent.com";
    lines.push(
      "",
      "The files are signed in `model.sig` ([OpenSSF model signing](https://github.com/sigstore/model-transparency)). In a folder holding the downloaded files:",
      "",
      "```sh",
      `npx azbert-release verify-signature model.sig . ${how}`,
      "```",
    );
  }
  if (repo && s.github.attested) {
    lines.push("", "The archive of the GitHub Release carries a build-provenance attestation:", "", "```sh", `gh attestation verify ckpt.tar.gz --repo ${repo}`, "```");
  }
  return `${lines.join("\n")}\n`;
}
