// FlushQueue: each marked connection flushed once per round, in marking order; a mark made during
// a round belongs to the next; and a round leaves no JSC cells behind (a Set's clear() left one).

import { expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { FlushQueue, type Flushable } from "../../../src/server/flush-queue.ts";

class Fake implements Flushable {
  inFlushQueue = false;
  constructor(readonly name: string, readonly log: string[], readonly again: () => void = () => {}) {}
  flush(): void {
    this.log.push(this.name);
    this.again();
  }
}

test("each marked connection is flushed once, in the order marked", () => {
  const log: string[] = [];
  const q = new FlushQueue<Fake>();
  const [a, b, c] = ["a", "b", "c"].map((n) => new Fake(n, log));
  q.add(b!);
  q.add(a!);
  q.add(b!);
  q.add(c!);
  q.flushAll();
  expect(log).toEqual(["b", "a", "c"]);
  q.flushAll();
  expect(log).toEqual(["b", "a", "c"]);
});

test("a connection marked again while flushing is flushed in the next round, not this one", () => {
  const log: string[] = [];
  const q = new FlushQueue<Fake>();
  let left = 1;
  const a: Fake = new Fake("a", log, () => {
    if (left-- > 0) q.add(a);
  });
  q.add(a);
  q.flushAll();
  expect(log).toEqual(["a"]);
  q.flushAll();
  expect(log).toEqual(["a", "a"]);
  q.flushAll();
  expect(log).toEqual(["a", "a"]);
});

test("rounds leave no cells behind: 20,000 rounds add fewer than 100 butterflies", () => {
  const q = new FlushQueue<Fake>();
  const log: string[] = [];
  const conns = Array.from({ length: 3 }, (_, i) => new Fake(`c${i}`, log));
  const butterflies = () => (heapStats().objectTypeCounts as Record<string, number>)["Cell Butterfly"] ?? 0;
  // The counter itself works: a Set cleared 1,000 times makes 1,000 such cells.
  const control = new Set<Fake>();
  const c0 = butterflies();
  for (let i = 0; i < 1_000; i++) {
    control.add(conns[0]!);
    control.clear();
  }
  expect(butterflies() - c0).toBeGreaterThanOrEqual(1_000);
  Bun.gc(true);
  const before = butterflies();
  for (let round = 0; round < 20_000; round++) {
    for (const c of conns) q.add(c);
    q.flushAll();
    log.length = 0;
  }
  // A Set cleared each round made one new storage cell per round (20,000 here).
  expect(butterflies() - before).toBeLessThan(100);
});
