// The keyspace: the only owner of key and value memory, key expiry, and the point-in-time view
// snapshots read.
//
// Keys are byte strings, given and returned as latin1 JS strings (one char per byte, 0..255), so
// distinct byte sequences never collide the way UTF-8 decoding would make them. They are not kept
// as strings: an entry — key bytes and value bytes — is one block of the arena (arena.ts), off the
// garbage-collected heap, and the index (table.ts) is an open-addressing table of a seeded 32-bit
// hash of the key and the entry's handle, in flat typed arrays. Values of LARGE_VALUE bytes and
// more are kept as their own arrays (few, and a reply may queue them by reference); the entry then
// holds only the key.
//
// Entry block: epoch (u32, see below), value length (u32; 0xFFFFFFFF = kept outside), key length
// (u8), key bytes, value bytes. A freed block says so: value length 0xFFFFFFFE, and its size in
// bytes where the epoch was. A value returned by get() is a view into the arena, valid until
// the end of the event-loop tick (frees are deferred to then, arena.ts): copy it to keep it.
// Stored values are never changed in place; a write makes a new block.
//
// Expiry: absolute times (ms) in a side map by handle. A key past its time is gone for readers; a
// master also deletes it on access and in a sweep that checks a bounded number of keys per call,
// and reports each deletion through onExpire so the AOF (and replicas) get an explicit delete. A
// replica never expires keys by itself: it waits for its master's delete.
//
// Point-in-time snapshots without fork and without stopping the world (after Dragonfly): each
// snapshot has an epoch, one more than the last, and an entry's epoch says whether the running
// snapshot has dealt with it. The walk goes through the arena's pages in address order, block by
// block (sequential memory: in index order each entry was a cache miss, and a 1 KiB value's copy
// from a random place took three times as long), stepping over free blocks, which are marked as
// such in their header, and emits live entries whose epoch is older, stamping them; it ends where
// the arena ended when the view began, as every block past that is newer. Before a write
// changes or deletes an entry not yet stamped, its key, old value and expiry are saved (and it is
// stamped); entries created during the snapshot are born stamped. When the walk ends, the saved
// values are emitted. So every key that existed at the start is emitted exactly once, as it was
// at the start. Only the writer that began a view may walk or abort it. Extra memory is proportional to the writes during the
// snapshot, not to the dataset. FLUSHALL during a snapshot hands the old table and arena to the
// snapshot and starts new ones.

import { Arena, MAX_BLOCK, blockBytes } from "./arena.ts";
import { readU32, writeU32 } from "../protocol/binary.ts";
import { PREFETCH_MAX } from "../protocol/prefetch.ts";
import { keyFromBytes, writeKey } from "./keys.ts";
import { SavedLog } from "./saved-log.ts";
import { EMPTY, Table } from "./table.ts";
import { copyBytes, copyOf } from "../bytes.ts";

const NO_EXPIRY = 0;
const E_EPOCH = 0;
const E_VLEN = 4;
const E_KLEN = 8;
const E_KEY = 9;
const OUTSIDE = 0xffff_ffff;
const FREE = 0xffff_fffe;
/** Blocks a snapshot walk step may pass per entry it may emit (free or stamped ones are skipped). */
const STEPS_PER_EMISSION = 4;
/** Values this large are kept as their own arrays, not in the arena. */
export const LARGE_VALUE = MAX_BLOCK - E_KEY - 255;

/** FNV-1a over the key's bytes from a seed (random per keyspace), then a final mix. */
export function hashBytes(b: Uint8Array, start: number, len: number, seed: number): number {
  let h = (seed ^ 0x811c9dc5) | 0;
  for (let i = start, end = start + len; i < end; i++) h = Math.imul(h ^ b[i]!, 16777619);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h | 0;
}

export type Emit = (key: string, value: Uint8Array, expireAt: number) => void;

/**
 * The allocation-free form the snapshot writer uses: the key is kb[ko, ko + kl), the value
 * vb[vo, vo + vl); both are only valid during the call. `large` is true when vb is a value kept
 * outside the arena (immutable: it may be referenced instead of copied).
 */
export type RawEmit = (kb: Uint8Array, ko: number, kl: number, vb: Uint8Array, vo: number, vl: number, large: boolean, expireAt: number) => void;

/** Where entries live: the index, the arena, values kept outside it, expiry times (by handle). */
interface Store {
  readonly table: Table;
  readonly arena: Arena;
  readonly large: Map<number, Uint8Array>;
  readonly expires: Map<number, number>;
}

function newStore(): Store {
  return { table: new Table(), arena: new Arena(), large: new Map(), expires: new Map() };
}

function epochOf(arena: Arena, e: number): number {
  return readU32(arena.page(e), arena.offset(e) + E_EPOCH);
}

function setEpoch(arena: Arena, e: number, epoch: number): void {
  writeU32(arena.page(e), arena.offset(e) + E_EPOCH, epoch);
}

function keyOf(arena: Arena, e: number): string {
  const b = arena.page(e);
  const o = arena.offset(e);
  return keyFromBytes(b, o + E_KEY, b[o + E_KLEN]!);
}

function valueOf(st: Store, e: number): Uint8Array {
  const b = st.arena.page(e);
  const o = st.arena.offset(e);
  const vlen = readU32(b, o + E_VLEN);
  if (vlen === OUTSIDE) return st.large.get(e)!;
  const at = o + E_KEY + b[o + E_KLEN]!;
  return b.subarray(at, at + vlen);
}

/** Passes the entry at b[o] (handle e) to `emit` in place: its value inline, or the array it is kept in outside the arena. */
function emitEntry(st: Store, e: number, b: Uint8Array, o: number, kl: number, vlen: number, at: number, emit: RawEmit): void {
  if (vlen === OUTSIDE) {
    const v = st.large.get(e)!;
    emit(b, o + E_KEY, kl, v, 0, v.length, true, at);
  } else {
    emit(b, o + E_KEY, kl, b, o + E_KEY + kl, vlen, false, at);
  }
}

/**
 * The bytes an entry asks the arena for: header, key, and the value unless it is kept outside
 * (vlen OUTSIDE). The block is allocated, freed and stepped over by the snapshot walk by this
 * size, so all three take it from here.
 */
function entrySize(kl: number, vlen: number): number {
  return E_KEY + kl + (vlen === OUTSIDE ? 0 : vlen);
}

/** A running point-in-time view, as the one who began it holds it. */
export interface SnapshotView {
  readonly epoch: number;
}

interface SnapshotState extends SnapshotView {
  readonly epoch: number;
  /** What is being walked (the live store, unless FLUSHALL replaced it). */
  readonly store: Store;
  /** Where the walk is: the next block is at byte `off` of arena page `page`. */
  page: number;
  off: number;
  /** Where the arena ended when the view began (the last page, and the end of its blocks then). */
  readonly lastPage: number;
  readonly lastEnd: number;
  /** Start-time entries changed during the snapshot, as they were (emitted after the walk). */
  readonly saved: SavedLog;
  walkDone: boolean;
}

export class Keyspace {
  private st: Store = newStore();
  private snap: SnapshotState | null = null;
  /** Epoch of the last snapshot begun; entries are born with it (u32, wraps never in practice). */
  private epoch = 0;
  private sweepCursor: Iterator<[number, number]> | null = null;
  /** A string key's bytes while it is looked up, and the hash of the last key looked up. */
  private readonly keyBuf = new Uint8Array(256);
  private lastHash = 0;
  private readonly prefetchHashes = new Int32Array(PREFETCH_MAX);
  private readonly prefetched = new Int32Array(PREFETCH_MAX);
  private prefetchSink = 0;
  /** Where the last successful peek() found its value: hitBuf[hitOff, hitOff + hitLen). */
  hitBuf: Uint8Array = new Uint8Array(0);
  hitOff = 0;
  hitLen = 0;
  /** The value found is kept outside the arena (hitBuf is all of it, immutable). */
  hitLarge = false;
  /** Woken when the running snapshot view ends (a disk snapshot and a full sync take turns). */
  private snapIdle: (() => void)[] = [];
  /** False on a replica: expired keys read as absent but are deleted only by the master. */
  activeExpiry = true;
  /** Called after a key was deleted because it expired (to log the delete). */
  onExpire: (key: string) => void = () => {};
  now: () => number = Date.now;

  /** `seed` picks the hash function (tests fix it to build collisions; by default random). */
  constructor(private readonly seed: number = crypto.getRandomValues(new Uint32Array(1))[0]!) {}

  get size(): number {
    return this.st.table.size;
  }

  get expiresCount(): number {
    return this.st.expires.size;
  }

  /** Bytes of arena blocks in use and free, and pages (INFO memory). */
  get arenaStats(): { used: number; free: number; pages: number } {
    const a = this.st.arena;
    return { used: a.used, free: a.freeBytes, pages: a.pages.length };
  }

  /**
   * While true (a serving server), a freed block is reused only after flushFrees(), so a view
   * returned by get() stays valid for the rest of the tick.
   */
  set deferFrees(on: boolean) {
    this.st.arena.deferFrees = on;
    if (!on) this.st.arena.flushFrees();
  }

  /** Blocks freed so far may be reused (views handed out before are no longer read). */
  flushFrees(): void {
    this.st.arena.flushFrees();
  }

  /** End of tick: frees become reusable, and the index takes one small step towards its next size. */
  endOfTick(): void {
    this.flushFrees();
    this.st.table.warmStep();
  }

  /** The value (a view valid until the end of the tick), or undefined. */
  get(key: string): Uint8Array | undefined {
    const i = this.liveSlot(key);
    return i < 0 ? undefined : valueOf(this.st, this.st.table.handles[i]!);
  }

  /**
   * GET without a key string or a view: finds the key by its bytes kb[ko, ko + kl) and, when it is
   * there and live, points hitBuf/hitOff/hitLen at its value (valid until the end of the tick).
   */
  peek(kb: Uint8Array, ko: number, kl: number): boolean {
    const i = this.liveSlotOfBytes(kb, ko, kl);
    if (i < 0) return false;
    const st = this.st;
    const e = st.table.handles[i]!;
    const b = st.arena.page(e);
    const o = st.arena.offset(e);
    const vlen = readU32(b, o + E_VLEN);
    this.hitLarge = vlen === OUTSIDE;
    if (this.hitLarge) {
      this.hitBuf = st.large.get(e)!;
      this.hitOff = 0;
      this.hitLen = this.hitBuf.length;
    } else {
      this.hitBuf = b;
      this.hitOff = o + E_KEY + b[o + E_KLEN]!;
      this.hitLen = vlen;
    }
    return true;
  }

  /** True for a live key (EXISTS, TYPE): no view of the value is made. */
  has(key: string): boolean {
    return this.liveSlot(key) >= 0;
  }

  /** Absolute expiry time in ms, 0 for none, -1 when the key does not exist. */
  expireAt(key: string): number {
    const i = this.liveSlot(key);
    return i < 0 ? -1 : (this.st.expires.get(this.st.table.handles[i]!) ?? NO_EXPIRY);
  }

  /** Stores a copy of `value` (a view into a receive buffer is fine); clears the TTL unless keepTtl. */
  set(key: string, value: Uint8Array, keepTtl = false): void {
    const kl = writeKey(this.keyBuf, 0, key);
    this.setBytes(this.keyBuf, 0, kl, value, 0, value.length, keepTtl);
  }

  /** set with the key kb[ko, ko + kl) and the value vb[vo, vo + vl) given in place (SET's fast path). */
  setBytes(kb: Uint8Array, ko: number, kl: number, vb: Uint8Array, vo: number, vl: number, keepTtl = false): void {
    const st = this.st;
    const arena = st.arena;
    const outside = vl >= LARGE_VALUE;
    const e = arena.alloc(entrySize(kl, outside ? OUTSIDE : vl));
    const b = arena.page(e);
    const o = arena.offset(e);
    // Born during a snapshot means dealt with: the snapshot never emits it.
    writeU32(b, o + E_EPOCH, this.epoch);
    writeU32(b, o + E_VLEN, outside ? OUTSIDE : vl);
    b[o + E_KLEN] = kl;
    copyBytes(kb, ko, kl, b, o + E_KEY);
    // A copy of its own: the value may be a Buffer view whose slice() would share the receive chunk.
    if (outside) st.large.set(e, copyOf(vb.subarray(vo, vo + vl)));
    else copyBytes(vb, vo, vl, b, o + E_KEY + kl);

    const i = this.slotOfBytes(kb, ko, kl);
    if (i < 0) {
      st.table.insert(this.lastHash, e);
      return;
    }
    const old = st.table.handles[i]!;
    if (this.snap !== null) this.beforeChange(old);
    st.table.replaceAt(i, e);
    const at = st.expires.get(old);
    if (at !== undefined && keepTtl) st.expires.set(e, at);
    this.free(old);
  }

  /** Sets an absolute expiry on an existing key; false if there is no such key. */
  setExpire(key: string, at: number): boolean {
    const i = this.liveSlot(key);
    if (i < 0) return false;
    const e = this.st.table.handles[i]!;
    if (this.snap !== null) this.beforeChange(e);
    this.st.expires.set(e, at);
    return true;
  }

  /** Sets an expiry as the log recorded it, even one already in the past (replay). */
  setExpireRaw(key: string, at: number): void {
    const i = this.slotOf(key);
    if (i < 0) return;
    const e = this.st.table.handles[i]!;
    if (this.snap !== null) this.beforeChange(e);
    this.st.expires.set(e, at);
  }

  /** Removes an expiry as the log recorded it, whatever the clock says now (replay). */
  persistRaw(key: string): void {
    const i = this.slotOf(key);
    if (i < 0) return;
    const e = this.st.table.handles[i]!;
    if (!this.st.expires.has(e)) return;
    if (this.snap !== null) this.beforeChange(e);
    this.st.expires.delete(e);
  }

  /** Removes a key's expiry; true if it had one. */
  persist(key: string): boolean {
    const i = this.liveSlot(key);
    if (i < 0) return false;
    const e = this.st.table.handles[i]!;
    if (!this.st.expires.has(e)) return false;
    if (this.snap !== null) this.beforeChange(e);
    this.st.expires.delete(e);
    return true;
  }

  /** DEL: true if a live key was deleted (an expired one counts as already gone). */
  delete(key: string): boolean {
    const i = this.liveSlot(key);
    if (i < 0) return false;
    this.remove(i, this.st.table.handles[i]!);
    return true;
  }

  /** Removes a key whatever its expiry (applying a master's or the log's delete). */
  forget(key: string): void {
    const i = this.slotOf(key);
    if (i >= 0) this.remove(i, this.st.table.handles[i]!);
  }

  /** Removes every key. */
  clear(): void {
    // A new store: a running snapshot keeps walking the old one, which nothing changes any more,
    // and views handed out this tick keep the old pages alive until they are dropped.
    const defer = this.st.arena.deferFrees;
    this.st = newStore();
    this.st.arena.deferFrees = defer;
    this.sweepCursor = null;
  }

  /**
   * Live (unexpired) keys, walked by home bucket (Table.scanStep): a key present for the whole
   * walk is seen, maybe twice if the table was rebuilt meanwhile (SCAN allows it); the walk ends
   * however the table changes, and after FLUSHALL it ends at once.
   */
  *keys(): IterableIterator<string> {
    const st = this.st;
    const found: string[] = [];
    const collect = (slot: number) => found.push(keyOf(st.arena, st.table.handles[slot]!));
    let cursor = 0;
    do {
      if (this.st !== st) return;
      found.length = 0;
      cursor = st.table.scanStep(cursor, collect);
      // Checked (and yielded) after the step: a read may delete an expired key.
      for (const key of found) if (this.has(key)) yield key;
    } while (cursor !== 0);
  }

  /** Live entries (values are views valid until the end of the tick). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const key of this.keys()) {
      const v = this.get(key);
      if (v !== undefined) yield [key, v];
    }
  }

  /** Live entries with their expiry (0 = none), without deleting expired ones on the way (DEBUG DIGEST). */
  *peekEntries(): IterableIterator<[string, Uint8Array, number]> {
    const now = this.now();
    const st = this.st;
    const handles = st.table.handles;
    for (let i = 0; i < handles.length; i++) {
      const e = handles[i]!;
      if (e < 0) continue;
      const at = st.expires.get(e) ?? NO_EXPIRY;
      if (at === NO_EXPIRY || at > now) yield [keyOf(st.arena, e), valueOf(st, e), at];
    }
  }

  /**
   * Deletes expired keys, looking at no more than `budget` keys with an expiry; a master only.
   * Returns how many were deleted. Successive calls continue where the last one stopped.
   */
  sweep(budget: number): number {
    if (!this.activeExpiry || this.st.expires.size === 0) return 0;
    const now = this.now();
    let deleted = 0;
    for (let n = 0; n < budget; n++) {
      this.sweepCursor ??= this.st.expires.entries();
      const r = this.sweepCursor.next();
      if (r.done) {
        this.sweepCursor = null;
        break;
      }
      const [e, at] = r.value;
      if (at <= now && this.st.expires.get(e) === at) {
        const key = keyOf(this.st.arena, e);
        const i = this.slotOf(key);
        if (i < 0) continue;
        this.remove(i, e);
        deleted++;
        this.onExpire(key);
      }
    }
    return deleted;
  }

  /** True while a point-in-time view is open (a snapshot or a replica's full sync). */
  get snapshotRunning(): boolean {
    return this.snap !== null;
  }

  /** Resolves when no view is open; callers loop, as another waiter may begin one first. */
  snapshotIdle(): Promise<void> {
    if (this.snap === null) return Promise.resolve();
    return new Promise((r) => this.snapIdle.push(r));
  }

  /**
   * Starts a point-in-time view; only one at a time. The view is the caller's to walk and to
   * abort: a view that ended (and another that began since) cannot be touched through it.
   */
  beginSnapshot(): SnapshotView {
    if (this.snap !== null) throw new Error("a snapshot is already running");
    this.epoch = (this.epoch + 1) >>> 0;
    const arena = this.st.arena;
    const lastPage = arena.pages.length - 1;
    this.snap = {
      epoch: this.epoch, store: this.st, page: 0, off: 0, lastPage, lastEnd: lastPage < 0 ? 0 : arena.pageEnd(lastPage),
      saved: new SavedLog(), walkDone: false,
    };
    return this.snap;
  }

  /**
   * Calls `emit` for up to `max` entries of the point-in-time view; returns false when the view is
   * exhausted (the snapshot state is then released). Expired keys are emitted with their expiry:
   * loading drops them.
   */
  snapshotNext(max: number, emit: Emit): boolean {
    if (this.snap === null) throw new Error("no snapshot is running");
    return this.snapshotNextRaw(this.snap, max, (kb, ko, kl, vb, vo, vl, _large, at) =>
      emit(keyFromBytes(kb, ko, kl), vb.slice(vo, vo + vl), at));
  }

  /** snapshotNext without allocating, for `view`: bytes are passed in place (the snapshot writer's form). */
  snapshotNextRaw(view: SnapshotView, max: number, emit: RawEmit): boolean {
    const s = this.snap;
    if (s === null || s !== view) throw new Error("this snapshot view has ended");
    let n = 0;
    if (!s.walkDone) {
      const st = s.store;
      const arena = st.arena;
      const expires = st.expires;
      // Nothing below allocates a block, so the page list can be read once. Steps are bounded
      // too, not only emissions: blocks may be free or stamped, and each is a cache miss on a
      // loaded server. At 64 steps an emission a call could pass 4,096 of them, and slices that
      // emitted nothing ran 0.5-0.6 ms against a 0.1 ms budget (the caller checks the clock
      // between calls).
      const pages = arena.pages;
      const last = s.lastPage;
      let page = s.page;
      let off = s.off;
      let b = pages[page]!;
      let end = page < last ? arena.pageEnd(page) : page === last ? s.lastEnd : 0;
      for (let steps = 0; n < max && steps < max * STEPS_PER_EMISSION; steps++) {
        if (off >= end) {
          if (page >= last) break;
          page++;
          off = 0;
          b = pages[page]!;
          end = page < last ? arena.pageEnd(page) : s.lastEnd;
          continue;
        }
        const o = off;
        const vlen = readU32(b, o + E_VLEN);
        if (vlen === FREE) {
          off += readU32(b, o + E_EPOCH);
          continue;
        }
        const kl = b[o + E_KLEN]!;
        off += blockBytes(entrySize(kl, vlen));
        // Stamped: emitted already, saved before a change, or born during the snapshot.
        if (readU32(b, o + E_EPOCH) === s.epoch) continue;
        writeU32(b, o + E_EPOCH, s.epoch);
        const e = arena.handleAt(page, o);
        const at = expires.size > 0 ? (expires.get(e) ?? NO_EXPIRY) : NO_EXPIRY;
        emitEntry(st, e, b, o, kl, vlen, at, emit);
        n++;
      }
      s.page = page;
      s.off = off;
      if (page >= last && off >= end) s.walkDone = true;
    }
    if (s.walkDone) {
      if (n < max) s.saved.next(max - n, emit);
      if (s.saved.exhausted) {
        this.endSnapshot();
        return false;
      }
    }
    return true;
  }

  /** Abandons a running snapshot view (on failure); `view` limits it to that one. */
  abortSnapshot(view?: SnapshotView): void {
    if (this.snap === null || (view !== undefined && view !== this.snap)) return;
    this.endSnapshot();
  }

  private endSnapshot(): void {
    this.snap?.saved.release();
    this.snap = null;
    for (const wake of this.snapIdle.splice(0)) wake();
  }

  /**
   * Reads the index slots and the entry of each key kb[starts[k], starts[k] + lens[k]), k < n, so that
   * the lookups that follow find them in cache: loads of different keys, issued back to back,
   * miss in parallel. Changes nothing.
   */
  prefetch(kb: Uint8Array, starts: Int32Array, lens: Int32Array, n: number): void {
    const table = this.st.table;
    const hashes = table.hashes;
    const handles = table.handles;
    const mask = table.mask;
    const hs = this.prefetchHashes;
    const found = this.prefetched;
    if (n > PREFETCH_MAX) n = PREFETCH_MAX;
    // In separate short loops, so that the CPU can have many of one loop's misses in flight.
    for (let k = 0; k < n; k++) hs[k] = hashBytes(kb, starts[k]!, lens[k]!, this.seed);
    let sink = 0;
    for (let k = 0; k < n; k++) {
      const i = hs[k]! & mask;
      sink ^= handles[i]! ^ hashes[i]!;
    }
    for (let k = 0; k < n; k++) {
      // The first slot of the probe path whose hash matches (or the empty slot that ends it).
      const h = hs[k]!;
      let i = h & mask;
      for (let e = handles[i]!; e !== EMPTY && (e < 0 || hashes[i] !== h); e = handles[i]!) i = (i + 1) & mask;
      found[k] = handles[i]!;
    }
    const arena = this.st.arena;
    for (let k = 0; k < n; k++) {
      const e = found[k]!;
      if (e < 0) continue;
      const b = arena.page(e);
      const o = arena.offset(e);
      // The entry's first line, and its last within 64 bytes (a small entry may straddle two).
      const vlen = readU32(b, o + E_VLEN);
      sink ^= b[o + E_KEY + b[o + E_KLEN]! + (vlen === OUTSIDE ? 0 : Math.min(vlen, 64)) - 1]!;
    }
    // Kept, so the loads are not optimised away.
    this.prefetchSink = sink;
  }

  /** The slot holding `key`, expired or not, or -1; leaves the key's hash in lastHash. */
  private slotOf(key: string): number {
    return this.slotOfBytes(this.keyBuf, 0, writeKey(this.keyBuf, 0, key));
  }

  /** The slot holding the key kb[ko, ko + kl), expired or not, or -1; leaves its hash in lastHash. */
  private slotOfBytes(kb: Uint8Array, ko: number, kl: number): number {
    const h = hashBytes(kb, ko, kl, this.seed);
    this.lastHash = h;
    const table = this.st.table;
    const hashes = table.hashes;
    const handles = table.handles;
    const mask = table.mask;
    const arena = this.st.arena;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = handles[i]!;
      if (e === EMPTY) return -1;
      if (e < 0 || hashes[i] !== h) continue;
      const b = arena.page(e);
      const o = arena.offset(e);
      if (b[o + E_KLEN] !== kl) continue;
      let j = 0;
      while (j < kl && b[o + E_KEY + j] === kb[ko + j]) j++;
      if (j === kl) return i;
    }
  }

  /** The slot of `key` when it is live, or -1: an expired key reads as absent (and a master deletes it). */
  private liveSlot(key: string): number {
    return this.liveSlotOfBytes(this.keyBuf, 0, writeKey(this.keyBuf, 0, key));
  }

  private liveSlotOfBytes(kb: Uint8Array, ko: number, kl: number): number {
    const i = this.slotOfBytes(kb, ko, kl);
    if (i < 0 || this.st.expires.size === 0) return i;
    const e = this.st.table.handles[i]!;
    const at = this.st.expires.get(e);
    if (at === undefined || at > this.now()) return i;
    if (this.activeExpiry) {
      // The key string only now, on the rare path: the entry holds its bytes until it is freed.
      const key = keyOf(this.st.arena, e);
      this.remove(i, e);
      this.onExpire(key);
    }
    return -1;
  }

  /** Removes the entry `e` in slot `i` and frees it. */
  private remove(i: number, e: number): void {
    if (this.snap !== null) this.beforeChange(e);
    this.st.table.removeAt(i);
    this.free(e);
  }

  private free(e: number): void {
    const st = this.st;
    const b = st.arena.page(e);
    const o = st.arena.offset(e);
    const size = entrySize(b[o + E_KLEN]!, readU32(b, o + E_VLEN));
    st.large.delete(e);
    st.expires.delete(e);
    // Marked free in its header for the snapshot walk; a view of the value, which may still be
    // read this tick, lies past the header.
    writeU32(b, o + E_VLEN, FREE);
    writeU32(b, o + E_EPOCH, blockBytes(size));
    st.arena.release(e, size);
  }

  /** Before a start-time entry the snapshot has not emitted changes: save it as it was. */
  private beforeChange(e: number): void {
    const s = this.snap!;
    // Once FLUSHALL gave the snapshot its own store, the live one needs no saving.
    if (s.walkDone || s.store !== this.st) return;
    const st = this.st;
    if (epochOf(st.arena, e) === s.epoch) return;
    setEpoch(st.arena, e, s.epoch);
    const b = st.arena.page(e);
    const o = st.arena.offset(e);
    emitEntry(st, e, b, o, b[o + E_KLEN]!, readU32(b, o + E_VLEN), st.expires.get(e) ?? NO_EXPIRY, s.saved.save);
  }
}
