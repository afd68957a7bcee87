// microdb's binary protocol: constants, frame encoders and the incremental frame readers.
//
// Pure codec, no I/O. A request is a 9-byte header read with one DataView-style pass
//   magic(0xDB) version(1) opcode flags key_len(u8) value_len(u32 BE)
// followed by key_len key bytes and value_len value bytes. A response is a 6-byte header
//   magic(0xDB) status payload_len(u32 BE)
// followed by the payload. docs/protocol.md has every byte, with hex examples.
//
// The request reader checks each header before any body byte is buffered: bad magic or version
// means framing is lost (error, then the caller closes); an unknown opcode, unknown flags, a key or
// value the opcode does not take, or a value over the limit get an error while the body is skipped
// as it streams in, so nothing a header claims is ever allocated before it is checked. The same
// frame encoding is used for AOF records and the replication stream.

import { PendingBytes } from "./pending.ts";
import { KeySpans, PREFETCH_MAX, type KeyPrefetch } from "./prefetch.ts";

export const MAGIC = 0xdb;
export const PROTOCOL_VERSION = 1;
export const REQUEST_HEADER = 9;
export const RESPONSE_HEADER = 6;
export const MAX_KEY = 255;

/**
 * Opcodes, grouped in ranges so later features have room:
 * 0x01-0x0F connection, 0x10-0x3F keyspace, 0x40-0x5F server/admin, 0x60-0x7F reserved (replication
 * needs none: it uses CALL and the log's own records),
 * 0x80-0xEF reserved, 0xF0-0xFF extensions. 0x00 is never valid (catches zeroed memory).
 */
export const Op = {
  PING: 0x01,
  GET: 0x10,
  SET: 0x11,
  DELETE: 0x12,
  EXISTS: 0x13,
  DBSIZE: 0x40,
  INFO: 0x41,
  SAVE: 0x42,
  /** Logged mutations only (AOF records, replication stream); clients cannot send them. */
  PEXPIREAT: 0x20,
  PERSIST: 0x21,
  FLUSHALL: 0x22,
  /** Any command by name: the value holds the arguments, each as u32 BE length + bytes. */
  CALL: 0xf0,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const Status = {
  OK: 0x00,
  VALUE: 0x01,
  NIL: 0x02,
  INTEGER: 0x03,
  ERROR: 0x04,
  /** A short status text such as PONG (RESP's simple string). */
  STRING: 0x05,
  /** An array: the length field is the element count; that many response frames follow. */
  ARRAY: 0x06,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Error codes carried in an ERROR payload (u16 BE code, then a UTF-8 message). */
export const ErrorCode = {
  BAD_MAGIC: 1,
  BAD_VERSION: 2,
  UNKNOWN_OPCODE: 3,
  KEY_TOO_LONG: 4,
  VALUE_TOO_LARGE: 5,
  BAD_ARGUMENTS: 6,
  BAD_FLAGS: 7,
  MAX_CLIENTS: 8,
  INTERNAL: 9,
  /** Writes are refused while the AOF cannot be written (disk full, I/O error). */
  MISCONF: 10,
  /** SAVE could not write its snapshot. */
  SAVE_FAILED: 11,
  UNKNOWN_COMMAND: 12,
  NOAUTH: 13,
  WRONGPASS: 14,
  READONLY: 15,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What an opcode's frame may carry; the reader enforces it on the header. */
export const Shape = {
  KNOWN: 1,
  KEY_ALLOWED: 2,
  KEY_REQUIRED: 4,
  VALUE_ALLOWED: 8,
  VALUE_REQUIRED: 16,
} as const;

// ---------------------------------------------------------------------------------------------
// Encoding

/** Writes a request header at `off`; the caller writes key and value after it. */
export function writeRequestHeader(
  buf: Uint8Array, off: number, op: number, flags: number, keyLen: number, valueLen: number,
): number {
  buf[off] = MAGIC;
  buf[off + 1] = PROTOCOL_VERSION;
  buf[off + 2] = op;
  buf[off + 3] = flags;
  buf[off + 4] = keyLen;
  writeU32(buf, off + 5, valueLen);
  return off + REQUEST_HEADER;
}

/** A CALL request's value: each argument as u32 BE length + bytes (the client and a replica's link). */
export function encodeCallArgs(args: readonly Uint8Array[]): Uint8Array {
  const value = new Uint8Array(args.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of args) {
    writeU32(value, at, p.length);
    value.set(p, at + 4);
    at += 4 + p.length;
  }
  return value;
}

/** One whole request frame; used by the client, the AOF and the replication stream. */
export function encodeRequest(op: number, key: Uint8Array | null, value: Uint8Array | null): Uint8Array {
  const keyLen = key?.length ?? 0;
  const valueLen = value?.length ?? 0;
  if (keyLen > MAX_KEY) throw new RangeError(`key is ${keyLen} bytes; the limit is ${MAX_KEY}`);
  const out = new Uint8Array(REQUEST_HEADER + keyLen + valueLen);
  let off = writeRequestHeader(out, 0, op, 0, keyLen, valueLen);
  if (key) out.set(key, off);
  off += keyLen;
  if (value) out.set(value, off);
  return out;
}

export function writeResponseHeader(buf: Uint8Array, off: number, status: number, payloadLen: number): number {
  buf[off] = MAGIC;
  buf[off + 1] = status;
  writeU32(buf, off + 2, payloadLen);
  return off + RESPONSE_HEADER;
}

/** Writes an INTEGER payload (i64 BE) at `off`. */
export function writeI64(buf: Uint8Array, off: number, n: number): number {
  const hi = Math.floor(n / 0x1_0000_0000);
  writeU32(buf, off, hi >>> 0);
  writeU32(buf, off + 4, (n - hi * 0x1_0000_0000) >>> 0);
  return off + 8;
}

export function readI64(buf: Uint8Array, off: number): number {
  const hi = readU32(buf, off) | 0; // sign lives in the high word
  return hi * 0x1_0000_0000 + readU32(buf, off + 4);
}

export function writeU32(buf: Uint8Array, off: number, n: number): void {
  buf[off] = n >>> 24;
  buf[off + 1] = n >>> 16;
  buf[off + 2] = n >>> 8;
  buf[off + 3] = n;
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

const utf8 = new TextEncoder();

/** A whole response frame (small replies; the server's hot path writes into its own buffer). */
export function encodeResponse(status: StatusCode, payload: Uint8Array = EMPTY): Uint8Array {
  const out = new Uint8Array(RESPONSE_HEADER + payload.length);
  writeResponseHeader(out, 0, status, payload.length);
  out.set(payload, RESPONSE_HEADER);
  return out;
}

export function encodeErrorPayload(code: number, message: string): Uint8Array {
  const text = utf8.encode(message);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code;
  out.set(text, 2);
  return out;
}

export function encodeIntegerPayload(n: number): Uint8Array {
  const out = new Uint8Array(8);
  writeI64(out, 0, n);
  return out;
}

export const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// Incremental reading (shared buffering for requests and responses)

/** Receives each request frame; views are valid only during the call. Return false to pause. */
export interface RequestSink extends KeyPrefetch {
  onRequest(op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number): boolean;
  /**
   * A frame refused on its header. fatal: framing is lost and the reader is dead. Otherwise the
   * return value is as for onRequest (false pauses), since error replies are output too.
   */
  onRequestError(code: ErrorCodeValue, message: string, fatal: boolean): boolean;
}

/** Receives each response frame; the payload view is valid only during the call. */
export interface ResponseSink {
  onResponse(status: number, buf: Uint8Array, payloadStart: number, payloadLen: number): void;
  onResponseError(message: string): void;
}


/**
 * Holds the bytes of an incomplete frame between reads, and the bytes not yet parsed while paused.
 * Parsing goes straight from the receive chunk whenever nothing is pending, so the common case
 * copies nothing; a large frame's buffer doubles as its bytes arrive, up to its exact size.
 */
abstract class FrameBuffer {
  private readonly held = new PendingBytes();
  /** Total size of the frame at the head of `held`, once its header is known; else 0. */
  protected headTotal = 0;
  /** Body bytes of a refused frame still to discard. */
  protected skipLeft = 0;
  protected dead = false;
  protected paused = false;

  protected abstract readonly headerSize: number;

  /** Parses frames in buf[pos, end); returns where it stopped (an incomplete frame, a pause or death). */
  protected abstract run(buf: Uint8Array, pos: number, end: number): number;

  /** Called before run() parses frames straight from a read. */
  protected beforeRun(_buf: Uint8Array, _pos: number, _end: number): void {}

  /** Bytes held back (an incomplete frame, or unparsed input while paused). */
  get buffered(): number {
    return this.held.len;
  }

  get isDead(): boolean {
    return this.dead;
  }

  protected feedChunk(chunk: Uint8Array): void {
    if (this.dead) return;
    if (this.paused) {
      this.stash(chunk, 0);
      return;
    }
    let pos = 0;
    const len = chunk.length;
    while (this.held.len > 0 && pos < len) {
      const want = this.held.len < this.headerSize ? this.headerSize - this.held.len : this.headTotal - this.held.len;
      const n = Math.min(want, len - pos);
      this.append(chunk, pos, n);
      pos += n;
      // Run even on a partial header: magic and version are judged as soon as their bytes are here.
      this.consume(this.run(this.held.buf, 0, this.held.len));
      if (this.dead) return;
      if (this.paused) {
        this.stash(chunk, pos);
        return;
      }
    }
    if (pos < len) {
      this.beforeRun(chunk, pos, len);
      const stop = this.run(chunk, pos, len);
      if (!this.dead) this.stash(chunk, stop);
    }
  }

  /** Keeps chunk[from..] for later, minus the body of a refused frame, which is never buffered. */
  private stash(chunk: Uint8Array, from: number): void {
    if (this.skipLeft > 0 && this.held.len === 0) from = this.skip(from, chunk.length);
    this.append(chunk, from, chunk.length - from);
  }

  /** Continues parsing what was held back while paused. */
  protected resumeParsing(): void {
    if (this.dead || !this.paused) return;
    this.paused = false;
    this.consume(this.run(this.held.buf, 0, this.held.len));
  }

  /** Skips refused body bytes; returns the new position. */
  protected skip(pos: number, end: number): number {
    const n = Math.min(this.skipLeft, end - pos);
    this.skipLeft -= n;
    return pos + n;
  }

  private append(src: Uint8Array, from: number, n: number): void {
    this.held.append(src, from, n, this.headTotal);
  }

  private consume(n: number): void {
    this.held.consume(n, this.headTotal);
  }
}

export interface RequestLimits {
  /** Largest accepted value (config max_value_size). */
  maxValue: number;
  /** Shape bits per opcode (Shape.*); 0 = unknown opcode. */
  shapes: Uint8Array;
}

/** Incremental request parser for one connection. */
export class RequestReader extends FrameBuffer {
  protected readonly headerSize = REQUEST_HEADER;

  private readonly keys = new KeySpans();

  constructor(private readonly limits: RequestLimits, private readonly sink: RequestSink) {
    super();
  }

  feed(chunk: Uint8Array): void {
    this.feedChunk(chunk);
  }

  /** Pipelining (prefetch.ts): the keys of the first whole frames with a key in b[pos, end). */
  protected override beforeRun(b: Uint8Array, pos: number, end: number): void {
    // While a refused frame's body is being skipped, what follows is not yet a frame boundary.
    if (this.sink.prefetch === undefined || this.skipLeft > 0) return;
    const { starts, lens } = this.keys;
    let n = 0;
    while (n < PREFETCH_MAX && pos + REQUEST_HEADER <= end && b[pos] === MAGIC && b[pos + 1] === PROTOCOL_VERSION) {
      const klen = b[pos + 4]!;
      const next = pos + REQUEST_HEADER + klen + readU32(b, pos + 5);
      if (next > end || klen === 0) break;
      starts[n] = pos + REQUEST_HEADER;
      lens[n] = klen;
      n++;
      pos = next;
    }
    if (n >= 2) this.sink.prefetch(b, starts, lens, n);
  }

  /** Parsing stops after the frame whose onRequest returned false, until resume(). */
  resume(): void {
    this.resumeParsing();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  protected run(b: Uint8Array, pos: number, end: number): number {
    const sink = this.sink;
    while (pos < end) {
      if (this.skipLeft > 0) {
        pos = this.skip(pos, end);
        continue;
      }
      // Magic and version are judged as soon as their byte is here, not when the header is whole.
      if (b[pos] !== MAGIC) {
        return this.die(ErrorCode.BAD_MAGIC, `ERR Protocol error: bad magic byte 0x${hex(b[pos]!)} (expected 0xdb)`, pos);
      }
      if (end - pos >= 2 && b[pos + 1] !== PROTOCOL_VERSION) {
        return this.die(ErrorCode.BAD_VERSION, `ERR Protocol error: unsupported protocol version ${b[pos + 1]} (this server speaks ${PROTOCOL_VERSION})`, pos);
      }
      if (end - pos < REQUEST_HEADER) break;
      const op = b[pos + 2]!;
      const keyLen = b[pos + 4]!;
      const valueLen = readU32(b, pos + 5);
      const refusal = this.check(op, b[pos + 3]!, keyLen, valueLen);
      if (refusal !== null) {
        pos += REQUEST_HEADER;
        this.skipLeft = keyLen + valueLen;
        if (!sink.onRequestError(refusal.code, refusal.message, false)) {
          this.paused = true;
          break;
        }
        continue;
      }
      const total = REQUEST_HEADER + keyLen + valueLen;
      if (end - pos < total) {
        this.headTotal = total;
        break;
      }
      this.headTotal = 0;
      const more = sink.onRequest(op, b, pos + REQUEST_HEADER, keyLen, valueLen);
      pos += total;
      if (!more) {
        this.paused = true;
        break;
      }
    }
    return pos;
  }

  private check(op: number, flags: number, keyLen: number, valueLen: number): { code: ErrorCodeValue; message: string } | null {
    const shape = this.limits.shapes[op]!;
    if (shape === 0) return { code: ErrorCode.UNKNOWN_OPCODE, message: `ERR unknown opcode 0x${hex(op)}` };
    if (flags !== 0) return { code: ErrorCode.BAD_FLAGS, message: `ERR unknown flags 0x${hex(flags)} for opcode 0x${hex(op)}` };
    if (valueLen > this.limits.maxValue) {
      return { code: ErrorCode.VALUE_TOO_LARGE, message: `ERR value is ${valueLen} bytes; max_value_size is ${this.limits.maxValue}` };
    }
    if (keyLen === 0 && shape & Shape.KEY_REQUIRED) return { code: ErrorCode.BAD_ARGUMENTS, message: `ERR opcode 0x${hex(op)} needs a key (1..${MAX_KEY} bytes)` };
    if (keyLen > 0 && !(shape & Shape.KEY_ALLOWED)) return { code: ErrorCode.BAD_ARGUMENTS, message: `ERR opcode 0x${hex(op)} takes no key` };
    if (valueLen === 0 && shape & Shape.VALUE_REQUIRED) return { code: ErrorCode.BAD_ARGUMENTS, message: `ERR opcode 0x${hex(op)} needs a value` };
    if (valueLen > 0 && !(shape & Shape.VALUE_ALLOWED)) return { code: ErrorCode.BAD_ARGUMENTS, message: `ERR opcode 0x${hex(op)} takes no value` };
    return null;
  }

  private die(code: ErrorCodeValue, message: string, pos: number): number {
    this.dead = true;
    this.sink.onRequestError(code, message, true);
    return pos;
  }
}

/** Incremental response parser for the client. */
export class ResponseReader extends FrameBuffer {
  protected readonly headerSize = RESPONSE_HEADER;

  constructor(private readonly maxPayload: number, private readonly sink: ResponseSink) {
    super();
  }

  feed(chunk: Uint8Array): void {
    this.feedChunk(chunk);
  }

  protected run(b: Uint8Array, pos: number, end: number): number {
    while (pos < end) {
      if (end - pos < RESPONSE_HEADER) break;
      if (b[pos] !== MAGIC) return this.die(`bad magic byte 0x${hex(b[pos]!)} in a reply (expected 0xdb)`, pos);
      const status = b[pos + 1]!;
      if (status > Status.ARRAY) return this.die(`unknown reply status 0x${hex(status)}`, pos);
      const len = readU32(b, pos + 2);
      if (status === Status.ARRAY) {
        this.headTotal = 0;
        this.sink.onResponse(status, b, pos + RESPONSE_HEADER, len);
        pos += RESPONSE_HEADER;
        continue;
      }
      if (len > this.maxPayload) return this.die(`reply payload of ${len} bytes is over the client's limit of ${this.maxPayload}`, pos);
      const total = RESPONSE_HEADER + len;
      if (end - pos < total) {
        this.headTotal = total;
        break;
      }
      this.headTotal = 0;
      this.sink.onResponse(status, b, pos + RESPONSE_HEADER, len);
      pos += total;
    }
    return pos;
  }

  private die(message: string, pos: number): number {
    this.dead = true;
    this.sink.onResponseError(message);
    return pos;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
