// RespReply: byte-for-byte RESP2 encoding of every reply kind into an Output (large values by reference), and writeDigits.

import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../../../src/protocol/binary.ts";
import { Output, ZERO_COPY_MIN, type Writable } from "../../../src/protocol/output.ts";
import { RespReply, writeDigits } from "../../../src/server/resp-reply.ts";
import { xorshiftBytes } from "../../support/rng.ts";

/** Strings are latin1: one char per byte. */
function b(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

function cat(...parts: (string | Uint8Array)[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === "string" ? b(p) : p))));
}

/** A socket taking at most `limit` bytes per write; keeps every byte and every `data` argument. */
class FakeSocket implements Writable {
  readonly chunks: Uint8Array[] = [];
  readonly args: Uint8Array[] = [];
  constructor(private readonly limit = Number.MAX_SAFE_INTEGER) {}
  write(data: Uint8Array, byteOffset: number, byteLength: number): number {
    if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > data.length) throw new Error("write out of bounds");
    this.args.push(data);
    const n = Math.min(this.limit, byteLength);
    this.chunks.push(data.slice(byteOffset, byteOffset + n));
    return n;
  }
  bytes(): Uint8Array {
    return cat(...this.chunks);
  }
}

/** Everything the replies produced, as it reaches a socket. */
function drain(out: Output, limit?: number): { bytes: Uint8Array; sock: FakeSocket } {
  const sock = new FakeSocket(limit);
  for (let i = 0; !out.flush(sock); i++) if (i > 1_000_000) throw new Error("flush never finished");
  expect(out.pending).toBe(0);
  return { bytes: sock.bytes(), sock };
}

/** Runs `fn` against a fresh reply and returns the bytes as a latin1 string. */
function encode(fn: (r: RespReply) => void): string {
  const out = new Output();
  fn(new RespReply(out));
  return Buffer.from(drain(out).bytes).toString("latin1");
}

const pattern = xorshiftBytes;

const same = (x: Uint8Array, y: Uint8Array): boolean => Buffer.from(x).equals(Buffer.from(y));

describe("RespReply", () => {
  test("ok and nil", () => {
    expect(encode((r) => r.ok())).toBe("+OK\r\n");
    expect(encode((r) => r.nil())).toBe("$-1\r\n");
  });

  test("status: simple string; CR and LF become spaces; UTF-8 bytes", () => {
    expect(encode((r) => r.status("PONG"))).toBe("+PONG\r\n");
    expect(encode((r) => r.status(""))).toBe("+\r\n");
    expect(encode((r) => r.status("a\r\nb\rc\nd"))).toBe("+a  b c d\r\n");
    expect(encode((r) => r.status("é€"))).toBe("+" + Buffer.from("é€", "utf8").toString("latin1") + "\r\n");
  });

  test("error: '-' line with the message; CR/LF inside become spaces; the code is not on the wire", () => {
    expect(encode((r) => r.error(ErrorCode.BAD_ARGUMENTS, "ERR syntax error"))).toBe("-ERR syntax error\r\n");
    expect(encode((r) => r.error(ErrorCode.UNKNOWN_COMMAND, "ERR bad\r\nthing\rx\ny"))).toBe("-ERR bad  thing x y\r\n");
    expect(encode((r) => r.error(ErrorCode.READONLY, "READONLY You can't write against a read only replica."))).toBe(
      "-READONLY You can't write against a read only replica.\r\n",
    );
  });

  test("integer: 0, small, negative, 2^53-1 and -(2^53-1)", () => {
    expect(encode((r) => r.integer(0))).toBe(":0\r\n");
    expect(encode((r) => r.integer(7))).toBe(":7\r\n");
    expect(encode((r) => r.integer(10))).toBe(":10\r\n");
    expect(encode((r) => r.integer(-1))).toBe(":-1\r\n");
    expect(encode((r) => r.integer(-10))).toBe(":-10\r\n");
    expect(encode((r) => r.integer(1234567890))).toBe(":1234567890\r\n");
    expect(encode((r) => r.integer(Number.MAX_SAFE_INTEGER))).toBe(":9007199254740991\r\n");
    expect(encode((r) => r.integer(-Number.MAX_SAFE_INTEGER))).toBe(":-9007199254740991\r\n");
  });

  test("arrays, empty and nested", () => {
    expect(encode((r) => r.array(0))).toBe("*0\r\n");
    expect(
      encode((r) => {
        r.array(3);
        r.integer(1);
        r.array(2);
        r.value(b("a"));
        r.nil();
        r.array(0);
      }),
    ).toBe("*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n*0\r\n");
  });

  test("value: empty, binary (all 256 byte values, CR LF inside), copied when small", () => {
    expect(encode((r) => r.value(new Uint8Array(0)))).toBe("$0\r\n\r\n");
    const all = new Uint8Array(256).map((_, i) => i);
    const out = new Output();
    const r = new RespReply(out);
    r.value(all);
    r.value(b("x\r\ny"));
    all.fill(0); // a small value is copied into the batch at once
    expect(same(drain(out).bytes, cat("$256\r\n", new Uint8Array(256).map((_, i) => i), "\r\n", "$4\r\nx\r\ny\r\n"))).toBe(true);
  });

  test("text: the UTF-8 bytes as a bulk string, length in bytes", () => {
    const s = "héllo €, 𝄞";
    const u = Buffer.from(s, "utf8");
    expect(encode((r) => r.text(s))).toBe(`$${u.length}\r\n${u.toString("latin1")}\r\n`);
    expect(encode((r) => r.text(""))).toBe("$0\r\n\r\n");
  });

  test("value just under ZERO_COPY_MIN is copied into the batch", () => {
    const v = pattern(ZERO_COPY_MIN - 1, 5);
    const out = new Output();
    new RespReply(out).value(v);
    expect(out.len).toBe(`$${v.length}\r\n`.length + v.length + 2);
    const want = cat(`$${v.length}\r\n`, v, "\r\n");
    v.fill(0);
    const { bytes, sock } = drain(out);
    expect(same(bytes, want)).toBe(true);
    expect(sock.args.includes(v)).toBe(false);
  });

  test("a value >= 64 KiB is queued by reference, in its place in the stream", () => {
    const big = pattern(ZERO_COPY_MIN, 9);
    const big2 = pattern(200_000, 10);
    const out = new Output();
    const r = new RespReply(out);
    r.ok();
    r.value(big);
    expect(out.len).toBe(2); // only the trailing CRLF is in the fresh batch; header and value are queued
    r.integer(-5);
    r.value(big2);
    r.status("done");
    const want = cat("+OK\r\n", `$${ZERO_COPY_MIN}\r\n`, big, "\r\n:-5\r\n", "$200000\r\n", big2, "\r\n+done\r\n");
    expect(out.pending).toBe(want.length);
    // By reference: a change to the value before it is sent is what goes out.
    big[0] = big[0]! ^ 0xff;
    want[5 + `$${ZERO_COPY_MIN}\r\n`.length] = big[0]!;
    const { bytes, sock } = drain(out);
    expect(bytes.length).toBe(want.length);
    expect(same(bytes, want)).toBe(true);
    expect(sock.args.includes(big)).toBe(true);
    expect(sock.args.includes(big2)).toBe(true);
  });

  test("the same stream through a socket taking 1000 bytes per write", () => {
    const big = pattern(100_000, 3);
    const out = new Output();
    const r = new RespReply(out);
    r.array(2);
    r.value(big);
    r.text("ü");
    const want = cat("*2\r\n$100000\r\n", big, "\r\n$2\r\n\xc3\xbc\r\n");
    expect(same(drain(out, 1000).bytes, want)).toBe(true);
  });

  test("many small replies grow the batch past its first buffer without losing bytes", () => {
    const out = new Output();
    const r = new RespReply(out);
    let want = "";
    for (let i = 0; i < 5000; i++) {
      r.integer(i * 7919 - 100_000);
      want += `:${i * 7919 - 100_000}\r\n`;
      r.value(b(`v${i}`));
      want += `$${`v${i}`.length}\r\nv${i}\r\n`;
    }
    expect(want.length).toBeGreaterThan(16 * 1024);
    expect(Buffer.from(drain(out).bytes).toString("latin1")).toBe(want);
  });
});

describe("writeDigits", () => {
  function check(n: number, problems: string[]): void {
    const buf = new Uint8Array(40).fill(0xaa);
    const end = writeDigits(buf, 3, n);
    const want = String(n);
    const got = Buffer.from(buf.subarray(3, end)).toString("latin1");
    if (got !== want || end !== 3 + want.length) problems.push(`${n}: wrote "${got}" ending at ${end}`);
    else if (buf[2] !== 0xaa || buf[end] !== 0xaa) problems.push(`${n}: wrote outside its digits`);
  }

  test("matches String(n) for many integers within ±(2^53-1)", () => {
    const ns: number[] = [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, -0];
    for (let i = -1000; i <= 1000; i++) ns.push(i);
    for (let p = 1; p <= 1e15; p *= 10) ns.push(p - 1, p, p + 1, -p + 1, -p, -p - 1);
    for (let k = 0; k < 53; k++) ns.push(2 ** k - 1, 2 ** k, -(2 ** k));
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const hi = x & 0x1fffff;
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const n = hi * 2 ** 32 + x; // up to 2^53-1
      ns.push(i % 2 === 0 ? n : -n, n % 1_000_000);
    }
    const problems: string[] = [];
    for (const n of ns) check(n, problems);
    expect(problems.slice(0, 10)).toEqual([]);
  });
});
