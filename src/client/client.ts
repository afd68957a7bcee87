// The microdb client library: one TCP connection speaking the binary protocol, with pipelined
// promise methods.
//
// Every call is encoded into an output batch at once and the batch is written once per tick, so
// calls made together travel together; replies come back in order and settle a FIFO of pending
// calls. Keys and values are bytes (Uint8Array); strings are accepted and sent as UTF-8, and the
// *String helpers decode replies the same way. Failures have one class each: ConnectionError
// (refused, reset, closed), TimeoutError, ServerError (an error reply, with its code),
// ProtocolError (a reply that cannot be parsed) and ArgumentError (rejected before sending).
//
// A Uint8Array value of 64 KiB or more is sent by reference: do not change it until its call settles.

import type { Socket } from "bun";
import {
  ErrorCode, MAX_KEY, Op, REQUEST_HEADER, ResponseReader, Status, encodeCallArgs, readI64, writeRequestHeader,
  type ResponseSink,
} from "../protocol/binary.ts";
import { Output, ZERO_COPY_MIN } from "../protocol/output.ts";

export type Bytes = string | Uint8Array;

export class MicrodbError extends Error {
  override name = "MicrodbError";
}
export class ConnectionError extends MicrodbError {
  override name = "ConnectionError";
}
export class TimeoutError extends MicrodbError {
  override name = "TimeoutError";
}
export class ProtocolError extends MicrodbError {
  override name = "ProtocolError";
}
export class ArgumentError extends MicrodbError {
  override name = "ArgumentError";
}
export class ServerError extends MicrodbError {
  override name = "ServerError";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export interface ClientOptions {
  /** A call that has no reply after this long fails with TimeoutError and the connection closes. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Largest reply payload accepted (a guard against a broken peer). */
  maxReplyBytes?: number;
  /** Sent with AUTH right after connecting, for a server with requirepass. */
  password?: Bytes;
}

/** A reply as the wire gave it, for call(); the payload is a copy the caller owns. */
export interface RawReply {
  status: number;
  payload: Uint8Array;
  /** The elements, for an ARRAY reply. */
  items?: RawReply[];
}

/**
 * A decoded reply of command(): a status text (string), a value (Uint8Array), an integer, null
 * for nil, an array of replies, or a ServerError inside an array.
 */
export type ReplyValue = string | Uint8Array | number | null | ServerError | ReplyValue[];

interface Pending {
  resolve(reply: RawReply): void;
  reject(err: Error): void;
  deadline: number;
}

const NO_PAYLOAD = new Uint8Array(0);

const utf8enc = new TextEncoder();
const utf8dec = new TextDecoder();

export function toBytes(b: Bytes): Uint8Array {
  return typeof b === "string" ? utf8enc.encode(b) : b;
}

export function fromBytes(b: Uint8Array): string {
  return utf8dec.decode(b);
}

export class Client implements ResponseSink {
  private readonly out = new Output();
  private readonly pending: Pending[] = [];
  private head = 0;
  private readonly reader: ResponseReader;
  private flushScheduled = false;
  private closedBy: Error | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private socket: Socket<Client> | null = null;
  /** Arrays being assembled, innermost last. */
  private readonly arrays: { items: RawReply[]; left: number }[] = [];

  private constructor(readonly addr: string, private readonly timeoutMs: number, maxReply: number) {
    this.reader = new ResponseReader(maxReply, this);
  }

  /** Opens a connection; rejects with ConnectionError or TimeoutError. */
  static async connect(host: string, port: number, opts: ClientOptions = {}): Promise<Client> {
    const client = new Client(`${host}:${port}`, opts.timeoutMs ?? 10_000, opts.maxReplyBytes ?? 0xffff_ffff);
    const connectTimeout = opts.connectTimeoutMs ?? 5_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`connect to ${client.addr}: no answer after ${connectTimeout} ms`)), connectTimeout);
    });
    try {
      client.socket = await Promise.race([
        Bun.connect<Client>({
          hostname: host,
          port,
          data: client,
          socket: {
            data: (_s, chunk) => client.reader.feed(chunk),
            drain: () => client.flush(),
            end: () => client.fail(new ConnectionError(`connection to ${client.addr} closed by the server`)),
            close: () => client.fail(new ConnectionError(`connection to ${client.addr} closed`)),
            error: (_s, err) => client.fail(new ConnectionError(`connection to ${client.addr}: ${err.message}`)),
          },
        }),
        timeout,
      ]);
    } catch (e) {
      if (e instanceof TimeoutError) throw e;
      const code = (e as { code?: string }).code;
      const what = code === "ECONNREFUSED" ? "connection refused" : (e as Error).message;
      throw new ConnectionError(`cannot connect to ${client.addr}: ${what}`);
    } finally {
      clearTimeout(timer);
    }
    if (opts.password !== undefined) {
      try {
        await client.auth(opts.password);
      } catch (e) {
        client.close();
        throw e;
      }
    }
    return client;
  }

  /** Number of calls sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.head;
  }

  get(key: Bytes): Promise<Uint8Array | null> {
    return this.request(Op.GET, key, null, (status, payload) => (status === Status.NIL ? null : payload), Status.VALUE, Status.NIL);
  }

  async getString(key: Bytes): Promise<string | null> {
    const v = await this.get(key);
    return v === null ? null : fromBytes(v);
  }

  set(key: Bytes, value: Bytes): Promise<void> {
    return this.request(Op.SET, key, value, () => undefined, Status.OK);
  }

  /** Resolves 1 if the key existed, else 0 (Redis's DEL count). */
  delete(key: Bytes): Promise<number> {
    return this.request(Op.DELETE, key, null, integer, Status.INTEGER);
  }

  async exists(key: Bytes): Promise<boolean> {
    return (await this.request(Op.EXISTS, key, null, integer, Status.INTEGER)) === 1;
  }

  /** Resolves "PONG", or the message echoed back. */
  ping(message?: Bytes): Promise<string> {
    return this.request(Op.PING, null, message ?? null, (_s, p) => fromBytes(p), Status.STRING, Status.VALUE);
  }

  dbsize(): Promise<number> {
    return this.request(Op.DBSIZE, null, null, integer, Status.INTEGER);
  }

  info(section?: string): Promise<string> {
    return this.request(Op.INFO, null, section ?? null, (_s, p) => fromBytes(p), Status.VALUE);
  }

  /** Resolves once the server has a snapshot on disk holding every write before this call. */
  save(): Promise<void> {
    return this.request(Op.SAVE, null, null, () => undefined, Status.OK);
  }

  /** Any opcode; error replies reject with ServerError, every other reply resolves as it came. */
  call(op: number, key: Bytes | null, value: Bytes | null): Promise<RawReply> {
    return this.request(op, key, value, (_s, _p, raw) => raw);
  }

  /** Any command by name with its arguments (the CALL opcode), e.g. command("incrby", "n", "5"). */
  command(...args: Bytes[]): Promise<ReplyValue> {
    return this.request(Op.CALL, null, encodeCallArgs(args.map(toBytes)), (_s, _p, raw) => decodeReply(raw));
  }

  /** AUTH with the server's requirepass. */
  async auth(password: Bytes): Promise<void> {
    await this.command("auth", password);
  }

  /** Closes the connection; calls still in flight fail with ConnectionError. */
  close(): void {
    this.fail(new ConnectionError(`connection to ${this.addr} closed by the client`));
  }

  private request<T>(
    op: number, key: Bytes | null, value: Bytes | null,
    decode: (status: number, payload: Uint8Array, raw: RawReply) => T, ...expected: number[]
  ): Promise<T> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    const k = key === null ? null : toBytes(key);
    const v = value === null ? null : toBytes(value);
    if (k !== null && (k.length === 0 || k.length > MAX_KEY)) {
      return Promise.reject(new ArgumentError(`key is ${k.length} bytes; keys must be 1..${MAX_KEY} bytes`));
    }
    if (v !== null && v.length > 0xffff_ffff) {
      return Promise.reject(new ArgumentError(`value is ${v.length} bytes; the protocol's limit is 4294967295`));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        resolve: (raw) => {
          if (expected.length > 0 && !expected.includes(raw.status)) {
            reject(new ProtocolError(`unexpected reply status 0x${raw.status.toString(16)} to opcode 0x${op.toString(16)}`));
          } else {
            resolve(decode(raw.status, raw.payload, raw));
          }
        },
        reject,
        deadline: Date.now() + this.timeoutMs,
      });
      this.encode(op, k, v);
      this.armTimer();
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private encode(op: number, key: Uint8Array | null, value: Uint8Array | null): void {
    const keyLen = key?.length ?? 0;
    const valueLen = value?.length ?? 0;
    const inline = valueLen < ZERO_COPY_MIN;
    const out = this.out;
    const off = out.reserve(REQUEST_HEADER + keyLen + (inline ? valueLen : 0));
    let at = writeRequestHeader(out.buf, off, op, 0, keyLen, valueLen);
    if (key) out.buf.set(key, at);
    at += keyLen;
    if (value && inline) {
      out.buf.set(value, at);
      at += valueLen;
    }
    out.len = at;
    if (value && !inline) out.appendReference(value);
  }

  private flush(): void {
    if (this.socket && !this.closedBy) this.out.flush(this.socket);
  }

  onResponse(status: number, buf: Uint8Array, start: number, len: number): void {
    let reply: RawReply;
    if (status === Status.ARRAY) {
      if (len > 0) {
        this.arrays.push({ items: [], left: len });
        return;
      }
      reply = { status, payload: NO_PAYLOAD, items: [] };
    } else {
      reply = { status, payload: buf.slice(start, start + len) };
    }
    // An element completes its array, which may complete the one around it.
    while (this.arrays.length > 0) {
      const top = this.arrays[this.arrays.length - 1]!;
      top.items.push(reply);
      if (--top.left > 0) return;
      this.arrays.pop();
      reply = { status: Status.ARRAY, payload: NO_PAYLOAD, items: top.items };
    }
    this.deliver(reply);
  }

  private deliver(reply: RawReply): void {
    if (this.head >= this.pending.length) {
      // An error with no call waiting (a refusal): report the server's words, not a framing error.
      this.fail(reply.status === Status.ERROR ? serverError(reply.payload)
        : new ProtocolError(`reply from ${this.addr} with no call waiting for it`));
      return;
    }
    const p = this.pending[this.head]!;
    this.pending[this.head++] = undefined as unknown as Pending;
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    if (reply.status === Status.ERROR) p.reject(serverError(reply.payload));
    else p.resolve(reply);
  }

  onResponseError(message: string): void {
    this.fail(new ProtocolError(`from ${this.addr}: ${message}`));
  }

  /** Ends the connection and fails every call in flight with `err`. */
  private fail(err: Error): void {
    if (this.closedBy) return;
    this.closedBy = err;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.socket?.end();
    const waiting = this.pending.slice(this.head);
    this.pending.length = 0;
    this.head = 0;
    for (const p of waiting) p?.reject(err);
  }

  /** One coarse timer checks the oldest call's deadline while calls are in flight. */
  private armTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.inFlight === 0) {
        clearInterval(this.timer!);
        this.timer = null;
        return;
      }
      if (Date.now() > this.pending[this.head]!.deadline) {
        this.fail(new TimeoutError(`no reply from ${this.addr} within ${this.timeoutMs} ms`));
      }
    }, Math.max(10, Math.min(250, this.timeoutMs / 4)));
    this.timer.unref?.();
  }
}

function serverError(payload: Uint8Array): ServerError {
  const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : ErrorCode.INTERNAL;
  return new ServerError(code, fromBytes(payload.subarray(2)));
}

/** A raw reply as a JS value: see ReplyValue. */
export function decodeReply(raw: RawReply): ReplyValue {
  switch (raw.status) {
    case Status.OK:
      return "OK";
    case Status.STRING:
      return fromBytes(raw.payload);
    case Status.VALUE:
      return raw.payload;
    case Status.NIL:
      return null;
    case Status.INTEGER:
      return readI64(raw.payload, 0);
    case Status.ERROR:
      return serverError(raw.payload);
    case Status.ARRAY:
      return (raw.items ?? []).map(decodeReply);
    default:
      throw new ProtocolError(`unknown reply status 0x${raw.status.toString(16)}`);
  }
}

function integer(_status: number, payload: Uint8Array): number {
  return readI64(payload, 0);
}

/** Opens a connection to a microdb server. */
export function connect(host: string, port: number, opts?: ClientOptions): Promise<Client> {
  return Client.connect(host, port, opts);
}
