// Outgoing bytes of one connection, server or client: frames are encoded into one reusable buffer
// and sent with one write per batch; what the socket does not take waits in order for `drain`.
//
// Bun's socket.write is unbuffered (it returns how much the kernel took), so this queue is the only
// place unsent bytes live. Large values are queued by reference instead of copied: stored values are
// immutable, so a reply may point at one until it is sent.
// No I/O here: the socket is passed in as a Writable.

export interface Writable {
  /** Returns bytes taken (may be fewer than asked), or -1 when the socket is closed. */
  write(data: Uint8Array, byteOffset: number, byteLength: number): number;
}

/** Values at least this large are queued by reference rather than copied into the batch. */
export const ZERO_COPY_MIN = 64 * 1024;
const INITIAL = 16 * 1024;
/** A batch buffer that grew past this is dropped after use instead of pinned per connection. */
const KEEP_MAX = 1024 * 1024;

export class Output {
  /** The batch being built: bytes [0, len) not yet handed to the socket. */
  buf: Uint8Array = new Uint8Array(INITIAL);
  len = 0;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;

  /** Bytes waiting to be sent (queued plus the current batch). */
  get pending(): number {
    return this.queued + this.len;
  }

  /** Makes room for `n` more bytes in the batch; returns the offset to write at. */
  reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    return this.len;
  }

  /** Queues `bytes` by reference after what the batch holds so far. */
  appendReference(bytes: Uint8Array): void {
    this.sealBatch();
    this.queue.push(bytes);
    this.queued += bytes.length;
  }

  /** Sends what can be sent now. Returns true when nothing is left waiting. */
  flush(sock: Writable): boolean {
    if (this.queue.length === 0) {
      if (this.len === 0) return true;
      const n = sock.write(this.buf, 0, this.len);
      if (n === this.len) {
        this.len = 0;
        if (this.buf.length > KEEP_MAX) this.buf = new Uint8Array(INITIAL);
        return true;
      }
      if (n < 0) return false;
      this.queue.push(this.buf.subarray(n, this.len));
      this.queued += this.len - n;
      this.detachBatch();
      return false;
    }
    this.sealBatch();
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!;
      const n = sock.write(chunk, 0, chunk.length);
      if (n < 0) return false;
      this.queued -= n;
      if (n < chunk.length) {
        this.queue[0] = chunk.subarray(n);
        return false;
      }
      this.queue.shift();
    }
    return true;
  }

  /** Moves the current batch into the queue (by reference) and starts a fresh batch buffer. */
  private sealBatch(): void {
    if (this.len === 0) return;
    this.queue.push(this.buf.subarray(0, this.len));
    this.queued += this.len;
    this.detachBatch();
  }

  private detachBatch(): void {
    this.buf = new Uint8Array(INITIAL);
    this.len = 0;
  }
}
