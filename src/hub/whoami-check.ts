// Preflight: the token is valid and may write to the target repo's namespace.
import type { CheckResult } from "../report.js";
import { defaultHubFetch, redactHub } from "./errors.js";
import { authHeaders } from "./tree.js";
import type { HubTarget } from "./types.js";

/** What `GET /api/whoami-v2` returns (the parts we read). */
export interface WhoAmIV2 {
  type?: string;
  name: string;
  orgs?: Array<{ name: string; roleInOrg?: string }>;
  auth?: {
    type?: string;
    accessToken?: {
      displayName?: string;
      role?: "read" | "write" | "admin" | "fineGrained" | string;
      fineGrained?: {
        global?: string[];
        scoped?: Array<{ entity: { type: string; name: string; _id?: string }; permissions: string[] }>;
      };
    };
  };
}

export interface WritePermission {
  ok: boolean;
  /** How writing is allowed (for the pass message), or what is missing (for the fail message). */
  detail: string;
}

/**
 * Can this token write to `repoId` (and create it in its namespace when `mustCreate`)?
 * Classic tokens: role `write`/`admin` on the user's own namespace or an org they belong to.
 * Fine-grained tokens: `repo.write` scoped to the namespace entity (user/org), or to the repo
 * itself (`model` entity; not enough to create it).
 */
export function hubWritePermission(who: WhoAmIV2, repoId: string, mustCreate = false): WritePermission {
  const ns = repoId.split("/")[0] ?? "";
  const role = who.auth?.accessToken?.role;
  const orgs = (who.orgs ?? []).map((o) => o.name);
  const own = ns === who.name || orgs.includes(ns);
  if (role === "fineGrained") {
    const scoped = who.auth?.accessToken?.fineGrained?.scoped ?? [];
    const nsScope = scoped.find((s) => (s.entity.type === "user" || s.entity.type === "org") && s.entity.name === ns);
    if (nsScope?.permissions.includes("repo.write")) return { ok: true, detail: `fine-grained token of ${who.name} with repo.write on ${ns}` };
    const repoScope = scoped.find((s) => s.entity.type === "model" && s.entity.name === repoId);
    if (repoScope?.permissions.includes("repo.write")) {
      if (mustCreate) return { ok: false, detail: `the fine-grained token has repo.write on ${repoId} only; creating the repo needs repo.write on the namespace "${ns}"` };
      return { ok: true, detail: `fine-grained token of ${who.name} with repo.write on ${repoId}` };
    }
    return { ok: false, detail: `the fine-grained token of ${who.name} lacks the permission repo.write on "${ns}" (or on ${repoId}): edit the token's permissions on the Hub` };
  }
  if (role === "write" || role === "admin") {
    if (own) return { ok: true, detail: `${role} token of ${who.name}` };
    return { ok: false, detail: `the token of ${who.name} can write only to ${[who.name, ...orgs].join(", ")}; "${ns}" is not among them (join the org, or change the repo in the config)` };
  }
  return { ok: false, detail: `the token of ${who.name} is read-only (role "${role ?? "unknown"}"): the release needs the write role, or a fine-grained token with repo.write on "${ns}"` };
}

export interface WhoamiCheckOptions extends HubTarget {
  /** The repo does not exist yet and the release would create it. */
  mustCreate?: boolean;
  /** The token is Trusted Publishing's, exchanged for `repoId` itself. */
  trustedPublishing?: boolean;
}

/**
 * A Trusted Publishing token is the Hub's answer to "this job may write to `repoId`": the exchange
 * for that repo succeeding is the permission (whoami names no user or org it could be read from).
 * It writes to an existing repo only: the Trusted Publisher lives in that repo's settings.
 */
export function trustedPublishingPermission(repoId: string, mustCreate = false): WritePermission {
  if (mustCreate) return { ok: false, detail: `${repoId} does not exist, and a Trusted Publishing token cannot create it: create the repo on the Hub, add this workflow as its Trusted Publisher, then release` };
  return { ok: true, detail: `Trusted Publishing token for ${repoId}: the Hub exchanged this job's OIDC token for it` };
}

/** `hub.whoami`: skip without a token, fail on an invalid token or a missing permission. */
export async function checkHubWhoami(opts: WhoamiCheckOptions): Promise<CheckResult & { user?: string }> {
  const base = { id: "hub.whoami", title: `The Hub token may write to ${opts.repoId}` };
  if (!opts.token) return { ...base, status: "skip", message: "no Hub token: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), or run `huggingface-cli login`" };
  const f = opts.fetch ?? defaultHubFetch();
  let res: Response;
  try {
    res = await f(`${opts.endpoint}/api/whoami-v2`, { headers: authHeaders(opts.token) });
  } catch (err) {
    const msg = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ""}` : String(err);
    return { ...base, status: "fail", message: redactHub(`cannot reach the Hub at ${opts.endpoint}: ${msg}`, [opts.token]) };
  }
  if (res.status === 401) {
    await res.body?.cancel();
    if (opts.trustedPublishing) return { ...base, status: "fail", message: `the Hub at ${opts.endpoint} rejected the token it exchanged for this job's OIDC token (401): run the release again` };
    return { ...base, status: "fail", message: `the Hub at ${opts.endpoint} rejected the token (401): it is invalid, revoked or expired; create a write token at ${opts.endpoint}/settings/tokens and set HF_TOKEN` };
  }
  if (!res.ok) {
    await res.body?.cancel();
    return { ...base, status: "fail", message: `the Hub at ${opts.endpoint} answered ${res.status} to whoami; try again later` };
  }
  let who: WhoAmIV2;
  try {
    who = (await res.json()) as WhoAmIV2;
  } catch {
    return { ...base, status: "fail", message: `the Hub at ${opts.endpoint} did not answer whoami with JSON: is HF_ENDPOINT a Hugging Face Hub?` };
  }
  const perm = opts.trustedPublishing ? trustedPublishingPermission(opts.repoId, opts.mustCreate) : hubWritePermission(who, opts.repoId, opts.mustCreate);
  return { ...base, status: perm.ok ? "pass" : "fail", message: redactHub(perm.detail, [opts.token]), user: who.name };
}
