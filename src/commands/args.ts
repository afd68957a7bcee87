// A command's arguments as views into the bytes they arrived in, so that parsing a request
// allocates nothing: codecs fill one Args per connection and reuse it; a command reads what it
// needs (a key as a keyspace string, a value as a view, a number) during its call only.

import { keyFromBytes } from "../store/keys.ts";

const utf8 = new TextDecoder();

export class Args {
  length = 0;
  private bufs: Uint8Array[] = [];
  private starts: number[] = [];
  private lens: number[] = [];

  reset(): void {
    this.length = 0;
  }

  push(buf: Uint8Array, start: number, len: number): void {
    const i = this.length++;
    this.bufs[i] = buf;
    this.starts[i] = start;
    this.lens[i] = len;
  }

  /** Byte length of argument i. */
  size(i: number): number {
    return this.lens[i]!;
  }

  /** The buffer argument i is in, and where it starts there (with size(i): the bytes in place). */
  bufOf(i: number): Uint8Array {
    return this.bufs[i]!;
  }

  startOf(i: number): number {
    return this.starts[i]!;
  }

  /** Argument i as a view, valid during the call only (the store copies what it keeps). */
  bytes(i: number): Uint8Array {
    const s = this.starts[i]!;
    return this.bufs[i]!.subarray(s, s + this.lens[i]!);
  }

  /** Argument i as a keyspace key (one char per byte). */
  key(i: number): string {
    return keyFromBytes(this.bufs[i]!, this.starts[i]!, this.lens[i]!);
  }

  /** Argument i as text (for names, options and messages; UTF-8). */
  text(i: number): string {
    const s = this.starts[i]!;
    return utf8.decode(this.bufs[i]!.subarray(s, s + this.lens[i]!));
  }

  /** Argument i lower-cased (command names and options, which are ASCII and short). */
  lower(i: number): string {
    // No name or option is this long; do not build a huge string for one (it matches nothing).
    if (this.lens[i]! > 64) return "\u0100";
    const buf = this.bufs[i]!;
    const s = this.starts[i]!;
    let out = "";
    for (let j = s, end = s + this.lens[i]!; j < end; j++) {
      const c = buf[j]!;
      out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
    }
    return out;
  }

  /**
   * A number naming argument i case-insensitively when it is 1..6 bytes long (else -1): command
   * lookup by number is cheaper than building a lower-case string for every request.
   */
  shortCode(i: number): number {
    const len = this.lens[i]!;
    if (len === 0 || len > 6) return -1;
    const buf = this.bufs[i]!;
    let code = 0;
    for (let j = this.starts[i]!, end = j + len; j < end; j++) {
      const c = buf[j]!;
      code = code * 257 + (c >= 0x41 && c <= 0x5a ? c + 32 : c) + 1;
    }
    return code;
  }

  /** Argument i as a whole number within ±2^53, or null (Redis: "value is not an integer or out of range"). */
  int(i: number): number | null {
    const buf = this.bufs[i]!;
    const s = this.starts[i]!;
    const len = this.lens[i]!;
    if (len === 0 || len > 20) return null;
    let j = s;
    let neg = false;
    if (buf[j] === 0x2d) {
      neg = true;
      j++;
      if (len === 1 || buf[j] === 0x30) return null; // "-" and "-0..." are not integers to Redis
    }
    if (buf[j] === 0x30 && j + 1 < s + len) return null; // no leading zeros, like Redis
    let n = 0;
    for (const end = s + len; j < end; j++) {
      const d = buf[j]! - 0x30;
      if (d < 0 || d > 9) return null;
      n = n * 10 + d;
    }
    if (!Number.isSafeInteger(n)) return null;
    return neg ? -n : n;
  }
}
