// The append-only file's write path: group commit (records of ticks that end while an fsync runs
// are held and written as one batch when it ends, under every policy; otherwise everysec and no
// write every tick), the bounds of that hold under everysec (10 ms, 8 MiB, a failed fsync), the
// fsync before a cut, and the switch to appendonly.aof.next at a cut.

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AOF_FILE, AOF_HEADER, AOF_NEXT, Aof, readAofHeader, type AofStart } from "../../../src/persistence/aof.ts";
import { recordSize, scanRecord } from "../../../src/persistence/record.ts";
import { Op } from "../../../src/protocol/binary.ts";
import { gateSyncs } from "../../support/gate-syncs.ts";
import { tempDir } from "../../support/temp-dir.ts";

const FRESH: AofStart = { file: AOF_FILE, base: 0, size: 0, exists: false };
const VALUE = new Uint8Array([1, 2, 3]);
const ONE = recordSize(2, VALUE.length);

/** One tick per key: the key's record appended, then the end of the tick. */
function ticks(aof: Aof, ...keys: string[]): void {
  for (const k of keys) {
    aof.append(Op.SET, k, VALUE);
    aof.endOfTick();
  }
}

/** Bytes of whole records in appendonly.aof (under `always`, preallocated zeros follow them). */
function fileBytes(dir: string): number {
  const data = readFileSync(join(dir, AOF_FILE));
  let off = AOF_HEADER;
  for (;;) {
    const r = scanRecord(data, off, data.length);
    if (r.kind !== "record") return off - AOF_HEADER;
    off = r.end;
  }
}

/** True when every byte of `path` from `off` on is zero. */
function zerosFrom(path: string, off: number): boolean {
  return readFileSync(path).subarray(off).every((b) => b === 0);
}

test("always: the fsync runs on the loop, right after the tick's write: the batch is durable when endOfTick returns", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  ticks(aof, "k1");
  expect(aof.durable).toBe(ONE);
  aof.append(Op.SET, "k2", VALUE);
  aof.append(Op.SET, "k3", VALUE);
  expect(aof.durable).toBe(ONE);
  aof.endOfTick();
  expect(aof.durable).toBe(3 * ONE);
  expect(fileBytes(dir)).toBe(3 * ONE);
  await aof.close();
});

test("always: an fsync that runs inside another's completion leaves durable at the later one's end", async () => {
  // A promoted replica's deferred log: a reply woken when the file is created asks for a later
  // position, whose fsync runs (on the loop) inside the first fsync's completion.
  const dir = tempDir();
  const aof = new Aof(dir, "always", { ...FRESH, deferred: true });
  aof.append(Op.SET, "k1", VALUE);
  aof.rebase(ONE); // k1 is in the first snapshot
  aof.append(Op.SET, "k2", VALUE);
  let later = false;
  aof.whenDurable(ONE, () => aof.whenDurable(2 * ONE, () => (later = true)));
  aof.create();
  expect(later).toBe(true);
  expect(aof.durable).toBe(2 * ONE);
  // Nothing is left to fsync, so a reply waiting for what is already durable must go at once.
  let now = false;
  aof.whenDurable(2 * ONE, () => (now = true));
  expect(now).toBe(true);
  await aof.close();
});

test("always: ticks that end during an fsync are written together before the next fsync", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  const gate = gateSyncs(aof); // an fsync that runs on past its tick, as off the loop
  ticks(aof, "k1"); // written, fsync started
  expect(fileBytes(dir)).toBe(ONE);
  ticks(aof, "k2", "k3");
  expect(fileBytes(dir)).toBe(ONE);
  expect(aof.writtenPosition).toBe(ONE);

  gate.open();
  await aof.waitDurable(3 * ONE);
  expect(fileBytes(dir)).toBe(3 * ONE);
  expect(aof.durable).toBe(3 * ONE);
  await aof.close();
});

test("always: the held batch is written and its fsync started before the replies of the last one go", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  const gate = gateSyncs(aof);
  ticks(aof, "k1", "k2");
  let seenAtReply = -1;
  let syncsAtReply = -1;
  aof.whenDurable(ONE, () => {
    seenAtReply = fileBytes(dir);
    syncsAtReply = gate.waiting();
  });
  gate.release();
  await Bun.sleep(0);
  while (seenAtReply < 0) await Bun.sleep(1);
  expect(seenAtReply).toBe(2 * ONE);
  expect(syncsAtReply).toBe(1);
  gate.open();
  await aof.waitDurable(2 * ONE);
  await aof.close();
});

test("always: close writes and fsyncs records held behind a running fsync", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  const gate = gateSyncs(aof);
  ticks(aof, "k1", "k2");
  const closed = aof.close();
  gate.open();
  await closed;
  expect(fileBytes(dir)).toBe(2 * ONE);
  expect(aof.durable).toBe(2 * ONE);
});

test("always: the file is kept zero-filled at least 64 KiB past the log, 256 KiB at a time; close cuts it to the log", async () => {
  const dir = tempDir();
  const path = join(dir, AOF_FILE);
  const aof = new Aof(dir, "always", FRESH);
  ticks(aof, "k1");
  await aof.waitDurable(ONE);
  const end = AOF_HEADER + ONE;
  expect(statSync(path).size).toBe(end + 256 * 1024);
  expect(zerosFrom(path, end)).toBe(true);
  // A batch that leaves less than 64 KiB of zeros gets another 256 KiB after them.
  const big = new Uint8Array(200 * 1024).fill(7);
  aof.append(Op.SET, "big", big);
  aof.endOfTick();
  const end2 = end + recordSize(3, big.length);
  await aof.waitDurable(end2 - AOF_HEADER);
  expect(statSync(path).size).toBe(end + 2 * 256 * 1024);
  expect(zerosFrom(path, end2)).toBe(true);
  await aof.close();
  expect(statSync(path).size).toBe(end2);
  expect(fileBytes(dir)).toBe(end2 - AOF_HEADER);
});

test("everysec and no: no preallocation, the file is exactly its log", async () => {
  for (const policy of ["everysec", "no"] as const) {
    const dir = tempDir();
    const aof = new Aof(dir, policy, FRESH);
    ticks(aof, "k1", "k2");
    expect(statSync(join(dir, AOF_FILE)).size).toBe(AOF_HEADER + 2 * ONE);
    await aof.close();
  }
});

test("everysec: every tick's batch is written at the end of its tick", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "everysec", FRESH);
  ticks(aof, "k1", "k2");
  expect(fileBytes(dir)).toBe(2 * ONE);
  expect(aof.writtenPosition).toBe(2 * ONE);
  await aof.close();
});

test("everysec: ticks that end while an fsync runs are held, and written (waking their replies) when it ends", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "everysec", FRESH);
  ticks(aof, "k1");
  const synced = aof.syncWritten(); // an fsync of k1 starts now, as the once-a-second one would
  // Its callback cannot run before this synchronous code yields, so it is still running: a write
  // now could wait for it inside the kernel, holding up the whole loop.
  ticks(aof, "k2", "k3");
  expect(fileBytes(dir)).toBe(ONE);
  expect(aof.writtenPosition).toBe(ONE);
  expect(aof.holding).toBe(true);
  let released = false;
  aof.whenWritten(3 * ONE, () => (released = true));
  expect(aof.awaitingSync).toBe(true);

  await synced;
  expect(released).toBe(true);
  expect(fileBytes(dir)).toBe(3 * ONE);
  expect(aof.holding).toBe(false);
  await aof.close();
});

/** An everysec log with k1 written and an fsync of it started, held open by the gate. */
function everysecWithFsyncRunning() {
  const dir = tempDir();
  const aof = new Aof(dir, "everysec", FRESH);
  const gate = gateSyncs(aof);
  ticks(aof, "k1");
  const synced = aof.syncWritten();
  return { dir, aof, gate, synced };
}

test("everysec: records held behind an fsync that does not end are written after 10 ms", async () => {
  const { dir, aof, gate, synced } = everysecWithFsyncRunning();
  expect(gate.waiting()).toBe(1);
  const heldAt = performance.now();
  ticks(aof, "k2");
  expect(aof.writtenPosition).toBe(ONE);
  const written = await new Promise<number>((done) => aof.whenWritten(2 * ONE, () => done(performance.now())));
  // Written by the timer, with the fsync still running, and not before the timer was due.
  expect(gate.waiting()).toBe(1);
  expect(written - heldAt).toBeGreaterThanOrEqual(9);
  expect(fileBytes(dir)).toBe(2 * ONE);
  expect(aof.holding).toBe(false);
  gate.release();
  await synced;
  await aof.close();
});

test("everysec: a batch of 8 MiB or more is written at once, even while an fsync runs", async () => {
  const { aof, gate, synced } = everysecWithFsyncRunning();
  const big = new Uint8Array(8 * 1024 * 1024);
  aof.append(Op.SET, "big", big);
  aof.endOfTick();
  expect(aof.writtenPosition).toBe(ONE + recordSize(3, big.length));
  expect(aof.holding).toBe(false);
  gate.release();
  await synced;
  await aof.close();
});

test("everysec: when the fsync fails, what was held behind it is written before the log counts as failing", async () => {
  const { dir, aof, gate, synced } = everysecWithFsyncRunning();
  ticks(aof, "k2");
  expect(aof.writtenPosition).toBe(ONE);
  gate.release(new Error("EIO: simulated"));
  await synced;
  expect(aof.healthy).toBe(false);
  expect(aof.writtenPosition).toBe(2 * ONE);
  expect(fileBytes(dir)).toBe(2 * ONE);
  await expect(aof.close()).rejects.toThrow("EIO: simulated");
});

test("everysec: syncWritten fsyncs what is written, without a reply waiting for it", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "everysec", FRESH);
  ticks(aof, "k1");
  expect(aof.writtenPosition).toBe(ONE);
  expect(aof.durable).toBe(0);
  await aof.syncWritten();
  expect(aof.durable).toBe(ONE);
  await aof.close();
});

test("a cut switches to appendonly.aof.next at its position; records after it go there", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "everysec", FRESH);
  aof.append(Op.SET, "k1", VALUE);
  const at = aof.beginCut(); // inside the tick: k1 is still in the batch
  aof.append(Op.SET, "k2", VALUE);
  aof.endOfTick(); // k2 is held while the switch runs; k1 went to the old file at once
  expect(aof.writtenPosition).toBe(ONE);
  await aof.waitDurable(2 * ONE);
  expect(aof.onNextFile).toBe(true);
  expect(fileBytes(dir)).toBe(ONE);
  const next = readFileSync(join(dir, AOF_NEXT));
  expect(readAofHeader(next)).toEqual({ base: at });
  expect(next.length - AOF_HEADER).toBe(ONE);
  await aof.close();
});

test("a cut whose next file cannot be created leaves appends in appendonly.aof", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, AOF_NEXT)); // opening it for writing fails (EISDIR)
  const aof = new Aof(dir, "everysec", FRESH);
  aof.append(Op.SET, "k1", VALUE);
  aof.beginCut();
  aof.append(Op.SET, "k2", VALUE);
  aof.endOfTick();
  await aof.waitDurable(2 * ONE);
  expect(aof.onNextFile).toBe(false);
  expect(fileBytes(dir)).toBe(2 * ONE);
  expect(statSync(join(dir, AOF_NEXT)).isDirectory()).toBe(true);
  expect(existsSync(join(dir, AOF_FILE))).toBe(true);
  await aof.close();
});
