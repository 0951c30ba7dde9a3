import { UserError } from "../report.js";
export async function runSmokeCommand(_opts: unknown): Promise<number> {
  throw new UserError("smoke: not wired yet (TEMP)", 2);
}
