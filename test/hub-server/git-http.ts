// git smart HTTP for the local Hub: `git http-backend` (the CGI program git ships) serves the
// bare repositories, as the Hub serves `https://huggingface.co/{repo}` to git clients. The Hub
// side (server.ts) decides who may read or write before the request gets here.
import { spawn } from "node:child_process";
import type http from "node:http";
import { hermeticGitEnv } from "./git.js";

export interface GitHttpRequest {
  /** Where the bare repositories live (`{root}/{ns}/{name}.git`). */
  root: string;
  repoId: string;
  /** `info/refs`, `git-upload-pack` or `git-receive-pack`. */
  service: string;
  query: string;
  /** Set when the request may push: receive-pack is refused without it. */
  user?: string;
  /** Counts the request body bytes (the server's request log). */
  onBodyBytes: (n: number) => void;
}

export function serveGitHttp(req: http.IncomingMessage, res: http.ServerResponse, g: GitHttpRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...hermeticGitEnv(),
      GIT_PROJECT_ROOT: g.root,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: `/${g.repoId}.git/${g.service}`,
      REQUEST_METHOD: req.method ?? "GET",
      QUERY_STRING: g.query,
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      ...(g.user ? { REMOTE_USER: g.user } : {}),
      ...(req.headers["content-length"] ? { CONTENT_LENGTH: String(req.headers["content-length"]) } : {}),
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
    };
    const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    req.on("data", (c: Buffer) => g.onBodyBytes(c.length));
    req.pipe(child.stdin);
    child.stdin.on("error", () => undefined);

    // CGI output: header lines, a blank line, then the body.
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once("drain", () => child.stdout.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      const endLf = head.indexOf("\n\n");
      const cut = end !== -1 ? end : endLf;
      if (cut === -1) return;
      const sep = end !== -1 ? 4 : 2;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, cut).toString("latin1").split(/\r?\n/)) {
        const i = line.indexOf(":");
        if (i === -1) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === "status") status = Number.parseInt(v, 10) || 200;
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      const rest = head.subarray(cut + sep);
      if (rest.length) res.write(rest);
    });
    child.on("close", (code) => {
      if (!headersDone) {
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
        res.end(`git http-backend failed (${code}): ${stderr}`);
      } else res.end();
      resolve();
    });
  });
}
