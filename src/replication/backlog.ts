// The replication backlog: a ring holding the most recent `size` bytes of the replication stream,
// addressed by stream offset. A replica that reconnects with an offset still in the ring gets the
// bytes after it (partial resync) instead of a full sync. Masters and replicas both keep one, so a
// promoted replica can serve partial resyncs to its former peers.

export class Backlog {
  private readonly ring: Uint8Array;
  /** Stream offset just past the last byte held. */
  private endOffset: number;
  /** Bytes held (at most the ring's size). */
  private held = 0;

  constructor(size: number, startOffset: number) {
    this.ring = new Uint8Array(size);
    this.endOffset = startOffset;
  }

  get size(): number {
    return this.ring.length;
  }

  get end(): number {
    return this.endOffset;
  }

  /** Offset of the oldest byte held. */
  get start(): number {
    return this.endOffset - this.held;
  }

  get histlen(): number {
    return this.held;
  }

  append(bytes: Uint8Array): void {
    const size = this.ring.length;
    // Of an append larger than the ring only its tail is kept, at the tail's own offset.
    const src = bytes.length > size ? bytes.subarray(bytes.length - size) : bytes;
    const at = (this.endOffset + bytes.length - src.length) % size;
    const first = Math.min(src.length, size - at);
    this.ring.set(src.subarray(0, first), at);
    if (first < src.length) this.ring.set(src.subarray(first), 0);
    this.endOffset += bytes.length;
    this.held = Math.min(size, this.held + bytes.length);
  }

  /** True when every byte from `offset` to the end is held. */
  covers(offset: number): boolean {
    return offset >= this.start && offset <= this.endOffset;
  }

  /** A copy of up to `max` bytes from `offset` on (covers(offset) must hold). */
  readFrom(offset: number, max = Infinity): Uint8Array {
    if (!this.covers(offset)) throw new Error(`offset ${offset} is not in the backlog [${this.start}, ${this.endOffset}]`);
    const n = Math.min(this.endOffset - offset, max);
    const out = new Uint8Array(n);
    const size = this.ring.length;
    const at = offset % size;
    const first = Math.min(n, size - at);
    out.set(this.ring.subarray(at, at + first), 0);
    if (first < n) out.set(this.ring.subarray(0, n - first), first);
    return out;
  }
}
