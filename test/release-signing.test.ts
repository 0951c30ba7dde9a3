// The release signs what it publishes: model.sig (OpenSSF model signing) over exactly the files
// the Hub gets, published beside them and attached to the GitHub Release; `verify --tag` checks it
// against what it downloaded. With a key (signing.key), and keyless as the workflow init writes
// signs (Sigstore, here a local Fulcio and Rekor and a GitHub Actions OIDC endpoint).
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { cleanups, expectReleased, git, makeProject, REPO_ID, snapshot, TAG, type Project } from "./helpers/release-project.js";
import { startMockSigstore } from "./signing-helpers.js";

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function configure(p: Project, signing: Record<string, string>) {
  const cfgPath = path.join(p.work, "release.config.json");
  writeFileSync(cfgPath, JSON.stringify({ ...(JSON.parse(readFileSync(cfgPath, "utf8")) as object), signing }));
  git(p.work, "commit", "-qam", "sign the release");
  git(p.work, "push", "-q", "origin", "main");
}

const statementOf = (sig: string) =>
  JSON.parse(Buffer.from((JSON.parse(sig) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, "base64").toString("utf8")) as {
    subject: Array<{ name: string }>;
    predicate: { resources: Array<{ name: string; digest: string }> };
  };

describe("the release signs what it publishes", () => {
  it("with a key: model.sig on the Hub and the GitHub Release signs every published file, verify --tag checks it, a rerun keeps it", async () => {
    const p = await makeProject();
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const keyFile = path.join(p.root, "release.pem");
    const pubFile = path.join(p.root, "release.pub");
    writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
    writeFileSync(pubFile, publicKey.export({ type: "spki", format: "pem" }));
    configure(p, { key: keyFile });
    const dry = await p.release("--dry-run");
    expect(dry.stdout).toMatch(/^Signature: model\.sig signed with the key /m);
    const r = await p.release("--yes");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectReleased(p);
    const hubRepo = p.hub.repoDir(REPO_ID);
    const onHub = git(hubRepo, "ls-tree", "--name-only", TAG).split("\n");
    const sig = git(hubRepo, "show", `${TAG}:model.sig`);
    const st = statementOf(sig);
    // Every file the Hub serves, but model.sig itself and .gitattributes, as the reference signs a folder.
    expect(st.predicate.resources.map((x) => x.name).sort()).toEqual(onHub.filter((f) => f !== "model.sig" && f !== ".gitattributes").sort());
    expect(st.subject[0]!.name).toBe("azbert-tiny");
    // manifest.json lists the model's files; the signature is not one of them.
    expect(git(hubRepo, "show", `${TAG}:manifest.json`)).not.toContain("model.sig");
    expect(p.gh.assetsOf(TAG).find((a) => a.name === "model.sig")?.bytes.toString("utf8")).toBe(sig);
    expect(git(hubRepo, "show", `${TAG}:README.md`)).toMatch(/npx azbert-release verify-signature model\.sig \. --key/);
    for (const out of [r.stdout, r.stderr]) expect(out).not.toContain(readFileSync(keyFile, "utf8").split("\n")[1]!);

    const anyone = { ...p.env, HF_TOKEN: "", GITHUB_TOKEN: "" };
    const v = await runCli(["verify", "--tag", TAG, "--key", pubFile, "--json"], { cwd: p.work, env: anyone });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect((JSON.parse(v.stdout) as { signature: { checked: boolean; files: number } }).signature).toMatchObject({ checked: true, files: st.predicate.resources.length });
    // Another key: the signature is not the publisher's.
    const other = path.join(p.root, "other.pub");
    writeFileSync(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }));
    const wrong = await runCli(["verify", "--tag", TAG, "--key", other], { cwd: p.work, env: anyone });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/model\.sig/);

    const before = snapshot(p);
    const again = await p.release("--yes");
    expect(again.stdout).toMatch(/already released and verified: nothing to do/);
    expect(snapshot(p)).toEqual(before);
  });

  it("keyless in GitHub Actions: a certificate for the workflow's identity, logged; verify --tag checks that identity", async () => {
    const p = await makeProject();
    const sigstore = await startMockSigstore({ identity: "https://github.com/azbert/azbert/.github/workflows/release.yml@refs/tags/v1.2.0" });
    cleanups.push(() => sigstore.close());
    configure(p, { fulcioUrl: sigstore.fulcioURL, rekorUrl: sigstore.rekorURL, trustedRoot: sigstore.trustedRoot });
    const ci = { ...p.env, ...sigstore.actionsEnv, GITHUB_ACTIONS: "true", GITHUB_WORKFLOW_REF: "azbert/azbert/.github/workflows/release.yml@refs/tags/v1.2.0" };
    const r = await runCli(["release", "--yes"], { cwd: p.work, env: ci });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Wrote out\/model\.sig: \d+ files signed, verified \(https:\/\/github\.com\/azbert\/azbert\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.2\.0/);
    expect(sigstore.requests.some((q) => q.url.includes("/api/v1/log/entries"))).toBe(true);
    for (const secret of [sigstore.idToken]) expect(r.stdout + r.stderr).not.toContain(secret);
    const anyone = { ...p.env, HF_TOKEN: "", GITHUB_TOKEN: "" };
    const args = ["verify", "--tag", TAG, "--issuer", sigstore.issuer, "--trusted-root", sigstore.trustedRoot, "--json"];
    const v = await runCli([...args, "--identity", sigstore.identity], { cwd: p.work, env: anyone });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const wrong = await runCli([...args, "--identity", "https://github.com/someone/else/.github/workflows/release.yml@refs/tags/v1.2.0"], { cwd: p.work, env: anyone });
    expect(wrong.code).toBe(1);
  });
});
