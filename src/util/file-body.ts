// A request body that is a file on disk (an LFS PUT, a release asset). A DiskBlob is a Blob backed
// by a file: nothing is read until it is sent, slices are free, reads use large chunks, and every
// send opens the file again, so a retried request re-reads it from disk (the HTTP layer resends
// it; a stream could be sent once only). The HTTP transport sends it with node:http, reading the
// file into the socket (src/util/http-transport.ts). It refuses to be read whole beyond a small
// size: a weights file is streamed, never held in memory.
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { UserError } from "../report.js";

/** Read per chunk of a PUT body: several PUTs run at once (shards, multipart parts), each holding a few chunks. */
const CHUNK = 1024 * 1024;

/** Largest DiskBlob arrayBuffer()/text() serves (samples, small files); above it: stream(). */
export const MAX_WHOLE_READ = 16 * 1024 * 1024;

export class DiskBlob extends Blob {
  static async fromFile(file: string): Promise<DiskBlob> {
    const { size } = await stat(file);
    return new DiskBlob(file, 0, size);
  }

  private constructor(
    readonly file: string,
    /** Offset of the first byte in the file. */
    readonly start: number,
    private readonly end: number,
    /** Told the bytes read so far by each new read of the range (a retried PUT starts again at 0). */
    private readonly onRead?: (bytesThisRead: number) => void,
  ) {
    super([]);
    // Blob's size is a prototype getter over internal state: shadow it with the file range.
    Object.defineProperty(this, "size", { value: end - start, enumerable: true });
  }

  /**
   * The same bytes, reporting how many have been read into the request so far: what a PUT has
   * handed to its connection (ahead of the wire by at most one chunk), for an upload's progress.
   */
  tracked(onRead: (bytesThisRead: number) => void): DiskBlob {
    return new DiskBlob(this.file, this.start, this.end, onRead);
  }

  /** For a sender that reads the range itself (fileStreamingFetch): the bytes read so far, from 0 at each send. */
  reportRead(bytesSoFar: number): void {
    this.onRead?.(bytesSoFar);
  }

  override slice(start = 0, end = this.size): DiskBlob {
    const s = start < 0 ? Math.max(this.size + start, 0) : Math.min(start, this.size);
    const e = end < 0 ? Math.max(this.size + end, 0) : Math.min(end, this.size);
    return new DiskBlob(this.file, this.start + s, this.start + Math.max(s, e));
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.size > MAX_WHOLE_READ) {
      throw new UserError(`${this.file}: refusing to read ${this.size} bytes into memory at once; it must be streamed`);
    }
    const fh = await open(this.file, "r");
    try {
      const buf = Buffer.alloc(this.size);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, this.start + off);
        if (bytesRead === 0) throw new Error(`${this.file} is shorter than expected (changed on disk?)`);
        off += bytesRead;
      }
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    } finally {
      await fh.close();
    }
  }

  override async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer());
  }

  override stream(): ReturnType<Blob["stream"]> {
    if (this.size === 0) return new Blob([]).stream();
    return Readable.toWeb(this.nodeStream()) as unknown as ReturnType<Blob["stream"]>;
  }

  /** The bytes as a Node stream, read from disk in bounded chunks (a new read each call). */
  nodeStream(): Readable {
    if (this.size === 0) return Readable.from([]);
    const stream = createReadStream(this.file, { start: this.start, end: this.end - 1, highWaterMark: CHUNK });
    const onRead = this.onRead;
    if (onRead) {
      let read = 0;
      onRead(0);
      // A second 'data' listener beside the consumer's: it sees every chunk and changes no flow.
      stream.on("data", (chunk: Buffer | string) => onRead((read += chunk.length)));
    }
    return stream;
  }
}

/** A request body read from `file` on each send: what an upload of a file of known size passes to the HTTP layer. */
export function fileBody(file: string): Promise<DiskBlob> {
  return DiskBlob.fromFile(file);
}
