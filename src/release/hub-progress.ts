// The Hub step's progress line, from the publish's progress events.
import { formatBytes } from "../util/format-bytes.js";
import type { HubProgressEvent } from "../hub/index.js";

/**
 * The Hub step's progress line. Uploading shows the bytes actually sent (read into the
 * connection) with their rate; phases that send nothing say what they do, with no byte counter.
 * git-lfs does not report its bytes to us: its upload shows the size to send, not a count.
 */
export function hubProgressLine(transport: "api" | "git", now: () => number = Date.now): (e: HubProgressEvent) => string | undefined {
  let start: number | undefined;
  let last = -Infinity;
  return (e) => {
    switch (e.phase) {
      case "preparing":
        return "preparing the commit";
      case "hashing":
        return `hashing ${e.path ?? "the files"}`;
      case "committing":
        return "committing";
      case "tagging":
        return "tagging the commit";
      case "done":
        return "";
      case "uploading": {
        if (!e.totalBytes) return undefined;
        if (transport === "git") return `uploading ${formatBytes(e.totalBytes)} with git-lfs`;
        const t = now();
        start ??= t;
        // At most ten redraws a second; the last event of a file always shows.
        if (t - last < 100 && e.uploadedBytes < e.totalBytes) return undefined;
        last = t;
        const seconds = (t - start) / 1000;
        const rate = seconds >= 0.5 ? `, ${formatBytes(Math.round(e.uploadedBytes / seconds))}/s` : "";
        return `uploading: ${formatBytes(e.uploadedBytes)} of ${formatBytes(e.totalBytes)} sent${rate}${e.path ? ` (${e.path})` : ""}`;
      }
    }
  };
}
