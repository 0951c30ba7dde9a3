// A minimal protocol-buffers writer: just what the ONNX encoder needs (varints, 32-bit floats,
// length-delimited fields, nested messages). No dependency.
//
// A message is built as a list of byte chunks plus its total size, so that large payloads
// (tensor raw_data) are referenced rather than copied until the single final `finish()`.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export class ProtoWriter {
  private parts: Uint8Array[] = [];
  private scratch: number[] = [];
  private _size = 0;

  get size(): number {
    return this._size;
  }

  private flushScratch(): void {
    if (this.scratch.length) {
      this.parts.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }

  private pushVarint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    if (v < 0x80n) {
      this.scratch.push(Number(v));
      this._size += 1;
      return;
    }
    while (v >= 0x80n) {
      this.scratch.push(Number((v & 0x7fn) | 0x80n));
      v >>= 7n;
      this._size += 1;
    }
    this.scratch.push(Number(v));
    this._size += 1;
  }

  private tag(field: number, wire: number): void {
    this.pushVarint((field << 3) | wire);
  }

  /** int32/int64/enum/bool field (negative numbers as 64-bit two's complement, as protobuf does). */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.pushVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.scratch.push(x);
    this._size += 4;
    return this;
  }

  /** A length-delimited field whose payload is taken by reference (not copied until finish). */
  bytes(field: number, payload: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.pushVarint(payload.byteLength);
    this.flushScratch();
    if (payload.byteLength) this.parts.push(payload);
    this._size += payload.byteLength;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, child: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    this.pushVarint(child.size);
    this.flushScratch();
    for (const p of child.chunks()) this.parts.push(p);
    this._size += child.size;
    return this;
  }

  /** Packed repeated int64 (ONNX dims, ints attributes). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.pushVarint(v);
    return this.message(field, inner);
  }

  /** Packed repeated float. */
  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  chunks(): Uint8Array[] {
    this.flushScratch();
    return this.parts;
  }

  /** The encoded message as one contiguous buffer. */
  finish(): Uint8Array {
    const out = new Uint8Array(this._size);
    let off = 0;
    for (const p of this.chunks()) {
      out.set(p, off);
      off += p.byteLength;
    }
    if (off !== this._size) throw new Error(`protobuf size mismatch: ${off} != ${this._size}`);
    return out;
  }
}
