// `azbert-release verify [--tag vX]`: the release's proof from what is served, run later by
// anyone and publishing nothing. The Hub revision `tag` is downloaded through resolve/<tag>/
// (the token only for a private repo, and never to storage), every file held to the
// manifest.json published with it, the copy gated and smoke-tested; the GitHub Release's
// archive is downloaded and unpacked by the verified unpacker, against SHA256SUMS and the same
// manifest. Exit 0 when everything holds, 1 when something does not, 2 for a usage error.
import type { GlobalOptions } from "./options.js";
import { loadConfig } from "../config.js";
import { describeProof, proveGitHubDownload, proveHubDownload, type GitHubProof, type HubProof } from "../release/proof.js";
import { connectRemotes } from "../release/remotes.js";
import { resolveSettings, tagName } from "../release/settings.js";
import { redact } from "../util/redact.js";
import { humanStream, detectUi, makeListr, type Task } from "./ui.js";

export interface VerifyCliOptions {
  tag?: string;
  device?: "auto" | "cpu" | "cuda";
  python?: string;
}

interface VerifyContext {
  hub?: HubProof;
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
              ...(c.expected ? { expected: c.expected } : {}),
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
    process.stdout.write(redact(`${JSON.stringify({ ok, tag, hub: ctx.hub ?? null, github: ctx.github ?? null, problems: ctx.problems }, null, 2)}\n`));
  } else {
    const out = humanStream(ui);
    if (ok) out.write(`\n${tag} holds: what users download is what was released, and it passes.\n`);
    else out.write(`\n${tag} does NOT hold:\n${ctx.problems.map((p) => `  ${p}`).join("\n")}\n`);
  }
  return ok ? 0 : 1;
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
