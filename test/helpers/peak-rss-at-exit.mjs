// Preloaded into a process under test (NODE_OPTIONS=--import=<this file's URL>): when it exits, the
// kernel's record of its peak resident memory (VmHWM; getrusage's maxrss elsewhere) is written, in
// bytes, to the file AZBERT_PEAK_RSS_FILE names. Buffers and native allocations count, as for any
// process a CI runner would kill.
import { readFileSync, writeFileSync } from "node:fs";

const target = process.env.AZBERT_PEAK_RSS_FILE;
if (target) {
  process.on("exit", () => {
    let bytes = process.resourceUsage().maxRSS * 1024;
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
      if (m) bytes = Number(m[1]) * 1024;
    } catch {
      // not Linux: maxrss stands
    }
    writeFileSync(target, String(bytes));
  });
}
