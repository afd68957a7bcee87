// Persistence for a running server: every logged write goes to the AOF; snapshots are taken when
// snapshot_commands writes have been logged since the last one, when snapshot_interval seconds have
// passed with at least one write, on SAVE and at shutdown — never two at once (a trigger during a
// snapshot runs when it ends). After a snapshot commits, the AOF is cut to what came after it.
// A snapshot by count also waits until the AOF since the last one is as large as that snapshot.

import { rmSync } from "node:fs";
import { join } from "node:path";
import type { WriteRefusal } from "../commands/table.ts";
import type { Config } from "../config.ts";
import { ErrorCode } from "../protocol/binary.ts";
import { log } from "../log.ts";
import type { Keyspace, SnapshotView } from "../store/keyspace.ts";
import { AOF_FILE, AOF_NEXT, Aof, fsyncDirAsync, type AofStart } from "./aof.ts";
import { SNAPSHOT_TMP, saveSnapshot, type SnapshotStats } from "./snapshot.ts";

const BACKOFF = 300;
const ADOPT_RETRY_MS = 1000;
/** After a failed snapshot an automatic one waits this long (Redis retries a failed BGSAVE after 5 s). */
const FAILED_RETRY_MS = 5000;

export interface PersistenceInfo {
  aofHealthy: boolean;
  aofError: string | null;
  aofPosition: number;
  aofDurable: number;
  changesSinceSave: number;
  snapshotRunning: boolean;
  lastSaveTime: number;
  lastSnapshotOk: boolean;
  lastSnapshot: SnapshotStats | null;
  snapshotsTaken: number;
}

export class Persistence {
  readonly aof: Aof;
  private writesSinceSnapshot = 0;
  /** AOF position the last committed snapshot covers. */
  private savedPosition: number;
  /**
   * The last committed snapshot's size. A snapshot by count waits until the AOF has grown this
   * much since it: each one rewrites the whole dataset, and with a large dataset and a slow write
   * stream it wrote more than it cut (100k 16-byte keys, one client: 3 MB every 1.4 s, the 300x
   * back-off below, to cut 0.9 MB of log), which cost the one-client 16-byte SET about 5% of its
   * throughput (13.1k against 13.8k requests/s without snapshots, medians of 5). Redis rewrites
   * its AOF at 100% growth for the same reason. The interval and SAVE do not wait for it.
   */
  private savedBytes: number;
  private lastSaveTime: number;
  private lastAttemptAt = Date.now();
  private running: Promise<void> | null = null;
  private runningPosition = -1;
  private triggered = false;
  private lastOk = true;
  private lastError = "";
  private lastStats: SnapshotStats | null = null;
  private taken = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  /**
   * Automatic snapshots start no sooner than this: after each one, BACKOFF times the event-loop
   * time it took (its slices; the fsyncs run off the loop). Under a heavy write load
   * snapshot_commands is reached again at once, and back-to-back snapshots of a large keyspace
   * would take the loop from the clients; this keeps automatic snapshots to about 1/(BACKOFF+1)
   * of the loop's time (at 4, redis-benchmark SET lost about a third of its throughput to them;
   * at 20, -c 50 SET's p95 was a fifth higher than at 100; at 100 their 1 ms slices still showed
   * in -c 50 SET's p99, 2.28 ms against 1.81 at 300, medians of 8). Loop time, not wall time:
   * under load the slices yield to clients, and a 100k-entry snapshot that held the loop ~30 ms
   * took 1.3 s, which would have held the next one off for minutes. After a failure:
   * FAILED_RETRY_MS.
   * SAVE, BGSAVE and shutdown do not wait.
   */
  private notBefore = 0;
  private backoffTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly dir: string,
    private readonly config: Config,
    private readonly keyspace: Keyspace,
    start: AofStart,
    snapshot: { position: number; createdAt: number; bytes: number } | null,
  ) {
    this.aof = new Aof(dir, config.appendfsync, start);
    this.savedPosition = snapshot?.position ?? 0;
    this.savedBytes = snapshot?.bytes ?? 0;
    this.lastSaveTime = snapshot?.createdAt ?? Date.now();
    this.timer = setInterval(() => this.checkInterval(), 1000);
    this.timer.unref?.();
  }

  /**
   * A promoted replica takes over `dir` for a keyspace that came from its master, at stream
   * offset `position`. The old files describe another history, so they go first (the log before
   * the snapshot: a dump.rdb at `position` next to an old log would replay stale records); then a
   * snapshot at `position` is written, and only then does the log begin, at `position`. Writes
   * meanwhile wait in memory, and so do their replies: none is acknowledged before it is logged.
   * A crash before the new dump.rdb lands leaves the old one, with nothing acknowledged since.
   */
  static adopt(dir: string, config: Config, keyspace: Keyspace, position: number): Persistence {
    const p = new Persistence(dir, config, keyspace, { file: AOF_FILE, base: position, size: 0, exists: false, deferred: true }, null);
    p.runningPosition = Number.MAX_SAFE_INTEGER;
    p.running = p.startFiles();
    return p;
  }

  private async startFiles(): Promise<void> {
    const ks = this.keyspace;
    for (;;) {
      let view: SnapshotView | null = null;
      try {
        for (const f of [AOF_NEXT, AOF_FILE, SNAPSHOT_TMP]) rmSync(join(this.dir, f), { force: true });
        await fsyncDirAsync(this.dir);
        while (ks.snapshotRunning) await ks.snapshotIdle();
        // Position, log base and view in one tick: writes that came meanwhile are in the snapshot,
        // so the log starts after them and nothing is in both.
        const at = this.aof.position;
        this.aof.rebase(at);
        view = ks.beginSnapshot();
        this.runningPosition = at;
        const stats = await saveSnapshot(ks, view, this.dir, at);
        this.aof.create();
        this.savedPosition = at;
        this.savedBytes = stats.bytes;
        this.lastSaveTime = Date.now();
        this.lastOk = true;
        this.lastStats = stats;
        this.taken++;
        log("info", `Data files started at stream offset ${at}: snapshot of ${stats.entries} entries in ${stats.ms.toFixed(1)} ms, then the AOF`);
        break;
      } catch (e) {
        if (view !== null) ks.abortSnapshot(view);
        this.lastOk = false;
        this.lastError = (e as Error).message;
        log("error", `Cannot start the data files in ${this.dir} (${this.lastError}); writes wait; retrying in ${ADOPT_RETRY_MS} ms`);
        await Bun.sleep(ADOPT_RETRY_MS);
      }
    }
    this.running = null;
    this.runningPosition = -1;
  }

  /** Why writes are refused right now, or null when they are accepted. */
  get writeError(): WriteRefusal | null {
    const e = this.aof.lastError;
    return e === null ? null : { code: ErrorCode.MISCONF, message: `MISCONF Errors writing to the AOF file: ${e}` };
  }

  /** Logs one write that changed data. */
  logWrite(op: number, key: string, value: Uint8Array | null): void {
    this.aof.append(op, key, value);
    this.counted();
  }

  /** logWrite with key and value given in place (the SET fast path). */
  logWriteBytes(op: number, kb: Uint8Array, ko: number, kl: number, vb: Uint8Array, vo: number, vl: number): void {
    this.aof.appendBytes(op, kb, ko, kl, vb, vo, vl);
    this.counted();
  }

  private counted(): void {
    this.writesSinceSnapshot++;
    if (this.countDue()) this.trigger();
  }

  /** snapshot_commands writes logged, and the AOF grown by the last snapshot's size, since it. */
  private countDue(): boolean {
    const n = this.config.snapshot_commands;
    return n > 0 && this.writesSinceSnapshot >= n && this.aof.position - this.savedPosition >= this.savedBytes;
  }

  /**
   * SAVE: resolves once a snapshot holding every write logged before the call is on disk. A running
   * snapshot that started after the last of those writes is waited for instead of starting another.
   */
  async save(): Promise<void> {
    const target = this.aof.position;
    if (this.running) {
      const covers = this.runningPosition >= target;
      await this.running;
      if (covers) return this.throwIfFailed();
    }
    await this.startSnapshot();
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (!this.lastOk) throw new Error(`snapshot failed: ${this.lastError}`);
  }

  info(): PersistenceInfo {
    return {
      aofHealthy: this.aof.healthy,
      aofError: this.aof.lastError,
      aofPosition: this.aof.position,
      aofDurable: this.aof.durable,
      changesSinceSave: this.aof.position > this.savedPosition ? this.writesSinceSnapshot : 0,
      snapshotRunning: this.running !== null,
      lastSaveTime: this.lastSaveTime,
      lastSnapshotOk: this.lastOk,
      lastSnapshot: this.lastStats,
      snapshotsTaken: this.taken,
    };
  }

  /** BGSAVE: starts a snapshot unless one is running (false then). */
  bgsave(): boolean {
    if (this.running) return false;
    void this.startSnapshot();
    return true;
  }

  /**
   * Shutdown: finishes any snapshot, writes a final one if anything changed (unless `save` is
   * false), and closes the AOF after fsyncing it.
   */
  async close(save = true): Promise<void> {
    clearInterval(this.timer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.aof.endOfTick();
    if (this.running) await this.running;
    if (save && this.aof.position > this.savedPosition) await this.startSnapshot();
    await this.aof.close();
  }

  private trigger(): void {
    if (this.running) {
      this.triggered = true;
      return;
    }
    const wait = this.notBefore - Date.now();
    if (wait <= 0) {
      void this.startSnapshot();
    } else if (this.backoffTimer === null) {
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = null;
        // Still due? A SAVE meanwhile may have answered the trigger.
        if (!this.running && (this.countDue() || this.intervalDue())) void this.startSnapshot();
      }, wait);
      this.backoffTimer.unref?.();
    }
  }

  private checkInterval(): void {
    if (this.intervalDue()) this.trigger();
  }

  /** snapshot_interval seconds since the last snapshot began, and the log has grown since the last one. */
  private intervalDue(): boolean {
    const every = this.config.snapshot_interval * 1000;
    return every > 0 && this.aof.position > this.savedPosition && Date.now() - this.lastAttemptAt >= every;
  }

  private startSnapshot(): Promise<void> {
    if (this.running) return this.running;
    this.lastAttemptAt = Date.now();
    if (!this.aof.healthy) {
      // A snapshot claims a log position; with the log failing it could not be made durable.
      this.lastOk = false;
      this.lastError = `the AOF is failing: ${this.aof.lastError}`;
      log("error", `Snapshot not started: ${this.lastError}`);
      return Promise.resolve();
    }
    // Not begun yet, it will cover every write logged before it begins.
    this.runningPosition = Number.MAX_SAFE_INTEGER;
    this.running = (async () => {
      // One point-in-time view at a time: a replica's full sync may hold it. The fsync before the
      // cut is awaited too, and a full sync may take the view meanwhile: check again after it.
      for (;;) {
        while (this.keyspace.snapshotRunning) await this.keyspace.snapshotIdle();
        await this.aof.syncWritten();
        if (!this.keyspace.snapshotRunning) break;
      }
      // Position and view are taken in the same tick: the snapshot is exactly the log up to here.
      let position: number;
      let view: SnapshotView;
      try {
        position = this.aof.beginCut();
        view = this.keyspace.beginSnapshot();
      } catch (e) {
        // Never let a snapshot's failure escape into a write command or a timer (beginSnapshot
        // throws before it begins anything, so there is no view of ours to end).
        this.lastOk = false;
        this.lastError = (e as Error).message;
        log("error", `Snapshot not started: ${this.lastError}`);
        this.running = null;
        this.runningPosition = -1;
        return;
      }
      const counted = this.writesSinceSnapshot;
      this.writesSinceSnapshot = 0;
      this.runningPosition = position;
      try {
        const stats = await saveSnapshot(this.keyspace, view, this.dir, position, () => this.aof.waitDurable(position));
        await this.aof.finishCut();
        this.savedPosition = position;
        this.savedBytes = stats.bytes;
        this.lastSaveTime = Date.now();
        this.lastOk = true;
        this.lastStats = stats;
        this.taken++;
        this.notBefore = Date.now() + BACKOFF * stats.busyMs;
        log("info", `Snapshot saved: ${stats.entries} entries, ${stats.bytes} bytes in ${stats.ms.toFixed(1)} ms (${stats.slices} slices, ${stats.busyMs.toFixed(1)} ms on the loop, longest ${stats.worstSliceMs.toFixed(2)} ms); AOF cut at position ${position}`);
      } catch (e) {
        // Whatever failed (even opening the temp file), our view must end; another one that
        // began after ours ended (a replica's full sync) is not ours to end.
        this.keyspace.abortSnapshot(view);
        this.lastOk = false;
        this.lastError = (e as Error).message;
        log("error", `Snapshot failed: ${this.lastError}`);
        this.notBefore = Date.now() + FAILED_RETRY_MS;
        this.writesSinceSnapshot += counted; // still owed: the retry below is due by count
        this.triggered ||= this.countDue();
      } finally {
        this.running = null;
        this.runningPosition = -1;
      }
      // A trigger by the interval is answered by this snapshot (the interval counts from its start).
      if (this.triggered) {
        this.triggered = false;
        if (this.countDue()) this.trigger();
      }
    })();
    return this.running;
  }
}
