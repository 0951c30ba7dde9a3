// A minimal, deterministic ustar writer and a strict reader: just what a checkpoint archive needs.
// Every field that could vary between machines (mtime, uid/gid, uname/gname, mode) is fixed,
// and no pax header ever carries a time.

export const BLOCK = 512;

export type EntryType = "file" | "dir";

export interface TarHeaderInput {
  /** Archive path, POSIX; directories end with `/`. */
  path: string;
  type: EntryType;
  size: number;
  /** Defaults: 0o644 for files, 0o755 for directories. */
  mode?: number;
  /** Seconds since the epoch; default 0. */
  mtime?: number;
}

/** 11 octal digits (+ NUL) hold sizes up to 8 GiB - 1; larger files get a pax `size` record. */
const MAX_OCTAL_SIZE = 0o77777777777;

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, "utf8");
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // `length - 1` digits, zero padded, then NUL (what GNU tar and bsdtar write).
  const digits = value.toString(8).padStart(length - 1, "0");
  if (digits.length > length - 1) throw new Error(`tar: value ${value} does not fit in ${length - 1} octal digits`);
  buf.write(digits + "\0", offset, length, "ascii");
}

/** ustar splits a long path into prefix (155) + "/" + name (100), at a slash. */
function splitUstarPath(p: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(p) <= 100) return { name: p, prefix: "" };
  // Try every slash from the right so that name is as long as possible but <= 100 bytes.
  for (let i = p.length - 1; i > 0; i--) {
    if (p[i] !== "/") continue;
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (name.length === 0 && !p.endsWith("/")) continue;
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  return undefined;
}

function rawHeader(fields: {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
}): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  writeString(h, 0, 100, fields.name);
  writeOctal(h, 100, 8, fields.mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, fields.size);
  writeOctal(h, 136, 12, fields.mtime);
  h.fill(0x20, 148, 156); // checksum placeholder: eight spaces
  writeString(h, 156, 1, fields.typeflag);
  // linkname (157..257) empty
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  // uname (265..297) and gname (297..329) empty: numeric owner 0:0; devmajor/minor zero
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  writeString(h, 345, 155, fields.prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeString(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** One pax record: `<len> <key>=<value>\n`, where len counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let total = bodyLen + String(bodyLen).length;
  if (String(total).length !== String(bodyLen).length) total = bodyLen + String(total).length;
  return `${total}${body}`;
}

export function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem, 0);
}

/**
 * The header block(s) for one entry: a pax `x` header (path and/or size only, never times)
 * when the path or size does not fit ustar, then the ustar header.
 */
export function tarHeader(input: TarHeaderInput): Buffer {
  const mode = input.mode ?? (input.type === "dir" ? 0o755 : 0o644);
  const mtime = input.mtime ?? 0;
  const size = input.type === "dir" ? 0 : input.size;
  const typeflag = input.type === "dir" ? "5" : "0";
  const split = splitUstarPath(input.path);
  const bigSize = size > MAX_OCTAL_SIZE;
  const blocks: Buffer[] = [];
  if (!split || bigSize) {
    let records = "";
    if (!split) records += paxRecord("path", input.path);
    if (bigSize) records += paxRecord("size", String(size));
    const data = Buffer.from(records, "utf8");
    // Deterministic pax header name, as GNU tar's default is not (it embeds a pid).
    const base = input.path.replace(/\/$/, "").split("/").pop() ?? "entry";
    const paxName = `PaxHeaders/${base}`.slice(0, 99);
    blocks.push(rawHeader({ name: paxName, prefix: "", mode: 0o644, size: data.length, mtime, typeflag: "x" }));
    blocks.push(data, padding(data.length));
  }
  const fallbackName = input.path.slice(0, 99);
  blocks.push(
    rawHeader({
      name: split?.name ?? fallbackName,
      prefix: split?.prefix ?? "",
      mode,
      size: bigSize ? 0 : size,
      mtime,
      typeflag,
    }),
  );
  return Buffer.concat(blocks);
}

/** Two zero blocks end the archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK, 0);

// ---------------------------------------------------------------- reading

export interface RawTarEntry {
  /** Path as stored (after applying pax/GNU long names). */
  path: string;
  /** The typeflag character ("0", "5", "2", ...), "0" for the old "\0". */
  typeflag: string;
  size: number;
  linkname: string;
}

function readString(buf: Buffer, offset: number, length: number): string {
  const slice = buf.subarray(offset, offset + length);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? length : nul).toString("utf8");
}

function readNumeric(buf: Buffer, offset: number, length: number): number {
  const first = buf[offset]!;
  if (first & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is the marker.
    let v = first & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + buf[offset + i]!;
    return v;
  }
  const s = readString(buf, offset, length).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad octal field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) break;
    const len = parseInt(data.subarray(pos, sp).toString("ascii"), 10);
    if (!Number.isFinite(len) || len <= 0) throw new Error("bad pax record length");
    const rec = data.subarray(sp + 1, pos + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decodes one ustar/GNU header block; verifies its checksum. */
export function decodeHeader(h: Buffer): RawTarEntry & { prefix: string; name: string } {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const stored = readNumeric(h, 148, 8);
  if (stored !== sum) throw new Error("header checksum mismatch (not a tar archive, or corrupt)");
  const name = readString(h, 0, 100);
  const magic = readString(h, 257, 6);
  const prefix = magic.startsWith("ustar") && h[263] === 0x30 /* "00": POSIX */ ? readString(h, 345, 155) : "";
  const tf = h[156] === 0 ? "0" : String.fromCharCode(h[156]!);
  return {
    name,
    prefix,
    path: prefix ? `${prefix}/${name}` : name,
    typeflag: tf,
    size: readNumeric(h, 124, 12),
    linkname: readString(h, 157, 100),
  };
}
