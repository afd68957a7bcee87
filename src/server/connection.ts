// One client connection: protocol detection, framing, command dispatch, ordered replies and
// backpressure.
//
// The first byte picks the codec: 0xDB is microdb's binary protocol, anything else RESP2. Both
// codecs produce an Args list for the one command table, and replies go through the matching
// Reply encoder into the Output batch, so replies leave in request order. Each command runs at
// once (commands are atomic: one event loop). The batch goes out at the end of the tick, after
// the AOF write (group commit); with appendfsync=always it waits until the AOF is fsynced past
// this client's last write. When unsent output passes client_output_limit the reader pauses after
// the current request and the socket stops reading; `drain` sends the rest and resumes both. A
// command that must wait (SAVE) pauses this client's reader until it replies. A refused request
// gets an error and the connection goes on; lost framing gets an error, then the connection
// closes once it is sent.

import type { Socket } from "bun";
import { Args } from "../commands/args.ts";
import type { Reply } from "../commands/reply.ts";
import {
  BINARY_OPS, BY_OP, arityError, arityOk, isWrite, lookupCommand, type CommandContext, type CommandSpec, type Session,
} from "../commands/table.ts";
import {
  EMPTY, ErrorCode, MAGIC, MAX_KEY, Op, RequestReader, readU32, type ErrorCodeValue, type RequestLimits, type RequestSink,
} from "../protocol/binary.ts";
import { Output, ZERO_COPY_MIN } from "../protocol/output.ts";
import type { StreamTarget } from "../replication/master.ts";
import { RespReader, type RespSink } from "../protocol/resp.ts";
import { log } from "../log.ts";
import { BinaryReply } from "./binary-reply.ts";
import type { Flushable } from "./flush-queue.ts";
import { RespReply } from "./resp-reply.ts";

export interface ConnectionHost {
  readonly context: CommandContext;
  readonly limits: RequestLimits;
  readonly outputLimit: number;
  readonly requirePassword: boolean;
  /** Called for each command run (stats). */
  countCommand(): void;
  /** Bytes read from the client (stats). */
  countInput(bytes: number): void;
  /** Replies went out to the client (stats; the client may answer soon, see busy-poll.ts). */
  repliesSent(bytes: number): void;
  /** Flush this connection at the end of the tick, after the AOF batch is written. */
  scheduleFlush(conn: Connection): void;
  /** A read from the socket was handled: flush now if nothing logged waits for the tick, else schedule. */
  afterRequests(conn: Connection): void;
  /** The AOF position a reply must wait for (after a write, or any command under `always`); 0 for none. */
  holdAfter(write: boolean): number;
  /** True when replies up to `pos` may leave; otherwise arranges conn.flush() for when they may. */
  durableOrWait(pos: number, conn: Connection): boolean;
}

const NAME_BYTES: readonly Uint8Array[] = (() => {
  const out: Uint8Array[] = new Array(256).fill(EMPTY);
  for (const b of BINARY_OPS) out[b.op] = new TextEncoder().encode(b.name);
  return out;
})();

let nextId = 1;

export class Connection implements RequestSink, RespSink, Session, StreamTarget, Flushable {
  readonly id = nextId++;
  readonly out = new Output();
  readonly createdAt = Date.now();
  protocol: "binary" | "resp" = "binary";
  resp: 2 | 3 = 2;
  name = "";
  libName = "";
  libVersion = "";
  authenticated: boolean;
  lastCommand = "NULL";
  /** Marked for the end-of-tick flush (FlushQueue). */
  inFlushQueue = false;
  private reply: Reply | null = null;
  private reader: RequestReader | RespReader | null = null;
  private readonly args = new Args();
  /** Close once everything queued has been sent (lost framing, QUIT, refusal). */
  private closing = false;
  private closed = false;
  private readPaused = false;
  /** A refusal (max_clients) to send in the client's own protocol once it speaks. */
  private refusal: { code: ErrorCodeValue; message: string } | null = null;
  /** A command of this client is still running (SAVE); later requests wait. */
  private waiting = false;
  /** Replies may not leave before the AOF is durable up to here. */
  private holdPos = 0;
  private closedCallbacks: (() => void)[] = [];
  private drainWaiters: { bytes: number; done: () => void }[] = [];

  constructor(private readonly host: ConnectionHost, readonly socket: Socket<Connection>) {
    this.authenticated = !host.requirePassword;
  }

  get addr(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get laddr(): string {
    return `${this.socket.localAddress}:${this.socket.localPort}`;
  }

  get ip(): string {
    return this.socket.remoteAddress;
  }

  // --- as a replica link (REPLICATE): the master streams raw bytes after the handshake reply ---

  streamTarget(): StreamTarget {
    return this;
  }

  send(bytes: Uint8Array): void {
    if (this.closed) return;
    if (bytes.length >= ZERO_COPY_MIN) {
      this.out.appendReference(bytes);
    } else {
      const at = this.out.reserve(bytes.length);
      this.out.buf.set(bytes, at);
      this.out.len += bytes.length;
    }
    this.host.scheduleFlush(this);
  }

  get pendingOutput(): number {
    return this.out.pending;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  drained(bytes: number): Promise<void> {
    if (this.closed || this.out.pending <= bytes) return Promise.resolve();
    return new Promise((done) => this.drainWaiters.push({ bytes, done }));
  }

  drop(): void {
    if (this.closed) return;
    this.closing = true;
    this.socket.terminate();
  }

  onClosed(cb: () => void): void {
    if (this.closed) cb();
    else this.closedCallbacks.push(cb);
  }

  onData(chunk: Uint8Array): void {
    if (this.closing || this.closed) return;
    this.host.countInput(chunk.length);
    if (this.reader === null) this.sniff(chunk[0]!);
    if (this.refusal !== null) {
      this.reply!.error(this.refusal.code, this.refusal.message);
      this.closing = true;
    } else {
      this.reader!.feed(chunk);
    }
    this.host.afterRequests(this);
  }

  onDrain(): void {
    this.flush();
  }

  onClose(): void {
    this.closed = true;
    for (const cb of this.closedCallbacks.splice(0)) cb();
    for (const w of this.drainWaiters.splice(0)) w.done();
  }

  /** The client half-closed: no more requests; the socket ends once the replies are out. */
  onEnd(): void {
    this.closing = true;
    this.flush();
  }

  /** Refuses the connection with an error sent once its protocol is known (max_clients). */
  refuse(code: ErrorCodeValue, message: string): void {
    this.refusal = { code, message };
    // A client that never speaks does not keep the slot it was refused.
    setTimeout(() => this.socket.end(), 5000).unref?.();
  }

  /** Shutdown: stop taking requests; what was read is answered by the final flush. */
  stopReading(): void {
    this.socket.pause();
    this.closing = true;
  }

  closeAfterReply(): void {
    this.closing = true;
  }

  setResp(version: 2 | 3): boolean {
    if (!(this.reply instanceof RespReply)) return false;
    this.reply.resp3 = version === 3;
    this.resp = version;
    return true;
  }

  // --- binary protocol ---

  onRequest(op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number): boolean {
    const args = this.args;
    args.reset();
    const valueStart = keyStart + keyLen;
    if (op === Op.CALL) {
      if (!decodeCall(buf, valueStart, valueLen, args)) {
        this.reply!.error(ErrorCode.BAD_ARGUMENTS, "ERR malformed CALL arguments: expected u32 length + bytes, repeated");
        return this.canContinue();
      }
      return this.dispatch(lookupCommand(args));
    }
    args.push(NAME_BYTES[op]!, 0, NAME_BYTES[op]!.length);
    if (keyLen > 0) args.push(buf, keyStart, keyLen);
    // SET's value is an argument even when empty; PING and INFO take theirs only if given.
    if (valueLen > 0 || op === Op.SET) args.push(buf, valueStart, valueLen);
    return this.dispatch(BY_OP[op]);
  }

  onRequestError(code: ErrorCodeValue, message: string, fatal: boolean): boolean {
    this.reply!.error(code, message);
    if (fatal) this.closing = true;
    return this.canContinue();
  }

  // --- RESP ---

  onCommand(args: Args): boolean {
    return this.dispatch(lookupCommand(args), args);
  }

  prefetch(kb: Uint8Array, starts: Int32Array, lens: Int32Array, n: number): void {
    this.host.context.keyspace.prefetch(kb, starts, lens, n);
  }

  onProtocolError(message: string): void {
    this.reply!.error(ErrorCode.BAD_MAGIC, message);
    this.closing = true;
  }

  // --- dispatch ---

  private dispatch(spec: CommandSpec | undefined, args: Args = this.args): boolean {
    const reply = this.reply!;
    const ctx = this.host.context;
    this.host.countCommand();
    if (spec === undefined) {
      reply.error(ErrorCode.UNKNOWN_COMMAND, unknownCommand(args));
      return this.canContinue();
    }
    this.lastCommand = spec.name;
    // Redis's order: arity, then authentication.
    if (!arityOk(spec, args.length)) {
      reply.error(ErrorCode.BAD_ARGUMENTS, arityError(spec.name));
      return this.canContinue();
    }
    if (!this.authenticated && !spec.flags.includes("noauth")) {
      reply.error(ErrorCode.NOAUTH, "NOAUTH Authentication required.");
      return this.canContinue();
    }
    const bad = badKey(spec, args);
    if (bad !== null) {
      reply.error(ErrorCode.KEY_TOO_LONG, bad);
      return this.canContinue();
    }
    const write = isWrite(spec);
    if (write) {
      const refused = ctx.writeError();
      if (refused !== null) {
        reply.error(refused.code, refused.message);
        return this.canContinue();
      }
    }
    try {
      const pending = spec.run(ctx, args, reply, this);
      if (pending !== undefined) return this.await(spec.name, pending);
    } catch (e) {
      this.internalError(spec.name, e);
    }
    const hold = this.host.holdAfter(write);
    if (hold > this.holdPos) this.holdPos = hold;
    return this.canContinue();
  }

  private canContinue(): boolean {
    return !this.closing && this.out.pending < this.host.outputLimit;
  }

  /**
   * flush as a callback made once per connection: a closure made where a reply waits would cost an
   * allocation on every flush of a write's reply, waiting or not.
   */
  readonly flushLater = (): void => this.flush();

  /** Sends what may be sent now, and resumes reading when the client has caught up. */
  flush(): void {
    if (this.closed) return;
    if (this.holdPos > 0 && !this.host.durableOrWait(this.holdPos, this)) return;
    const before = this.out.pending;
    const done = this.out.flush(this.socket);
    if (this.out.pending < before) this.host.repliesSent(before - this.out.pending);
    if (this.drainWaiters.length > 0) {
      const pending = this.out.pending;
      const ready = this.drainWaiters.filter((w) => pending <= w.bytes);
      this.drainWaiters = this.drainWaiters.filter((w) => pending > w.bytes);
      for (const w of ready) w.done();
    }
    if (!done) {
      // Stop reading while a paused reader holds input or the output is over its limit.
      if (!this.readPaused && (this.reader?.isPaused || this.out.pending >= this.host.outputLimit)) {
        this.readPaused = true;
        this.socket.pause();
      }
      return;
    }
    if (this.closing) {
      if (!this.waiting) this.socket.end();
      return;
    }
    if (this.readPaused && !this.waiting) {
      this.readPaused = false;
      this.socket.resume();
    }
    if (this.reader?.isPaused && !this.waiting) {
      // Parse what was held back; its replies go out with the next tick's flush.
      this.reader.resume();
      this.host.scheduleFlush(this);
    }
  }

  private sniff(first: number): void {
    if (first === MAGIC) {
      this.protocol = "binary";
      this.reply = new BinaryReply(this.out);
      this.reader = new RequestReader(this.host.limits, this);
    } else {
      this.protocol = "resp";
      this.reply = new RespReply(this.out);
      this.reader = new RespReader(this.host.limits.maxValue, this);
    }
  }

  private await(name: string, pending: Promise<void>): boolean {
    this.waiting = true;
    // Input that arrives meanwhile would only pile up behind the waiting command.
    if (!this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
    pending
      .catch((e: unknown) => this.internalError(name, e))
      .finally(() => {
        this.waiting = false;
        this.host.scheduleFlush(this);
      });
    return false;
  }

  private internalError(name: string, e: unknown): void {
    // A bug must not take the server down with it; the client gets a named error.
    log("error", `command ${name} from ${this.addr} failed: ${(e as Error).stack ?? e}`);
    this.reply!.error(ErrorCode.INTERNAL, `ERR internal error in ${name}: ${(e as Error).message}`);
  }
}

/** Fills `args` from a CALL value (u32 BE length + bytes, repeated); false when malformed. */
function decodeCall(buf: Uint8Array, start: number, len: number, args: Args): boolean {
  let p = start;
  const end = start + len;
  while (p < end) {
    if (end - p < 4) return false;
    const n = readU32(buf, p);
    p += 4;
    if (n > end - p) return false;
    args.push(buf, p, n);
    p += n;
  }
  return args.length > 0;
}

/** Redis's text for an unknown command, with the first arguments quoted. */
function unknownCommand(args: Args): string {
  let rest = "";
  for (let i = 1; i < args.length && rest.length < 128; i++) rest += `'${args.text(i).slice(0, 128)}' `;
  return `ERR unknown command '${args.text(0).slice(0, 128)}', with args beginning with: ${rest}`;
}

/** The error for a key argument outside 1..255 bytes, or null. */
function badKey(spec: CommandSpec, args: Args): string | null {
  const [first, lastSpec, step] = spec.keys;
  if (first === 0) return null;
  const last = lastSpec < 0 ? args.length + lastSpec : lastSpec;
  for (let i = first; i <= last && i < args.length; i += step) {
    const n = args.size(i);
    if (n > MAX_KEY) return `ERR key is ${n} bytes; keys must be 1..${MAX_KEY} bytes`;
    if (n === 0) return `ERR empty key; keys must be 1..${MAX_KEY} bytes`;
  }
  return null;
}
