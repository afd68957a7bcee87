// The index's growth: warmStep prepares the doubled table between ticks once the table is 5/8
// used, and the rebuild at 3/4 adopts it (whatever part is not warmed yet is written then); every
// entry is still found afterwards. Once resident, the entries are copied over in slices and kept in
// step with every change. A table that stops growing lets the prepared arrays go.

import { expect, test } from "bun:test";
import { EMPTY, Table } from "../../../src/store/table.ts";

/** A well-spread hash for entry k (the table takes hashes as given). */
const hashOf = (k: number) => Math.imul(k + 1, 0x9e3779b1) | 0;

/** The slot holding `handle` (inserted with hash h), or -1. */
function slotOf(t: Table, h: number, handle: number): number {
  for (let i = h & t.mask; t.handles[i] !== EMPTY; i = (i + 1) & t.mask) {
    if (t.handles[i] === handle && t.hashes[i] === h) return i;
  }
  return -1;
}

function find(t: Table, h: number, handle: number): boolean {
  return slotOf(t, h, handle) >= 0;
}

/** Removes entry k (must be present). */
function remove(t: Table, k: number): void {
  t.removeAt(slotOf(t, hashOf(k), k));
}

/** Replaces entry k's handle with `to` (same hash). */
function replace(t: Table, k: number, to: number): void {
  t.replaceAt(slotOf(t, hashOf(k), k), to);
}

function fill(t: Table, from: number, to: number): void {
  for (let k = from; k < to; k++) t.insert(hashOf(k), k);
}

/** A table of n slots, 5/8 used (entries 0 ..< 5n/8): where warmStep starts preparing. */
function fiveEighthsFull(n: number): Table {
  const t = new Table(n);
  fill(t, 0, (n * 5) / 8);
  return t;
}

/** Steps until every entry is copied into the prepared table (the switch then copies nothing). */
function copyAll(t: Table): void {
  while (t.preparing.copied < t.handles.length) t.warmStep();
}

function expectAll(t: Table, count: number): void {
  let missing = 0;
  for (let k = 0; k < count; k++) if (!find(t, hashOf(k), k)) missing++;
  expect(missing).toBe(0);
  expect(t.size).toBe(count);
}

test("below 5/8 used, warmStep prepares nothing", () => {
  const t = new Table(1024);
  fill(t, 0, 600); // 600/1024 < 5/8
  t.warmStep();
  expect(t.preparing).toEqual({ slots: 0, warmed: 0, copied: 0 });
});

test("past 5/8, warmStep prepares the doubled table in steps; the rebuild adopts it", () => {
  const n = 64 * 1024;
  const t = fiveEighthsFull(n);
  t.warmStep();
  expect(t.preparing.slots).toBe(2 * n);
  expect(t.preparing.warmed).toBeGreaterThan(0);
  expect(t.preparing.warmed).toBeLessThan(2 * n); // one step is a slice, not the whole table
  while (t.preparing.warmed < 2 * n) t.warmStep();
  const count = (n * 3) / 4 + 1; // the insert past 3/4 rebuilds
  fill(t, (n * 5) / 8, count);
  expect(t.handles.length).toBe(2 * n);
  expect(t.preparing).toEqual({ slots: 0, warmed: 0, copied: 0 });
  expectAll(t, count);
});

test("a rebuild before the warm-up finished writes the rest itself", () => {
  const n = 64 * 1024;
  const t = fiveEighthsFull(n);
  t.warmStep(); // one slice only
  const count = (n * 3) / 4 + 1;
  fill(t, (n * 5) / 8, count);
  expect(t.handles.length).toBe(2 * n);
  expectAll(t, count);
  // And the grown table goes on working: more entries, then removals.
  fill(t, count, count + 1000);
  expectAll(t, count + 1000);
});

test("a table that is mostly tombstones is rebuilt at the same size, without a prepared table", () => {
  const n = 1024;
  const t = new Table(n);
  fill(t, 0, 700);
  // Remove most entries: their slots become tombstones (used stays high, size drops).
  for (let k = 0; k < 500; k++) remove(t, k);
  t.warmStep();
  expect(t.preparing.slots).toBe(0);
});

test("a table that stops growing lets its prepared arrays go after 10 s, and prepares again when it grows", () => {
  const n = 64 * 1024;
  const t = fiveEighthsFull(n);
  t.warmStep(1_000);
  expect(t.preparing.slots).toBe(2 * n);
  t.warmStep(6_000); // no growth for 5 s: kept
  expect(t.preparing.slots).toBe(2 * n);
  t.warmStep(11_001); // no growth for over 10 s: let go
  expect(t.preparing).toEqual({ slots: 0, warmed: 0, copied: 0 });
  t.warmStep(20_000); // still not growing: nothing prepared
  expect(t.preparing.slots).toBe(0);
  fill(t, (n * 5) / 8, (n * 5) / 8 + 10);
  t.warmStep(20_001);
  expect(t.preparing.slots).toBe(2 * n);
  const count = (n * 3) / 4 + 1;
  fill(t, (n * 5) / 8 + 10, count);
  expect(t.handles.length).toBe(2 * n);
  expectAll(t, count);
});

test("entries are copied in slices and changes on both sides of the copy cursor are kept in step", () => {
  const n = 64 * 1024;
  const t = new Table(n);
  const start = (n * 5) / 8;
  fill(t, 0, start);
  while (t.preparing.warmed < 2 * n) t.warmStep();
  t.warmStep(); // first copy slice
  const copied = t.preparing.copied;
  expect(copied).toBeGreaterThan(0);
  expect(copied).toBeLessThan(n);
  // Changes while the copy is part way: removals, replacements and inserts, wherever they land.
  for (let k = 0; k < 2000; k++) remove(t, k);
  for (let k = 2000; k < 4000; k++) replace(t, k, k + 10_000_000);
  fill(t, start, start + 1000);
  t.warmStep(); // another slice, after the changes
  expect(t.preparing.copied).toBeGreaterThan(copied);
  fill(t, start + 1000, (n * 3) / 4 + 2000); // past 3/4: the switch copies the rest
  expect(t.handles.length).toBe(2 * n);
  expect(t.preparing).toEqual({ slots: 0, warmed: 0, copied: 0 });
  const end = (n * 3) / 4 + 2000;
  let wrong = 0;
  for (let k = 0; k < end; k++) {
    const want = k < 2000 ? -1 : k < 4000 ? k + 10_000_000 : k;
    const found = want >= 0 && find(t, hashOf(k), want);
    const gone = k < 2000 && !find(t, hashOf(k), k);
    if (want >= 0 ? !found : !gone) wrong++;
  }
  expect(wrong).toBe(0);
  expect(t.size).toBe(end - 2000);
  // The switched table keeps working, through removals and another growth.
  for (let k = 4000; k < 6000; k++) remove(t, k);
  fill(t, end, end + 60_000);
  expect(t.size).toBe(end - 4000 + 60_000);
  let missing = 0;
  for (let k = end; k < end + 60_000; k++) if (!find(t, hashOf(k), k)) missing++;
  expect(missing).toBe(0);
});

test("a full copy before the switch: the switch has nothing left to copy", () => {
  const n = 16 * 1024;
  const t = fiveEighthsFull(n);
  copyAll(t);
  const count = (n * 3) / 4 + 1;
  fill(t, (n * 5) / 8, count);
  expect(t.handles.length).toBe(2 * n);
  expectAll(t, count);
});

test("churn while the copy is kept in step: the switch still gives a sound table", () => {
  const n = 16 * 1024;
  const t = new Table(n);
  const live = new Set<number>();
  let next = 0;
  const add = (count: number) => {
    for (let i = 0; i < count; i++) {
      t.insert(hashOf(next), next);
      live.add(next++);
    }
  };
  add((n * 5) / 8);
  copyAll(t);
  // Many rounds of deleting old keys and adding new ones: the key count stays put, so the old
  // table does not rebuild, while removals leave tombstones in the copy.
  for (let round = 0; round < 40; round++) {
    let removed = 0;
    for (const k of live) {
      if (removed++ >= 1000) break;
      remove(t, k);
      live.delete(k);
    }
    add(1000);
    t.warmStep();
  }
  expect(t.handles.length).toBe(n); // not grown yet
  add((n * 3) / 4 - t.size + 1); // past 3/4: the switch
  expect(t.handles.length).toBe(2 * n);
  let missing = 0;
  for (const k of live) if (!find(t, hashOf(k), k)) missing++;
  expect(missing).toBe(0);
  expect(t.size).toBe(live.size);
  // Absent keys end their probe (an endless one would hang here), and the table keeps growing.
  for (let k = next; k < next + 1000; k++) expect(find(t, hashOf(k), k)).toBe(false);
  add(20_000);
  missing = 0;
  for (const k of live) if (!find(t, hashOf(k), k)) missing++;
  expect(missing).toBe(0);
});

test("a table that shrinks below the point of preparing lets the prepared arrays go", () => {
  const n = 16 * 1024;
  const t = fiveEighthsFull(n);
  copyAll(t);
  for (let k = 0; k < (n * 5) / 8 - n / 4; k++) remove(t, k); // size now n/4 < n/2
  t.warmStep();
  expect(t.preparing).toEqual({ slots: 0, warmed: 0, copied: 0 });
  for (let k = (n * 5) / 8 - n / 4; k < (n * 5) / 8; k++) expect(find(t, hashOf(k), k)).toBe(true);
});
