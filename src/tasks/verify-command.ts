// `azbert-release verify [--tag vX]`: the release's proof from what is served, run later by
// anyone and publishing nothing. The Hub revision `tag` is downloaded through resolve/<tag>/
// (the token only for a private repo, and never to storage), every file held to the
// manifest.json published with it, the copy gated and smoke-tested; the GitHub Release's
// archive is downloaded and unpacked by the verified unpacker, against SHA256SUMS and the same
// manifest. Exit 0 when everything holds, 1 when something does not, 2 for a usage error.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { GlobalOptions } from "./options.js";
import { downloadHubFile } from "../hub/download.js";
import { UsageError, UserError } from "../report.js";
import type { ReleaseSettings } from "../release/settings.js";
import type { VerificationMethod } from "../signing/index.js";
import { loadConfig } from "../config.js";
import { HashCache } from "../checkpoint/hash-cache.js";
import { ProvenObjects } from "../release/journal.js";
import { describeProof, knownLocalCopy, proveGitHubDownload, proveHubDownload, type GitHubProof, type HubProof, type HubProofOptions } from "../release/proof.js";
import { connectRemotes } from "../release/remotes.js";
import { resolveSettings, tagName } from "../release/settings.js";
import { redact } from "../util/redact.js";
import { humanStream, detectUi, makeListr, type Task } from "./ui.js";

export interface VerifyCliOptions {
  tag?: string;
  device?: "auto" | "cpu" | "cuda";
  python?: string;
  /** model.sig: the public key of a key signature. */
  key?: string;
  /** model.sig: a keyless signature's identity and issuer. */
  identity?: string;
  issuer?: string;
  trustedRoot?: string;
  /** Download every file; without it, an object an earlier proof from this clone downloaded is probed. */
  full?: boolean;
}

interface VerifyContext {
  hub?: HubProof;
  signature?: { signer?: string; checked: boolean; files: number } | { skipped: string };
  github?: GitHubProof | { skipped: string };
  expected?: ReadonlyArray<{ path: string; size: number; sha256: string }>;
  problems: string[];
}

export async function runVerifyCommand(opts: GlobalOptions & VerifyCliOptions): Promise<number> {
  const config = loadConfig({ configFile: opts.config });
  const settings = await resolveSettings({ config, overrides: { ...(opts.ckpt ? { ckpt: opts.ckpt } : {}), ...(opts.tag ? { tag: opts.tag } : {}) } });
  const tag = tagName(settings);
  const ui = detectUi(!!opts.json);
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(new Error("interrupted (Ctrl-C)"));
  process.once("SIGINT", onSigint);
  const remotes = await connectRemotes(settings, { signal: interrupt.signal, onRetry: (line) => humanStream(ui).write(`  ${redact(line)}\n`) });
  const smoke = { ...settings.smoke, ...(opts.device ? { device: opts.device } : {}), ...(opts.python ? { python: opts.python } : {}) };
  const ctx: VerifyContext = { problems: [] };
  const provenBefore = opts.full ? undefined : await provenInThisClone(settings);
  const repo = settings.github.repository;
  try {
    await makeListr<VerifyContext>(
      [
        {
          title: `Download ${settings.hub.repoId}@${tag} as users get it, check it against its manifest.json, smoke-test it`,
          exitOnError: false,
          task: recorded(async (c, task: Task<VerifyContext>) => {
            const p = await proveHubDownload({
              endpoint: settings.hub.endpoint,
              repoId: settings.hub.repoId,
              revision: tag,
              ...(settings.hub.token ? { token: settings.hub.token } : {}),
              fetch: remotes.hubFetch,
              ...(provenBefore ? { provenBefore } : {}),
              smoke,
              signal: interrupt.signal,
              onProgress: (line) => (task.output = line),
            });
            if (p.proof) c.hub = p.proof;
            if (p.expected) c.expected = p.expected;
            failOn(c, p.problems);
            task.title = `Hub: ${describeProof({ hub: p.proof! })}`;
          }),
        },
        {
          title: `Check the signature model.sig of ${settings.hub.repoId}@${tag}`,
          exitOnError: false,
          enabled: (c) => !!c.expected,
          task: recorded(async (c, task: Task<VerifyContext>) => {
            c.signature = await checkSignature(settings, tag, remotes.hubFetch, c.expected!, verificationOf(opts, settings), interrupt.signal).catch((e: unknown) => {
              failOn(c, [e instanceof Error ? e.message : String(e)]);
              throw e;
            });
            task.title =
              "skipped" in c.signature
                ? `Signature: ${c.signature.skipped}`
                : c.signature.checked
                  ? `Signature: model.sig by ${c.signature.signer} signs exactly these ${c.signature.files} files`
                  : `Signature: model.sig lists exactly these ${c.signature.files} files; who signed it is not checked (pass --key, or --identity and --issuer)`;
          }),
        },
        {
          title: `Download ${settings.github.archive} of the GitHub Release ${tag} and unpack it verified`,
          enabled: () => !!repo,
          exitOnError: false,
          task: recorded(async (c, task: Task<VerifyContext>) => {
            const client = remotes.github;
            const p = await proveGitHubDownload({
              ...(client ? { client } : {}),
              ...(settings.github.token ? { token: settings.github.token } : {}),
              apiUrl: settings.github.apiUrl,
              owner: repo!.owner,
              repo: repo!.repo,
              tag,
              archiveName: settings.github.archive,
              // The archive must hold what the Hub's manifest.json lists: two copies of one release.
              ...(c.expected ? { hubFiles: c.expected } : {}),
              signal: interrupt.signal,
              onProgress: (line) => (task.output = line),
            });
            if (p.proof) c.github = p.proof;
            failOn(c, p.problems);
            task.title = `GitHub: ${describeProof({ github: p.proof! })}`;
          }),
        },
      ],
      ui,
      ctx,
    ).run();
  } finally {
    process.off("SIGINT", onSigint);
  }
  if (!repo) ctx.github = { skipped: settings.github.repositoryError ?? "no GitHub repository" };
  const ok = ctx.problems.length === 0;
  if (opts.json) {
    process.stdout.write(redact(`${JSON.stringify({ ok, tag, hub: ctx.hub ?? null, signature: ctx.signature ?? null, github: ctx.github ?? null, problems: ctx.problems }, null, 2)}\n`));
  } else {
    const out = humanStream(ui);
    if (ok) out.write(`\n${tag} holds: what users download is what was released, and it passes.\n`);
    else out.write(`\n${tag} does NOT hold:\n${ctx.problems.map((p) => `  ${p}`).join("\n")}\n`);
  }
  return ok ? 0 : 1;
}

/**
 * What an earlier proof from this clone downloaded and found published, with the local files that
 * hold those bytes (the checkpoint, the written safetensors, as the hash cache knows them): such
 * an object is probed, not downloaded. None outside a git work tree, or without a record.
 */
async function provenInThisClone(s: ReleaseSettings): Promise<HubProofOptions["provenBefore"]> {
  const proven = await ProvenObjects.open(s.cwd, s.hub).catch(() => undefined);
  if (!proven?.objects.size) return undefined;
  return { objects: proven.objects, localCopy: await knownLocalCopy(new HashCache(), s.checkpoint.dir, s.github.outDir) };
}

/** What the proof found wrong: kept for the report, and the task fails with it. */
class Finding extends Error {}

function failOn(c: VerifyContext, problems: readonly string[]): void {
  if (!problems.length) return;
  c.problems.push(...problems);
  throw new Finding(problems.join("\n"));
}

/** A task whose failure that is not a finding (a network error, Ctrl-C) fails the proof all the same. */
function recorded(run: (c: VerifyContext, task: Task<VerifyContext>) => Promise<void>) {
  return async (c: VerifyContext, task: Task<VerifyContext>): Promise<void> => {
    try {
      await run(c, task);
    } catch (e) {
      if (!(e instanceof Finding)) c.problems.push(redact((e as Error).message));
      throw e;
    }
  };
}

/** How to check model.sig: the command line first, then the config's signing section. */
function verificationOf(opts: VerifyCliOptions, s: ReleaseSettings): VerificationMethod | undefined {
  const key = opts.key ? path.resolve(opts.key) : s.signing.publicKey;
  if (key) return { kind: "key", publicKeyFile: key };
  const identity = opts.identity ?? s.signing.identity;
  const issuer = opts.issuer ?? s.signing.issuer;
  if ((identity === undefined || identity === null) !== (issuer === undefined || issuer === null)) throw new UsageError("a keyless signature is checked with both --identity and --issuer");
  const trustedRoot = opts.trustedRoot ? path.resolve(opts.trustedRoot) : s.signing.trustedRoot;
  return identity && issuer ? { kind: "keyless", identity, issuer, ...(trustedRoot ? { trustedRootFile: trustedRoot } : {}) } : undefined;
}

/**
 * model.sig as published with the tag: absent is said, not a failure (signing is optional). A
 * signature must list exactly the files manifest.json lists, and manifest.json itself, with their
 * sha256; when the command knows whose signature to expect, it is checked too.
 */
async function checkSignature(
  s: ReleaseSettings,
  tag: string,
  hubFetch: typeof fetch,
  expected: ReadonlyArray<{ path: string; size: number; sha256: string }>,
  method: VerificationMethod | undefined,
  signal: AbortSignal,
): Promise<NonNullable<VerifyContext["signature"]>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "azbert-verify-sig-"));
  try {
    const target = { endpoint: s.hub.endpoint, repoId: s.hub.repoId, revision: tag, fetch: hubFetch, ...(s.hub.token ? { token: s.hub.token } : {}), signal };
    const sig = path.join(dir, "model.sig");
    try {
      await downloadHubFile({ ...target, path: "model.sig", dest: sig });
    } catch (e) {
      if ((e as { status?: number }).status === 404 || /\b404\b/.test(String((e as Error).message))) return { skipped: `no model.sig was published with ${tag}` };
      throw e;
    }
    const manifestJson = await downloadHubFile({ ...target, path: "manifest.json", dest: path.join(dir, "manifest.json") });
    const files = [...expected, { path: "manifest.json", size: manifestJson.size, sha256: manifestJson.sha256 }];
    const text = await readFile(sig, "utf8");
    const { compareWithFiles, describeIntegrity, verifyModelSignature } = await import("../signing/index.js");
    if (method) {
      const v = await verifyModelSignature(text, `model.sig of ${s.hub.repoId}@${tag}`, method, { files });
      if (!v.integrity.ok) throw new UserError(`model.sig of ${s.hub.repoId}@${tag} does not sign what was published: ${describeIntegrity(v.integrity, `${s.hub.repoId}@${tag}`).join("; ")}`);
      return { signer: v.signature.signer, checked: true, files: files.length };
    }
    const { parseBundle } = await import("../signing/verify.js");
    const { parseStatement } = await import("../signing/format.js");
    const content = parseBundle(text, "model.sig").content;
    if (!("dsseEnvelope" in content)) throw new UserError(`model.sig of ${s.hub.repoId}@${tag} is not a DSSE bundle`);
    const integrity = compareWithFiles(parseStatement(Buffer.from(content.dsseEnvelope.payload)), files);
    if (!integrity.ok) throw new UserError(`model.sig of ${s.hub.repoId}@${tag} does not list what was published: ${describeIntegrity(integrity, `${s.hub.repoId}@${tag}`).join("; ")}`);
    return { checked: false, files: files.length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
