// RESP2 request parsing: arrays of bulk strings (what client libraries send) and inline commands
// (what telnet and `redis-cli` in some modes send). Pure codec, no I/O.
//
// A command is parsed straight from the receive chunk when it is whole; an incomplete one is kept,
// from its first byte, until the bytes it needs have arrived (for a bulk string the exact count is
// known, so a large value is not re-parsed on every read). Limits match the binary protocol's: a
// bulk string longer than max_value_size, more than MAX_ARGS arguments, a malformed length or an
// inline request over MAX_INLINE bytes is a protocol error ("ERR Protocol error: …"), after which
// the reader is dead and the connection is closed, as Redis does.

import { Args } from "../commands/args.ts";
import { PendingBytes } from "./pending.ts";
import { KeySpans, PREFETCH_MAX, type KeyPrefetch } from "./prefetch.ts";
import { MAX_KEY } from "./binary.ts";

export const MAX_ARGS = 1024 * 1024;
export const MAX_INLINE = 64 * 1024;
/** A bulk at least this long is assembled in a buffer of exactly the command's size. */
const LARGE_BULK = 64 * 1024;
/** Longest "*<n>\r\n" or "$<n>\r\n" line we accept (sign, 20 digits, CR LF). */
const MAX_LINE = 24;

export interface RespSink extends KeyPrefetch {
  /** A whole command; args are views valid during the call only. Return false to pause. */
  onCommand(args: Args): boolean;
  /** Framing is lost: the reader is dead; reply with `message` and close. */
  onProtocolError(message: string): void;
}

const INCOMPLETE = -1;
const DEAD = -2;

export class RespReader {
  private readonly held = new PendingBytes();
  /** Bytes the incomplete command at the head of `held` needs before parsing is retried. */
  private need = 0;
  private dead = false;
  private paused = false;
  private readonly args = new Args();
  /** Position reached by the last readLength. */
  private scanned = 0;
  /**
   * Progress through an incomplete array command at the head of `held`, so that each read
   * continues where the last one stopped instead of re-parsing from the command's first byte
   * (quadratic for a command with a million arguments arriving in small reads).
   */
  private mbCount = -1;
  private mbArg = 0;
  private mbPos = 0;
  private readonly mbStarts: number[] = [];
  private readonly mbLens: number[] = [];
  /** The held command's exact size while a large bulk in it is incomplete, else 0. */
  private capAt = 0;
  private readonly keys = new KeySpans();

  constructor(private readonly maxBulk: number, private readonly sink: RespSink) {}

  get isDead(): boolean {
    return this.dead;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get buffered(): number {
    return this.held.len;
  }

  feed(chunk: Uint8Array): void {
    if (this.dead) return;
    if (this.held.len === 0 && !this.paused) {
      if (this.sink.prefetch !== undefined) this.findKeys(chunk, 0, chunk.length);
      const stop = this.run(chunk, 0, chunk.length);
      if (!this.dead) this.append(chunk, stop, chunk.length - stop);
      return;
    }
    let pos = 0;
    if (!this.paused && this.capAt > 0) {
      // A large bulk is being assembled: take only its bytes, parse it, then go on from the chunk.
      pos = Math.min(chunk.length, this.capAt - this.held.len);
      this.append(chunk, 0, pos);
      if (this.held.len < this.capAt) return;
      this.consume(this.run(this.held.buf, 0, this.held.len));
      if (this.dead) return;
      if (this.held.len === 0 && !this.paused) {
        if (this.sink.prefetch !== undefined) this.findKeys(chunk, pos, chunk.length);
        const stop = this.run(chunk, pos, chunk.length);
        if (!this.dead) this.append(chunk, stop, chunk.length - stop);
        return;
      }
    }
    this.append(chunk, pos, chunk.length - pos);
    if (this.paused || this.held.len < this.need) return;
    if (this.sink.prefetch !== undefined) this.findKeys(this.held.buf, 0, this.held.len);
    this.consume(this.run(this.held.buf, 0, this.held.len));
  }

  resume(): void {
    if (this.dead || !this.paused) return;
    this.paused = false;
    this.consume(this.run(this.held.buf, 0, this.held.len));
  }

  private run(b: Uint8Array, pos: number, end: number): number {
    while (pos < end) {
      const r = this.parseOne(b, pos, end);
      if (r === INCOMPLETE) break;
      if (r === DEAD) return pos;
      this.need = 0;
      pos = r;
      if (this.args.length > 0 && !this.sink.onCommand(this.args)) {
        this.paused = true;
        break;
      }
    }
    return pos;
  }

  /**
   * Pipelining (prefetch.ts): the keys, second arguments, of the first whole commands in b[pos,
   * end). Only plain arrays of 2 to 8 bulks whose second is at most MAX_KEY bytes are looked at;
   * anything else ends the search.
   */
  private findKeys(b: Uint8Array, pos: number, end: number): void {
    const { starts, lens } = this.keys;
    let n = 0;
    scan: while (n < PREFETCH_MAX && pos < end && b[pos] === 0x2a /* * */) {
      let p = pos + 1;
      const count = b[p]! - 0x30;
      if (count < 2 || count > 8 || b[p + 1] !== 0x0d) break;
      p += 3;
      for (let i = 0; i < count; i++) {
        if (b[p] !== 0x24 /* $ */) break scan;
        let len = 0;
        let c = b[++p]!;
        for (let digits = 0; c >= 0x30 && c <= 0x39; c = b[++p]!) {
          if (++digits > 9) break scan;
          len = len * 10 + c - 0x30;
        }
        if (c !== 0x0d) break scan;
        p += 2;
        if (i === 1) {
          // Not a key (keys are at most MAX_KEY bytes): no point hashing it.
          if (len > MAX_KEY) break scan;
          starts[n] = p;
          lens[n] = len;
        }
        p += len + 2;
        if (p > end) break scan;
      }
      n++;
      pos = p;
    }
    if (n >= 2) this.sink.prefetch!(b, starts, lens, n);
  }

  /** Parses one command at `pos`; returns the position after it, INCOMPLETE or DEAD. */
  private parseOne(b: Uint8Array, pos: number, end: number): number {
    const args = this.args;
    args.reset();
    if (b[pos] !== 0x2a /* * */) return this.inline(b, pos, end);
    let count: number, p: number, i: number;
    if (this.mbCount >= 0) {
      // Resuming the command at the head of `held` (always parsed from position 0).
      count = this.mbCount;
      p = pos + this.mbPos;
      i = this.mbArg;
    } else {
      const c = this.readLength(b, pos + 1, end, "multibulk");
      if (c === null) return this.dead ? DEAD : this.incomplete(pos, end);
      if (c > MAX_ARGS) return this.die("ERR Protocol error: invalid multibulk length");
      count = c;
      p = this.scanned;
      i = 0;
    }
    const starts = this.mbStarts, lens = this.mbLens;
    for (; i < count; i++) {
      if (p < end && b[p] !== 0x24 /* $ */) return this.die(`ERR Protocol error: expected '$', got '${String.fromCharCode(b[p]!)}'`);
      const len = p < end ? this.readLength(b, p + 1, end, "bulk") : null;
      if (this.dead) return DEAD;
      if (len !== null && len > this.maxBulk) return this.die("ERR Protocol error: invalid bulk length");
      if (len === null || end - this.scanned < len + 2) {
        this.mbCount = count;
        this.mbArg = i;
        this.mbPos = p - pos;
        this.need = len === null ? end - pos + 1 : this.scanned + len + 2 - pos;
        // Only a large bulk caps the held buffer; small ones let it grow geometrically.
        this.capAt = len !== null && len >= LARGE_BULK ? this.need : 0;
        return INCOMPLETE;
      }
      p = this.scanned;
      starts[i] = p - pos;
      lens[i] = len;
      p += len + 2;
    }
    this.mbCount = -1;
    this.capAt = 0;
    for (let j = 0; j < count; j++) args.push(b, pos + starts[j]!, lens[j]!);
    return p;
  }

  /** Reads a non-negative length line after its type byte; null when incomplete or dead. */
  private readLength(b: Uint8Array, p: number, end: number, what: string): number | null {
    let n = 0;
    let digits = 0;
    let neg = false;
    for (let i = p; i < end; i++) {
      const c = b[i]!;
      if (c === 0x0d) {
        if (i + 1 >= end) return null;
        if (b[i + 1] !== 0x0a || digits === 0) break;
        this.scanned = i + 2;
        if (neg) {
          // *-1 and *0 are empty commands Redis skips; a negative bulk length is an error.
          if (what === "multibulk") return 0;
          break;
        }
        return n;
      }
      if (c === 0x2d && i === p) {
        neg = true;
        continue;
      }
      if (c < 0x30 || c > 0x39 || ++digits > 19 || i - p > MAX_LINE) break;
      n = n * 10 + (c - 0x30);
    }
    if (end - p <= MAX_LINE && !this.lineBroken(b, p, end)) return null;
    this.die(`ERR Protocol error: invalid ${what} length`);
    return null;
  }

  /** True when the bytes so far cannot be the start of a valid length line. */
  private lineBroken(b: Uint8Array, p: number, end: number): boolean {
    for (let i = p; i < end; i++) {
      const c = b[i]!;
      if (c === 0x0d) return i + 1 < end;
      if (!(c >= 0x30 && c <= 0x39) && !(c === 0x2d && i === p)) return true;
    }
    return false;
  }

  private inline(b: Uint8Array, pos: number, end: number): number {
    let nl = -1;
    for (let i = pos; i < end; i++) {
      if (b[i] === 0x0a) {
        nl = i;
        break;
      }
    }
    if (nl < 0) {
      if (end - pos > MAX_INLINE) return this.die("ERR Protocol error: too big inline request");
      return this.incomplete(pos, end);
    }
    let lineEnd = nl;
    if (lineEnd > pos && b[lineEnd - 1] === 0x0d) lineEnd--;
    const parts = splitInline(b.subarray(pos, lineEnd));
    if (parts === null) return this.die("ERR Protocol error: unbalanced quotes in request");
    for (const part of parts) this.args.push(part, 0, part.length);
    return nl + 1;
  }

  private incomplete(pos: number, end: number): number {
    this.need = end - pos + 1;
    this.capAt = 0;
    return INCOMPLETE;
  }

  private die(message: string): number {
    this.dead = true;
    this.sink.onProtocolError(message);
    return DEAD;
  }

  private append(src: Uint8Array, from: number, n: number): void {
    this.held.append(src, from, n, this.capAt);
  }

  private consume(n: number): void {
    this.held.consume(n, this.capAt);
  }
}

/**
 * Splits an inline command like Redis's sdssplitargs: white space separates arguments; a double
 * quote anywhere in an argument opens a section taking \n \r \t \b \a \\ \" and \xHH; a single
 * quote opens one taking \'. A closing quote must end the argument. Null on unbalanced quotes.
 */
export function splitInline(line: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let i = 0;
  // A NUL ends the line for sdssplitargs (it walks a C string).
  const nul = line.indexOf(0);
  const n = nul < 0 ? line.length : nul;
  const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d;
  // Inside an argument only these end it (sdssplitargs's switch), not \v or \f.
  const ends = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
  while (i < n) {
    while (i < n && isSpace(line[i]!)) i++;
    if (i >= n) break;
    const cur: number[] = [];
    let inDq = false, inSq = false;
    for (;;) {
      if (i >= n) {
        if (inDq || inSq) return null;
        break;
      }
      const c = line[i]!;
      if (inDq) {
        if (c === 0x5c && i + 3 < n && line[i + 1] === 0x78 && isHex(line[i + 2]!) && isHex(line[i + 3]!)) {
          cur.push(parseInt(String.fromCharCode(line[i + 2]!, line[i + 3]!), 16));
          i += 3;
        } else if (c === 0x5c && i + 1 < n) {
          const e = line[++i]!;
          cur.push(e === 0x6e ? 0x0a : e === 0x72 ? 0x0d : e === 0x74 ? 0x09 : e === 0x62 ? 0x08 : e === 0x61 ? 0x07 : e);
        } else if (c === 0x22) {
          if (i + 1 < n && !isSpace(line[i + 1]!)) return null;
          inDq = false;
          i++;
          break;
        } else cur.push(c);
      } else if (inSq) {
        if (c === 0x5c && i + 1 < n && line[i + 1] === 0x27) {
          cur.push(0x27);
          i++;
        } else if (c === 0x27) {
          if (i + 1 < n && !isSpace(line[i + 1]!)) return null;
          inSq = false;
          i++;
          break;
        } else cur.push(c);
      } else if (ends(c)) {
        break;
      } else if (c === 0x22) inDq = true;
      else if (c === 0x27) inSq = true;
      else cur.push(c);
      i++;
    }
    out.push(new Uint8Array(cur));
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
