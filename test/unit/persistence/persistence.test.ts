// Persistence's snapshot turn-taking: a snapshot waits for any point-in-time view to end, then for
// the fsync before its cut, and a replica's full sync may take the view during that fsync.

import { expect, test } from "bun:test";
import { defaultConfig } from "../../../src/config.ts";
import { mkdirSync, rmSync } from "node:fs";
import { AOF_FILE } from "../../../src/persistence/aof.ts";
import { Persistence } from "../../../src/persistence/persistence.ts";
import { Op } from "../../../src/protocol/binary.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";
import { tempDir } from "../../support/temp-dir.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

test("SAVE waits its turn when a full sync takes the view during the fsync before the cut", async () => {
  const dir = tempDir();
  const ks = new Keyspace();
  for (let i = 0; i < 1000; i++) ks.set(`k${i}`, bytes(`v${i}`));
  const config = { ...defaultConfig(), appendfsync: "everysec" as const, snapshot_commands: 0, snapshot_interval: 0 };
  const p = new Persistence(dir, config, ks, { file: AOF_FILE, base: 0, size: 0, exists: false }, null);
  // Written but not fsynced: the snapshot's fsync before its cut has something to wait for.
  ks.set("k1", bytes("x"));
  p.logWrite(Op.SET, "k1", bytes("x"));
  p.aof.endOfTick();
  expect(p.aof.durable).toBeLessThan(p.aof.writtenPosition);

  const saving = p.save();
  // The snapshot now awaits that fsync; a replica's full sync opens the one view meanwhile.
  expect(ks.snapshotRunning).toBe(false);
  const view = ks.beginSnapshot();
  await Bun.sleep(50);
  ks.abortSnapshot(view);

  await saving; // throws "snapshot failed: a snapshot is already running" if it did not wait
  expect(p.info().lastSnapshotOk).toBe(true);
  expect(p.info().lastSnapshot?.entries).toBe(1000);
  await p.close(false);
});


/**
 * A Persistence on `ks` in a new dir that snapshots every 5 writes (by count only), and
 * `writes(n, v)`, which sets and logs n writes of `v` (default `value`) and ends the tick, and
 * `until(taken, ms)`, which waits for the taken-snapshot count to reach `taken`.
 */
function autoSnapshotting(ks: Keyspace, value: Uint8Array) {
  const dir = tempDir();
  const config = { ...defaultConfig(), appendfsync: "no" as const, snapshot_commands: 5, snapshot_interval: 0 };
  const p = new Persistence(dir, config, ks, { file: AOF_FILE, base: 0, size: 0, exists: false }, null);
  const writes = (n: number, v = value) => {
    for (let i = 0; i < n; i++) {
      ks.set("k", v);
      p.logWrite(Op.SET, "k", v);
    }
    p.aof.endOfTick();
  };
  const until = async (taken: number, ms: number) => {
    const deadline = performance.now() + ms;
    while (p.info().snapshotsTaken < taken) {
      if (performance.now() > deadline) throw new Error(`no snapshot ${taken} within ${ms} ms`);
      await Bun.sleep(1);
    }
    return performance.now();
  };
  return { dir, p, writes, until };
}

/** A value that, written 5 times, grows the AOF by more than the last snapshot's size. */
const outgrowing = (p: Persistence) => new Uint8Array(Math.ceil(p.info().lastSnapshot!.bytes / 5));

/** autoSnapshotting over 10,000 keys of 64 bytes, once its first snapshot (by count) is taken. */
async function afterFirstSnapshot() {
  const ks = new Keyspace();
  const value = new Uint8Array(64);
  for (let i = 0; i < 10_000; i++) ks.set(`key:${i}`, value);
  const auto = autoSnapshotting(ks, value);
  auto.writes(5); // snapshot_commands reached: the first one starts at once
  await auto.until(1, 10_000);
  return { ...auto, first: auto.p.info() };
}

test("an automatic snapshot waits 300 times the last one's event-loop time after it", async () => {
  const { p, writes, until, first } = await afterFirstSnapshot();
  try {
    const ran = first.lastSnapshot!.busyMs; // what the back-off scales: the slices' loop time
    expect(ran).toBeGreaterThan(0);
    expect(ran).toBeLessThanOrEqual(first.lastSnapshot!.ms); // not the snapshot's wall time
    writes(5, outgrowing(p)); // due again at once (count and AOF growth): this one must wait
    await until(2, 450 * ran + 5_000);
    // Both times are taken as each snapshot ends. The second starts 300 x `ran` after the first
    // ended; at 100 x, the old factor, it ended about 100 x `ran` plus its own run after it.
    expect(p.info().lastSaveTime - first.lastSaveTime).toBeGreaterThan(270 * ran);
  } finally {
    await p.close(false);
  }
}, 30_000);

test("a snapshot by count also waits until the AOF has grown by the last snapshot's size", async () => {
  const { p, writes, until, first: info } = await afterFirstSnapshot();
  try {
    const first = info.lastSnapshot!;
    expect(first.bytes).toBeGreaterThan(10_000 * 64);
    // Count reached again, but 5 small records are far less than the 640 KB+ snapshot: past the
    // back-off (300 x its loop time) no second one may start.
    writes(5);
    await Bun.sleep(450 * first.busyMs + 300);
    expect(p.info().snapshotsTaken).toBe(1);
    writes(5, outgrowing(p)); // now the AOF since the snapshot is larger than it
    await until(2, 5_000);
    expect(p.info().lastSnapshot!.entries).toBe(10_001);
  } finally {
    await p.close(false);
  }
}, 30_000);

test("a SAVE during the back-off answers the trigger that armed it: no snapshot when the back-off ends", async () => {
  const { p, writes, first } = await afterFirstSnapshot();
  try {
    const ran = first.lastSnapshot!.busyMs;
    writes(5, outgrowing(p)); // due: waits out the back-off
    await p.save();
    expect(p.info().snapshotsTaken).toBe(2);
    writes(1); // the log has grown since the SAVE, but nothing is due
    await Bun.sleep(450 * ran + 300);
    expect(p.info().snapshotsTaken).toBe(2);
  } finally {
    await p.close(false);
  }
}, 30_000);

test("after a restart the loaded dump.rdb's size is the growth a snapshot by count waits for", async () => {
  const dir = tempDir();
  const config = { ...defaultConfig(), appendfsync: "no" as const, snapshot_commands: 5, snapshot_interval: 0 };
  const loaded = { position: 0, createdAt: Date.now(), bytes: 100_000 };
  const ks = new Keyspace();
  const p = new Persistence(dir, config, ks, { file: AOF_FILE, base: 0, size: 0, exists: false }, loaded);
  const write = (v: Uint8Array) => {
    for (let i = 0; i < 5; i++) p.logWrite(Op.SET, "k", v);
    p.aof.endOfTick();
  };
  try {
    write(new Uint8Array(16));
    await Bun.sleep(300);
    expect(p.info().snapshotsTaken).toBe(0);
    write(new Uint8Array(20_000));
    const deadline = Date.now() + 5_000;
    while (p.info().snapshotsTaken === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(p.info().snapshotsTaken).toBe(1);
  } finally {
    await p.close(false);
  }
});

test("after a failed snapshot the next automatic one waits 5 s, and comes without further writes", async () => {
  const { dir, p, writes } = autoSnapshotting(new Keyspace(), new Uint8Array(16));
  try {
    // The temp file cannot be created: the snapshot fails at once.
    rmSync(dir, { recursive: true, force: true });
    writes(5);
    const deadline = Date.now() + 5_000;
    while (p.info().lastSnapshotOk) {
      if (Date.now() > deadline) throw new Error("the snapshot did not fail");
      await Bun.sleep(5);
    }
    const failedAt = Date.now();
    mkdirSync(dir);
    // It could succeed now, and the failed one's writes are still owed: it is retried, after 5 s.
    while (p.info().snapshotsTaken === 0 && Date.now() - failedAt < 8_000) await Bun.sleep(20);
    expect(p.info().snapshotsTaken).toBe(1);
    expect(p.info().lastSaveTime - failedAt).toBeGreaterThanOrEqual(4_900);
  } finally {
    await p.close(false);
  }
}, 30_000);
