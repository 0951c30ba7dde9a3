import { UserError } from "../report.js";
export async function runPackCommand(_opts: unknown): Promise<number> {
  throw new UserError("pack: not wired yet (TEMP)", 2);
}
