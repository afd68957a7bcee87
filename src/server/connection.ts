// One client connection: input framing, command dispatch, ordered replies and backpressure.
//
// Bytes go through the connection's RequestReader; each complete frame runs its command at once
// (commands are atomic: one event loop) and its reply is appended to the Output batch, so replies
// leave in request order. The batch goes out at the end of the tick, after the AOF write (group
// commit); with appendfsync=always it waits until the AOF is fsynced past this client's last write.
// When unsent output passes client_output_limit the reader pauses after the current frame and the
// socket stops reading; `drain` sends the rest and resumes both. A command that must wait (SAVE)
// pauses this client's reader until it replies. A refused frame gets an error and the connection
// goes on; lost framing gets an error, then the connection closes once it is sent.

import type { Socket } from "bun";
import { BY_OP, type CommandContext } from "../commands/table.ts";
import { EMPTY, ErrorCode, RequestReader, type ErrorCodeValue, type RequestLimits, type RequestSink } from "../protocol/binary.ts";
import { keyFromBytes } from "../store/keys.ts";
import { log } from "../log.ts";
import { BinaryReply } from "./binary-reply.ts";
import { Output } from "../protocol/output.ts";

export interface ConnectionHost {
  readonly context: CommandContext;
  readonly limits: RequestLimits;
  readonly outputLimit: number;
  /** Called for each command run (stats). */
  countCommand(): void;
  countBytes(input: number, output: number): void;
  /** Flush this connection at the end of the tick, after the AOF batch is written. */
  scheduleFlush(conn: Connection): void;
  /** The AOF position replies must wait for after a write (0 when replies need not wait). */
  holdAfterWrite(): number;
  /** True when everything before `pos` is durable; otherwise arranges conn.flush() for when it is. */
  durableOrWait(pos: number, conn: Connection): boolean;
}

let nextId = 1;

export class Connection implements RequestSink {
  readonly id = nextId++;
  readonly out = new Output();
  private readonly reply = new BinaryReply(this.out);
  private readonly reader: RequestReader;
  /** Close once everything queued has been sent (lost framing, refused connection). */
  private closing = false;
  private closed = false;
  private readPaused = false;
  /** A command of this client is still running (SAVE); later requests wait. */
  private waiting = false;
  /** Replies may not leave before the AOF is durable up to here. */
  private holdPos = 0;

  constructor(private readonly host: ConnectionHost, readonly socket: Socket<Connection>) {
    this.reader = new RequestReader(host.limits, this);
  }

  get addr(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  onData(chunk: Uint8Array): void {
    if (this.closing || this.closed) return;
    this.host.countBytes(chunk.length, 0);
    this.reader.feed(chunk);
    this.host.scheduleFlush(this);
  }

  onDrain(): void {
    this.flush();
  }

  onClose(): void {
    this.closed = true;
  }

  /** Sends an error and closes: used for refusals before any command runs (max_clients). */
  refuse(code: ErrorCodeValue, message: string): void {
    this.reply.error(code, message);
    this.closing = true;
    this.flush();
  }

  /** Shutdown: stop taking requests; what was read is answered by the final flush. */
  stopReading(): void {
    this.socket.pause();
    this.closing = true;
  }

  onRequest(op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number): boolean {
    const spec = BY_OP[op]!; // the reader only passes opcodes from the table
    const ctx = this.host.context;
    this.host.countCommand();
    if (spec.write) {
      const refused = ctx.writeError();
      if (refused !== null) {
        this.reply.error(ErrorCode.MISCONF, refused);
        return this.out.pending < this.host.outputLimit;
      }
    }
    const key = keyLen === 0 ? "" : keyFromBytes(buf, keyStart, keyLen);
    const valueStart = keyStart + keyLen;
    const value = valueLen === 0 ? EMPTY : buf.subarray(valueStart, valueStart + valueLen);
    try {
      const pending = spec.run(ctx, key, value, this.reply);
      if (pending !== undefined) return this.await(spec.name, pending);
    } catch (e) {
      this.internalError(spec.name, e);
    }
    if (spec.write) {
      const hold = this.host.holdAfterWrite();
      if (hold > this.holdPos) this.holdPos = hold;
    }
    return this.out.pending < this.host.outputLimit;
  }

  onRequestError(code: ErrorCodeValue, message: string, fatal: boolean): boolean {
    this.reply.error(code, message);
    if (fatal) this.closing = true;
    return this.out.pending < this.host.outputLimit;
  }

  /** Sends what may be sent now, and resumes reading when the client has caught up. */
  flush(): void {
    if (this.closed) return;
    if (this.holdPos > 0 && !this.host.durableOrWait(this.holdPos, this)) return;
    const before = this.out.pending;
    const done = this.out.flush(this.socket);
    this.host.countBytes(0, before - this.out.pending);
    if (!done) {
      // Stop reading while a paused reader holds input or the output is over its limit.
      if (!this.readPaused && (this.reader.isPaused || this.out.pending >= this.host.outputLimit)) {
        this.readPaused = true;
        this.socket.pause();
      }
      return;
    }
    if (this.closing) {
      if (!this.waiting) this.socket.end();
      return;
    }
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    if (this.reader.isPaused && !this.waiting) {
      // Parse what was held back; its replies go out with the next tick's flush.
      this.reader.resume();
      this.host.scheduleFlush(this);
    }
  }

  private await(name: string, pending: Promise<void>): boolean {
    this.waiting = true;
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
    this.reply.error(ErrorCode.INTERNAL, `ERR internal error in ${name}: ${(e as Error).message}`);
  }
}
