// The append-only file: every write that changed data, as a checksummed record, group-committed.
//
// Records of one event-loop tick are encoded into one batch and go out in one positional write at
// the end of the tick. fsync is fdatasync on our own fd, as Redis does (appends change the size,
// which fdatasync flushes too, but not the times), one at a time:
//   - `always`: the replies of a batch wait until an fsync covering it completes, so concurrent
//     clients share one fsync (group commit). It runs on the event loop's own thread, right after
//     the tick's write, as Redis's does: under `always` no reply, not even to a read, may leave
//     before it, so the loop has nothing to answer meanwhile, and handing it to a pool thread
//     cost about a fifth of the throughput on two cores (docs/benchmarks.md, "fsync on the loop").
//   - `everysec`: at most a second behind, off the loop (node:fs async), which serves on while the
//     disk flushes a second's writes; ticks that end while it runs are held and written together
//     when it ends (endOfTick).
//   - `no` leaves it to the OS.
//
// Positions are logical: a byte count over the whole history of the log. A file starts with a
// header holding the position of its first record, so a snapshot can name the position it covers
// and the log can be cut without rewriting what remains:
//   - when a snapshot starts at position P, appends move to appendonly.aof.next (base P);
//   - when the snapshot is safely on disk, appendonly.aof.next is renamed over appendonly.aof.
// Recovery loads dump.rdb, then replays appendonly.aof and appendonly.aof.next from the snapshot's
// position (recovery.ts), so a crash between any two steps recovers exactly. The switch to the
// next file happens only after the old file is fsynced, so the next file never holds records that
// follow a gap.
//
// A failed write or fsync is never ignored: the batch is kept and retried every second, `healthy`
// turns false (the server refuses writes meanwhile) and the log says why.
//
// Under `always` the file is kept zero-filled ahead of the log (PREALLOC): an fdatasync after an
// append that grows the file must also commit the new size (an ext4 journal commit), one over
// bytes already there need not. The zeros are cut off at a clean close and at a cut; recovery
// takes a tail of zeros for that space, not for a torn record. The price: a power loss during
// the fsync of a write over zeros can keep a later sector of it and lose an earlier one, which
// recovery must (and does) tell from corruption (recovery.ts).

import { close, closeSync, fdatasync, fdatasyncSync, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { AppendFsync } from "../config.ts";
import { log } from "../log.ts";
import { readU32, writeU32 } from "../protocol/binary.ts";
import { recordSize, writeRecordBytes } from "./record.ts";
import { writeKey } from "../store/keys.ts";

export const AOF_FILE = "appendonly.aof";
export const AOF_NEXT = "appendonly.aof.next";
/** magic "MDBAOF\0" + format version 1, base position (u64 BE), CRC32 of the first 16 bytes. */
export const AOF_HEADER = 20;
const AOF_MAGIC = new Uint8Array([0x4d, 0x44, 0x42, 0x41, 0x4f, 0x46, 0x00, 0x01]);
const RETRY_MS = 1000;
const INITIAL_BATCH = 64 * 1024;
const EMPTY_VALUE = new Uint8Array(0);
/**
 * Under `always`, when the log comes within PREALLOC_LOW bytes of the file's end, PREALLOC more bytes
 * of zeros are written there (at most one chunk per batch: a larger batch grows the file itself).
 * Measured on this VM's ext4 (pwrite + fdatasync in C, 3000 each, two runs): 1200-byte batches
 * 0.226-0.235 ms appending, 0.133-0.165 ms with 256 KiB chunks, 0.141-0.158 ms with 1 MiB; 27000-
 * byte batches 0.234-0.263, 0.176-0.189 and 0.154-0.172 ms. The fsync after a chunk also writes
 * the chunk's zeros: worst 0.7-0.9 ms with 256 KiB, 2.3-3.0 ms with 1 MiB, hence the smaller one.
 */
const PREALLOC = 256 * 1024;
const PREALLOC_LOW = 64 * 1024;
/**
 * Under everysec and no, records are held back from a running fsync at most this long or this
 * many bytes; past either they are written at once, waiting in the kernel if they must. Replies
 * to them (and reads made meanwhile) wait as long, so a slow disk must not hold them for the
 * whole fsync: here an fsync of a second's writes took 2.6-5.2 ms.
 */
const HOLD_MS = 10;
const HOLD_MAX = 8 * 1024 * 1024;
let zeros: Uint8Array | null = null;

export function encodeAofHeader(base: number): Uint8Array {
  const h = new Uint8Array(AOF_HEADER);
  h.set(AOF_MAGIC, 0);
  writeU64(h, 8, base);
  writeU32(h, 16, Bun.hash.crc32(h.subarray(0, 16)));
  return h;
}

/** The base position from a file header, or a description of what is wrong with it. */
export function readAofHeader(h: Uint8Array): { base: number } | { error: string } {
  if (h.length < AOF_HEADER) return { error: `header is ${h.length} bytes, expected ${AOF_HEADER}` };
  for (let i = 0; i < AOF_MAGIC.length; i++) {
    if (h[i] !== AOF_MAGIC[i]) return { error: "not a microdb AOF (bad magic or version)" };
  }
  if (Bun.hash.crc32(h.subarray(0, 16)) !== readU32(h, 16)) return { error: "header CRC mismatch" };
  return { base: readU64(h, 8) };
}

export function writeU64(buf: Uint8Array, off: number, n: number): void {
  writeU32(buf, off, Math.floor(n / 0x1_0000_0000));
  writeU32(buf, off + 4, n >>> 0);
}

export function readU64(buf: Uint8Array, off: number): number {
  return readU32(buf, off) * 0x1_0000_0000 + readU32(buf, off + 4);
}

/** Where appends go on start-up (from recovery). */
export interface AofStart {
  /** Which file is the one being appended to. */
  file: typeof AOF_FILE | typeof AOF_NEXT;
  /** Position of its first record. */
  base: number;
  /** Bytes of records in it (after the header), all valid. */
  size: number;
  /** False when the file does not exist yet and must be created. */
  exists: boolean;
  /**
   * The file is created later, by create(): appends wait in memory (their replies with them) until
   * then. A promoted replica's first snapshot must be on disk before its log begins.
   */
  deferred?: boolean;
}

type Waiter = { pos: number; done: () => void; fail?: (e: Error) => void };

/** An fsync of the log (node:fs fdatasync's shape). */
export type DataSync = (fd: number, done: (err: Error | null) => void) => void;

/** fdatasync on the loop's own thread: `done` runs before this returns. */
const datasyncOnLoop: DataSync = (fd, done) => {
  try {
    fdatasyncSync(fd);
  } catch (e) {
    done(e as Error);
    return;
  }
  done(null);
};

export class Aof {
  /** Logical end of the log, including records not yet written. */
  position: number;
  /** Everything before this position is fsynced. */
  durable: number;
  private written: number;
  private fd = -1;
  /** File offset up to which the file holds bytes (records, or preallocated zeros). */
  private fileEnd = 0;
  /** Preallocation failed in this file (a full disk): not tried again in it. */
  private preallocFailed = false;
  private file: string;
  private base: number;
  private batch = new Uint8Array(INITIAL_BATCH);
  private batchLen = 0;
  private syncing = false;
  /** An fsync is owed for bytes written since the last one started. */
  private dirty = false;
  private rotating = false;
  private failure: string | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private holdExpired = false;
  private everysecTimer: ReturnType<typeof setInterval> | null = null;
  private waiters: Waiter[] = [];
  private writtenWaiters: Waiter[] = [];
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly keyScratch = new Uint8Array(256);
  /** Sees every record as it is appended (the replication stream), or null. */
  tap: ((buf: Uint8Array, start: number, end: number) => void) | null = null;
  /**
   * The log's own fsyncs (not a cut's): on the loop under `always`, off it otherwise. Replaceable
   * so that tests can hold one open for as long as they need: what happens while an fsync runs is
   * the point of the hold, and a real one on a fast disk ends before a test can look.
   */
  datasync: DataSync;
  /** HOLD_MS; replaceable for the same reason, so that a test's hold lasts until it lets go. */
  holdMs = HOLD_MS;

  constructor(private readonly dir: string, private readonly policy: AppendFsync, start: AofStart) {
    this.datasync = policy === "always" ? datasyncOnLoop : fdatasync;
    this.file = start.file;
    this.base = start.base;
    this.position = this.written = this.durable = start.base + start.size;
    if (!start.deferred) this.open(start.exists);
    if (policy === "everysec") {
      this.everysecTimer = setInterval(() => this.requestSync(), 1000);
      this.everysecTimer.unref?.();
    }
  }

  private open(exists: boolean): void {
    this.fd = openSync(this.path(this.file), exists ? "r+" : "w");
    this.fileEnd = exists ? Math.max(this.logEnd(), fstatSync(this.fd).size) : this.logEnd();
    if (!exists) {
      writeAll(this.fd, encodeAofHeader(this.base), 0);
      fsyncSync(this.fd);
      fsyncDir(this.dir);
    }
  }

  /** Cuts off the preallocated zeros (the caller fsyncs); true when there were any. */
  private cutPreallocated(): boolean {
    if (this.fileEnd <= this.logEnd()) return false;
    ftruncateSync(this.fd, this.logEnd());
    this.fileEnd = this.logEnd();
    return true;
  }

  /** File offset where the next record goes. */
  private logEnd(): number {
    return AOF_HEADER + (this.written - this.base);
  }

  /**
   * Keeps zeros ahead of the log under `always` (PREALLOC). A failure here (a full disk) is not
   * the log's: what was written of the chunk is cut off again, so it holds no space a snapshot
   * needs, and appends to this file grow it as they would have anyway (and report their own
   * failures).
   */
  private preallocate(): void {
    if (this.policy !== "always" || this.preallocFailed || this.fileEnd - this.logEnd() >= PREALLOC_LOW) return;
    zeros ??= new Uint8Array(PREALLOC);
    try {
      writeAll(this.fd, zeros, this.fileEnd);
      this.fileEnd += PREALLOC;
    } catch (e) {
      this.preallocFailed = true;
      log("warn", `AOF: could not preallocate ${PREALLOC} bytes at byte offset ${this.fileEnd} of ${this.file} (${(e as Error).message}); appends to it grow it instead`);
      try {
        ftruncateSync(this.fd, this.fileEnd);
      } catch {
        // Zeros left past the log are harmless: recovery takes them for free space.
      }
    }
  }

  /**
   * A deferred log's first snapshot is taken at `at` (between its base and its position): the
   * records before `at` are in that snapshot, so the log starts there instead. They count as
   * written and durable only once that snapshot is on disk (create), not here: their replies wait.
   */
  rebase(at: number): void {
    if (this.fd >= 0) throw new Error("only a log whose file is not created yet can be rebased");
    if (at < this.base || at > this.position) throw new Error(`rebase to ${at} outside [${this.base}, ${this.position}]`);
    const drop = at - this.base;
    this.batch.copyWithin(0, drop, this.batchLen);
    this.batchLen -= drop;
    this.base = at;
  }

  /**
   * Creates a deferred file (header fsynced, directory fsynced) and writes what waited. Replies
   * waiting for records the first snapshot holds (before the base) go now.
   */
  create(): void {
    if (this.fd >= 0) return;
    this.written = this.durable = this.base;
    this.open(false);
    this.advanceWritten(0);
    this.markDurable(this.durable, true);
    this.endOfTick();
    this.requestSync();
  }

  /** False after a failed write or fsync, until a retry succeeds. */
  get healthy(): boolean {
    return this.failure === null;
  }

  get lastError(): string | null {
    return this.failure;
  }

  /** True while appends go to appendonly.aof.next (a snapshot is due to cut the log). */
  get onNextFile(): boolean {
    return this.file === AOF_NEXT;
  }

  /** Appends one record to the current batch. */
  append(op: number, key: string, value: Uint8Array | null): void {
    const kl = writeKey(this.keyScratch, 0, key);
    this.appendBytes(op, this.keyScratch, 0, kl, value ?? EMPTY_VALUE, 0, value?.length ?? 0);
  }

  /** append with the key kb[ko, ko + kl) and the value vb[vo, vo + vl) in place (no string, no view). */
  appendBytes(op: number, kb: Uint8Array, ko: number, kl: number, vb: Uint8Array, vo: number, vl: number): void {
    const size = recordSize(kl, vl);
    if (this.batchLen + size > this.batch.length) {
      const next = new Uint8Array(Math.max(this.batchLen + size, this.batch.length * 2));
      next.set(this.batch.subarray(0, this.batchLen));
      this.batch = next;
    }
    const start = this.batchLen;
    this.batchLen = writeRecordBytes(this.batch, start, op, kb, ko, kl, vb, vo, vl);
    this.position += size;
    if (this.tap !== null) this.tap(this.batch, start, this.batchLen);
  }

  /**
   * End of tick: one write for the whole batch, then under `always` its fsync (on the loop). While
   * an fsync runs off the loop (everysec's, or one `datasync` makes asynchronous) the batch stays
   * here and goes out as one write when it ends, under everysec and no for at most HOLD_MS and
   * HOLD_MAX: a write to the file while the pool's fdatasync of it runs can block the loop for
   * milliseconds (up to 3.7 ms measured under everysec, docs/benchmarks.md "The SET tail"); Redis postpones
   * its write the same way. Replies that wait for the held records wait for that write
   * (whenWritten, Server.holdAfter).
   */
  endOfTick(): void {
    if (this.batchLen === 0 || this.rotating || this.failure !== null || this.closed || this.fd < 0) return;
    if (this.syncing && (this.policy === "always" || this.holdBehindSync())) return;
    if (!this.writeBatch()) return;
    if (this.policy === "always") this.requestSync();
  }

  /** Under everysec and no: whether the batch stays back from the running fsync (HOLD_MS, HOLD_MAX). */
  private holdBehindSync(): boolean {
    if (this.holdExpired || this.batchLen >= HOLD_MAX) return false;
    if (this.holdTimer === null) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        this.holdExpired = true;
        this.endOfTick();
      }, this.holdMs);
      this.holdTimer.unref?.();
    }
    return true;
  }

  /** True while an fsync runs that something (a reply, a cut) waits for. */
  get awaitingSync(): boolean {
    return this.syncing && (this.waiters.length > 0 || this.writtenWaiters.length > 0);
  }

  /**
   * True while records are only in this process: this tick's batch, one held behind an fsync, a
   * switch or a failure, or after a promotion the writes the first snapshot is to hold (rebase).
   */
  get holding(): boolean {
    return this.position > this.written;
  }

  /** Everything before this position has been handed to the OS (written, maybe not fsynced). */
  get writtenPosition(): number {
    return this.written;
  }

  /** Calls `done` once every record before `pos` is fsynced (waiting through failures). */
  whenDurable(pos: number, done: () => void): void {
    if (pos <= this.durable) done();
    else {
      this.waiters.push({ pos, done });
      this.requestSync();
    }
  }

  /** Resolves once every record before `pos` is fsynced; rejects if the AOF fails first. */
  waitDurable(pos: number): Promise<void> {
    if (pos <= this.durable) return Promise.resolve();
    if (this.failure !== null) return Promise.reject(new Error(`AOF is failing: ${this.failure}`));
    return new Promise((done, fail) => {
      this.waiters.push({ pos, done, fail });
      this.requestSync();
    });
  }

  /**
   * Fsyncs what is written so far, holding no reply: done before a cut, so the fsync that the
   * switch to the next file waits for (and write replies with it) covers only the last moments.
   * A failure here is the log's own, reported and retried as any other; the cut goes on regardless.
   */
  async syncWritten(): Promise<void> {
    if (this.closed || this.fd < 0) return;
    try {
      await this.waitDurable(this.written);
    } catch {
      // Reported by fail(); rotate() finds the log failing and keeps appends in the old file.
    }
  }

  /** Calls `done` once every record before `pos` is written (not only in this process's memory). */
  whenWritten(pos: number, done: () => void): void {
    if (pos <= this.written) done();
    else this.writtenWaiters.push({ pos, done });
  }

  /**
   * Snapshot start: returns the position the snapshot will cover, and from here on appends go to
   * appendonly.aof.next (unless they already do, after a snapshot that did not commit).
   */
  beginCut(): number {
    const at = this.position;
    if (this.file === AOF_FILE && !this.rotating) {
      this.rotating = true;
      void this.rotate(at);
    }
    return at;
  }

  /** Snapshot committed: appendonly.aof.next becomes appendonly.aof. */
  async finishCut(): Promise<void> {
    while (this.rotating) await this.idle();
    if (this.file !== AOF_NEXT) return;
    replaceFile(this.path(AOF_NEXT), this.path(AOF_FILE));
    this.file = AOF_FILE;
    await fsyncDirAsync(this.dir);
  }

  /** Writes and fsyncs everything, then closes the file (shutdown). */
  async close(): Promise<void> {
    while (this.rotating) await this.idle();
    while (this.syncing) await this.idle();
    this.endOfTick();
    while (this.syncing) await this.idle();
    if (this.failure === null && this.fd >= 0) {
      // A cleanly closed file is exactly its log: the preallocated zeros go.
      const cut = this.cutPreallocated();
      if (cut || this.written > this.durable) {
        fsyncSync(this.fd);
        this.durable = this.written;
      }
    }
    this.closed = true;
    if (this.everysecTimer) clearInterval(this.everysecTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    if (this.fd >= 0) closeSync(this.fd);
    if (this.failure !== null) throw new Error(`appendonly file not fully written: ${this.failure}`);
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  /** Writes the batch at the end of the current file; on failure keeps it for a retry. */
  private writeBatch(): boolean {
    const n = this.batchLen;
    if (this.writeLogBytes(n) !== null) return false;
    this.batchLen = 0;
    if (this.holdTimer !== null) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
    }
    this.holdExpired = false;
    if (this.batch.length > 1024 * 1024) this.batch = new Uint8Array(INITIAL_BATCH);
    this.advanceWritten(n);
    this.preallocate();
    return true;
  }

  /**
   * Writes batch[0, n) where the next record goes and counts the file as reaching past it; the
   * caller advances `written`. A failure is reported (fail) and returned.
   */
  private writeLogBytes(n: number): Error | null {
    const offset = this.logEnd();
    try {
      writeAll(this.fd, this.batch, offset, n);
    } catch (e) {
      this.fail(`write to ${this.file} failed: ${(e as Error).message}`);
      return e as Error;
    }
    if (this.fileEnd < offset + n) this.fileEnd = offset + n;
    return null;
  }

  /** Counts n more bytes as written and wakes every reply waiting for them. */
  private advanceWritten(n: number): void {
    this.written += n;
    this.dirty = true;
    if (this.writtenWaiters.length > 0) {
      const ready = this.writtenWaiters.filter((w) => w.pos <= this.written);
      this.writtenWaiters = this.writtenWaiters.filter((w) => w.pos > this.written);
      for (const w of ready) w.done();
    }
  }

  private requestSync(): void {
    if (this.syncing || this.closed || this.failure !== null || this.rotating || this.fd < 0) return;
    if (!this.dirty && this.waiters.length === 0) return;
    if (!this.dirty) {
      // Waiters but nothing new written: their records are still in the batch.
      if (this.batchLen > 0 && this.writeBatch()) this.requestSync();
      return;
    }
    this.syncing = true;
    this.dirty = false;
    const upTo = this.written;
    this.datasync(this.fd, (err) => {
      this.syncing = false;
      if (err) {
        this.dirty = true;
        // What was held behind the fsync goes to the OS before the log counts as failing: a
        // failure holds records until a retry, a second or more away.
        if (this.policy !== "always") this.endOfTick();
        this.fail(`fsync of ${this.file} failed: ${err.message}`);
      } else {
        // The next fsync starts before this one's replies go out: sending them takes a while,
        // and the disk would sit idle meanwhile. Durable is advanced first, so that a failure of
        // that write does not fail waiters this fsync has already covered.
        if (upTo > this.durable) this.durable = upTo;
        this.endOfTick();
        this.markDurable(upTo, true);
        if (this.waiters.length > 0 || (this.policy === "always" && this.dirty)) this.requestSync();
      }
      this.wakeIdle();
    });
  }

  /**
   * Never lowers `durable`: under `always` a later fsync can complete (on the loop) inside an
   * earlier one's completion, before the earlier one gets here with its lower position.
   */
  private markDurable(upTo: number, wakeOnly = false): void {
    if (upTo <= this.durable && !wakeOnly) return;
    if (upTo > this.durable) this.durable = upTo;
    if (this.waiters.length === 0) return;
    const at = this.durable;
    const ready = this.waiters.filter((w) => w.pos <= at);
    this.waiters = this.waiters.filter((w) => w.pos > at);
    for (const w of ready) w.done();
  }

  /**
   * Moves appends to appendonly.aof.next (base `at`): writes what belongs before `at` to the old
   * file and creates the next file with its header; then fsyncs the old file, the next file and
   * the directory, all three at once (replies to writes wait for the switch, so it should take
   * one disk flush, not three in a row), and only then switches. Records appended meanwhile wait
   * in the batch. On any failure the switch does not happen and the batch stays whole: appends
   * simply go on in the old file.
   */
  private async rotate(at: number): Promise<void> {
    try {
      while (this.syncing) await this.idle();
      if (this.failure !== null) throw new Error(this.failure);
      const oldPart = at - (this.position - this.batchLen);
      if (oldPart > 0) {
        const failed = this.writeLogBytes(oldPart);
        if (failed !== null) throw failed;
        this.batch.copyWithin(0, oldPart, this.batchLen);
        this.batchLen -= oldPart;
        this.advanceWritten(oldPart);
      }
      const fd = openSync(this.path(AOF_NEXT), "w");
      const dropNext = () => {
        closeSync(fd);
        rmSync(this.path(AOF_NEXT), { force: true });
      };
      let oldSynced: Promise<void>;
      try {
        writeAll(fd, encodeAofHeader(at), 0);
        this.cutPreallocated(); // before the old file's last fsync: it ends exactly at `at`
        oldSynced = fsyncAsync(this.fd);
      } catch (e) {
        dropNext();
        throw e;
      }
      const [old, next, dir] = await Promise.allSettled([oldSynced, fsyncAsync(fd), fsyncDirAsync(this.dir)]);
      if (old.status === "rejected") {
        dropNext();
        this.dirty = true;
        this.fail(`fsync of ${this.file} failed: ${(old.reason as Error).message}`);
        throw old.reason;
      }
      this.markDurable(this.written);
      if (next.status === "rejected" || dir.status === "rejected") {
        dropNext();
        throw (next.status === "rejected" ? next.reason : (dir as PromiseRejectedResult).reason) as Error;
      }
      closeSync(this.fd);
      this.fd = fd;
      this.file = AOF_NEXT;
      this.base = at;
      this.fileEnd = this.logEnd();
      this.preallocFailed = false;
      this.dirty = false;
    } catch (e) {
      log("warn", `AOF: could not switch to ${AOF_NEXT} (${(e as Error).message}); appends go on in ${this.file}`);
    } finally {
      this.rotating = false;
      this.wakeIdle();
    }
    this.endOfTick();
    this.requestSync();
  }

  private fail(why: string): void {
    if (this.failure === null) log("error", `AOF: ${why}; writes are refused until it can be written again`);
    this.failure = why;
    // Waiters that must not wait out a failure (a snapshot's commit) are told now, unless what
    // they wait for is already durable (they are woken by markDurable).
    const strict = this.waiters.filter((w) => w.fail && w.pos > this.durable);
    this.waiters = this.waiters.filter((w) => !w.fail || w.pos <= this.durable);
    for (const w of strict) w.fail!(new Error(`AOF is failing: ${why}`));
    if (this.retryTimer === null && !this.closed) {
      this.retryTimer = setTimeout(() => this.retry(), RETRY_MS);
      this.retryTimer.unref?.();
    }
  }

  private retry(): void {
    this.retryTimer = null;
    const was = this.failure;
    this.failure = null;
    if (this.batchLen > 0 && !this.writeBatch()) return;
    try {
      fsyncSync(this.fd);
    } catch (e) {
      this.fail(`fsync of ${this.file} failed: ${(e as Error).message}`);
      return;
    }
    this.dirty = false;
    this.markDurable(this.written);
    log("warn", `AOF: writing works again (after: ${was}); accepting writes`);
  }

  private idle(): Promise<void> {
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private wakeIdle(): void {
    for (const r of this.idleWaiters.splice(0)) r();
  }
}

/**
 * Renames `from` over `to` without freeing the old `to` on the event loop: a rename that drops the
 * last link of a large file frees its blocks there and then (18 ms for a 40 MB AOF, measured), so
 * the old file is held open across the rename and its last close runs on the thread pool.
 */
export function replaceFile(from: string, to: string): void {
  let old = -1;
  try {
    old = openSync(to, "r");
  } catch {
    // Nothing to replace.
  }
  try {
    renameSync(from, to);
  } finally {
    if (old >= 0) close(old, () => {});
  }
}

/** Writes data[0, length) at `position`, looping over short writes; by offsets, so the per-tick write makes no view. */
export function writeAll(fd: number, data: Uint8Array, position: number, length = data.length): void {
  let done = 0;
  while (done < length) {
    done += writeSync(fd, data, done, length - done, position + done);
  }
}

export function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Makes a rename or a new file in `dir` durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDirAsync(dir: string): Promise<void> {
  const fd = openSync(dir, "r");
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}
