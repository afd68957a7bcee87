// The snapshot writer's slices: each one the event loop gives to a snapshot is bounded in bytes
// (256 KiB of copied entries, as well as 0.25 ms), so that no client waits out a long copy.

import { expect, test } from "bun:test";
import { writeSnapshotStream } from "../../../src/persistence/snapshot.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";

test("a slice carries at most 256 KiB of copied entries, plus the 64 between two checks of the bound", async () => {
  const ks = new Keyspace(1);
  const value = new Uint8Array(1000).fill(0x61);
  for (let i = 0; i < 4000; i++) ks.set(`key:${i}`, value);
  const slices: number[] = [];
  const view = ks.beginSnapshot();
  const stats = await writeSnapshotStream(ks, view, 0, {
    write: async (chunks) => void slices.push(chunks.reduce((n, c) => n + c.length, 0)),
  });
  expect(stats.entries).toBe(4000);
  expect(slices.reduce((a, b) => a + b, 0)).toBe(stats.bytes);
  // The bound is checked every 64 entries; the header and the footer ride with the first and last.
  const most = 256 * 1024 + 64 * (6 + "key:3999".length + 1000) + 64;
  for (const bytes of slices) expect(bytes).toBeLessThanOrEqual(most);
  expect(slices.length).toBeGreaterThanOrEqual(Math.ceil(stats.bytes / most));
});
