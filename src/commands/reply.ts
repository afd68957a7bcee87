// The reply vocabulary every command speaks. Each codec implements it by encoding straight into
// its connection's output, so one command table serves every protocol.

import type { ErrorCodeValue } from "../protocol/binary.ts";

export interface Reply {
  ok(): void;
  /** A value the store owns or a fresh buffer: the codec may reference it until it is sent. */
  value(bytes: Uint8Array): void;
  /** A value given in place, buf[start, start + len): copied now (a keyspace entry, no view made). */
  valueAt(buf: Uint8Array, start: number, len: number): void;
  /** A short status line (PONG), like RESP's simple string. */
  status(s: string): void;
  /** A text value (INFO), sent as its UTF-8 bytes. */
  text(s: string): void;
  nil(): void;
  integer(n: number): void;
  /** `message` starts with Redis's error tag ("ERR ...", "READONLY ..."). */
  error(code: ErrorCodeValue, message: string): void;
  /** Starts an array of n elements: the next n replies (arrays nest) are its elements. */
  array(n: number): void;
  /** Starts a map of n pairs: the next 2n replies, key then value (RESP3 %; an array elsewhere). */
  map(n: number): void;
}
