// Output queue: bytes leave in order and complete over partial writes, `pending` is exact, references keep their place.

import { describe, expect, test } from "bun:test";
import { Output, ZERO_COPY_MIN, type Writable } from "../../../src/protocol/output.ts";
import { mulberry32 as rng } from "../../support/rng.ts";

/** A socket that takes at most `limit` bytes per write; limit -1 = closed (returns -1), 0 = full. */
class FakeSocket implements Writable {
  readonly chunks: Uint8Array[] = [];
  /** The `data` argument of every write call. */
  readonly args: Uint8Array[] = [];
  readonly problems: string[] = [];
  calls = 0;
  /** Bytes taken so far. */
  sent = 0;
  constructor(public limit: number) {}

  write(data: Uint8Array, byteOffset: number, byteLength: number): number {
    this.calls++;
    this.args.push(data);
    if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > data.length) {
      this.problems.push(`write(${data.length}-byte array, ${byteOffset}, ${byteLength}) is out of bounds`);
    }
    if (this.limit < 0) return -1;
    const n = Math.min(this.limit, byteLength);
    this.chunks.push(data.slice(byteOffset, byteOffset + n));
    this.sent += n;
    return n;
  }


  bytes(): Uint8Array {
    return concat(this.chunks);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}


/** n bytes that differ from any other call's (seeded), so a misplaced or repeated chunk is visible. */
function pattern(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** Copies `data` into the batch the way the reply writers do: reserve, write into buf, set len. */
function put(out: Output, data: Uint8Array): void {
  const off = out.reserve(data.length);
  out.buf.set(data, off);
  out.len = off + data.length;
}

/**
 * Flushes until done, checking after every call that `pending` is exactly what has not reached the
 * socket and that flush() reported true exactly when nothing was left. Returns the number of calls.
 */
function drain(out: Output, sock: FakeSocket, total: number, maxCalls = 100_000): number {
  let calls = 0;
  for (;;) {
    const done = out.flush(sock);
    calls++;
    // Checked without expect() on the happy path: this runs once per write.
    if (out.pending !== total - sock.sent) {
      throw new Error(`after flush #${calls}: pending ${out.pending}, but ${total - sock.sent} bytes have not been sent`);
    }
    if (done !== (out.pending === 0)) throw new Error(`flush #${calls} returned ${done} with ${out.pending} pending`);
    if (done) return calls;
    if (calls > maxCalls) throw new Error(`not drained after ${calls} flush() calls; ${out.pending} pending`);
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe("Output", () => {
  test("empty: pending 0, flush() is true without writing", () => {
    const out = new Output();
    const sock = new FakeSocket(100);
    expect(out.pending).toBe(0);
    expect(out.flush(sock)).toBe(true);
    expect(sock.calls).toBe(0);
  });

  test("one batch goes out in one write when the socket takes it all", () => {
    const out = new Output();
    const a = pattern(10, 1);
    const b = pattern(300, 2);
    const c = pattern(5, 3);
    put(out, a);
    put(out, b);
    put(out, c);
    expect(out.pending).toBe(315);
    const sock = new FakeSocket(1 << 20);
    expect(out.flush(sock)).toBe(true);
    expect(sock.calls).toBe(1);
    expect(out.pending).toBe(0);
    expect(same(sock.bytes(), concat([a, b, c]))).toBe(true);
    // A second flush has nothing to send.
    expect(out.flush(sock)).toBe(true);
    expect(sock.calls).toBe(1);
  });

  test("a socket taking at most N bytes per write: in order, complete, pending exact, true only at the end", () => {
    for (const n of [1, 2, 7, 64, 999, 1000, 1001]) {
      const out = new Output();
      const parts = [pattern(1, 10), pattern(400, 11), pattern(599, 12)];
      for (const p of parts) put(out, p);
      const sock = new FakeSocket(n);
      const calls = drain(out, sock, 1000);
      expect(sock.problems).toEqual([]);
      expect(same(sock.bytes(), concat(parts))).toBe(true);
      expect(calls).toBe(Math.ceil(1000 / n));
      expect(sock.chunks.every((c) => c.length <= n && c.length > 0)).toBe(true);
    }
  });

  test("bytes added while earlier bytes wait come out after them", () => {
    const out = new Output();
    const sock = new FakeSocket(10);
    const a = pattern(100, 20);
    const b = pattern(100, 21);
    const c = pattern(50, 22);
    put(out, a);
    expect(out.flush(sock)).toBe(false);
    expect(out.pending).toBe(90);
    // If the batch buffer were reused while a's tail still waits in it, b would overwrite that tail.
    put(out, b);
    expect(out.pending).toBe(190);
    expect(out.flush(sock)).toBe(false);
    expect(out.pending).toBe(180);
    put(out, c);
    expect(out.pending).toBe(230);
    drain(out, sock, 250);
    expect(same(sock.bytes(), concat([a, b, c]))).toBe(true);
  });

  test("a closed socket (-1): flush() is false and nothing is lost or reordered", () => {
    const out = new Output();
    const a = pattern(50, 30);
    const b = pattern(70, 31);
    put(out, a);
    const closed = new FakeSocket(-1);
    expect(out.flush(closed)).toBe(false);
    expect(out.pending).toBe(50);

    // Now with bytes queued from a partial write, then -1 again.
    const slow = new FakeSocket(20);
    expect(out.flush(slow)).toBe(false);
    expect(out.pending).toBe(30);
    put(out, b);
    expect(out.flush(closed)).toBe(false);
    expect(out.flush(closed)).toBe(false);
    expect(out.pending).toBe(100);
    expect(closed.problems).toEqual([]);

    const good = new FakeSocket(1 << 20);
    expect(out.flush(good)).toBe(true);
    expect(out.pending).toBe(0);
    expect(same(concat([slow.bytes(), good.bytes()]), concat([a, b]))).toBe(true);
  });

  test("a socket that takes 0 bytes: flush() is false and pending unchanged", () => {
    const out = new Output();
    const a = pattern(40, 40);
    put(out, a);
    const full = new FakeSocket(0);
    for (let i = 0; i < 3; i++) {
      expect(out.flush(full)).toBe(false);
      expect(out.pending).toBe(40);
    }
    const good = new FakeSocket(1 << 20);
    expect(out.flush(good)).toBe(true);
    expect(same(good.bytes(), a)).toBe(true);
  });

  test("appendReference keeps its place between bytes reserved before and after it", () => {
    const a = pattern(30, 50);
    const r1 = pattern(ZERO_COPY_MIN, 51);
    const b = pattern(20, 52);
    const r2 = pattern(1000, 53);
    const r3 = pattern(7, 54);
    const c = pattern(10, 55);
    const want = concat([a, r1, b, r2, r3, c]);
    for (const n of [3, 25, 4096, 1 << 20]) {
      const out = new Output();
      put(out, a);
      out.appendReference(r1);
      expect(out.pending).toBe(30 + ZERO_COPY_MIN);
      put(out, b);
      out.appendReference(r2);
      out.appendReference(r3);
      put(out, c);
      expect(out.pending).toBe(want.length);
      const sock = new FakeSocket(n);
      drain(out, sock, want.length);
      expect(sock.problems).toEqual([]);
      expect({ n, ok: same(sock.bytes(), want) }).toEqual({ n, ok: true });
    }
  });

  test("appendReference first, and bytes reserved after a partial write of a reference", () => {
    const out = new Output();
    const r = pattern(100, 60);
    const a = pattern(10, 61);
    const b = pattern(10, 62);
    out.appendReference(r);
    put(out, a);
    const sock = new FakeSocket(40);
    expect(out.flush(sock)).toBe(false);
    expect(out.pending).toBe(70);
    put(out, b);
    expect(out.pending).toBe(80);
    drain(out, sock, 120);
    expect(same(sock.bytes(), concat([r, a, b]))).toBe(true);
  });

  test("a reference is handed to the socket as is, not copied", () => {
    const out = new Output();
    const head = pattern(6, 70);
    const r = pattern(ZERO_COPY_MIN, 71);
    put(out, head);
    out.appendReference(r);
    const sock = new FakeSocket(1 << 20);
    expect(out.flush(sock)).toBe(true);
    expect(sock.args.length).toBe(2);
    expect(sock.args[1]).toBe(r);
    expect(same(sock.bytes(), concat([head, r]))).toBe(true);
  });

  test("reserve() returns the current length and keeps earlier bytes when the buffer grows", () => {
    const out = new Output();
    const a = pattern(10, 80);
    put(out, a);
    const initial = out.buf.length;
    const big = pattern(initial * 3, 81);
    const off = out.reserve(big.length);
    expect(off).toBe(10);
    expect(out.buf.length).toBeGreaterThanOrEqual(10 + big.length);
    expect(same(out.buf.subarray(0, 10), a)).toBe(true);
    out.buf.set(big, off);
    out.len = off + big.length;
    // reserve() alone does not change what is pending.
    expect(out.reserve(5)).toBe(10 + big.length);
    expect(out.pending).toBe(10 + big.length);
    const sock = new FakeSocket(5000);
    drain(out, sock, 10 + big.length);
    expect(same(sock.bytes(), concat([a, big]))).toBe(true);
  });

  test("a batch buffer grown past 1 MiB is not kept after it is sent", () => {
    const out = new Output();
    const big = pattern(2 * 1024 * 1024, 90);
    put(out, big);
    expect(out.buf.length).toBeGreaterThanOrEqual(big.length);
    const sock = new FakeSocket(1 << 30);
    expect(out.flush(sock)).toBe(true);
    expect(out.buf.length).toBeLessThanOrEqual(1024 * 1024);
    // And it still works afterwards.
    const a = pattern(100, 91);
    put(out, a);
    expect(out.flush(sock)).toBe(true);
    expect(same(sock.bytes(), concat([big, a]))).toBe(true);
  });

  test("random interleavings of reserve, appendReference and flush match a simple model", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const out = new Output();
      const sock = new FakeSocket(0);
      const want: Uint8Array[] = [];
      let total = 0;
      for (let step = 0; step < 60; step++) {
        const x = r();
        if (x < 0.4) {
          const n = r() < 0.05 ? 20_000 + Math.floor(r() * 20_000) : Math.floor(r() * 300);
          const data = pattern(n, seed * 1000 + step);
          put(out, data);
          want.push(data);
          total += n;
        } else if (x < 0.6) {
          // Output does not look at a reference's size; a few large ones exercise long partial writes.
          const n = r() < 0.05 ? ZERO_COPY_MIN : Math.floor(r() * 500);
          const data = pattern(n, seed * 1000 + step);
          out.appendReference(data);
          want.push(data);
          total += n;
        } else {
          const y = r();
          sock.limit = y < 0.1 ? -1 : y < 0.2 ? 0 : y < 0.6 ? 1 + Math.floor(r() * 50) : 1 + Math.floor(r() * 100_000);
          const done = out.flush(sock);
          expect(done).toBe(out.pending === 0);
        }
        expect(out.pending).toBe(total - sock.sent);
      }
      sock.limit = 1 + Math.floor(r() * 5000);
      drain(out, sock, total);
      expect(sock.problems).toEqual([]);
      expect({ seed, ok: same(sock.bytes(), concat(want)) }).toEqual({ seed, ok: true });
    }
  });
});
