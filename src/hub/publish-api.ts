// Publish through the Hub HTTP API: one atomic commit holding only what the plan says changed,
// guarded by parentCommit, then the release tag. Every sha256 comes from the manifest (the
// files were hashed once, by the checklist); a stat per file proves they did not change since.
import { createRepo } from "@huggingface/hub";
import type { ManifestEntry } from "../checkpoint/types.js";
import { registerSecret } from "../util/redact.js";
import { bindCredential } from "../util/credential-scope.js";
import { commitKnownOids } from "./commit.js";
import { commitWithLibrary } from "./commit-library.js";
import { defaultHubFetch, errorStatus, HubPublishError, toHubUserError } from "./errors.js";
import { assertUnchangedSinceManifest } from "./file-guard.js";
import { computeHubPlan, type DetailedPlan } from "./plan.js";
import { getHubTag, tagHubRevision } from "./tag.js";
import type { HubPlan, HubProgress, HubProgressEvent, PublishResult } from "./types.js";

/** What a publish holds the Hub to: the branch head the plan was made against. */
export type PlannedHead = Pick<HubPlan, "repoId" | "revision" | "parentCommit" | "repoExists">;

export interface PublishApiOptions {
  endpoint: string;
  repoId: string;
  token: string;
  /** Branch (default `main`). */
  revision?: string;
  manifest: readonly ManifestEntry[];
  /** Release tag, e.g. `v1.2.0`: commit summary `Release v1.2.0`, and the tag created on the commit. */
  tag?: string;
  /** Commit summary (default `Release <tag>`). */
  summary?: string;
  description?: string;
  prune?: boolean;
  /** The `.gitattributes` the published one starts from (the checkpoint's own), instead of the remote's. */
  gitattributesBase?: string;
  /** Create the repo when it does not exist (visibility from `private`). Default: refuse. */
  createRepo?: boolean;
  private?: boolean;
  /** Open a pull request instead of committing to the branch (no tag then). */
  createPr?: boolean;
  /** Default false: plain LFS, addressed by the manifest's sha256. true: Xet through the library (which hashes again). */
  useXet?: boolean;
  /** The plan shown to the user: publishing refuses if the Hub moved since (its parentCommit). */
  plan?: PlannedHead;
  /** What this run already knows of the commit to make (see CommitReuse): fewer questions asked. */
  reuse?: CommitReuse;
  /** Default: createRetryFetch() with its default policy. */
  fetch?: typeof fetch;
  onProgress?: HubProgress;
  abortSignal?: AbortSignal;
}

/**
 * What a run knows of a commit before making it. `plan`: computed moments ago against the very
 * commit the branch starts from (a staging branch just made at the plan's head, or the branch
 * users get, which the staged commit sits on). `lfsPaths`: the same files were just committed, and
 * these went to LFS. The commit's parentCommit guard (412) still holds the branch to that head.
 */
export interface CommitReuse {
  plan: DetailedPlan;
  lfsPaths?: ReadonlySet<string>;
}

/**
 * Publish `manifest` to `repoId` as one commit. Unchanged files are not sent; LFS objects the
 * Hub already has are skipped by its batch answer; nothing to change ⇒ no commit. A concurrent
 * push between plan and commit is refused (412), never overwritten.
 */
/** A publish through the API, with what the run knows of the commit it made (not part of any record). */
export type ApiPublishResult = PublishResult & { reuse?: CommitReuse };

export async function publishHubApi(opts: PublishApiOptions): Promise<ApiPublishResult> {
  registerSecret(opts.token);
  bindCredential(opts.token, [opts.endpoint]);
  const revision = opts.revision ?? "main";
  const baseFetch = opts.fetch ?? defaultHubFetch();
  const target = { endpoint: opts.endpoint, repoId: opts.repoId, token: opts.token, fetch: baseFetch, revision };
  const ctx = { action: `publish to ${opts.repoId}`, repoId: opts.repoId, endpoint: opts.endpoint, token: opts.token };
  const emit = makeEmitter(opts.onProgress);
  emit({ phase: "preparing" });

  let detailed: DetailedPlan;
  try {
    detailed = opts.reuse?.plan ?? (await computeHubPlan({ ...target, manifest: opts.manifest, prune: opts.prune, ...gaBase(opts) }));
    if (opts.plan && (opts.plan.repoId !== opts.repoId || opts.plan.revision !== revision)) {
      throw new HubPublishError(`the plan is for ${opts.plan.repoId}@${opts.plan.revision}, not ${opts.repoId}@${revision}`);
    }
    if (opts.plan && opts.plan.parentCommit !== detailed.plan.parentCommit && !(opts.plan.parentCommit === null && !opts.plan.repoExists)) {
      throw new HubPublishError(
        `${opts.repoId}@${revision} moved since the plan was made (planned on ${short(opts.plan.parentCommit)}, now ${short(detailed.plan.parentCommit)}): someone else pushed. Nothing was committed; re-run to re-plan`,
        412,
      );
    }
    if (!detailed.plan.repoExists) {
      if (!opts.createRepo) throw new HubPublishError(`${opts.repoId} does not exist on ${opts.endpoint}; enable repo creation in the config or create it on the Hub`);
      await createRepo({ repo: { type: "model", name: opts.repoId }, visibility: opts.private ? "private" : "public", hubUrl: opts.endpoint, fetch: baseFetch, accessToken: opts.token }).catch(
        (err: unknown) => {
          if (errorStatus(err) !== 409) throw err; // created meanwhile: fine, the plan below sees it
        },
      );
      detailed = await computeHubPlan({ ...target, manifest: opts.manifest, prune: opts.prune, ...gaBase(opts) });
    }
    if (!detailed.plan.parentCommit) throw new HubPublishError(`branch ${revision} does not exist on ${opts.repoId}; create it on the Hub first`);
  } catch (err) {
    throw toHubUserError(err, ctx);
  }

  const { plan } = detailed;
  const parentCommit = plan.parentCommit!;
  if (opts.tag && !opts.createPr) {
    // Refuse before committing: a release whose tag cannot be placed must not half-happen.
    const existing = await getHubTag({ endpoint: opts.endpoint, repoId: opts.repoId, token: opts.token, fetch: baseFetch, tag: opts.tag }).catch((err: unknown) => {
      throw toHubUserError(err, ctx);
    });
    if (existing && (!plan.noop || existing !== parentCommit)) {
      throw new HubPublishError(
        `tag ${opts.tag} already exists on ${opts.repoId} and points at ${existing.slice(0, 12)}${plan.noop ? `, not at the head ${parentCommit.slice(0, 12)}` : ", and this release would make a new commit"}: bump the version. Nothing was committed`,
        409,
      );
    }
  }
  const toSend = plan.entries.filter((e) => e.action === "add" || e.action === "update");
  const deletes = plan.entries.filter((e) => e.action === "delete").map((d) => d.path);
  const desiredByPath = new Map(detailed.desired.map((d) => [d.path, d]));

  let commitOid = parentCommit;
  let commitUrl = `${opts.endpoint}/${opts.repoId}/commit/${parentCommit}`;
  let pullRequestUrl: string | undefined;
  let status: PublishResult["status"] = "unchanged";
  const totalBytes = toSend.reduce((s, e) => s + e.size, 0);
  const uploaded: string[] = [];
  const deduplicated: string[] = [];
  let lfsPaths: ReadonlySet<string> | undefined;

  if (!plan.noop) {
    const files = toSend.map((e) => desiredByPath.get(e.path)!);
    // Before any byte leaves: the files are still the ones the manifest hashed.
    await assertUnchangedSinceManifest(opts.manifest, new Set(files.map((f) => f.path)));
    const sent = new Map<string, number>();
    const sum = (): number => [...sent.values()].reduce((a, b) => a + b, 0);
    const progress = (p: string, phase: HubProgressEvent["phase"], fileBytes: number): void => {
      sent.set(p, Math.min(fileBytes, desiredByPath.get(p)?.size ?? fileBytes));
      emit({ phase, path: p, fileBytes: sent.get(p)!, fileSize: desiredByPath.get(p)?.size, uploadedBytes: sum(), totalBytes });
    };
    const common = {
      endpoint: opts.endpoint,
      repoId: opts.repoId,
      token: opts.token,
      branch: revision,
      files,
      deletes,
      title: opts.summary ?? (opts.tag ? `Release ${opts.tag}` : "Release"),
      ...(opts.description ? { description: opts.description } : {}),
      parentCommit,
      isPullRequest: !!opts.createPr,
      fetch: baseFetch,
      ...(opts.abortSignal ? { signal: opts.abortSignal } : {}),
      onPhase: (phase: "uploading" | "committing") => emit({ phase, uploadedBytes: sum(), totalBytes }),
    };
    try {
      if (opts.useXet) {
        const out = await commitWithLibrary({
          ...common,
          onFile: (p, state, fraction) => {
            const size = desiredByPath.get(p)?.size ?? 0;
            if (state === "uploading") progress(p, "uploading", Math.round(fraction * size));
            else emit({ phase: "hashing", path: p, fileBytes: Math.round(fraction * size), fileSize: size, uploadedBytes: sum(), totalBytes });
          },
        });
        ({ commitOid, commitUrl } = out);
        pullRequestUrl = out.pullRequestUrl;
        uploaded.push(...files.map((f) => f.path));
      } else {
        const out = await commitKnownOids({
          ...common,
          manifest: opts.manifest,
          ...(opts.reuse?.lfsPaths ? { knownLfs: opts.reuse.lfsPaths } : {}),
          onBytes: (p, n) => progress(p, "uploading", (sent.get(p) ?? 0) + n),
        });
        lfsPaths = out.lfsPaths;
        ({ commitOid, commitUrl } = out);
        pullRequestUrl = out.pullRequestUrl;
        const present = new Set(out.lfs.present);
        for (const f of files) (out.lfsPaths.has(f.path) && present.has(f.sha256) ? deduplicated : uploaded).push(f.path);
      }
      status = "done";
    } catch (err) {
      if (errorStatus(err) === 412 && !opts.createPr) {
        // A retried commit that had in fact landed, or an identical concurrent publish: accept it
        // only when the Hub now holds exactly our desired state.
        const again = await computeHubPlan({ ...target, manifest: opts.manifest, prune: opts.prune, ...gaBase(opts) }).catch(() => undefined);
        if (again?.plan.noop && again.plan.parentCommit) {
          commitOid = again.plan.parentCommit;
          commitUrl = `${opts.endpoint}/${opts.repoId}/commit/${commitOid}`;
          status = "done";
        } else throw toHubUserError(err, ctx);
      } else throw toHubUserError(err, ctx);
    }
  }

  let tag: PublishResult["tag"];
  if (opts.tag && !opts.createPr) {
    emit({ phase: "tagging", uploadedBytes: totalBytes, totalBytes });
    tag = await tagHubRevision({ endpoint: opts.endpoint, repoId: opts.repoId, token: opts.token, fetch: baseFetch, tag: opts.tag, commit: commitOid, message: opts.summary ?? `Release ${opts.tag}` });
  }
  emit({ phase: "done", uploadedBytes: totalBytes, totalBytes });
  return {
    transport: "api",
    status,
    commit: commitOid,
    url: commitUrl,
    ...(pullRequestUrl ? { pullRequestUrl } : {}),
    uploaded,
    deduplicated,
    deleted: status === "done" ? deletes : [],
    ...(tag ? { tag } : {}),
    plan,
    // The same files committed again elsewhere in this run (the reveal) need not be asked about again.
    ...(lfsPaths && status === "done" ? { reuse: { plan: detailed, lfsPaths } } : {}),
  };
}

function gaBase(opts: { gitattributesBase?: string }): { gitattributesBase?: string } {
  return opts.gitattributesBase !== undefined ? { gitattributesBase: opts.gitattributesBase } : {};
}

function short(sha: string | null): string {
  return sha ? sha.slice(0, 12) : "(none)";
}

function makeEmitter(cb: HubProgress | undefined): (e: Partial<HubProgressEvent> & { phase: HubProgressEvent["phase"] }) => void {
  return (e) => {
    if (!cb) return;
    try {
      cb({ hashedBytes: 0, uploadedBytes: 0, totalBytes: 0, ...e });
    } catch {
      /* a progress renderer must not break the publish */
    }
  };
}
