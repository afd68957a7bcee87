// Start-up recovery over data directories made by the real writers (Aof, saveSnapshot): replay, cuts and their crash states, torn tails, damage, gaps.

import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AOF_FILE, AOF_HEADER, AOF_NEXT, Aof, encodeAofHeader, readAofHeader, type AofStart } from "../../../src/persistence/aof.ts";
import { recordSize } from "../../../src/persistence/record.ts";
import { RecoveryError, recover, type RecoveryReport } from "../../../src/persistence/recovery.ts";
import { SNAPSHOT_FILE, SNAPSHOT_HEADER, SNAPSHOT_TMP, SnapshotError, loadSnapshot, saveSnapshot } from "../../../src/persistence/snapshot.ts";
import { Op } from "../../../src/protocol/binary.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";
import { Rng, xorshiftBytes } from "../../support/rng.ts";
import { tempDir } from "../../support/temp-dir.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

const FRESH: AofStart = { file: AOF_FILE, base: 0, size: 0, exists: false };

/** A copy of `src` as it is right now: the state a crash at this moment leaves. */
function copyDir(src: string): string {
  const d = tempDir();
  cpSync(src, d, { recursive: true });
  return d;
}


function randomKey(rng: Rng): string {
  const r = rng.next();
  const len = r < 0.2 ? 1 : r < 0.3 ? 255 : rng.int(2, 40);
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(rng.int(0, 255));
  return s;
}

const bytesOf = xorshiftBytes;

function randomValue(rng: Rng): Uint8Array {
  const r = rng.next();
  const len = r < 0.05 ? 0 : r < 0.8 ? rng.int(1, 64) : r < 0.98 ? rng.int(65, 3000) : rng.int(64 * 1024, 80 * 1024);
  return bytesOf(len, rng.int(1, 0x7fffffff));
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A file's bytes as a plain Uint8Array (so comparisons never depend on Buffer vs Uint8Array). */
const fileBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

/**
 * A server's write path without the server: a live Keyspace (what snapshots read), an Aof, and a
 * model of the data plus the log position, both kept independently of the code under test.
 */
class Db {
  readonly ks: Keyspace;
  readonly model: Map<string, Uint8Array>;
  aof: Aof;
  /** Log position, summed from recordSize. */
  pos: number;
  /** Logical position of each record this Db appended. */
  readonly records: number[] = [];

  constructor(readonly dir: string, start: AofStart = FRESH, model?: Map<string, Uint8Array>) {
    this.aof = new Aof(dir, "always", start);
    this.pos = start.base + start.size;
    this.model = new Map(model ?? []);
    this.ks = new Keyspace();
    for (const [k, v] of this.model) this.ks.set(k, v);
  }

  set(key: string, value: Uint8Array): void {
    this.ks.set(key, value);
    this.model.set(key, value.slice());
    this.log(Op.SET, key, value);
  }

  del(key: string): void {
    if (!this.ks.delete(key)) return;
    this.model.delete(key);
    this.log(Op.DELETE, key, null);
  }

  tick(): void {
    this.aof.endOfTick();
  }

  /**
   * Waits until every record appended so far is fsynced: the writes a client has been told about
   * under `always`, so the files now hold all of them (ticks that end during an fsync are written
   * only just before the next one).
   */
  async settle(): Promise<void> {
    this.tick();
    await this.aof.waitDurable(this.pos);
  }

  private log(op: number, key: string, value: Uint8Array | null): void {
    this.records.push(this.pos);
    this.aof.append(op, key, value);
    this.pos += recordSize(key.length, value?.length ?? 0);
  }

  /** Records appended with a position in [from, to). */
  recordsIn(from: number, to = Infinity): number {
    return this.records.filter((p) => p >= from && p < to).length;
  }

  /** `n` random writes (new keys, overwrites, deletes, delete + re-create), a tick every few unless told not to. */
  randomOps(rng: Rng, n: number, ticks = true): void {
    const keys = () => [...this.model.keys()];
    for (let i = 0; i < n; i++) {
      const ks = keys();
      const existing = ks.length > 0 ? ks[rng.int(0, ks.length - 1)]! : undefined;
      const r = rng.int(0, 5);
      if (existing === undefined || r <= 1) this.set(randomKey(rng), randomValue(rng));
      else if (r === 2) this.set(existing, randomValue(rng));
      else if (r === 3) this.del(existing);
      else if (r === 4) {
        this.del(existing);
        this.set(existing, randomValue(rng));
      } else for (let j = rng.int(2, 4); j > 0; j--) this.set(existing, randomValue(rng));
      if (ticks && rng.int(0, 3) === 0) this.tick();
    }
    if (ticks) this.tick();
  }

  /** A snapshot the way the server makes one; returns the position it covers. */
  async cut(): Promise<number> {
    const at = this.aof.beginCut();
    const view = this.ks.beginSnapshot();
    await saveSnapshot(this.ks, view, this.dir, at);
    await this.aof.finishCut();
    return at;
  }

  close(): Promise<void> {
    return this.aof.close();
  }
}

function expectData(ks: Keyspace, want: Map<string, Uint8Array>): void {
  const got = new Map<string, Uint8Array>();
  for (const [k, v] of ks.entries()) got.set(k, v);
  expect(got.size).toBe(want.size);
  expect(ks.size).toBe(want.size);
  for (const [k, v] of want) {
    const g = got.get(k);
    if (g === undefined) throw new Error(`recovered data lacks key ${JSON.stringify(k)}`);
    expect(g).toEqual(v);
  }
}

function recoverDir(dir: string, truncateTorn = true): { ks: Keyspace; rep: RecoveryReport } {
  const ks = new Keyspace();
  const rep = recover(dir, ks, { truncateTorn });
  return { ks, rep };
}

/** The error `fn` throws (fails the test if it returns). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, but none was thrown");
}

/**
 * Appends from where recovery says (a new Aof built from report.aof), closes, recovers again:
 * the new records must sit right after the old ones and all data must come back.
 */
async function expectContinues(dir: string, rep: RecoveryReport, model: Map<string, Uint8Array>, seed: number): Promise<void> {
  const db = new Db(dir, rep.aof, model);
  expect(db.aof.position).toBe(rep.aof.base + rep.aof.size);
  expect(db.aof.onNextFile).toBe(rep.aof.file === AOF_NEXT);
  const first = [...model.keys()][0];
  if (first !== undefined) db.del(first);
  const second = [...model.keys()][1];
  if (second !== undefined) db.set(second, ascii(`overwritten after recovery ${seed}`));
  db.set(`continued-${seed}`, ascii("new after recovery"));
  db.tick();
  db.randomOps(new Rng(seed), 10);
  expect(db.aof.position).toBe(db.pos);
  await db.close();
  const again = recoverDir(dir);
  expectData(again.ks, db.model);
  expect(again.rep.torn).toEqual([]);
  expect(again.rep.aof).toEqual({ file: rep.aof.file, base: rep.aof.base, size: db.pos - rep.aof.base, exists: true });
  expect(statSync(join(dir, rep.aof.file)).size).toBe(AOF_HEADER + db.pos - rep.aof.base);
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(1);
  }
}

function headerBase(path: string): number {
  const h = readAofHeader(fileBytes(path).subarray(0, AOF_HEADER));
  if ("error" in h) throw new Error(`${path}: ${h.error}`);
  return h.base;
}

/** A directory in crash state (a): appendonly.aof up to the cut, appendonly.aof.next after it, no dump. */
async function cutWithoutSnapshot(rng: Rng): Promise<{ dir: string; db: Db; at: number; before: Map<string, Uint8Array> }> {
  const dir = tempDir();
  const db = new Db(dir);
  db.randomOps(rng, 30);
  const at = db.aof.beginCut();
  const view = db.ks.beginSnapshot();
  db.randomOps(rng, 10);
  await waitFor(() => db.aof.onNextFile, "the switch to appendonly.aof.next");
  db.randomOps(rng, 10);
  const before = new Map(db.model);
  db.set("last key", ascii("the last record of the last file"));
  db.tick();
  db.ks.abortSnapshot();
  await db.close(); // a crash here: no snapshot, no finishCut
  expect(existsSync(join(dir, AOF_NEXT))).toBe(true);
  return { dir, db, at, before };
}

// ---------------------------------------------------------------------------------------------

describe("AOF only", () => {
  test("an empty directory: no data, appends start a new appendonly.aof at position 0", async () => {
    const dir = tempDir();
    const { ks, rep } = recoverDir(dir);
    expect(ks.size).toBe(0);
    expect(rep).toEqual({ snapshot: null, replayed: 0, skipped: 0, torn: [], aof: FRESH, notes: [] });
    await expectContinues(dir, rep, new Map(), 1);
  });

  test("a header-only appendonly.aof: exists, size 0", async () => {
    const dir = tempDir();
    await new Db(dir).close();
    expect(statSync(join(dir, AOF_FILE)).size).toBe(AOF_HEADER);
    const { ks, rep } = recoverDir(dir);
    expect(ks.size).toBe(0);
    expect(rep.aof).toEqual({ file: AOF_FILE, base: 0, size: 0, exists: true });
    await expectContinues(dir, rep, new Map(), 2);
  });

  test("every record is replayed: sets, overwrites, deletes, re-creates, 1- and 255-byte keys, large values", async () => {
    const rng = new Rng(3);
    const dir = tempDir();
    const db = new Db(dir);
    db.randomOps(rng, 300);
    db.randomOps(rng, 100, false); // one big tick
    db.tick();
    // Known writes last, so random ones cannot touch them afterwards.
    db.set("fixed-a", ascii("1"));
    db.set("fixed-a", ascii("2"));
    db.set("\u00ff", new Uint8Array(0));
    db.set("k".repeat(255), bytesOf(100 * 1024, 9)); // a batch larger than the initial 64 KiB
    db.tick();
    db.del("fixed-a");
    db.del("never there"); // not logged: a no-op delete changes nothing
    db.set("fixed-a", ascii("3"));
    db.set("fixed-gone", ascii("x"));
    db.del("fixed-gone");
    db.tick();
    expect(db.aof.position).toBe(db.pos);
    await db.close();
    expect(statSync(join(dir, AOF_FILE)).size).toBe(AOF_HEADER + db.pos);
    expect(headerBase(join(dir, AOF_FILE))).toBe(0);

    const { ks, rep } = recoverDir(dir);
    expectData(ks, db.model);
    expect(ks.get("fixed-a")).toEqual(ascii("3"));
    expect(ks.has("fixed-gone")).toBe(false);
    expect(ks.get("\u00ff")).toEqual(new Uint8Array(0));
    expect(ks.get("k".repeat(255))?.length).toBe(100 * 1024);
    expect(rep.snapshot).toBeNull();
    expect(rep.replayed).toBe(db.records.length);
    expect(rep.skipped).toBe(0);
    expect(rep.torn).toEqual([]);
    expect(rep.notes).toEqual([]);
    expect(rep.aof).toEqual({ file: AOF_FILE, base: 0, size: db.pos, exists: true });
    await expectContinues(dir, rep, db.model, 4);
  });
});

describe("snapshot + AOF tail", () => {
  for (const oldDump of [false, true]) {
    test(`every crash state of a cut recovers the same data (${oldDump ? "with an older dump.rdb" : "no dump.rdb before"})`, async () => {
      const rng = new Rng(oldDump ? 11 : 12);
      const dir = tempDir();
      const db = new Db(dir);
      db.randomOps(rng, 80);
      let oldAt = 0;
      if (oldDump) {
        oldAt = await db.cut();
        expect(oldAt).toBeGreaterThan(0);
        expect(headerBase(join(dir, AOF_FILE))).toBe(oldAt);
        db.randomOps(rng, 60);
      }
      // The cut lands inside a tick: records before it are still in the batch.
      db.randomOps(rng, 5, false);
      const at = db.aof.beginCut();
      expect(at).toBe(db.pos);
      const view = db.ks.beginSnapshot();
      const atCut = new Map(db.model);
      db.randomOps(rng, 5, false); // same tick, after the cut
      db.tick();
      await waitFor(() => db.aof.onNextFile, "the switch to appendonly.aof.next");
      db.randomOps(rng, 40);
      expect(headerBase(join(dir, AOF_NEXT))).toBe(at);
      expect(statSync(join(dir, AOF_FILE)).size).toBe(AOF_HEADER + at - oldAt);

      await db.settle();
      const a = copyDir(dir); // (a) cut begun, snapshot not written
      const stats = await saveSnapshot(db.ks, view, dir, at);
      expect(stats.entries).toBe(atCut.size); // every touched key was moved before it was read
      const b = copyDir(dir); // (b) dump.rdb renamed, finishCut not run
      expect(existsSync(join(b, AOF_FILE)) && existsSync(join(b, AOF_NEXT)) && existsSync(join(b, SNAPSHOT_FILE))).toBe(true);
      await db.aof.finishCut();
      expect(existsSync(join(dir, AOF_NEXT))).toBe(false);
      expect(headerBase(join(dir, AOF_FILE))).toBe(at);
      await db.close(); // (c) the cut is complete
      const end = db.pos;

      // dump.rdb alone is the state at the cut.
      const snapKs = new Keyspace();
      expect(loadSnapshot(join(dir, SNAPSHOT_FILE), snapKs).position).toBe(at);
      expectData(snapKs, atCut);

      const ra = recoverDir(a);
      expectData(ra.ks, db.model);
      expect(ra.rep.snapshot?.position ?? null).toBe(oldDump ? oldAt : null);
      expect(ra.rep.skipped).toBe(0);
      expect(ra.rep.replayed).toBe(db.recordsIn(oldAt));
      expect(ra.rep.aof).toEqual({ file: AOF_NEXT, base: at, size: end - at, exists: true });

      const rb = recoverDir(b);
      expectData(rb.ks, db.model);
      expect(rb.rep.snapshot?.position).toBe(at);
      expect(rb.rep.snapshot?.entries).toBe(atCut.size);
      expect(rb.rep.skipped).toBe(db.recordsIn(oldAt, at));
      expect(rb.rep.skipped).toBeGreaterThan(0);
      expect(rb.rep.replayed).toBe(db.recordsIn(at));
      expect(rb.rep.aof).toEqual({ file: AOF_NEXT, base: at, size: end - at, exists: true });

      const rc = recoverDir(dir);
      expectData(rc.ks, db.model);
      expect(rc.rep.snapshot?.position).toBe(at);
      expect(rc.rep.skipped).toBe(0);
      expect(rc.rep.replayed).toBe(db.recordsIn(at));
      expect(rc.rep.aof).toEqual({ file: AOF_FILE, base: at, size: end - at, exists: true });

      for (const [i, r] of [ra, rb, rc].entries()) {
        expect(r.rep.torn).toEqual([]);
        await expectContinues([a, b, dir][i]!, r.rep, db.model, 100 + i);
      }
    });
  }

  test("writes while dump.rdb streams go to appendonly.aof.next; dump.rdb stays the state at the cut", async () => {
    const rng = new Rng(21);
    const dir = tempDir();
    const db = new Db(dir);
    for (let i = 0; i < 30; i++) db.set(`large-${i}`, bytesOf(70 * 1024, i + 1)); // written by reference
    // Over 1 MiB copied into slices (large values are passed by reference and not counted), so
    // the stream takes more than one slice whatever the clock says, and writes land between them.
    for (let i = 0; i < 2000; i++) db.set(`small-${i}`, bytesOf(rng.int(500, 700), i + 7));
    db.tick();
    const at = db.aof.beginCut();
    const view = db.ks.beginSnapshot();
    const atCut = new Map(db.model);
    let done = false;
    const saving = saveSnapshot(db.ks, view, dir, at).finally(() => {
      done = true;
    });
    let rounds = 0;
    while (!done) {
      for (let i = 0; i < 20; i++) {
        const n = rng.int(0, 2029);
        const key = n < 30 ? `large-${n}` : `small-${n - 30}`;
        const how = rng.int(0, 3);
        if (how === 0) db.del(key);
        else if (how === 1) db.set(key, randomValue(rng));
        else if (how === 2) db.set(`during-${rounds}-${i}`, randomValue(rng));
        else {
          db.del(key);
          db.set(key, randomValue(rng));
        }
      }
      db.tick();
      rounds++;
      await new Promise<void>((r) => setImmediate(r));
    }
    const stats = await saving;
    expect(stats.slices).toBeGreaterThan(1);
    expect(rounds).toBeGreaterThan(1);
    await waitFor(() => db.aof.onNextFile, "the switch to appendonly.aof.next");
    await db.settle();

    const b = copyDir(dir);
    const atB = new Map(db.model);
    db.randomOps(rng, 20);
    await db.aof.finishCut();
    db.randomOps(rng, 20);
    await db.close();

    const snapKs = new Keyspace();
    const loaded = loadSnapshot(join(dir, SNAPSHOT_FILE), snapKs);
    expect(loaded.position).toBe(at);
    expectData(snapKs, atCut);
    expect(loaded.entries).toBeGreaterThanOrEqual(atCut.size); // a key may be written twice, same value

    const rb = recoverDir(b);
    expectData(rb.ks, atB);
    expect(rb.rep.skipped).toBe(db.recordsIn(0, at));
    const rc = recoverDir(dir);
    expectData(rc.ks, db.model);
    expect(rc.rep.replayed).toBe(db.recordsIn(at));
    expect(rc.rep.aof).toEqual({ file: AOF_FILE, base: at, size: db.pos - at, exists: true });
  });

  test("dump.rdb with no AOF (e.g. a restored backup): appends start a new file at the snapshot's position", async () => {
    const rng = new Rng(31);
    const dir = tempDir();
    const db = new Db(dir);
    db.randomOps(rng, 50);
    const at = await db.cut();
    await db.close();
    rmSync(join(dir, AOF_FILE));
    const { ks, rep } = recoverDir(dir);
    expectData(ks, db.model);
    expect(rep.snapshot?.position).toBe(at);
    expect(rep.replayed).toBe(0);
    expect(rep.aof).toEqual({ file: AOF_FILE, base: at, size: 0, exists: false });
    await expectContinues(dir, rep, db.model, 32);
    expect(headerBase(join(dir, AOF_FILE))).toBe(at);
  });
});

describe("torn tails", () => {
  /** Writes some records, then a last SET; returns the file bytes and where the last record starts. */
  async function withLastRecord(seed: number) {
    const rng = new Rng(seed);
    const dir = tempDir();
    const db = new Db(dir);
    db.randomOps(rng, 20);
    db.set("keep", ascii("kept"));
    db.tick();
    const before = new Map(db.model);
    const last = ascii("overwritten by the last record!");
    db.set("keep", last); // visible if replayed
    await db.close();
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    const lastSize = recordSize("keep".length, last.length);
    const lastOff = orig.length - lastSize;
    expect(lastOff).toBe(AOF_HEADER + db.records.at(-1)!);
    return { dir, db, path, orig, lastSize, lastOff, before };
  }

  test("the last record cut short by 1..size-1 bytes: reported, truncated only when asked", async () => {
    const { dir, db, path, orig, lastSize, lastOff, before } = await withLastRecord(41);
    let rep: RecoveryReport | null = null;
    for (let cut = 1; cut < lastSize; cut++) {
      writeFileSync(path, orig.subarray(0, orig.length - cut));
      const torn = [{ file: path, offset: lastOff, bytes: lastSize - cut }];

      const keep = recoverDir(dir, false);
      expect(keep.rep.torn).toEqual(torn);
      expectData(keep.ks, before);
      expect(statSync(path).size).toBe(orig.length - cut);

      const fix = recoverDir(dir, true);
      expect(fix.rep.torn).toEqual(torn);
      expectData(fix.ks, before);
      expect(fix.rep.replayed).toBe(db.records.length - 1);
      expect(fix.rep.aof).toEqual({ file: AOF_FILE, base: 0, size: lastOff - AOF_HEADER, exists: true });
      expect(statSync(path).size).toBe(lastOff);
      expect(fileBytes(path)).toEqual(orig.subarray(0, lastOff));

      const again = recoverDir(dir, true);
      expect(again.rep.torn).toEqual([]);
      expectData(again.ks, before);
      rep = again.rep;
    }
    await expectContinues(dir, rep!, before, 42);
  });

  test("a zero-filled tail of any length is preallocated space: noted, cut when fixing, not torn", async () => {
    const { dir, db, path, orig } = await withLastRecord(43);
    for (const zeros of [1, 8, 9, 12, 13, 14, 100, 5000, 1 << 20]) {
      const bytes = new Uint8Array(orig.length + zeros);
      bytes.set(orig);
      writeFileSync(path, bytes);
      const note = `bytes of zeros after the last record of ${AOF_FILE}, at byte offset ${orig.length}`;
      const keep = recoverDir(dir, false);
      expect(keep.rep.torn).toEqual([]);
      expect(keep.rep.notes).toEqual([`found (--fix removes it) ${zeros} ${note} (space preallocated under appendfsync always, left by a crash)`]);
      expect(keep.rep.aof).toEqual({ file: AOF_FILE, base: 0, size: orig.length - AOF_HEADER, exists: true });
      expectData(keep.ks, db.model);
      expect(statSync(path).size).toBe(orig.length + zeros);
      const fix = recoverDir(dir, true);
      expect(fix.rep.torn).toEqual([]);
      expect(fix.rep.notes).toEqual([`removed ${zeros} ${note} (space preallocated under appendfsync always, left by a crash)`]);
      expectData(fix.ks, db.model);
      expect(statSync(path).size).toBe(orig.length);
    }
  });

  test("zeros after the last record of appendonly.aof, with appendonly.aof.next after it, end that file's log", async () => {
    const { dir, db } = await cutWithoutSnapshot(new Rng(48));
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    const bytes = new Uint8Array(orig.length + 4096);
    bytes.set(orig);
    writeFileSync(path, bytes);
    const { ks, rep } = recoverDir(dir, true);
    expectData(ks, db.model);
    expect(rep.torn).toEqual([]);
    expect(rep.notes).toHaveLength(1);
    expect(statSync(path).size).toBe(orig.length);
  });

  test("a last record whose end was zeroed, or damaged anywhere, is torn", async () => {
    const { dir, path, orig, lastSize, lastOff, before } = await withLastRecord(44);
    for (const damage of ["zero the last 10 bytes", "zero all but the header", "flip a value byte", "flip a CRC byte"]) {
      const bytes = new Uint8Array(orig);
      if (damage === "zero the last 10 bytes") bytes.fill(0, orig.length - 10);
      else if (damage === "zero all but the header") bytes.fill(0, lastOff + 9);
      else if (damage === "flip a value byte") bytes[lastOff + 9 + 4 + 3]! ^= 0x20;
      else bytes[orig.length - 1]! ^= 0x01;
      writeFileSync(path, bytes);
      const fix = recoverDir(dir, true);
      expect({ damage, torn: fix.rep.torn }).toEqual({ damage, torn: [{ file: path, offset: lastOff, bytes: lastSize }] });
      expectData(fix.ks, before);
      expect(statSync(path).size).toBe(lastOff);
    }
  });

  test("a torn tail of appendonly.aof.next (the last file) is truncated; appendonly.aof stays whole", async () => {
    const { dir, db, at, before } = await cutWithoutSnapshot(new Rng(45));
    const next = join(dir, AOF_NEXT);
    const aofBytes = fileBytes(join(dir, AOF_FILE));
    const orig = fileBytes(next);
    const lastSize = recordSize("last key".length, "the last record of the last file".length);
    const lastOff = orig.length - lastSize;
    writeFileSync(next, orig.subarray(0, orig.length - 7));
    const { ks, rep } = recoverDir(dir, true);
    expectData(ks, before);
    expect(rep.torn).toEqual([{ file: next, offset: lastOff, bytes: lastSize - 7 }]);
    expect(rep.replayed).toBe(db.records.length - 1);
    expect(rep.aof).toEqual({ file: AOF_NEXT, base: at, size: lastOff - AOF_HEADER, exists: true });
    expect(statSync(next).size).toBe(lastOff);
    expect(fileBytes(join(dir, AOF_FILE))).toEqual(aofBytes);
    await expectContinues(dir, rep, before, 46);
  });

  test("a power loss's unwritten sector in the last write: the record it cuts and the records after it are torn", async () => {
    const dir = tempDir();
    const db = new Db(dir);
    db.randomOps(new Rng(49), 20);
    await db.settle();
    const before = new Map(db.model);
    const first = db.records.length;
    // One write of 12 records of 300 bytes: the last batch, the one a power loss can cut.
    for (let i = 0; i < 12; i++) db.set(`p2-${i}`, bytesOf(300, i));
    await db.close();
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    const starts = db.records.slice(first).map((p) => AOF_HEADER + p);
    // A sector in the middle of the batch never reached the disk; later ones did.
    const sector = Math.ceil((starts[4]! + 10) / 512) * 512;
    expect(sector + 512).toBeLessThan(starts[11]!);
    const bytes = new Uint8Array(orig);
    bytes.fill(0, sector, sector + 512);
    writeFileSync(path, bytes);
    const cut = starts.filter((o) => o <= sector).at(-1)!; // the record the sector begins in
    const kept = starts.indexOf(cut);
    const want = new Map(before);
    for (let i = 0; i < kept; i++) want.set(`p2-${i}`, bytesOf(300, i));

    const keep = recoverDir(dir, false);
    expect(keep.rep.torn).toEqual([{ file: path, offset: cut, bytes: orig.length - cut }]);
    expect(keep.rep.notes.join("\n")).toContain(`the torn write at byte offset ${cut} has a zeroed 512-byte sector`);
    expectData(keep.ks, want);
    const fix = recoverDir(dir, true);
    expectData(fix.ks, want);
    expect(statSync(path).size).toBe(cut);
    // Damage that is not a zeroed sector, with records after it, stays corruption.
    const flipped = new Uint8Array(orig);
    flipped[starts[4]! + 20]! ^= 0x01;
    writeFileSync(path, flipped);
    expect(thrown(() => recoverDir(dir, true))).toBeInstanceOf(RecoveryError);
    expect(statSync(path).size).toBe(orig.length);
  });

  test("a zeroed sector in appendonly.aof with appendonly.aof.next after it stops start-up", async () => {
    const { dir, db, at } = await cutWithoutSnapshot(new Rng(50));
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    const offs = db.records.filter((p) => p < at).map((p) => AOF_HEADER + p);
    const sector = Math.ceil((offs[1]! + 1) / 512) * 512;
    expect(sector + 512).toBeLessThan(orig.length - 20);
    const bytes = new Uint8Array(orig);
    bytes.fill(0, sector, sector + 512);
    writeFileSync(path, bytes);
    const err = thrown(() => recoverDir(dir, true));
    expect(err).toBeInstanceOf(RecoveryError);
    expect(err.message).toContain(`${AOF_NEXT} follows it`);
  });

  test("zeros ending appendonly.aof before appendonly.aof.next begins: a gap stops start-up, and nothing is cut", async () => {
    const { dir, db, at } = await cutWithoutSnapshot(new Rng(51));
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    const lastOff = AOF_HEADER + db.records.filter((p) => p < at).at(-1)!;
    const bytes = new Uint8Array(orig);
    bytes.fill(0, lastOff);
    writeFileSync(path, bytes);
    const err = thrown(() => recoverDir(dir, true));
    expect(err).toBeInstanceOf(RecoveryError);
    expect(err.message).toContain("refusing to start with a gap");
    expect(statSync(path).size).toBe(orig.length);
  });

  test("appendonly.aof cut short with appendonly.aof.next after it is an error, not a torn tail", async () => {
    const { dir, db, at } = await cutWithoutSnapshot(new Rng(47));
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    expect(orig.length).toBe(AOF_HEADER + at);
    const lastOff = AOF_HEADER + db.records.filter((p) => p < at).at(-1)!;
    writeFileSync(path, orig.subarray(0, orig.length - 3));
    const err = thrown(() => recoverDir(dir, true));
    expect(err).toBeInstanceOf(RecoveryError);
    expect(err.message).toContain(path);
    expect(err.message).toContain(`byte offset ${lastOff}`);
    expect(err.message).toContain(`${AOF_NEXT} follows it`);
    expect(statSync(path).size).toBe(orig.length - 3);
  });
});

describe("damage that stops start-up", () => {
  test("a flipped byte in a record that is not the last: RecoveryError naming the file and byte offset", async () => {
    const dir = tempDir();
    const db = new Db(dir);
    db.set("first", ascii("one"));
    db.set("second", ascii("two-two"));
    const victimValue = ascii("a value long enough to hold a flip");
    db.set("victim", victimValue);
    db.tick();
    db.del("first");
    db.set("fifth", ascii("five"));
    db.set("sixth", bytesOf(300, 5));
    await db.close();
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    const victim = AOF_HEADER + db.records[2]!;
    const size = recordSize("victim".length, victimValue.length);
    expect(orig[victim + 4]).toBe("victim".length);

    // Every byte except the value_len bytes that would claim a length past the end of the file
    // (those read as a cut-short record: BUG-2 in the report); value_len's low byte is flipped by 1.
    const cases: [number, number][] = [];
    for (let i = 0; i < size; i++) if (i < 5 || i > 7) cases.push([i, 0x01]);
    cases.push([4, 0x10], [8, 0x40]);
    for (const [i, mask] of cases) {
      const bytes = new Uint8Array(orig);
      bytes[victim + i]! ^= mask;
      writeFileSync(path, bytes);
      const err = thrown(() => recoverDir(dir, true));
      expect({ i, mask, name: err.name }).toEqual({ i, mask, name: "RecoveryError" });
      expect(err).toBeInstanceOf(RecoveryError);
      expect(err.message).toContain(path);
      expect(err.message).toContain(`byte offset ${victim} `);
      expect(err.message).toContain("corrupt, not torn");
      expect(fileBytes(path)).toEqual(bytes); // nothing truncated
    }
  });

  test("a bad appendonly.aof header: RecoveryError at byte offset 0", async () => {
    const dir = tempDir();
    const db = new Db(dir);
    db.set("a", ascii("1"));
    await db.close();
    const path = join(dir, AOF_FILE);
    const orig = fileBytes(path);
    for (let i = 0; i < AOF_HEADER; i++) {
      const bytes = new Uint8Array(orig);
      bytes[i]! ^= 0x04;
      writeFileSync(path, bytes);
      const err = thrown(() => recoverDir(dir, true));
      expect(err).toBeInstanceOf(RecoveryError);
      expect(err.message).toContain(path);
      expect(err.message).toContain("at byte offset 0");
      expect(err.message).toContain(i < 8 ? "bad magic or version" : "header CRC mismatch");
      expect(fileBytes(path)).toEqual(bytes);
    }
    writeFileSync(path, orig.subarray(0, 5));
    const short = thrown(() => recoverDir(dir, true));
    expect(short).toBeInstanceOf(RecoveryError);
    expect(short.message).toContain(`${path}: header is 5 bytes`);
    expect(short.message).toContain("at byte offset 0");
  });

  test("a short appendonly.aof.next (being created at a crash) is dropped with a note; a whole bad one is an error", async () => {
    const rng = new Rng(51);
    const dir = tempDir();
    const db = new Db(dir);
    db.randomOps(rng, 20);
    await db.close();
    const next = join(dir, AOF_NEXT);
    const goodHeader = fileBytes(join(dir, AOF_FILE)).subarray(0, AOF_HEADER);
    for (const len of [0, 7, AOF_HEADER - 1]) {
      writeFileSync(next, goodHeader.subarray(0, len));
      const keep = recoverDir(dir, false);
      expectData(keep.ks, db.model);
      expect(keep.rep.notes.some((n) => n.includes(AOF_NEXT))).toBe(true);
      expect(keep.rep.aof).toEqual({ file: AOF_FILE, base: 0, size: db.pos, exists: true });
      expect(existsSync(next)).toBe(true);
      const fix = recoverDir(dir, true);
      expectData(fix.ks, db.model);
      expect(existsSync(next)).toBe(false);
    }
    const bad = new Uint8Array(goodHeader);
    bad[10]! ^= 1;
    writeFileSync(next, bad);
    const err = thrown(() => recoverDir(dir, true));
    expect(err).toBeInstanceOf(RecoveryError);
    expect(err.message).toContain(`${next}: header CRC mismatch at byte offset 0`);
  });

  describe("dump.rdb", () => {
    async function withDump(seed: number) {
      const dir = tempDir();
      const db = new Db(dir);
      db.randomOps(new Rng(seed), 20);
      db.set("marker", ascii("MARKER-VALUE-0123456789"));
      db.tick();
      await db.cut();
      await db.close();
      const path = join(dir, SNAPSHOT_FILE);
      return { dir, path, orig: fileBytes(path) };
    }

    function snapshotError(dir: string): SnapshotError {
      const err = thrown(() => recoverDir(dir, true));
      expect(err).toBeInstanceOf(SnapshotError);
      return err as SnapshotError;
    }

    test("a flipped byte (header position, creation time, a value): CRC mismatch", async () => {
      const { dir, path, orig } = await withDump(61);
      const marker = Buffer.from(orig).indexOf("MARKER-VALUE");
      expect(marker).toBeGreaterThan(SNAPSHOT_HEADER);
      for (const at of [15, 23, marker + 5]) {
        const bytes = new Uint8Array(orig);
        bytes[at]! ^= 0x01;
        writeFileSync(path, bytes);
        const err = snapshotError(dir);
        expect(err.message).toContain(path);
        expect(err.message).toContain("CRC mismatch");
        expect(err.message).toContain(`at byte offset ${orig.length - 13}`); // the footer
      }
    });

    test("truncated at every length: an error; cut in the footer or an entry header says truncated", async () => {
      const dir = tempDir();
      const db = new Db(dir);
      db.set("a", ascii("one"));
      db.set("bb", ascii("two2"));
      db.tick();
      await db.cut();
      await db.close();
      const path = join(dir, SNAPSHOT_FILE);
      const orig = fileBytes(path);
      expect(orig.length).toBe(SNAPSHOT_HEADER + (6 + 1 + 3) + (6 + 2 + 4) + 13);
      const footer = orig.length - 13;
      for (let len = 0; len < orig.length; len++) {
        writeFileSync(path, orig.subarray(0, len));
        const err = snapshotError(dir);
        expect(err.message).toContain(path);
        // BUG-5 in the report: a cut inside the header or an entry's key/value does not say "truncated".
        expect(err.message).toMatch(/truncated|past the end of the file|shorter than the 24-byte header/);
        if (len >= footer) expect(err.message).toContain("truncated");
      }
    });

    test("wrong magic, or bytes after the footer: an error", async () => {
      const { dir, path, orig } = await withDump(62);
      for (let i = 0; i < 8; i++) {
        const bytes = new Uint8Array(orig);
        bytes[i]! ^= 0x20;
        writeFileSync(path, bytes);
        const err = snapshotError(dir);
        expect(err.message).toContain(`${path}: not a microdb snapshot (bad magic or version) at byte offset 0`);
      }
      const longer = new Uint8Array(orig.length + 3);
      longer.set(orig);
      writeFileSync(path, longer);
      expect(snapshotError(dir).message).toContain("3 unexpected bytes after the footer");
      writeFileSync(path, orig);
      expect(() => recoverDir(dir, true)).not.toThrow();
    });
  });

  describe("gaps in the log", () => {
    function expectGap(dir: string, file: string, base: number, endsAt: number, noDump: boolean): void {
      const err = thrown(() => recoverDir(dir, true));
      expect(err).toBeInstanceOf(RecoveryError);
      expect(err.message).toContain(join(dir, file));
      expect(err.message).toContain(`starts at log position ${base}, but the data before it ends at ${endsAt}`);
      expect(err.message).toContain("gap");
      expect(err.message.includes("is dump.rdb missing?")).toBe(noDump);
    }

    test("appendonly.aof starting after the snapshot's position", async () => {
      const dir = tempDir();
      const db = new Db(dir);
      db.randomOps(new Rng(71), 20);
      const at = await db.cut();
      await db.close();
      const later = new Db(dir, { file: AOF_FILE, base: at + 100, size: 0, exists: false });
      later.set("x", ascii("1"));
      await later.close();
      expectGap(dir, AOF_FILE, at + 100, at, false);
    });

    test("appendonly.aof with a base > 0 and no dump.rdb", async () => {
      const dir = tempDir();
      const db = new Db(dir, { file: AOF_FILE, base: 500, size: 0, exists: false });
      db.set("x", ascii("1"));
      await db.close();
      expectGap(dir, AOF_FILE, 500, 0, true);
    });

    test("appendonly.aof.next starting after the end of appendonly.aof", async () => {
      const dir = tempDir();
      const db = new Db(dir);
      db.randomOps(new Rng(72), 10);
      await db.close();
      const next = new Db(dir, { file: AOF_NEXT, base: db.pos + 50, size: 0, exists: false });
      next.set("x", ascii("1"));
      await next.close();
      expectGap(dir, AOF_NEXT, db.pos + 50, db.pos, true);
    });
  });
});

describe("housekeeping", () => {
  test("a leftover dump.rdb.tmp is noted, and removed only when fixing", async () => {
    const dir = tempDir();
    const db = new Db(dir);
    db.randomOps(new Rng(81), 20);
    await db.cut();
    db.randomOps(new Rng(82), 20);
    await db.close();
    const tmp = join(dir, SNAPSHOT_TMP);
    writeFileSync(tmp, bytesOf(1000, 3));
    const keep = recoverDir(dir, false);
    expectData(keep.ks, db.model);
    expect(keep.rep.notes.some((n) => n.includes(SNAPSHOT_TMP))).toBe(true);
    expect(existsSync(tmp)).toBe(true);
    const fix = recoverDir(dir, true);
    expectData(fix.ks, db.model);
    expect(fix.rep.notes.some((n) => n.includes(SNAPSHOT_TMP))).toBe(true);
    expect(existsSync(tmp)).toBe(false);
    expect(recoverDir(dir, true).rep.notes).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Regressions: each of these lost or refused data before the fix that made it pass.

test("a length byte flipped in a middle record of the last file is corruption, not a torn tail: intact records after it are not cut off", async () => {
  const dir = tempDir();
  const db = new Db(dir);
  db.set("k1", ascii("value-one"));
  db.set("k2", ascii("value-two"));
  db.set("k3", ascii("value-three"));
  await db.close();
  const path = join(dir, AOF_FILE);
  const bytes = new Uint8Array(fileBytes(path));
  const second = AOF_HEADER + db.records[1]!;
  bytes[second + 5]! ^= 0x80; // value_len's high byte: claims ~2 GiB
  writeFileSync(path, bytes);
  expect(() => recoverDir(dir, true)).toThrow(`byte offset ${second}`);
});

test("when dump.rdb covers more than appendonly.aof holds, appends continue after the snapshot, not inside it", async () => {
  const dir = tempDir();
  const db = new Db(dir);
  db.set("a", ascii("1"));
  db.set("b", ascii("2"));
  db.tick();
  // dump.rdb covers a and b (position 30), renamed before the rotation that beginCut starts has
  // written or created anything (saveSnapshot and the rotation run concurrently in the server).
  const view = db.ks.beginSnapshot();
  await saveSnapshot(db.ks, view, dir, db.pos);
  await db.close();
  // b's record never reached the disk (appendfsync no/everysec and a power loss, or a crash
  // while the rotation still waited for an fsync to finish before writing it).
  writeFileSync(join(dir, AOF_FILE), fileBytes(join(dir, AOF_FILE)).subarray(0, AOF_HEADER + recordSize(1, 1)));
  const { rep } = recoverDir(dir);
  const next = new Db(dir, rep.aof, db.model);
  next.set("c", ascii("3")); // acknowledged under appendfsync always
  await next.close();
  expect(recoverDir(dir).ks.get("c")).toEqual(ascii("3"));
});

test("a last record cut short and followed by more zeros than it claims is a torn tail", async () => {
  const dir = tempDir();
  const db = new Db(dir);
  db.set("a", ascii("1".repeat(30)));
  db.set("b", ascii("2".repeat(30)));
  await db.close();
  const path = join(dir, AOF_FILE);
  const orig = fileBytes(path);
  const bytes = new Uint8Array(orig.length + 100); // b's first 12 bytes, then a zeroed page
  bytes.set(orig.subarray(0, orig.length - 32));
  writeFileSync(path, bytes);
  expect(recoverDir(dir, true).rep.torn).toEqual([{ file: path, offset: AOF_HEADER + db.records[1]!, bytes: bytes.length - 64 }]);
});

test("PERSIST replays as logged even when the key's old expiry has passed by today's clock", async () => {
  const dir = tempDir();
  const db = new Db(dir);
  db.set("k", ascii("v"));
  db.aof.append(Op.PEXPIREAT, "k", ascii("1000")); // long past
  db.aof.append(Op.PERSIST, "k", null);
  db.tick();
  await db.close();
  const { ks } = recoverDir(dir);
  expect(ks.get("k")).toEqual(ascii("v"));
  expect(ks.expireAt("k")).toBe(0);
});

test("a PEXPIREAT record with a time that is not plain digits is refused, not guessed at", async () => {
  const dir = tempDir();
  const db = new Db(dir);
  db.set("k", ascii("v"));
  db.aof.append(Op.PEXPIREAT, "k", ascii("1e3"));
  db.tick();
  await db.close();
  expect(thrown(() => recoverDir(dir)).message).toContain("bad expiry time in a PEXPIREAT record");
});

test("an appendonly.aof.next holding only its header is dropped, so a torn tail in appendonly.aof is still the last file's", async () => {
  const dir = tempDir();
  const db = new Db(dir);
  db.set("a", ascii("1"));
  db.set("b", ascii("2"));
  db.tick();
  await db.close();
  writeFileSync(join(dir, AOF_NEXT), encodeAofHeader(db.pos)); // a switch that failed after its header
  const path = join(dir, AOF_FILE);
  writeFileSync(path, fileBytes(path).subarray(0, fileBytes(path).length - 2)); // b torn
  const { ks, rep } = recoverDir(dir);
  expect(ks.get("a")).toEqual(ascii("1"));
  expect(ks.get("b")).toBeUndefined();
  expect(rep.torn.length).toBe(1);
  expect(rep.notes.join("\n")).toContain(`removed ${AOF_NEXT}: it has no records`);
  expect(existsSync(join(dir, AOF_NEXT))).toBe(false);
});
