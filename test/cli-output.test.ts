// What a person reads: Ctrl-C says "interrupted" and what a rerun does; a network error in
// `check` does not talk about resuming uploads; a terminal that reports 0 columns gets plain
// lines; names with control characters are printed escaped; upload progress shows bytes sent.
import { execFileSync, spawn } from "node:child_process";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubProgressLine } from "../src/release/hub-progress.js";
import type { HubProgressEvent } from "../src/hub/index.js";
import { binPath, copySample, fixtureProject, runCli } from "./helpers/cli.js";

/** A "Hub" that accepts connections and never answers: whatever asks it waits until interrupted. */
let silent: net.Server;
let silentUrl: string;
const connected: Array<() => void> = [];
const sockets: net.Socket[] = [];
beforeAll(async () => {
  silent = net.createServer((socket) => {
    sockets.push(socket);
    connected.splice(0).forEach((f) => f());
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

/** Runs the CLI until it is waiting on the silent Hub, then presses Ctrl-C. */
async function interruptWhileWaiting(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const ckpt = await copySample();
  const asked = new Promise<void>((resolve) => connected.push(resolve));
  const child = spawn(process.execPath, [binPath, ...args, "--ckpt", ckpt], {
    cwd: fixtureProject(),
    env: { ...process.env, CI: "true", NO_COLOR: "1", HF_TOKEN: "hf_interruptTestToken000000", HF_ENDPOINT: silentUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("close", resolve));
  await asked;
  child.kill("SIGINT");
  return { code: await exit, stdout, stderr };
}

describe("Ctrl-C", () => {
  it("check: says interrupted and that a rerun starts over, exit 130, no stack trace", async () => {
    const r = await interruptWhileWaiting(["check"]);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("Interrupted (Ctrl-C): check changes nothing: run it again.");
    expect(r.stderr + r.stdout).not.toMatch(/\bat .*\.js:\d+/);
  });

  it("a release before anything was published: says so, and that a rerun starts over", async () => {
    const r = await interruptWhileWaiting(["release", "--dry-run"]);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("Interrupted (Ctrl-C): nothing has been published; stopping (Ctrl-C again to stop at once). Run the release again to start over.");
    expect(r.stdout).toContain("Interrupted before anything was published: run the release again to start over");
    expect(r.stdout).not.toMatch(/to resume/);
  });
});

describe("messages", () => {
  it("check: a Hub that cannot be reached is a network error, with no word about resuming uploads", async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const r = await runCli(["check", "--json", "--ckpt", await copySample()], {
      env: { HF_TOKEN: "hf_unreachableHubToken00000", HF_ENDPOINT: `http://127.0.0.1:${closed}`, AZBERT_RELEASE_RETRY_DELAY_MS: "1" },
    });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; message?: string }> };
    const hub = report.checks.filter((c) => c.id.startsWith("hub.") && c.status === "fail");
    expect(hub.length).toBeGreaterThan(0);
    for (const c of hub) expect(c.message).not.toMatch(/resume|already uploaded|re-run/);
    expect(hub.map((c) => c.message).join("\n")).toMatch(/cannot reach the Hub|network error/);
  });

  it("--json: a usage error commander finds still puts exactly one document on stdout, exit 2", async () => {
    const r = await runCli(["release", "--json", "--bogus"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: "unknown option '--bogus'" });
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });

  it("--json: a step summary that cannot be written is a warning on stderr; stdout keeps its one report and the exit code is the release's", async () => {
    const ckpt = await copySample();
    const r = await runCli(["release", "--dry-run", "--offline", "--json", "--ckpt", ckpt], { env: { GITHUB_STEP_SUMMARY: "/nonexistent-dir/summary.md" } });
    const report = JSON.parse(r.stdout) as { ok: boolean };
    expect(r.code).toBe(report.ok ? 0 : 1);
    expect(r.stderr).toMatch(/Warning: the step summary \(\$GITHUB_STEP_SUMMARY\) was not written: .*nonexistent-dir/);
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  });

  it("release --only check,smoke publishes nothing, so it asks no confirmation, even without a terminal", async () => {
    const r = await runCli(["release", "--only", "check,smoke", "--ckpt", await copySample()], { env: { CI: "" } });
    expect(r.stderr).not.toMatch(/refusing to publish/);
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });

  it("smoke: a file name with control characters is printed escaped", async () => {
    const r = await runCli(["smoke", "--device", "cpu", "--ckpt", await copySample(), "--cases", "cases\u001b[31mred\nforged.txt"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cases\\x1b[31mred\\nforged.txt: cannot read the cases file (no such file)");
    expect(r.stderr).not.toContain("\u001b");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe("a terminal that reports 0 columns", () => {
  const hasScript = (() => {
    try {
      execFileSync("script", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasScript)("gets plain lines, not one character per line", async () => {
    const ckpt = await copySample();
    // A real pseudo-terminal (util-linux `script`), sized to 0 columns as some CI consoles report.
    const out = execFileSync("script", ["-qec", `stty cols 0 rows 0; '${process.execPath}' '${binPath}' check --offline --ckpt '${ckpt}'`, "/dev/null"], {
      cwd: fixtureProject(),
      env: { ...process.env, CI: "", NO_COLOR: "1" },
      encoding: "utf8",
    });
    const lines = out.split(/\r?\n/).filter((l) => l.trim());
    expect(out).toMatch(/✔ required files are present/);
    expect(lines.filter((l) => l.trim().length === 1)).toEqual([]);
  });
});

describe("upload progress", () => {
  const ev = (e: Partial<HubProgressEvent> & { phase: HubProgressEvent["phase"] }): HubProgressEvent => ({ hashedBytes: 0, uploadedBytes: 0, totalBytes: 0, ...e });

  it("shows the bytes sent with their rate while uploading; other phases show no byte counter", () => {
    let t = 0;
    const line = hubProgressLine("api", () => t);
    const MiB = 1024 * 1024;
    expect(line(ev({ phase: "preparing" }))).toBe("preparing the commit");
    expect(line(ev({ phase: "uploading", uploadedBytes: 0, totalBytes: 100 * MiB, path: "pytorch_model.bin" }))).toBe("uploading: 0 B of 100.0 MiB sent (pytorch_model.bin)");
    t = 2000;
    expect(line(ev({ phase: "uploading", uploadedBytes: 40 * MiB, totalBytes: 100 * MiB, path: "pytorch_model.bin" }))).toBe("uploading: 40.0 MiB of 100.0 MiB sent, 20.0 MiB/s (pytorch_model.bin)");
    expect(line(ev({ phase: "committing", uploadedBytes: 100 * MiB, totalBytes: 100 * MiB }))).toBe("committing");
    expect(line(ev({ phase: "tagging", uploadedBytes: 100 * MiB, totalBytes: 100 * MiB }))).toBe("tagging the commit");
    // git-lfs does not tell us its bytes: the size to send, never a count that stands still.
    expect(hubProgressLine("git")(ev({ phase: "uploading", totalBytes: 100 * MiB }))).toBe("uploading 100.0 MiB with git-lfs");
  });
});
