// The snapshot writer's slices: each one the event loop gives to a snapshot is bounded in bytes
// (256 KiB of copied entries, as well as SLICE_BUDGET_MS), so that no client waits out a long copy. The
// time budget is lifted here so that the byte bound alone ends the slices.

import { expect, test } from "bun:test";
import { SNAPSHOT_FOOTER, SNAPSHOT_HEADER, writeSnapshotStream } from "../../../src/persistence/snapshot.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";

const BOUND = 256 * 1024;

/** The bytes of each slice (each sink write) of a snapshot of `n` keys with `size`-byte values. */
async function slices(n: number, size: number): Promise<{ slices: number[]; entry: number }> {
  const ks = new Keyspace(1);
  const value = new Uint8Array(size).fill(0x61);
  for (let i = 0; i < n; i++) ks.set(`key:${String(i).padStart(6, "0")}`, value);
  const out: number[] = [];
  const view = ks.beginSnapshot();
  const stats = await writeSnapshotStream(ks, view, 0, {
    write: async (chunks) => void out.push(chunks.reduce((sum, c) => sum + c.length, 0)),
  }, Infinity);
  expect(stats.entries).toBe(n);
  return { slices: out, entry: 6 + "key:000000".length + size };
}

for (const size of [1000, 20_000, 60_000]) {
  test(`${size}-byte values: every slice but the last copies 256 KiB, and at most one entry more`, async () => {
    const { slices: s, entry } = await slices(Math.ceil((4 * 1024 * 1024) / size), size);
    expect(s.length).toBeGreaterThan(10);
    s.forEach((bytes, i) => {
      const own = bytes - (i === 0 ? SNAPSHOT_HEADER : 0) - (i === s.length - 1 ? SNAPSHOT_FOOTER : 0);
      if (i < s.length - 1) expect(own).toBeGreaterThanOrEqual(BOUND);
      expect(own).toBeLessThan(BOUND + entry);
    });
  });
}
