// Deterministic gzip framing around a raw deflate stream. We frame it ourselves because
// Node's zlib.Gzip ignores params() (strategy changes are only applied in DEFLATE/DEFLATERAW
// mode), and because the header must not depend on the platform zlib was built for.
import zlib from "node:zlib";

/** 10-byte gzip header: no name, mtime 0, XFL as zlib writes it for the level, OS 3 (Unix). */
export function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
}

/** 8-byte trailer: CRC-32 and input size mod 2^32, little-endian. */
export function gzipTrailer(crc: number, size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(crc >>> 0, 0);
  b.writeUInt32LE(size % 0x1_0000_0000, 4);
  return b;
}

let table: Uint32Array | undefined;
function jsCrc32(data: Uint8Array, value: number): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type Crc32 = (data: Uint8Array, value?: number) => number;
const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** zlib.crc32 where Node has it (20.15+), else a table implementation. */
export function crc32(data: Uint8Array, value = 0): number {
  return native ? native(data, value) : jsCrc32(data, value);
}
