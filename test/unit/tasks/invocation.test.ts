import { describe, expect, it } from "vitest";
import { commandFor } from "../../../src/tasks/invocation.js";

describe("the command a hint names", () => {
  it("is what the person ran: the npm script, npx in a project, the bare command when installed globally", () => {
    expect(commandFor("release", { npm_lifecycle_event: "release" }, "/repo/bin/azbert-release.js")).toBe("npm run release --");
    expect(commandFor("release", {}, "/home/me/model/node_modules/.bin/azbert-release")).toBe("npx azbert-release release");
    expect(commandFor("release", {}, "/usr/lib/node_modules/azbert-release/bin/azbert-release.js")).toBe("azbert-release release");
    expect(commandFor("check", { npm_lifecycle_event: "release" }, "/x/node_modules/azbert-release/bin/azbert-release.js")).toBe("npx azbert-release check");
  });
});
