// RESP e2e helpers: a RESP2 reply parser, a minimal pipelining RESP client over Bun.connect, and
// raw byte exchanges.

import type { Socket } from "bun";

export const enc = new TextEncoder();
export const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

export class RespError extends Error {
  override name = "RespError";
}

export type RespValue = string | number | Uint8Array | null | RespError | RespValue[];

/** Parses one RESP2 value at `pos`: [value, end], or null when more bytes are needed. */
export function parseReply(b: Uint8Array, pos: number): [RespValue, number] | null {
  if (pos >= b.length) return null;
  let nl = -1;
  for (let i = pos + 1; i + 1 < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] === 0x0a) {
      nl = i;
      break;
    }
  }
  if (nl < 0) return null;
  const line = latin1(b.subarray(pos + 1, nl));
  const after = nl + 2;
  switch (b[pos]) {
    case 0x2b: // +
      return [line, after];
    case 0x2d: // -
      return [new RespError(line), after];
    case 0x3a: // :
      return [Number(line), after];
    case 0x24: { // $
      const n = Number(line);
      if (n < 0) return [null, after];
      if (b.length < after + n + 2) return null;
      return [b.slice(after, after + n), after + n + 2];
    }
    case 0x2a: { // *
      const n = Number(line);
      if (n < 0) return [null, after];
      const out: RespValue[] = [];
      let p = after;
      for (let i = 0; i < n; i++) {
        const r = parseReply(b, p);
        if (r === null) return null;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default:
      throw new Error(`not a RESP reply at byte ${pos}: ${JSON.stringify(latin1(b.subarray(pos, pos + 32)))}`);
  }
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const bytes = typeof a === "string" ? enc.encode(a) : a;
    parts.push(enc.encode(`$${bytes.length}\r\n`), bytes, enc.encode("\r\n"));
  }
  return Buffer.concat(parts);
}

/** Reads a bulk reply as text (null stays null); throws on anything else. */
export function str(v: RespValue): string | null {
  if (v === null) return null;
  if (v instanceof Uint8Array) return latin1(v);
  if (typeof v === "string") return v;
  throw new Error(`expected a string reply, got ${v instanceof RespError ? `error ${v.message}` : JSON.stringify(v)}`);
}

/** Grows a byte buffer (amortised). */
class ByteBuf {
  buf = new Uint8Array(64 * 1024);
  len = 0;
  push(d: Uint8Array): void {
    if (this.len + d.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + d.length));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(d, this.len);
    this.len += d.length;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
  consume(n: number): void {
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
  }
}

/** Writes everything, queueing what the socket did not take until `drain`. */
class Writer {
  private queue: Uint8Array[] = [];
  constructor(private readonly sock: () => Socket<unknown> | null) {}
  write(d: Uint8Array): void {
    const s = this.sock();
    if (s === null || this.queue.length > 0) {
      this.queue.push(d);
      return;
    }
    const n = s.write(d);
    if (n < d.length) this.queue.push(d.subarray(Math.max(n, 0)));
  }
  drain(): void {
    const s = this.sock();
    if (s === null) return;
    while (this.queue.length > 0) {
      const d = this.queue[0]!;
      const n = s.write(d);
      if (n < d.length) {
        this.queue[0] = d.subarray(Math.max(n, 0));
        return;
      }
      this.queue.shift();
    }
  }
}

/** A minimal RESP2 client: commands may be pipelined; replies resolve in order. */
export class RespConn {
  private readonly inbox = new ByteBuf();
  private readonly waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void }[] = [];
  private readonly writer: Writer;
  private sock: Socket<undefined> | null = null;
  private closedResolve!: () => void;
  /** Resolves when the server closes the connection (or we do). */
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));
  isClosed = false;

  private constructor() {
    this.writer = new Writer(() => this.sock as Socket<unknown> | null);
  }

  static async open(port: number, host = "127.0.0.1"): Promise<RespConn> {
    const c = new RespConn();
    c.sock = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, d) => c.onData(d),
        drain: () => c.writer.drain(),
        close: () => c.onClose(),
        error: () => c.onClose(),
      },
    });
    return c;
  }

  /** Sends one command; the promise resolves with its reply (an error reply resolves as RespError). */
  call(...args: (string | Uint8Array)[]): Promise<RespValue> {
    return this.callRaw(encodeCommand(args));
  }

  /** Sends bytes that make exactly one request and waits for its reply. */
  callRaw(bytes: Uint8Array): Promise<RespValue> {
    if (this.isClosed) return Promise.reject(new Error("connection closed"));
    const p = new Promise<RespValue>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.writer.write(bytes);
    return p;
  }

  close(): void {
    this.sock?.end();
  }

  private onData(d: Uint8Array): void {
    this.inbox.push(d);
    const view = this.inbox.view();
    let pos = 0;
    for (;;) {
      const r = parseReply(view, pos);
      if (r === null) break;
      pos = r[1];
      const w = this.waiting.shift();
      if (w === undefined) throw new Error(`unsolicited reply ${JSON.stringify(r[0])}`);
      w.resolve(r[0]);
    }
    if (pos > 0) this.inbox.consume(pos);
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error("connection closed before the reply"));
    this.closedResolve();
  }
}

export interface RawExchange {
  /** Everything received, as latin1 text. */
  text: string;
  /** True when the server closed the connection. */
  closed: boolean;
}

/**
 * Connects, writes each chunk (pausing `gapMs` between chunks so they arrive as separate reads),
 * then collects bytes until `expect(text)` holds, the server closes, or `timeoutMs` passes; then
 * `settleMs` more, and closes.
 */
export async function rawExchange(
  port: number,
  chunks: (string | Uint8Array)[],
  opts: { expect?: (text: string) => boolean; gapMs?: number; timeoutMs?: number; settleMs?: number } = {},
): Promise<RawExchange> {
  let text = "";
  let closed = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        text += latin1(d);
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  for (const c of chunks) {
    const bytes = typeof c === "string" ? Buffer.from(c, "latin1") : c;
    let off = 0;
    while (off < bytes.length) {
      const n = sock.write(bytes.subarray(off));
      off += Math.max(n, 0);
      if (off < bytes.length) await Bun.sleep(1);
    }
    if (opts.gapMs !== undefined) await Bun.sleep(opts.gapMs);
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 2000);
  while (!closed && Date.now() < deadline && !(opts.expect?.(text) ?? false)) await Bun.sleep(5);
  // Extra bytes or a close that follows the expected reply show up within settleMs.
  if (opts.settleMs !== undefined) await Bun.sleep(opts.settleMs);
  // Captured before our own end(), whose close event would otherwise count as the server's.
  const result = { text, closed };
  sock.end();
  return result;
}

export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 3000, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(stepMs);
  }
}
