// Backlog: a ring addressed by stream offset; what it says it covers is exactly what it returns,
// across wrap-arounds and appends larger than the ring.

import { describe, expect, test } from "bun:test";
import { Backlog } from "../../../src/replication/backlog.ts";
import { Rng } from "../../support/rng.ts";

describe("Backlog", () => {
  test("random appends: covers() and readFrom() agree with a plain copy of the stream", () => {
    const rng = new Rng(11);
    const size = 1000;
    const base = 123_456;
    const b = new Backlog(size, base);
    const stream: number[] = [];
    for (let round = 0; round < 500; round++) {
      const n = rng.chance(0.05) ? rng.int(size, size * 3) : rng.int(0, 300);
      const chunk = new Uint8Array(n);
      for (let i = 0; i < n; i++) chunk[i] = (stream.length + i) * 7 & 255;
      b.append(chunk);
      stream.push(...chunk);
      expect(b.end).toBe(base + stream.length);
      expect(b.histlen).toBe(Math.min(size, stream.length));
      const from = b.end - rng.int(0, b.histlen);
      expect(b.covers(from)).toBe(true);
      expect([...b.readFrom(from)]).toEqual(stream.slice(from - base));
      const max = rng.int(1, 50);
      expect([...b.readFrom(from, max)]).toEqual(stream.slice(from - base, from - base + max));
      expect(b.covers(b.start - 1)).toBe(false);
      expect(b.covers(b.end + 1)).toBe(false);
    }
  });

  test("reading outside what is held throws instead of returning wrong bytes", () => {
    const b = new Backlog(16, 0);
    b.append(new Uint8Array(40));
    expect(b.start).toBe(24);
    expect(() => b.readFrom(10)).toThrow(/not in the backlog/);
  });
});
