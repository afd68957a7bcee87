// IdleCollector: one collection when input (almost) stops after IDLE_GC_BYTES or more, none while
// input flows, none after a small burst, and the count starts again after each collection.

import { expect, test } from "bun:test";
import { IDLE_GC_BYTES, IdleCollector, QUIET_BYTES } from "../../../src/server/idle-gc.ts";

test("collects once when a large burst of input stops, never while input flows", () => {
  let collected = 0;
  const gc = new IdleCollector(() => collected++);
  let total = 0;
  // 80 MiB arriving over 8 intervals: input every interval, so no collection yet.
  for (let i = 0; i < 8; i++) {
    total += 10 * 1024 * 1024;
    expect(gc.tick(total)).toBe(false);
  }
  expect(collected).toBe(0);
  // The first quiet interval collects (a little input, such as an INFO, is still quiet); the
  // next quiet ones do not.
  total += QUIET_BYTES - 1;
  expect(gc.tick(total)).toBe(true);
  expect(gc.tick(total)).toBe(false);
  expect(gc.tick(total)).toBe(false);
  expect(collected).toBe(1);
});

test("a burst under the threshold never collects; bursts add up until one does", () => {
  let collected = 0;
  const gc = new IdleCollector(() => collected++);
  const half = IDLE_GC_BYTES / 2;
  let total = half - 1;
  gc.tick(total);
  expect(gc.tick(total)).toBe(false); // quiet, but under the threshold
  total += half;
  gc.tick(total);
  expect(gc.tick(total)).toBe(false); // one byte short
  total += 1; // the last byte arrives in a quiet interval
  expect(gc.tick(total)).toBe(true);
  expect(collected).toBe(1);
});

test("the default collection is a real full collection (Bun.gc(true))", () => {
  const gc = new IdleCollector();
  gc.tick(IDLE_GC_BYTES);
  const original = Bun.gc;
  const calls: boolean[] = [];
  Bun.gc = ((force?: boolean) => {
    calls.push(force === true);
  }) as typeof Bun.gc;
  try {
    expect(gc.tick(IDLE_GC_BYTES)).toBe(true);
  } finally {
    Bun.gc = original;
  }
  expect(calls).toEqual([true]);
});
