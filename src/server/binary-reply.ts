// The binary protocol's side of the Reply vocabulary: each call encodes one response frame
// straight into the connection's Output batch, without intermediate objects.

import type { Reply } from "../commands/reply.ts";
import {
  RESPONSE_HEADER, Status, writeI64, writeResponseHeader, type ErrorCodeValue,
} from "../protocol/binary.ts";
import { copyBytes } from "../bytes.ts";
import { Output, ZERO_COPY_MIN } from "../protocol/output.ts";

const utf8 = new TextEncoder();

export class BinaryReply implements Reply {
  constructor(private readonly out: Output) {}

  ok(): void {
    this.header(Status.OK, 0);
  }

  nil(): void {
    this.header(Status.NIL, 0);
  }

  value(bytes: Uint8Array): void {
    if (bytes.length >= ZERO_COPY_MIN) {
      this.header(Status.VALUE, bytes.length);
      this.out.appendReference(bytes);
      return;
    }
    this.valueAt(bytes, 0, bytes.length);
  }

  valueAt(buf: Uint8Array, start: number, len: number): void {
    const out = this.out;
    const off = out.reserve(RESPONSE_HEADER + len);
    writeResponseHeader(out.buf, off, Status.VALUE, len);
    copyBytes(buf, start, len, out.buf, off + RESPONSE_HEADER);
    out.len = off + RESPONSE_HEADER + len;
  }

  status(s: string): void {
    this.string(Status.STRING, s);
  }

  text(s: string): void {
    this.string(Status.VALUE, s);
  }

  integer(n: number): void {
    const out = this.out;
    const off = out.reserve(RESPONSE_HEADER + 8);
    writeResponseHeader(out.buf, off, Status.INTEGER, 8);
    out.len = writeI64(out.buf, off + RESPONSE_HEADER, n);
  }

  error(code: ErrorCodeValue, message: string): void {
    const text = utf8.encode(message);
    const out = this.out;
    const off = out.reserve(RESPONSE_HEADER + 2 + text.length);
    writeResponseHeader(out.buf, off, Status.ERROR, 2 + text.length);
    out.buf[off + RESPONSE_HEADER] = code >>> 8;
    out.buf[off + RESPONSE_HEADER + 1] = code;
    out.buf.set(text, off + RESPONSE_HEADER + 2);
    out.len = off + RESPONSE_HEADER + 2 + text.length;
  }

  array(n: number): void {
    this.header(Status.ARRAY, n);
  }

  map(n: number): void {
    this.header(Status.ARRAY, 2 * n);
  }

  private header(status: number, payloadLen: number): void {
    const out = this.out;
    const off = out.reserve(RESPONSE_HEADER);
    out.len = writeResponseHeader(out.buf, off, status, payloadLen);
  }

  private string(status: number, s: string): void {
    const text = utf8.encode(s);
    const out = this.out;
    const off = out.reserve(RESPONSE_HEADER + text.length);
    writeResponseHeader(out.buf, off, status, text.length);
    out.buf.set(text, off + RESPONSE_HEADER);
    out.len = off + RESPONSE_HEADER + text.length;
  }
}
