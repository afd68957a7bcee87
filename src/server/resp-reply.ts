// RESP's side of the Reply vocabulary: simple strings, errors, integers, bulk strings, nil and
// arrays, encoded straight into the connection's Output batch (numbers written digit by digit,
// large values queued by reference). After HELLO 3 a connection speaks RESP3, which for this
// command set differs only in nil (_) and maps (%).

import type { Reply } from "../commands/reply.ts";
import type { ErrorCodeValue } from "../protocol/binary.ts";
import { copyBytes } from "../bytes.ts";
import { Output, ZERO_COPY_MIN } from "../protocol/output.ts";

const utf8 = new TextEncoder();
const OK = utf8.encode("+OK\r\n");
const NIL = utf8.encode("$-1\r\n");
const NULL3 = utf8.encode("_\r\n");

export class RespReply implements Reply {
  /** RESP3 after HELLO 3. */
  resp3 = false;

  constructor(private readonly out: Output) {}

  ok(): void {
    this.raw(OK);
  }

  nil(): void {
    this.raw(this.resp3 ? NULL3 : NIL);
  }

  map(n: number): void {
    if (this.resp3) this.prefixed(0x25, n);
    else this.prefixed(0x2a, 2 * n);
  }

  status(s: string): void {
    this.line(0x2b, s);
  }

  error(_code: ErrorCodeValue, message: string): void {
    this.line(0x2d, message);
  }

  integer(n: number): void {
    this.prefixed(0x3a, n);
  }

  array(n: number): void {
    this.prefixed(0x2a, n);
  }

  text(s: string): void {
    this.value(utf8.encode(s));
  }

  value(bytes: Uint8Array): void {
    const len = bytes.length;
    if (len >= ZERO_COPY_MIN) {
      this.prefixed(0x24, len);
      this.out.appendReference(bytes);
      this.raw(CRLF);
      return;
    }
    this.valueAt(bytes, 0, len);
  }

  valueAt(src: Uint8Array, start: number, len: number): void {
    const out = this.out;
    const off = out.reserve(len + 24);
    const b = out.buf;
    b[off] = 0x24;
    let at = writeDigits(b, off + 1, len);
    b[at++] = 0x0d;
    b[at++] = 0x0a;
    copyBytes(src, start, len, b, at);
    at += len;
    b[at++] = 0x0d;
    b[at++] = 0x0a;
    out.len = at;
  }

  private prefixed(type: number, n: number): void {
    const out = this.out;
    const off = out.reserve(24);
    const b = out.buf;
    b[off] = type;
    let at = writeDigits(b, off + 1, n);
    b[at++] = 0x0d;
    b[at++] = 0x0a;
    out.len = at;
  }

  /** A simple string or error line; CR and LF inside would break framing, so they become spaces. */
  private line(type: number, s: string): void {
    const text = utf8.encode(s.replace(/[\r\n]/g, " "));
    const out = this.out;
    const off = out.reserve(text.length + 3);
    const b = out.buf;
    b[off] = type;
    b.set(text, off + 1);
    b[off + 1 + text.length] = 0x0d;
    b[off + 2 + text.length] = 0x0a;
    out.len = off + 3 + text.length;
  }

  private raw(bytes: Uint8Array): void {
    const off = this.out.reserve(bytes.length);
    this.out.buf.set(bytes, off);
    this.out.len = off + bytes.length;
  }
}

const CRLF = utf8.encode("\r\n");

/** Writes the decimal digits of an integer (|n| < 2^53); returns the offset after them. */
export function writeDigits(b: Uint8Array, at: number, n: number): number {
  if (n < 0) {
    b[at++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    b[at] = 0x30 + n;
    return at + 1;
  }
  let digits = 0;
  for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    b[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return at + digits;
}
