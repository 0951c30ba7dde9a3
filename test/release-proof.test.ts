// safetensors in the release and the proof from what is served, end to end against the local
// Hub (real topology: LFS bytes on a storage host that refuses a token, downloads redirected
// there) and the local GitHub: model.safetensors is written into out/ (never into the
// checkpoint), published beside pytorch_model.bin and equal to it tensor for tensor; after the
// commit and tag the release downloads what users get and smoke-tests it; a file corrupted on
// the Hub's side after the commit fails the proof, naming the file; `verify --tag` runs the same
// proof later, for anyone.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli, sampleCkpt } from "./helpers/cli.js";
import { cleanups, expectReleased, git, GH_TOKEN, HF_TOKEN, makeProject, REPO_ID, snapshot, TAG, type Project } from "./helpers/release-project.js";
import { writeShardedSample } from "./shard-fixtures.js";
import { referenceFile, type Reference } from "./smoke-helpers.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Step {
  id: string;
  status: string;
  message?: string;
  hub?: { files: number; bytes: number; origins: string[]; token: boolean; smoke: { ok: boolean; device: string; passed: number; cases: number; notes?: string[] } };
  github?: { files: number; archive: { name: string; sha256: string } };
}
interface Report {
  ok: boolean;
  outcome: string;
  steps: Step[];
  plan?: { hub: { entries: Array<{ path: string; action: string; sha256?: string; size: number }> }; safetensors: { action: string; files: Array<{ path: string; sha256: string }> } };
}

/** Changes release.config.json and commits it (a release needs a clean, pushed tree). */
function configure(p: Project, edit: (cfg: Record<string, Record<string, unknown>>) => void): void {
  const file = path.join(p.work, "release.config.json");
  const cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, unknown>>;
  edit(cfg);
  writeFileSync(file, JSON.stringify(cfg));
  git(p.work, "commit", "-qam", "configure the release");
  git(p.work, "push", "-q", "origin", "main");
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const archiveNames = (archive: string) =>
  execFileSync("tar", ["tzf", archive], { encoding: "utf8" }).trim().split("\n").filter((n) => !n.endsWith("/")).map((n) => n.split("/").slice(1).join("/") || n).sort();

describe("safetensors in the release", () => {
  it("the dry run plans model.safetensors with the sha256 the release then writes; the release publishes it beside the .bin, packs it, and never writes into the checkpoint", async () => {
    const p = await makeProject();
    const ckptBefore = readdirSync(path.join(p.work, "ckpt")).sort();
    const dry = await p.release("--dry-run", "--json");
    expect(dry.code, dry.stderr).toBe(0);
    const plan = (JSON.parse(dry.stdout) as Report).plan!;
    expect(plan.safetensors.action).toBe("planned");
    const planned = plan.hub.entries.find((e) => e.path === "model.safetensors")!;
    expect(planned).toMatchObject({ action: "add", storage: "lfs" });
    expect(plan.hub.entries.find((e) => e.path === "manifest.json")).toMatchObject({ action: "add", storage: "regular" });
    expect(existsSync(path.join(p.work, "out"))).toBe(false);

    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    const written = path.join(p.work, "out", "safetensors", "model.safetensors");
    expect(sha256(written)).toBe(planned.sha256);
    // The proof of the conversion, in the report: byte-identical tensors, tied names recorded, same logits.
    expect((JSON.parse(r.stdout) as { safetensors: unknown }).safetensors).toMatchObject({
      action: "written",
      files: [{ path: "model.safetensors", sha256: planned.sha256 }],
      aliases: { "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight" },
      proof: { tensorsCompared: 47, aliasesChecked: 2, logits: { identical: true, masks: 5 } },
    });
    expect(readdirSync(path.join(p.work, "ckpt")).sort()).toEqual(ckptBefore);
    // On the Hub: the sample, model.safetensors equal to the .bin tensor for tensor, manifest.json.
    await expectReleased(p);
    // In the archive and its SHA256SUMS.
    const out = path.join(p.work, "out");
    expect(archiveNames(path.join(out, "ckpt.tar.gz"))).toEqual(["manifest.json", ...readdirSync(sampleCkpt), "model.safetensors"].sort());
    expect(readFileSync(path.join(out, "SHA256SUMS"), "utf8")).toContain(`${planned.sha256}  ckpt/model.safetensors\n`);
  });

  it("weights.safetensors only: safetensors published without the pickle; off: the checkpoint as it is", async () => {
    const only = await makeProject();
    configure(only, (c) => (c.weights = { safetensors: "only" }));
    const r = await only.release("--yes");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Wrote model\.safetensors .* published instead of pytorch_model\.bin \(weights\.safetensors: only\)/);
    const hubFiles = git(only.hub.repoDir(REPO_ID), "ls-tree", "--name-only", `${TAG}`).split("\n");
    expect(hubFiles).toContain("model.safetensors");
    expect(hubFiles).not.toContain("pytorch_model.bin");
    expect(archiveNames(path.join(only.work, "out", "ckpt.tar.gz"))).not.toContain("pytorch_model.bin");
    expect(r.stdout).toMatch(/Downloaded: +9 files .* match the manifest; smoke test of the copy 5\/5 on cpu/);

    writeFileSync(path.join(only.work, "release.config.json"), JSON.stringify({ weights: { safetensors: "both" } }));
    const bad = await runCli(["release", "--dry-run"], { cwd: only.work, env: only.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/release\.config\.json.*\/weights\/safetensors.*(add|allowed values)/);

    const off = await makeProject();
    configure(off, (c) => (c.weights = { safetensors: "off" }));
    const o = await off.release("--yes");
    expect(o.code, o.stdout + o.stderr).toBe(0);
    expect(o.stdout).toMatch(/weights\.safetensors is off: the weights are published as they are/);
    expect(git(off.hub.repoDir(REPO_ID), "ls-tree", "--name-only", `${TAG}`).split("\n")).not.toContain("model.safetensors");
    expect(existsSync(path.join(off.work, "out", "safetensors"))).toBe(false);
  });

  it("sharded weights, only: the safetensors shards and their index are published and proven, no torch shard or index", async () => {
    const p = await makeProject();
    await writeShardedSample({ dir: path.join(p.work, "ckpt"), count: 3 });
    configure(p, (c) => (c.weights = { safetensors: "only" })); // commits the shards too
    const r = await p.release("--yes", "--only", "hub", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report & { safetensors: { files: Array<{ path: string }>; dropped: string[] } };
    const st = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"];
    expect(report.safetensors.files.map((f) => f.path)).toEqual(st);
    expect(report.safetensors.dropped.sort()).toEqual(["pytorch_model-00001-of-00003.bin", "pytorch_model-00002-of-00003.bin", "pytorch_model-00003-of-00003.bin", "pytorch_model.bin.index.json"]);
    const onHub = git(p.hub.repoDir(REPO_ID), "ls-tree", "--name-only", TAG).split("\n");
    expect(onHub).toEqual(expect.arrayContaining(st));
    expect(onHub.filter((f) => f.startsWith("pytorch_model"))).toEqual([]);
    const proof = report.steps.find((s) => s.id === "verify.download")!;
    expect(proof.hub).toMatchObject({ files: onHub.length - 1, smoke: { ok: true, passed: 5 } }); // every file but .gitattributes
  });
});

describe("the proof from what the Hub serves (verify.download)", () => {
  it("before any tag: every published file is downloaded through resolve/<staged commit>/, storage reached without a token, and the copy smoke-tested; only then main and the tag", async () => {
    const p = await makeProject();
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    const proof = report.steps.find((s) => s.id === "verify.download")!;
    expect(proof.status).toBe("done");
    // The repo the release created stays private until the proof passed: the token went to the Hub origin.
    expect(proof.hub).toMatchObject({ files: 10, token: true, smoke: { ok: true, device: "cpu", passed: 5, cases: 5 } });
    expect(proof.hub!.origins).toEqual([p.hub.url, p.hub.storageUrl]);
    expect(proof.github).toMatchObject({ files: 9, archive: { name: "ckpt.tar.gz", sha256: sha256(path.join(p.work, "out", "ckpt.tar.gz")) } });

    // The Hub's log: the staged commit, then the resolve downloads of that commit, then main and the tag.
    const log = p.hub.requests;
    const staged = (report.steps.find((s) => s.id === "hub") as unknown as { commit: string }).commit;
    const stagedCommit = log.findIndex((e) => e.method === "POST" && e.path === `/api/models/${REPO_ID}/commit/azbert-release-staging-${TAG}`);
    const mainCommit = log.findIndex((e) => e.method === "POST" && e.path === `/api/models/${REPO_ID}/commit/main`);
    const tag = log.findIndex((e) => e.method === "POST" && e.path.startsWith(`/api/models/${REPO_ID}/tag/`));
    const resolves = log.map((e, i) => ({ ...e, i })).filter((e) => e.origin === "hub" && e.path.startsWith(`/${REPO_ID}/resolve/${staged}/`));
    expect(stagedCommit).toBeGreaterThan(-1);
    expect(resolves.map((e) => e.path.slice(`/${REPO_ID}/resolve/${staged}/`.length)).sort()).toEqual(
      [...readdirSync(sampleCkpt), "model.safetensors", "manifest.json"].sort(),
    );
    expect(resolves.every((e) => e.i > stagedCommit && e.i < mainCommit && e.method === "GET")).toBe(true);
    expect(tag).toBeGreaterThan(mainCommit);
    expect(resolves.filter((e) => e.status === 302).map((e) => path.basename(e.path)).sort()).toEqual(["model.safetensors", "pytorch_model.bin"]);
    const storageGets = log.filter((e) => e.origin === "storage" && e.method === "GET" && e.path.startsWith("/lfs-storage/objects/"));
    expect(storageGets).toHaveLength(2);
    expect(p.hub.storageAuthorizations).toEqual([]);
    // Main got the commit the proof proved, tree for tree; the staging branch is gone.
    const hubRepo = p.hub.repoDir(REPO_ID);
    expect(git(hubRepo, "rev-parse", `refs/tags/${TAG}^{tree}`)).toBe(git(hubRepo, "rev-parse", `${staged}^{tree}`));
    expect(git(hubRepo, "branch", "--list")).not.toMatch(/staging/);
    expect(r.stdout + r.stderr).not.toMatch(/X-Amz-Signature/);
  });

  it.each([
    ["an LFS file, one byte flipped in storage", "pytorch_model.bin", "flip" as const, /Hub pytorch_model\.bin at [0-9a-f]{40}: sha256 [0-9a-f]{12}… downloaded, [0-9a-f]{12}… in the manifest/],
    ["a regular file, truncated", "config.json", "truncate" as const, /Hub config\.json at [0-9a-f]{40}: 620 bytes downloaded, 621 in the manifest/],
  ])("%s on the Hub once staged: the proof fails naming the file, nothing is released anywhere, what was staged is withdrawn, and a rerun fails the same way", async (_what, file, how, named) => {
    const p = await makeProject();
    // Damage the file just before the proof downloads it from the staged commit: no timing.
    p.hub.beforeRequest({ method: "GET", path: new RegExp(`^/${REPO_ID}/resolve/[0-9a-f]{40}/${file.replace(/\./g, "\\.")}$`) }, () =>
      p.hub.corrupt(REPO_ID, file, { how, rev: `azbert-release-staging-${TAG}` }),
    );
    const r = await p.release("--yes", "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report & { rerunHelps?: boolean; visible?: boolean };
    expect([report.outcome, report.rerunHelps, report.visible]).toEqual(["failed", false, false]);
    const proof = report.steps.find((s) => s.id === "verify.download")!;
    expect(proof.status).toBe("failed");
    expect(proof.message).toMatch(named);
    expect(report.steps.map((s) => s.id)).toEqual(["git-tag", "hub", "github-release", "verify.download", "withdraw"]);
    // No tag anywhere, the Hub branch as it was (the repo's first commit), no release, no staging branch left.
    const hubRepo = p.hub.repoDir(REPO_ID);
    expect(git(hubRepo, "tag", "-l")).toBe("");
    expect(git(hubRepo, "log", "--format=%s", "main")).toBe("initial commit");
    expect(git(hubRepo, "for-each-ref", "--format=%(refname)", "refs/heads/")).toBe("refs/heads/main");
    expect(git(p.origin, "tag", "-l")).toBe("");
    expect(p.gh.releases.size).toBe(0);
    const again = await p.release("--yes");
    expect(again.code).toBe(1);
    expect(again.stdout).not.toMatch(/already released/);
    expect(again.stdout).toMatch(/^Release failed: what users would download does not pass, so nothing was released:$/m);
    expect(again.stdout).toMatch(named);
    expect(again.stdout).toMatch(/Running the same command again fails the same way/);
    expect(again.stdout).not.toMatch(/\n\s+at /); // no stack trace
    expect(git(hubRepo, "tag", "-l")).toBe("");
  });
});

describe("verify --tag: the same proof later, for anyone", () => {
  it("with no tokens at all: the Hub copy is held to its manifest.json and smoke-tested, the GitHub archive unpacked; nothing is written anywhere", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const before = snapshot(p);
    const anyone = { ...p.env, HF_TOKEN: "", GITHUB_TOKEN: "" };
    const r = await runCli(["verify", "--tag", TAG, "--json"], { cwd: p.work, env: anyone });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { ok: boolean; hub: Step["hub"]; github: Step["github"]; problems: string[] };
    expect(v).toMatchObject({ ok: true, problems: [], hub: { files: 9, token: false, smoke: { ok: true, passed: 5 } }, github: { files: 9 } });
    expect(snapshot(p)).toEqual(before);
    expect(p.hub.storageAuthorizations).toEqual([]);
    const human = await runCli(["verify", "--tag", TAG], { cwd: p.work, env: anyone });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/v1\.2\.0 holds: what users download is what was released, and it passes\./);
  });

  it("a private repo: refused without a token; with one, the token goes to the Hub origin only, never to storage", async () => {
    const p = await makeProject();
    configure(p, (c) => (c.hub = { ...c.hub, private: true }));
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Report).steps.find((s) => s.id === "verify.download")!.hub).toMatchObject({ token: true, files: 10 });
    const mark = p.hub.requests.length;
    const v = await runCli(["verify", "--tag", TAG], { cwd: p.work, env: p.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const downloads = p.hub.requests.slice(mark).filter((e) => e.path.includes("/resolve/") || e.path.startsWith("/lfs-storage/"));
    expect(downloads.filter((e) => e.origin === "hub").every((e) => e.authorization)).toBe(true);
    expect(downloads.filter((e) => e.origin === "storage")).toHaveLength(2);
    expect(downloads.filter((e) => e.origin === "storage").some((e) => e.authorization)).toBe(false);
    expect(p.hub.storageAuthorizations).toEqual([]);
    for (const out of [r.stdout, r.stderr, v.stdout, v.stderr]) expect(out).not.toContain(HF_TOKEN);

    const anon = await runCli(["verify", "--tag", TAG, "--json"], { cwd: p.work, env: { ...p.env, HF_TOKEN: "", GITHUB_TOKEN: "" } });
    expect(anon.code).toBe(1);
    expect((JSON.parse(anon.stdout) as { problems: string[] }).problems[0]).toMatch(/manifest\.json.*a private repo needs HF_TOKEN with read access/);
    expect(anon.stdout + anon.stderr).not.toContain(GH_TOKEN);
  });

  it("--device cuda: the GPU runner loads from_pretrained(repo_id, revision=tag) through HF_ENDPOINT, without a token for a public repo", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const reference = JSON.parse(readFileSync(referenceFile, "utf8")) as Reference;
    const run = {
      device: "cuda", torch: "2.5.0", transformers: "4.46.0", gpu: "Stand-in GPU", engine: "stand-in",
      cases: reference.cases.slice(0, 5).map((c) => ({ text: c.text, input_ids: c.input_ids, masks: c.masks, ms: 1 })),
    };
    const probe = { python: "3.11", torch: "2.5.0", transformers: "4.46.0", cuda: true, gpu: "Stand-in GPU", pya0: false, missing: [] };
    writeFileSync(path.join(p.root, "run.json"), JSON.stringify(run));
    writeFileSync(path.join(p.root, "probe.json"), JSON.stringify(probe));
    const log = path.join(p.root, "starts.log");
    const standIn = path.join(p.root, "python");
    writeFileSync(
      standIn,
      `#!/bin/sh\nif [ "$2" = "--probe" ]; then cat "${p.root}/probe.json"; exit 0; fi\necho "ARGS $*" >> "${log}"\necho "HF_ENDPOINT=$HF_ENDPOINT HF_TOKEN=\${HF_TOKEN:-none} HF_HOME=$HF_HOME" >> "${log}"\ncat "${p.root}/run.json"\n`,
    );
    chmodSync(standIn, 0o755);
    const r = await runCli(["verify", "--tag", TAG, "--device", "cuda", "--python", standIn, "--json"], { cwd: p.work, env: p.env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { hub: { smoke: { device: string; notes: string[] } } };
    expect(v.hub.smoke.device).toBe("cuda");
    expect(v.hub.smoke.notes).toContain(`the GPU runner loaded the model with from_pretrained("${REPO_ID}", revision="${TAG}") with HF_ENDPOINT=${p.hub.url}`);
    const [args, env] = readFileSync(log, "utf8").trim().split("\n");
    expect(args).toMatch(new RegExp(`--repo-id ${REPO_ID} --revision ${TAG.replace(/\./g, "\\.")} --cases \\S+ --device cuda`));
    expect(args).not.toMatch(/--ckpt/);
    expect(env).toMatch(new RegExp(`^HF_ENDPOINT=${p.hub.url} HF_TOKEN=none HF_HOME=/\\S+$`));
  });
});

describe("a re-release costs what changed", () => {
  /** Edits a checkpoint file and the version, commits and pushes: the next release's tag. */
  function nextRelease(p: Project, version: string, file: string, edit: (text: string) => string): string {
    const f = path.join(p.work, "ckpt", file);
    writeFileSync(f, edit(readFileSync(f, "utf8")));
    const pkg = path.join(p.work, "package.json");
    writeFileSync(pkg, JSON.stringify({ ...(JSON.parse(readFileSync(pkg, "utf8")) as object), version }, null, 2));
    git(p.work, "commit", "-qam", `azbert-tiny ${version}`);
    git(p.work, "push", "-q", "origin", "main");
    return `v${version}`;
  }
  const storageGets = (p: Project, from: number) => p.hub.requests.slice(from).filter((e) => e.origin === "storage" && e.method === "GET" && e.path.startsWith("/lfs-storage/objects/"));

  it("a new card: the weights are proven by what the Hub names and a 64 KiB read, not downloaded, and their smoke test carried over; verify --full downloads all", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    const tag = nextRelease(p, "1.2.1", "README.md", (t) => `${t}\nRetrained tokenizer notes.\n`);
    const mark = p.hub.requests.length;
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    const proof = report.steps.find((s) => s.id === "verify.download")!;
    // Only what changed is downloaded: the card and manifest.json. The weights are probed; the
    // small files the staged tree names by the same blob an earlier proof downloaded are carried.
    expect(proof.hub).toMatchObject({ files: 10, carried: 8, smoke: { carriedOver: true } });
    // Storage was asked for the first 64 KiB of each weights file, nothing more.
    const gets = storageGets(p, mark);
    expect(gets).toHaveLength(2);
    expect(gets.every((e) => e.range === "bytes=0-65535" && e.status === 206)).toBe(true);
    // The Hub was asked what it serves for the weights (HEAD); of the rest only the changed files were downloaded.
    const staged = (report.steps.find((s) => s.id === "hub") as unknown as { commit: string }).commit;
    const resolves = p.hub.requests.slice(mark).filter((e) => e.path.startsWith(`/${REPO_ID}/resolve/${staged}/`));
    expect(resolves.filter((e) => e.method === "HEAD").map((e) => path.basename(e.path)).sort()).toEqual(["model.safetensors", "pytorch_model.bin"]);
    expect(resolves.filter((e) => e.method === "GET").map((e) => path.basename(e.path)).sort()).toEqual(["README.md", "manifest.json"]);
    const human = await runCli(["verify", "--tag", tag], { cwd: p.work, env: p.env });
    expect(human.code, human.stdout + human.stderr).toBe(0);
    expect(human.stdout).toMatch(/2 proven by an earlier release, not downloaded again.*smoke test of the copy 5\/5 on cpu/);

    const full = p.hub.requests.length;
    const v = await runCli(["verify", "--tag", tag, "--full", "--json"], { cwd: p.work, env: p.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect((JSON.parse(v.stdout) as { hub: { carried?: number; smoke: { passed: number } } }).hub).toMatchObject({ smoke: { passed: 5 } });
    expect((JSON.parse(v.stdout) as { hub: { carried?: number } }).hub.carried).toBeUndefined();
    const all = storageGets(p, full);
    expect(all).toHaveLength(2);
    expect(all.every((e) => e.range === undefined && e.status === 200)).toBe(true);
  });

  it("a changed tokenizer file: the weights are still not downloaded again, and the smoke test runs on the copy", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    nextRelease(p, "1.2.1", "tokenizer_config.json", (t) => `${JSON.stringify(JSON.parse(t), null, 4)}\n`);
    const mark = p.hub.requests.length;
    const r = await p.release("--yes", "--json");
    expect(r.code, r.stderr).toBe(0);
    const proof = (JSON.parse(r.stdout) as Report).steps.find((s) => s.id === "verify.download")!;
    // The changed file is downloaded, the unchanged ones carried, and the copy smoke-tested.
    expect(proof.hub).toMatchObject({ carried: 7, smoke: { ok: true, device: "cpu", passed: 5, cases: 5 } });
    expect(storageGets(p, mark).every((e) => e.range === "bytes=0-65535")).toBe(true);
  });

  it("storage serving other first bytes for a carried object: the probe notices, the file is downloaded and the proof fails naming it", async () => {
    const p = await makeProject();
    expect((await p.release("--yes")).code).toBe(0);
    nextRelease(p, "1.2.1", "README.md", (t) => `${t}\nA new section.\n`);
    p.hub.beforeRequest({ method: "HEAD", path: new RegExp(`^/${REPO_ID}/resolve/[0-9a-f]{40}/pytorch_model\\.bin$`) }, () =>
      p.hub.corrupt(REPO_ID, "pytorch_model.bin", { how: "flip", at: 1000, rev: `azbert-release-staging-v1.2.1` }),
    );
    const r = await p.release("--yes", "--json");
    expect(r.code).toBe(1);
    const proof = (JSON.parse(r.stdout) as Report).steps.find((s) => s.id === "verify.download")!;
    expect(proof.message).toMatch(/Hub pytorch_model\.bin at [0-9a-f]{40}: sha256 [0-9a-f]{12}… downloaded, [0-9a-f]{12}… in the manifest/);
    expect(r.stdout).not.toMatch(/X-Amz-Signature/);
  });
});
