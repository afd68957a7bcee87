// RESP e2e helpers: a RESP2 reply parser, a minimal pipelining RESP client over Bun.connect, raw
// byte exchanges, and the HELLO adapter that lets Bun's RESP3-only RedisClient reach microdb.
//
// Why the adapter: Bun's RedisClient (1.4.x) opens every connection with `HELLO 3 [AUTH u p]` and
// gives up unless that succeeds (a RESP3 map or +OK); microdb speaks RESP2 only and answers
// `-NOPROTO`, so the client cannot connect directly (see the test.failing in
// resp-commands.test.ts). The adapter rewrites only the first request (HELLO 3 -> HELLO 2, AUTH
// kept, so microdb really checks the password) and the first reply (the HELLO 2 array -> +OK; an
// error reply passes unchanged); every later byte is relayed untouched, both ways.

import type { Socket, TCPSocketListener } from "bun";

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
 * then collects bytes until `expect(text)` holds, the server closes, or `timeoutMs` passes.
 */
export async function rawExchange(
  port: number,
  chunks: (string | Uint8Array)[],
  opts: { expect?: (text: string) => boolean; gapMs?: number; timeoutMs?: number; keepOpen?: boolean } = {},
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
  if (!opts.keepOpen) sock.end();
  return { text, closed };
}

/** Parses the first RESP command in `b` as its argument list: [args, end], or null if incomplete. */
function parseCommand(b: Uint8Array): [Uint8Array[], number] | null {
  const r = parseReply(b, 0); // a request array has a reply's shape
  if (r === null) return null;
  const [v, end] = r;
  if (!Array.isArray(v) || !v.every((x) => x instanceof Uint8Array)) throw new Error("HELLO adapter: first request is not a RESP array");
  return [v as Uint8Array[], end];
}

interface AdapterConn {
  up: Socket<undefined> | null;
  toUp: Writer;
  toDown: Writer;
  /** Client bytes before the first request was rewritten and the upstream connected. */
  head: ByteBuf;
  rewritten: boolean;
}

export interface HelloAdapter {
  readonly port: number;
  /** Connections the adapter accepted so far. */
  readonly accepted: () => number;
  stop(): void;
}

/**
 * Listens on a free port and relays each connection to microdb at `upstreamPort`, rewriting only
 * the HELLO handshake (see the header comment).
 */
export function helloAdapter(upstreamPort: number): HelloAdapter {
  let accepted = 0;
  const conns = new Set<Socket<AdapterConn>>();
  const listener: TCPSocketListener<AdapterConn> = Bun.listen<AdapterConn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(down) {
        accepted++;
        conns.add(down);
        const st: AdapterConn = {
          up: null,
          toUp: new Writer(() => st.up as Socket<unknown> | null),
          toDown: new Writer(() => down as Socket<unknown>),
          head: new ByteBuf(),
          rewritten: false,
        };
        down.data = st;
        let firstReply: ByteBuf | null = new ByteBuf();
        void Bun.connect({
          hostname: "127.0.0.1",
          port: upstreamPort,
          socket: {
            data(_u, d) {
              if (firstReply === null) return st.toDown.write(new Uint8Array(d));
              firstReply.push(d);
              const view = firstReply.view();
              const r = parseReply(view, 0);
              if (r === null) return;
              const [v, end] = r;
              // A successful HELLO 2 is an array; Bun's client accepts +OK as a successful HELLO.
              const head = Array.isArray(v) ? enc.encode("+OK\r\n") : view.slice(0, end);
              st.toDown.write(head);
              if (end < view.length) st.toDown.write(view.slice(end));
              firstReply = null;
            },
            drain() {
              st.toUp.drain();
            },
            close() {
              down.end();
            },
            error() {
              down.end();
            },
          },
        }).then(
          (up) => {
            st.up = up;
            st.toUp.drain();
          },
          () => down.end(),
        );
      },
      data(down, d) {
        const st = down.data;
        if (st.rewritten) return st.toUp.write(new Uint8Array(d));
        st.head.push(d);
        const parsed = parseCommand(st.head.view());
        if (parsed === null) return;
        const [args, end] = parsed;
        const rest = st.head.view().slice(end);
        st.rewritten = true;
        if (args.length >= 2 && latin1(args[0]!).toUpperCase() === "HELLO" && latin1(args[1]!) === "3") {
          args[1] = enc.encode("2");
        }
        st.toUp.write(encodeCommand(args));
        if (rest.length > 0) st.toUp.write(rest);
      },
      drain(down) {
        down.data.toDown.drain();
      },
      close(down) {
        conns.delete(down);
        down.data.up?.end();
      },
      error(down) {
        down.data.up?.end();
      },
    },
  });
  return {
    port: listener.port,
    accepted: () => accepted,
    stop() {
      for (const c of conns) c.end();
      listener.stop(true);
    },
  };
}

/** Polls `fn` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 3000, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(stepMs);
  }
}
