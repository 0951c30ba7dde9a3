// `azbert-release unpack ckpt.tar.gz --out DIR` (alias verify-archive): checks an archive
// downloaded from a GitHub Release against its SHA256SUMS and the manifest.json it starts
// with, and unpacks it safely. Its only side effect is the files in DIR, and only when every
// check passed.
import { existsSync } from "node:fs";
import path from "node:path";
import type { GlobalOptions } from "./options.js";
import { formatBytes } from "../util/format-bytes.js";
import { UserError } from "../report.js";
import { describeUnpackProblems, unpackVerified, type UnpackResult } from "../pack/index.js";
import { displayPath } from "../util/display-path.js";
import { detectUi, makeListr, type Task } from "./ui.js";

export interface UnpackCliOptions {
  out: string;
  sums?: string;
}

interface UnpackContext {
  result?: UnpackResult;
}

export async function runUnpackCommand(archive: string, opts: GlobalOptions & UnpackCliOptions): Promise<number> {
  const archivePath = path.resolve(archive);
  const out = path.resolve(opts.out);
  if (!existsSync(archivePath)) throw new UserError(`${archive}: no such file`, 2);
  const sums = opts.sums ? path.resolve(opts.sums) : path.join(path.dirname(archivePath), "SHA256SUMS");
  if (!existsSync(sums)) {
    throw new UserError(
      opts.sums ? `--sums ${opts.sums}: no such file` : `no SHA256SUMS beside ${archive}: download it from the same release, or pass --sums FILE`,
      2,
    );
  }

  const ctx: UnpackContext = {};
  const name = path.basename(archivePath);
  let error: unknown;
  try {
    await makeListr<UnpackContext>(
      [
        {
          title: `Verify ${name} against ${displayPath(sums)} and unpack it into ${displayPath(out)}`,
          task: async (c: UnpackContext, task: Task<UnpackContext>) => {
            c.result = await unpackVerified(archivePath, out, { sums });
            const r = c.result;
            if (!r.ok) {
              const n = describeUnpackProblems(r).length;
              throw new UserError(`${name} does not match its manifest and SHA256SUMS (${n} problem${n === 1 ? "" : "s"}, below)`);
            }
            task.title = `${name} matches ${displayPath(sums)}: ${r.files.length} files (${formatBytes(r.files.reduce((s, f) => s + f.size, 0))}) verified and unpacked into ${displayPath(out)}`;
          },
        },
      ],
      detectUi(!!opts.json),
      ctx,
    ).run();
  } catch (e) {
    error = e;
  }
  const r = ctx.result;
  const ok = !error && !!r?.ok;
  if (opts.json) {
    const problems = r ? describeUnpackProblems(r) : [];
    process.stdout.write(
      `${JSON.stringify(
        {
          ...(r ? { ...r, problems } : { archive: { name } }),
          ok,
          out,
          ...(error && !r ? { error: (error as Error).message } : {}),
        },
        null,
        2,
      )}\n`,
    );
  } else if (!ok) {
    const lines = r && !r.ok ? describeUnpackProblems(r).map((l) => `  ${l}\n`) : [];
    process.stderr.write(`\n${lines.join("")}Nothing was unpacked into ${displayPath(out)}.\n`);
  }
  if (ok) return 0;
  return error instanceof UserError ? error.exitCode : 1;
}
