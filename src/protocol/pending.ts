// The bytes a request reader holds between reads: an incomplete frame or command, or input not
// yet parsed while the reader is paused. One buffer, grown by doubling but never past the size of
// the item being assembled when that is known (memory follows the bytes that arrived, not what a
// header announced), and given back after a large item has been handled. Readers append no more
// than a known item needs, so a large item is never followed into a doubled buffer.

const INITIAL = 16 * 1024;
const LARGE = 1024 * 1024;
const EMPTY = new Uint8Array(0);

export class PendingBytes {
  buf: Uint8Array = EMPTY;
  len = 0;

  /** Appends src[from, from + n); `expected` is the size of the item being assembled, 0 if unknown. */
  append(src: Uint8Array, from: number, n: number, expected: number): void {
    if (n <= 0) return;
    const need = this.len + n;
    if (need > this.buf.length) {
      // Geometric growth keeps appending linear; only a known claim larger than what is needed
      // caps it, so a header announcing a large value costs nothing until its bytes arrive.
      let target = Math.max(need, INITIAL, this.buf.length * 2);
      if (expected >= need) target = Math.min(target, expected);
      const next = new Uint8Array(target);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(src.subarray(from, from + n), this.len);
    this.len = need;
  }

  /** Drops the first n bytes; `expected` as for append, for the item now at the head. */
  consume(n: number, expected: number): void {
    if (n === 0) return;
    if (n < this.len) this.buf.copyWithin(0, n, this.len);
    this.len -= n;
    if (this.buf.length > LARGE && this.len < INITIAL && expected < LARGE) {
      this.buf = this.buf.slice(0, Math.max(this.len, INITIAL));
    }
  }
}
