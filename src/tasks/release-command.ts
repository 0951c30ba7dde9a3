import { UserError } from "../report.js";
export async function runReleaseCommand(_opts: unknown): Promise<number> {
  throw new UserError("release: not wired yet (TEMP)", 2);
}
