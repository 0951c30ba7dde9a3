// Publish through the Hub HTTP API: one atomic commit (@huggingface/hub commitIter) holding
// only what the plan says changed, guarded by parentCommit, then the release tag.
import { commitIter, createRepo, type CommitOperation, type CommitOutput } from "@huggingface/hub";
import type { ManifestEntry } from "../checkpoint/types.js";
import { DiskBlob } from "./file-blob.js";
import { defaultHubFetch, errorStatus, HubPublishError, toHubUserError } from "./errors.js";
import { computeHubPlan, type DesiredFile, type DetailedPlan } from "./plan.js";
import { getHubTag, tagHubRevision } from "./tag.js";
import { uploadLfsObjects, type LfsUploadResult } from "./lfs-upload.js";
import type { HubPlan, HubProgress, HubProgressEvent, PublishResult } from "./types.js";

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
  /** Create the repo when it does not exist (visibility from `private`). Default: refuse. */
  createRepo?: boolean;
  private?: boolean;
  /** Open a pull request instead of committing to the branch (no tag then). */
  createPr?: boolean;
  /** Default false: plain LFS. */
  useXet?: boolean;
  /**
   * Default true (ignored with useXet): upload LFS objects ourselves, addressed by the
   * manifest's sha256, while the library reads the files for its own hash; the library's
   * batch call waits for it and finds every object stored. false: the library uploads.
   */
  preUploadLfs?: boolean;
  /** The plan shown to the user: publishing refuses if the Hub moved since (its parentCommit). */
  plan?: HubPlan;
  /** Default: createRetryFetch() with its default policy. */
  fetch?: typeof fetch;
  onProgress?: HubProgress;
  abortSignal?: AbortSignal;
}

/** Tracks what went over the wire, for progress and for the dedup report. */
class WireObserver {
  /** LFS oid → repo path, for the objects we expect the library to upload. */
  readonly expectedOids = new Map<string, DesiredFile>();
  readonly uploadedOids = new Set<string>();
  readonly dedupOids = new Set<string>();
  /** Presigned URL (without query) → oid. */
  private readonly urlToOid = new Map<string, string>();
  mismatch: string | undefined;
  /** Awaited before the library's LFS batch call is forwarded. */
  gate: Promise<unknown> | undefined;
  /** Called with the paths the Hub wants in LFS, once the library's preupload call succeeded (write access confirmed). */
  onPreupload: ((lfsPaths: string[]) => void) | undefined;
  constructor(private readonly onBytes: (path: string, bytes: number) => void) {}

  wrap(inner: typeof fetch, abort: AbortController): typeof fetch {
    const self = this;
    const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const bare = url.split("?")[0]!;
      if (/\.git\/info\/lfs\/objects\/batch$/.test(bare) && typeof init?.body === "string") {
        // The library hashed the files itself: they must still be the bytes the manifest describes.
        const req = JSON.parse(init.body) as { objects: Array<{ oid: string; size: number }> };
        const bad = req.objects.filter((o) => !self.expectedOids.has(o.oid));
        if (bad.length) {
          self.mismatch = `${bad.length} file(s) changed on disk since the manifest was computed (their sha256 no longer matches); re-run the checks`;
          abort.abort(new HubPublishError(self.mismatch));
          throw new HubPublishError(self.mismatch);
        }
        if (self.gate && !self.onPreupload) await self.gate;
        const res = await inner(input, init);
        if (res.ok) {
          const json = (await res.clone().json()) as { objects: Array<{ oid: string; actions?: { upload?: { href: string; header?: Record<string, string> } } }> };
          for (const o of json.objects) {
            const up = o.actions?.upload;
            if (!up) self.dedupOids.add(o.oid);
            else {
              self.urlToOid.set(up.href.split("?")[0]!, o.oid);
              for (const [k, v] of Object.entries(up.header ?? {})) if (/^\d+$/.test(k)) self.urlToOid.set(v.split("?")[0]!, o.oid);
            }
          }
        }
        return res;
      }
      if (/\/preupload\/[^/]+$/.test(bare) && self.onPreupload) {
        const res = await inner(input, init);
        if (res.ok) {
          const json = (await res.clone().json()) as { files?: Array<{ path: string; uploadMode?: string }> };
          self.onPreupload((json.files ?? []).filter((x) => x.uploadMode === "lfs").map((x) => x.path));
        }
        return res;
      }
      const oid = self.urlToOid.get(bare);
      const res = await inner(input, init);
      if (oid && res.ok && (init?.method ?? "GET").toUpperCase() === "PUT") {
        const file = self.expectedOids.get(oid);
        const size = init?.body instanceof Blob ? init.body.size : 0;
        if (file) self.onBytes(file.path, size);
        self.uploadedOids.add(oid);
      }
      return res;
    };
    return wrapped as typeof fetch;
  }
}

/**
 * Publish `manifest` to `repoId` as one commit. Unchanged files are not sent; LFS objects the
 * Hub already has are skipped by its batch answer; nothing to change ⇒ no commit. A concurrent
 * push between plan and commit is refused (412), never overwritten.
 */
export async function publishHubApi(opts: PublishApiOptions): Promise<PublishResult> {
  const revision = opts.revision ?? "main";
  const baseFetch = opts.fetch ?? defaultHubFetch();
  const target = { endpoint: opts.endpoint, repoId: opts.repoId, token: opts.token, fetch: baseFetch, revision };
  const ctx = { action: `publish to ${opts.repoId}`, repoId: opts.repoId, endpoint: opts.endpoint, token: opts.token };
  const emit = makeEmitter(opts.onProgress);
  emit({ phase: "preparing" });

  let detailed: DetailedPlan;
  try {
    detailed = await computeHubPlan({ ...target, manifest: opts.manifest, prune: opts.prune });
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
      detailed = await computeHubPlan({ ...target, manifest: opts.manifest, prune: opts.prune });
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
  const deletes = plan.entries.filter((e) => e.action === "delete");
  const desiredByPath = new Map(detailed.desired.map((d) => [d.path, d]));

  let commitOid = parentCommit;
  let commitUrl = `${opts.endpoint}/${opts.repoId}/commit/${parentCommit}`;
  let pullRequestUrl: string | undefined;
  let status: PublishResult["status"] = "unchanged";
  const totalBytes = toSend.reduce((s, e) => s + e.size, 0);
  const uploaded: string[] = [];
  const deduplicated: string[] = [];

  if (!plan.noop) {
    const files = toSend.map((e) => desiredByPath.get(e.path)!);
    const abort = new AbortController();
    if (opts.abortSignal) opts.abortSignal.addEventListener("abort", () => abort.abort(opts.abortSignal!.reason), { once: true });
    const state = { hashed: new Map<string, number>(), uploaded: new Map<string, number>() };
    const observer = new WireObserver((p, n) => {
      state.uploaded.set(p, Math.min((state.uploaded.get(p) ?? 0) + n, desiredByPath.get(p)?.size ?? n));
      emitFile(p, "uploading", state.uploaded.get(p)!);
    });
    for (const f of files) if (f.storage === "lfs") observer.expectedOids.set(f.sha256, f);
    let pre: LfsUploadResult | undefined;
    const lfsToSend = files.filter((f) => f.storage === "lfs" && typeof f.source === "string");
    if ((opts.preUploadLfs ?? true) && !opts.useXet && lfsToSend.length) {
      // Started once the library's preupload call proves write access; the library's batch call waits for it.
      let release!: (p: Promise<unknown>) => void;
      observer.gate = new Promise<Promise<unknown>>((r) => (release = r)).then((p) => p);
      observer.gate.catch(() => undefined); // awaited later; never an unhandled rejection
      observer.onPreupload = (lfsPaths) => {
        observer.onPreupload = undefined;
        const wanted = new Set(lfsPaths);
        const running = Promise.all(
          lfsToSend.filter((f) => wanted.has(f.path)).map(async (f) => ({ oid: f.sha256, size: f.size, path: f.path, content: await DiskBlob.fromFile(f.source as string) })),
        )
          .then((objects) =>
            uploadLfsObjects({
              endpoint: opts.endpoint,
              repoId: opts.repoId,
              token: opts.token,
              revision,
              objects,
              fetch: baseFetch,
              signal: abort.signal,
              onBytes: (p, n) => {
                state.uploaded.set(p, Math.min((state.uploaded.get(p) ?? 0) + n, desiredByPath.get(p)?.size ?? n));
                emitFile(p, "uploading", state.uploaded.get(p)!);
              },
            }),
          )
          .then((r) => (pre = r));
        running.catch((err: unknown) => abort.abort(err));
        release(running);
      };
    }
    const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
    const emitFile = (p: string, phase: HubProgressEvent["phase"], fileBytes: number): void =>
      emit({ phase, path: p, fileBytes, fileSize: desiredByPath.get(p)?.size, hashedBytes: sum(state.hashed), uploadedBytes: sum(state.uploaded), totalBytes });

    try {
      const operations: CommitOperation[] = [];
      for (const f of files) {
        const content = typeof f.source === "string" ? await DiskBlob.fromFile(f.source) : new Blob([f.source.bytes]);
        if (content.size !== f.size) throw new HubPublishError(`${f.path}: ${content.size} bytes on disk, the manifest says ${f.size}; re-run the checks`);
        operations.push({ operation: "addOrUpdate", path: f.path, content });
      }
      for (const d of deletes) operations.push({ operation: "delete", path: d.path });
      const iter = commitIter({
        repo: { type: "model", name: opts.repoId },
        operations,
        title: opts.summary ?? (opts.tag ? `Release ${opts.tag}` : "Release"),
        ...(opts.description ? { description: opts.description } : {}),
        branch: revision,
        parentCommit,
        isPullRequest: !!opts.createPr,
        hubUrl: opts.endpoint,
        accessToken: opts.token,
        useXet: opts.useXet ?? false,
        fetch: observer.wrap(baseFetch, abort),
        abortSignal: abort.signal,
      });
      let res = await iter.next();
      while (!res.done) {
        const ev = res.value;
        if (ev.event === "phase") {
          if (ev.phase === "committing") emit({ phase: "committing", hashedBytes: sum(state.hashed), uploadedBytes: sum(state.uploaded), totalBytes });
        } else if (ev.state === "hashing") {
          const size = desiredByPath.get(ev.path)?.size ?? 0;
          state.hashed.set(ev.path, Math.round(ev.progress * size));
          emitFile(ev.path, "hashing", state.hashed.get(ev.path)!);
        } else if (ev.state === "uploading" && ev.progress === 0) {
          emitFile(ev.path, "uploading", state.uploaded.get(ev.path) ?? 0);
        } else if (ev.state === "uploading" && ev.progress === 1) {
          const f = desiredByPath.get(ev.path);
          // Regular files travel inside the commit request; LFS ones were counted on their PUT.
          if (f && f.storage !== "lfs" && !state.uploaded.has(ev.path)) {
            state.uploaded.set(ev.path, f.size);
            emitFile(ev.path, "uploading", f.size);
          }
        }
        res = await iter.next();
      }
      if (observer.gate && !observer.onPreupload) await observer.gate; // the library may not have needed our objects at all
      const out = res.value as CommitOutput | undefined;
      if (!out?.commit?.oid) throw new HubPublishError(`the Hub answered the commit to ${opts.repoId} without a commit id`);
      commitOid = out.commit.oid;
      commitUrl = out.commit.url;
      pullRequestUrl = out.pullRequestUrl;
      status = "done";
      for (const f of files) {
        const wasPresent = pre ? pre.present.includes(f.sha256) : observer.dedupOids.has(f.sha256) && !observer.uploadedOids.has(f.sha256);
        if (f.storage === "lfs" && wasPresent) deduplicated.push(f.path);
        else uploaded.push(f.path);
      }
    } catch (caught) {
      if (observer.mismatch) throw new HubPublishError(observer.mismatch);
      // When our own LFS upload failed, the library only saw the abort: report the cause.
      const err = abort.signal.aborted && abort.signal.reason && !(caught instanceof HubPublishError) ? abort.signal.reason : caught;
      abort.abort(err); // stop our own uploads too when the library failed first
      if (observer.gate && !observer.onPreupload) await observer.gate.catch(() => undefined);
      if (errorStatus(err) === 412 && !opts.createPr) {
        // A retried commit that had in fact landed, or an identical concurrent publish: accept it
        // only when the Hub now holds exactly our desired state.
        const again = await computeHubPlan({ ...target, manifest: opts.manifest, prune: opts.prune }).catch(() => undefined);
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
    emit({ phase: "tagging", hashedBytes: 0, uploadedBytes: 0, totalBytes });
    tag = await tagHubRevision({ endpoint: opts.endpoint, repoId: opts.repoId, token: opts.token, fetch: baseFetch, tag: opts.tag, commit: commitOid, message: opts.summary ?? `Release ${opts.tag}` });
  }
  emit({ phase: "done", hashedBytes: 0, uploadedBytes: totalBytes, totalBytes });
  return {
    transport: "api",
    status,
    commit: commitOid,
    url: commitUrl,
    ...(pullRequestUrl ? { pullRequestUrl } : {}),
    uploaded,
    deduplicated,
    deleted: status === "done" ? deletes.map((d) => d.path) : [],
    ...(tag ? { tag } : {}),
    plan,
  };
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
