// Storage of the local Hub: every repo is a real bare git repository; LFS files are committed
// as pointer files and their bytes live in `lfs/objects/aa/bb/<oid>` inside the bare repo, the
// layout git-lfs uses, so `git clone file://<bare>` with git-lfs gives back the real bytes.
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pipeline } from "node:stream/promises";
import { deflateSync } from "node:zlib";
import { Transform, type Readable } from "node:stream";
import { git, gitText } from "./git.js";

export const HUB_DEFAULT_GITATTRIBUTES = [
  "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
  "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
  "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
  "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
]
  .map((p) => `${p} filter=lfs diff=lfs merge=lfs -text`)
  .join("\n")
  .concat("\n");


export interface TreeEntry {
  type: "file" | "directory";
  oid: string;
  size: number;
  path: string;
  lfs?: { oid: string; size: number; pointerSize: number };
}

export type CommitOp =
  | { kind: "file"; path: string; content: Buffer }
  | { kind: "lfsFile"; path: string; oid: string; size: number }
  | { kind: "deletedFile"; path: string };

export class HubError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

export function lfsPointer(oid: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}

export function parseLfsPointer(text: string): { oid: string; size: number } | undefined {
  const m = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n?$/.exec(text);
  return m ? { oid: m[1]!, size: Number(m[2]) } : undefined;
}

export interface RepoMeta {
  private: boolean;
  owner: string;
}

/** The hook every repo gets: refuses pushed LFS pointers without their object (see pre-receive.mjs). */
const PRE_RECEIVE = fileURLToPath(new URL("./pre-receive.mjs", import.meta.url));

/** What `resolve` serves for a file: where its bytes are and how they are identified. */
export interface StoredFile {
  entry: TreeEntry;
  size: number;
  /** LFS object path (LFS files). */
  lfsObject?: string;
  /** The bytes (regular files). */
  bytes?: Buffer;
}

export class RepoStore {
  /** Regular-file bytes served instead of the committed ones (`corrupt()`), by repo and blob id. */
  private readonly overrides = new Map<string, Buffer>();

  constructor(readonly root: string) {}

  dir(repoId: string): string {
    return path.join(this.root, `${repoId}.git`);
  }

  exists(repoId: string): boolean {
    return existsSync(path.join(this.dir(repoId), "HEAD"));
  }

  async meta(repoId: string): Promise<RepoMeta> {
    return JSON.parse(await readFile(path.join(this.dir(repoId), "hub.json"), "utf8")) as RepoMeta;
  }

  async create(repoId: string, meta: RepoMeta): Promise<void> {
    const dir = this.dir(repoId);
    await mkdir(path.dirname(dir), { recursive: true });
    await git(["init", "--bare", "-q", "--initial-branch=main", dir]);
    await writeFile(path.join(dir, "hub.json"), JSON.stringify(meta));
    await writeFile(path.join(dir, "hooks", "pre-receive"), `#!/bin/sh\nexec "${process.execPath}" "${PRE_RECEIVE}"\n`, { mode: 0o755 });
    // Like the real Hub: a new repo has one commit holding the default .gitattributes.
    await this.commit(repoId, "main", { summary: "initial commit" }, [
      { kind: "file", path: ".gitattributes", content: Buffer.from(HUB_DEFAULT_GITATTRIBUTES) },
    ]);
  }

  /** Commit sha of a branch, tag or commit sha; undefined when it does not resolve. */
  async resolve(repoId: string, rev: string): Promise<string | undefined> {
    if (!rev || rev.startsWith("-") || rev.includes("..")) return undefined;
    const candidates = /^[0-9a-f]{40}$/.test(rev) ? [rev] : [`refs/heads/${rev}`, `refs/tags/${rev}`, rev];
    for (const c of candidates) {
      const r = await git(["rev-parse", "--verify", "-q", `${c}^{commit}`], { cwd: this.dir(repoId), okCodes: [1, 128] });
      if (r.code === 0) return r.stdout.toString().trim();
    }
    return undefined;
  }

  async branchHead(repoId: string, branch: string): Promise<string | undefined> {
    const r = await git(["rev-parse", "--verify", "-q", `refs/heads/${branch}`], { cwd: this.dir(repoId), okCodes: [1, 128] });
    return r.code === 0 ? r.stdout.toString().trim() : undefined;
  }

  async refs(repoId: string): Promise<{ branches: RefInfo[]; tags: RefInfo[] }> {
    const out = await gitText(["for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)"], { cwd: this.dir(repoId) });
    const branches: RefInfo[] = [];
    const tags: RefInfo[] = [];
    for (const line of out.split("\n").filter(Boolean)) {
      const [ref, oid, peeled] = line.split("\0") as [string, string, string];
      if (ref.startsWith("refs/heads/")) branches.push({ name: ref.slice(11), ref, targetCommit: oid });
      else if (ref.startsWith("refs/tags/")) tags.push({ name: ref.slice(10), ref, targetCommit: peeled || oid });
    }
    return { branches, tags };
  }

  /** Every entry of the tree at `commit`, LFS pointers resolved. */
  async tree(repoId: string, commit: string, opts: { recursive: boolean; path?: string }): Promise<TreeEntry[]> {
    const cwd = this.dir(repoId);
    const prefix = opts.path ? opts.path.replace(/\/+$/, "") : "";
    const treeish = prefix ? `${commit}:${prefix}` : commit;
    const args = ["ls-tree", "-l", "-z", ...(opts.recursive ? ["-r", "-t"] : []), treeish];
    const r = await git(args, { cwd, okCodes: [128] });
    if (r.code !== 0) throw new HubError(404, `Entry not found: ${opts.path ?? ""}`, "EntryNotFound");
    const raw: Array<{ type: string; oid: string; size: number; path: string }> = [];
    for (const rec of r.stdout.toString("utf8").split("\0").filter(Boolean)) {
      const m = /^(\d+) (\w+) ([0-9a-f]{40})\s+(-|\d+)\t(.*)$/s.exec(rec);
      if (!m) continue;
      raw.push({ type: m[2]!, oid: m[3]!, size: m[4] === "-" ? 0 : Number(m[4]), path: prefix ? `${prefix}/${m[5]}` : m[5]! });
    }
    const small = raw.filter((e) => e.type === "blob" && e.size < 1024);
    const contents = await this.catBlobs(repoId, small.map((e) => e.oid));
    return raw.map((e): TreeEntry => {
      if (e.type === "tree") return { type: "directory", oid: e.oid, size: 0, path: e.path };
      const text = contents.get(e.oid);
      const ptr = text !== undefined ? parseLfsPointer(text) : undefined;
      if (ptr) return { type: "file", oid: e.oid, size: ptr.size, path: e.path, lfs: { oid: ptr.oid, size: ptr.size, pointerSize: e.size } };
      return { type: "file", oid: e.oid, size: e.size, path: e.path };
    });
  }

  private async catBlobs(repoId: string, oids: string[]): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    if (oids.length === 0) return map;
    const out = (await git(["cat-file", "--batch"], { cwd: this.dir(repoId), input: oids.join("\n") + "\n" })).stdout;
    let pos = 0;
    while (pos < out.length) {
      const nl = out.indexOf(10, pos);
      const header = out.subarray(pos, nl).toString();
      const [oid, , sizeText] = header.split(" ");
      const size = Number(sizeText);
      map.set(oid!, out.subarray(nl + 1, nl + 1 + size).toString("utf8"));
      pos = nl + 1 + size + 1;
    }
    return map;
  }

  /** The file at `commit`, or undefined: its tree entry, and where its bytes are. */
  async file(repoId: string, commit: string, filePath: string): Promise<StoredFile | undefined> {
    const entries = await this.tree(repoId, commit, { recursive: true }).catch(() => []);
    const entry = entries.find((x) => x.path === filePath && x.type === "file");
    if (!entry) return undefined;
    if (entry.lfs) return { entry, size: entry.lfs.size, lfsObject: this.lfsPath(repoId, entry.lfs.oid) };
    const bytes = this.overrides.get(`${repoId}:${entry.oid}`) ?? (await this.blob(repoId, entry.oid));
    return { entry, size: bytes.length, bytes };
  }

  /** The raw git blob (for an LFS file: its pointer). */
  async blob(repoId: string, oid: string): Promise<Buffer> {
    return (await git(["cat-file", "blob", oid], { cwd: this.dir(repoId) })).stdout;
  }

  /**
   * Test hook: damage what the Hub serves for `filePath` at `rev`, after the commit, the way a
   * storage fault would: the tree listing still names the committed ids. LFS: the stored object
   * is altered in place (`flip`: one byte inverted, same size; `truncate`: last byte dropped).
   * Regular file: resolve serves the altered bytes.
   */
  /** Damages a stored file: one byte flipped (`at`, default the middle) or the last byte cut. */
  async corrupt(repoId: string, filePath: string, opts: { rev?: string; how?: "flip" | "truncate"; at?: number } = {}): Promise<void> {
    const commit = await this.resolve(repoId, opts.rev ?? "main");
    const f = commit ? await this.file(repoId, commit, filePath) : undefined;
    if (!f) throw new Error(`corrupt: ${repoId} has no ${filePath} at ${opts.rev ?? "main"}`);
    const how = opts.how ?? "flip";
    if (f.lfsObject) {
      if (how === "truncate") return truncate(f.lfsObject, Math.max(0, f.size - 1));
      const fh = await open(f.lfsObject, "r+");
      try {
        const at = opts.at ?? Math.floor(f.size / 2);
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, at);
        b[0] = b[0]! ^ 0xff;
        await fh.write(b, 0, 1, at);
      } finally {
        await fh.close();
      }
      return;
    }
    const bytes = Buffer.from(f.bytes!);
    if (how === "truncate") this.overrides.set(`${repoId}:${f.entry.oid}`, bytes.subarray(0, Math.max(0, bytes.length - 1)));
    else {
      if (bytes.length) bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0xff;
      this.overrides.set(`${repoId}:${f.entry.oid}`, bytes);
    }
  }

  // ---- LFS object store ----
  lfsPath(repoId: string, oid: string): string {
    return path.join(this.dir(repoId), "lfs", "objects", oid.slice(0, 2), oid.slice(2, 4), oid);
  }

  async hasObject(repoId: string, oid: string, size: number): Promise<boolean> {
    try {
      return (await stat(this.lfsPath(repoId, oid))).size === size;
    } catch {
      return false;
    }
  }

  /** Stream `body` into the store; refused (and not stored) when it does not hash to `oid`. */
  async putObject(repoId: string, oid: string, size: number, body: Readable): Promise<void> {
    const tmpDir = path.join(this.dir(repoId), "lfs", "incoming");
    await mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, randomUUID());
    const hash = createHash("sha256");
    let n = 0;
    try {
      await pipeline(
        body,
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            n += chunk.length;
            cb(null, chunk);
          },
        }),
        createWriteStream(tmp),
      );
      const got = hash.digest("hex");
      if (n !== size || got !== oid) throw new HubError(400, `LFS object rejected: bytes hash to ${got} (${n} bytes), expected ${oid} (${size} bytes)`);
      const dest = this.lfsPath(repoId, oid);
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  // ---- commits ----
  // Commits and tags are written the way git writes them (zlib of "<type> <n>\0" + content,
  // loose objects under objects/), with git itself reading the parent tree and moving the ref
  // (update-ref's compare-and-swap): three git processes per commit instead of seven.
  async commit(
    repoId: string,
    branch: string,
    header: { summary: string; description?: string; parentCommit?: string },
    ops: CommitOp[],
    opts: { createPr?: boolean; author?: string } = {},
  ): Promise<{ commitOid: string; prRef?: string; unchanged?: boolean }> {
    const cwd = this.dir(repoId);
    const head = await this.branchHead(repoId, branch);
    if (header.parentCommit && !opts.createPr && head && header.parentCommit !== head) {
      throw new HubError(412, `A commit has happened since. Please refresh and try again. (parentCommit ${header.parentCommit} is not the head of ${branch})`);
    }
    const parent = opts.createPr && header.parentCommit ? header.parentCommit : head;
    const before = parent ? await this.files(repoId, parent) : new Map<string, TreeItem>();
    const after = new Map(before);
    for (const op of ops) {
      if (op.kind === "deletedFile") {
        if (!after.delete(op.path)) throw new HubError(404, `deletedFile: ${op.path} does not exist`);
        continue;
      }
      let content: Buffer;
      if (op.kind === "lfsFile") {
        if (!(await this.hasObject(repoId, op.oid, op.size))) {
          throw new HubError(422, `lfsFile ${op.path}: LFS object ${op.oid} (${op.size} bytes) was never uploaded`);
        }
        content = Buffer.from(lfsPointer(op.oid, op.size));
      } else {
        if (op.content.length >= 10 * 1024 * 1024) throw new HubError(400, `${op.path}: files larger than 10 MiB must be stored with LFS`);
        content = op.content;
      }
      after.set(op.path, { mode: "100644", oid: await this.writeObject(repoId, "blob", content) });
    }
    if (parent && !opts.createPr && sameFiles(before, after)) return { commitOid: parent, unchanged: true };
    const tree = await this.writeTree(repoId, after);
    const message = header.description ? `${header.summary}\n\n${header.description}` : header.summary;
    // The Hub writes commits as the token's user (`[OIDC]` for a Trusted Publishing token).
    const who = `${opts.author ?? "local-hub"} <hub@localhost> ${Math.floor(Date.now() / 1000)} +0000`;
    const commitOid = await this.writeObject(
      repoId,
      "commit",
      Buffer.from(`tree ${tree}\n${parent ? `parent ${parent}\n` : ""}author ${who}\ncommitter ${who}\n\n${message.endsWith("\n") ? message : `${message}\n`}`),
    );
    if (opts.createPr) {
      const prs = (await gitText(["for-each-ref", "--format=%(refname)", "refs/pr/"], { cwd })).split("\n").filter(Boolean);
      const prRef = `refs/pr/${prs.length + 1}`;
      await git(["update-ref", prRef, commitOid, ""], { cwd });
      return { commitOid, prRef };
    }
    // Compare-and-swap: refuses when the branch moved since we read it.
    const r = await git(["update-ref", `refs/heads/${branch}`, commitOid, head ?? ""], { cwd, okCodes: [1, 128] });
    if (r.code !== 0) throw new HubError(412, "A commit has happened since. Please refresh and try again.");
    return { commitOid };
  }

  /** Every file of the tree at `commit`: path -> mode and blob (or submodule) id. */
  private async files(repoId: string, commit: string): Promise<Map<string, TreeItem>> {
    const out = await git(["ls-tree", "-r", "-z", "--full-tree", commit], { cwd: this.dir(repoId) });
    const files = new Map<string, TreeItem>();
    for (const rec of out.stdout.toString("utf8").split("\0").filter(Boolean)) {
      const m = /^(\d+) \w+ ([0-9a-f]{40})\t(.*)$/s.exec(rec);
      if (m) files.set(m[3]!, { mode: m[1]!, oid: m[2]! });
    }
    return files;
  }

  /** The tree objects of `files` (folders from the paths), bottom up; returns the root tree's id. */
  private async writeTree(repoId: string, files: ReadonlyMap<string, TreeItem>, prefix = ""): Promise<string> {
    const entries = new Map<string, TreeItem>();
    const folders = new Map<string, Map<string, TreeItem>>();
    for (const [p, item] of files) {
      const slash = p.indexOf("/");
      if (slash < 0) entries.set(p, item);
      else {
        const name = p.slice(0, slash);
        if (!folders.has(name)) folders.set(name, new Map());
        folders.get(name)!.set(p.slice(slash + 1), item);
      }
    }
    for (const [name, inner] of folders) {
      if (entries.has(name)) throw new HubError(400, `${prefix}${name} would be both a file and a folder`);
      entries.set(name, { mode: "40000", oid: await this.writeTree(repoId, inner, `${prefix}${name}/`) });
    }
    // git's order: names compared bytewise, a folder's name as if it ended with "/".
    const key = (name: string, item: TreeItem) => Buffer.from(item.mode === "40000" ? `${name}/` : name);
    const sorted = [...entries].sort(([a, x], [b, y]) => Buffer.compare(key(a, x), key(b, y)));
    const body = Buffer.concat(sorted.flatMap(([name, item]) => [Buffer.from(`${item.mode} ${name}\0`), Buffer.from(item.oid, "hex")]));
    return this.writeObject(repoId, "tree", body);
  }

  /** Write a loose object the way git does (zlib of "<type> <n>\0" + bytes), return its id. */
  private async writeObject(repoId: string, type: "blob" | "tree" | "commit" | "tag", content: Buffer): Promise<string> {
    const header = Buffer.from(`${type} ${content.length}\0`);
    const oid = createHash("sha1").update(header).update(content).digest("hex");
    const file = path.join(this.dir(repoId), "objects", oid.slice(0, 2), oid.slice(2));
    if (!existsSync(file)) {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${randomUUID()}.tmp`;
      await writeFile(tmp, deflateSync(Buffer.concat([header, content])));
      await rename(tmp, file);
    }
    return oid;
  }

  async createBranch(repoId: string, branch: string, commit: string): Promise<void> {
    const r = await git(["check-ref-format", `refs/heads/${branch}`], { okCodes: [1] });
    if (r.code !== 0) throw new HubError(400, `Invalid branch name: ${branch}`);
    // Created only when absent (the empty old value).
    const u = await git(["update-ref", `refs/heads/${branch}`, commit, ""], { cwd: this.dir(repoId), okCodes: [1, 128] });
    if (u.code !== 0) throw new HubError(409, `Reference already exists: refs/heads/${branch}`);
  }

  /** False when there is no such branch. */
  async deleteBranch(repoId: string, branch: string): Promise<boolean> {
    if (!(await this.branchHead(repoId, branch))) return false;
    await git(["update-ref", "-d", `refs/heads/${branch}`], { cwd: this.dir(repoId) });
    return true;
  }

  async setPrivate(repoId: string, priv: boolean): Promise<void> {
    await writeFile(path.join(this.dir(repoId), "hub.json"), JSON.stringify({ ...(await this.meta(repoId)), private: priv }));
  }

  async createTag(repoId: string, tag: string, commit: string, message?: string): Promise<void> {
    const cwd = this.dir(repoId);
    const r = await git(["check-ref-format", `refs/tags/${tag}`], { okCodes: [1] });
    if (r.code !== 0) throw new HubError(400, `Invalid tag name: ${tag}`);
    let target = commit;
    if (message) {
      const tagger = `local-hub <hub@localhost> ${Math.floor(Date.now() / 1000)} +0000`;
      target = await this.writeObject(repoId, "tag", Buffer.from(`object ${commit}\ntype commit\ntag ${tag}\ntagger ${tagger}\n\n${message}\n`));
    }
    // Created only when absent (the empty old value): an existing tag is a conflict.
    const u = await git(["update-ref", `refs/tags/${tag}`, target, ""], { cwd, okCodes: [1, 128] });
    if (u.code !== 0) throw new HubError(409, `Tag ${tag} already exists`);
  }
}

interface TreeItem {
  mode: string;
  oid: string;
}

function sameFiles(a: ReadonlyMap<string, TreeItem>, b: ReadonlyMap<string, TreeItem>): boolean {
  if (a.size !== b.size) return false;
  for (const [p, x] of a) {
    const y = b.get(p);
    if (!y || y.mode !== x.mode || y.oid !== x.oid) return false;
  }
  return true;
}

export interface RefInfo {
  name: string;
  ref: string;
  targetCommit: string;
}
