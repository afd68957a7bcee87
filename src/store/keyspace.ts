// The keyspace: the only owner of key and value memory, key expiry, and the point-in-time view
// snapshots read.
//
// Keys are byte strings, given and returned as latin1 JS strings (one char per byte, 0..255), so
// distinct byte sequences never collide the way UTF-8 decoding would make them. They are not kept
// as strings: an entry — key bytes and value bytes — is one block of the arena (arena.ts), off the
// garbage-collected heap. The index is a Map from a seeded 32-bit hash of the key to the handle of
// the first entry with that hash; entries with the same hash are chained through their `next`
// field. A Map of small integers to small integers is cheap for the collector (no object per
// entry) and keeps insertion order, which the snapshot view relies on. Values of LARGE_VALUE bytes
// and more are kept as their own arrays (few, and a reply may queue them by reference); the entry
// then holds only the key.
//
// Entry block: next handle (i32, -1 = end of chain), value length (u32; 0xFFFFFFFF = kept outside),
// key length (u8), key bytes, value bytes. A value returned by get() is a view into the arena,
// valid until the end of the event-loop tick (frees are deferred to then, arena.ts): copy it to
// keep it. Stored values are never changed in place; a write makes a new block.
//
// Expiry: absolute times (ms) in a side map by handle. A key past its time is gone for readers; a
// master also deletes it on access and in a sweep that checks a bounded number of keys per call,
// and reports each deletion through onExpire so the AOF (and replicas) get an explicit delete. A
// replica never expires keys by itself: it waits for its master's delete.
//
// Point-in-time snapshots without fork and without stopping the world (after Dragonfly): at the
// start a sentinel (0.5, never a hash) is appended to the index. Map iteration follows insertion
// order, so the buckets before the sentinel are those that existed at the start. The first time a
// write touches such a bucket during the snapshot, the old values (and expiry) of its keys are
// copied aside and the bucket is moved behind the sentinel; so every bucket still before the
// sentinel is untouched, and the snapshot reads it in place. When the cursor reaches the sentinel
// it emits the saved old values. Keys created during the snapshot land in buckets behind the
// sentinel and are never emitted. A key read in place and touched later is emitted twice with the
// same value, which loading makes harmless. Extra memory is proportional to the writes during the
// snapshot, not to the dataset. FLUSHALL during a snapshot hands the old index and arena to the
// snapshot and starts new ones.

import { Arena, MAX_BLOCK } from "./arena.ts";
import { keyFromBytes } from "./keys.ts";

const SENTINEL = 0.5;
const NO_EXPIRY = 0;
const NONE = -1;
const E_NEXT = 0;
const E_VLEN = 4;
const E_KLEN = 8;
const E_KEY = 9;
const OUTSIDE = 0xffff_ffff;
/** Values this large are kept as their own arrays, not in the arena. */
export const LARGE_VALUE = MAX_BLOCK - E_KEY - 255;

const SEED = crypto.getRandomValues(new Uint32Array(1))[0]!;

/** FNV-1a over the key's bytes from a per-process seed, then a final mix; an int32 (a Map fast path). */
function hashKey(key: string): number {
  let h = (SEED ^ 0x811c9dc5) | 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h | 0;
}

export type Emit = (key: string, value: Uint8Array, expireAt: number) => void;

/** Where entries live: the arena, values kept outside it, and expiry times (all by handle). */
interface Store {
  readonly arena: Arena;
  readonly large: Map<number, Uint8Array>;
  readonly expires: Map<number, number>;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, o: number, n: number): void {
  b[o] = n >>> 24;
  b[o + 1] = n >>> 16;
  b[o + 2] = n >>> 8;
  b[o + 3] = n;
}

function nextOf(arena: Arena, e: number): number {
  const b = arena.page(e);
  return readU32(b, arena.offset(e) + E_NEXT) | 0;
}

function setNext(arena: Arena, e: number, next: number): void {
  writeU32(arena.page(e), arena.offset(e) + E_NEXT, next >>> 0);
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

function blockSize(arena: Arena, e: number): number {
  const b = arena.page(e);
  const o = arena.offset(e);
  const vlen = readU32(b, o + E_VLEN);
  return E_KEY + b[o + E_KLEN]! + (vlen === OUTSIDE ? 0 : vlen);
}

interface SnapshotState {
  /** What is being walked (the live store, unless FLUSHALL replaced it). */
  readonly index: Map<number, number>;
  readonly store: Store;
  /** Old values of start-time keys in buckets touched during the snapshot, with their expiry. */
  readonly saved: Map<string, Uint8Array>;
  readonly savedExpiry: Map<string, number>;
  /** Buckets already moved behind the sentinel (or created after the start). */
  readonly moved: Set<number>;
  readonly cursor: Iterator<[number, number]>;
  /** Set once the cursor passed the sentinel (or FLUSHALL detached the index): nothing to save any more. */
  inPlaceDone: boolean;
  savedCursor: Iterator<[string, Uint8Array]> | null;
}

export class Keyspace {
  private index = new Map<number, number>();
  private st: Store = { arena: new Arena(), large: new Map(), expires: new Map() };
  private count = 0;
  private snap: SnapshotState | null = null;
  private sweepCursor: Iterator<[number, number]> | null = null;
  /** Woken when the running snapshot view ends (a disk snapshot and a full sync take turns). */
  private snapIdle: (() => void)[] = [];
  /** False on a replica: expired keys read as absent but are deleted only by the master. */
  activeExpiry = true;
  /** Called after a key was deleted because it expired (to log the delete). */
  onExpire: (key: string) => void = () => {};
  now: () => number = Date.now;

  get size(): number {
    return this.count;
  }

  get expiresCount(): number {
    return this.st.expires.size;
  }

  /** Bytes of arena blocks in use and free (INFO memory). */
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

  /** End of tick: blocks freed during it may be reused. */
  flushFrees(): void {
    this.st.arena.flushFrees();
  }

  /** The value (a view valid until the end of the tick), or undefined. */
  get(key: string): Uint8Array | undefined {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e === NONE) return undefined;
    if (this.st.expires.size > 0 && this.isExpired(key, h, e)) return undefined;
    return valueOf(this.st, e);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Absolute expiry time in ms, 0 for none, -1 when the key does not exist. */
  expireAt(key: string): number {
    if (this.get(key) === undefined) return -1;
    return this.st.expires.get(this.find(key, hashKey(key))) ?? NO_EXPIRY;
  }

  /** Stores a copy of `value` (a view into a receive buffer is fine); clears the TTL unless keepTtl. */
  set(key: string, value: Uint8Array, keepTtl = false): void {
    const h = hashKey(key);
    if (this.snap !== null) this.touch(h);
    const st = this.st;
    const arena = st.arena;
    const outside = value.length >= LARGE_VALUE;
    const e = arena.alloc(E_KEY + key.length + (outside ? 0 : value.length));
    const b = arena.page(e);
    const o = arena.offset(e);
    writeU32(b, o + E_VLEN, outside ? OUTSIDE : value.length);
    b[o + E_KLEN] = key.length;
    for (let i = 0; i < key.length; i++) b[o + E_KEY + i] = key.charCodeAt(i);
    if (outside) st.large.set(e, value.slice());
    else b.set(value, o + E_KEY + key.length);

    const head = this.index.get(h);
    let prev = NONE;
    let old = head ?? NONE;
    while (old !== NONE && !this.keyIs(old, key)) {
      prev = old;
      old = nextOf(arena, old);
    }
    if (old === NONE) {
      setNext(arena, e, head ?? NONE);
      this.index.set(h, e);
      this.count++;
      return;
    }
    setNext(arena, e, nextOf(arena, old));
    if (prev === NONE) this.index.set(h, e);
    else setNext(arena, prev, e);
    const at = st.expires.get(old);
    if (at !== undefined && keepTtl) st.expires.set(e, at);
    this.free(old);
  }

  /** Sets an absolute expiry on an existing key; false if there is no such key. */
  setExpire(key: string, at: number): boolean {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e === NONE || (this.st.expires.size > 0 && this.isExpired(key, h, e))) return false;
    if (this.snap !== null) this.touch(h);
    this.st.expires.set(e, at);
    return true;
  }

  /** Sets an expiry as the log recorded it, even one already in the past (replay). */
  setExpireRaw(key: string, at: number): void {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e === NONE) return;
    if (this.snap !== null) this.touch(h);
    this.st.expires.set(e, at);
  }

  /** Removes an expiry as the log recorded it, whatever the clock says now (replay). */
  persistRaw(key: string): void {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e === NONE || !this.st.expires.has(e)) return;
    if (this.snap !== null) this.touch(h);
    this.st.expires.delete(e);
  }

  /** Removes a key's expiry; true if it had one. */
  persist(key: string): boolean {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e === NONE || !this.st.expires.has(e) || this.isExpired(key, h, e)) return false;
    if (this.snap !== null) this.touch(h);
    this.st.expires.delete(e);
    return true;
  }

  /** DEL: true if a live key was deleted (an expired one counts as already gone). */
  delete(key: string): boolean {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e === NONE || (this.st.expires.size > 0 && this.isExpired(key, h, e))) return false;
    this.remove(h, e);
    return true;
  }

  /** Removes a key whatever its expiry (applying a master's or the log's delete). */
  forget(key: string): void {
    const h = hashKey(key);
    const e = this.find(key, h);
    if (e !== NONE) this.remove(h, e);
  }

  /** Removes every key. */
  clear(): void {
    // New index and store: a running snapshot keeps walking the old ones, which nothing changes
    // any more, and views handed out this tick keep the old pages alive until they are dropped.
    const defer = this.st.arena.deferFrees;
    this.index = new Map();
    this.st = { arena: new Arena(), large: new Map(), expires: new Map() };
    this.st.arena.deferFrees = defer;
    this.count = 0;
    this.sweepCursor = null;
  }

  /** Live (unexpired) keys, never the snapshot sentinel. */
  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  /** Live entries (values are views valid until the end of the tick). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const [h, head] of this.index) {
      if (h === SENTINEL) continue;
      // The chain is read first: deleting an expired key while walking it would cut it.
      const chain: string[] = [];
      for (let e = head; e !== NONE; e = nextOf(this.st.arena, e)) chain.push(keyOf(this.st.arena, e));
      for (const key of chain) {
        const v = this.get(key);
        if (v !== undefined) yield [key, v];
      }
    }
  }

  /** Live entries with their expiry (0 = none), without deleting expired ones on the way (DEBUG DIGEST). */
  *peekEntries(): IterableIterator<[string, Uint8Array, number]> {
    const now = this.now();
    const st = this.st;
    for (const [h, head] of this.index) {
      if (h === SENTINEL) continue;
      for (let e = head; e !== NONE; e = nextOf(st.arena, e)) {
        const at = st.expires.get(e) ?? NO_EXPIRY;
        if (at === NO_EXPIRY || at > now) yield [keyOf(st.arena, e), valueOf(st, e), at];
      }
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
        this.remove(hashKey(key), e);
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

  /** Starts a point-in-time view; only one at a time. */
  beginSnapshot(): void {
    if (this.snap !== null) throw new Error("a snapshot is already running");
    this.index.set(SENTINEL, NONE);
    this.snap = {
      index: this.index, store: this.st, saved: new Map(), savedExpiry: new Map(), moved: new Set(),
      cursor: this.index.entries(), inPlaceDone: false, savedCursor: null,
    };
  }

  /**
   * Calls `emit` for up to about `max` entries of the point-in-time view (a bucket is emitted
   * whole); returns false when the view is exhausted (the snapshot state is then released).
   * Expired keys are emitted with their expiry: loading drops them. Values are views: copy them
   * before the tick ends.
   */
  snapshotNext(max: number, emit: Emit): boolean {
    const s = this.snap;
    if (s === null) throw new Error("no snapshot is running");
    let n = 0;
    if (s.savedCursor === null) {
      const st = s.store;
      while (n < max) {
        const r = s.cursor.next();
        if (r.done || r.value[0] === SENTINEL) {
          if (s.index === this.index) s.index.delete(SENTINEL);
          s.inPlaceDone = true;
          s.savedCursor = s.saved.entries();
          break;
        }
        for (let e = r.value[1]; e !== NONE; e = nextOf(st.arena, e)) {
          emit(keyOf(st.arena, e), valueOf(st, e), st.expires.get(e) ?? NO_EXPIRY);
          n++;
        }
      }
    }
    if (s.savedCursor !== null) {
      while (n < max) {
        const r = s.savedCursor.next();
        if (r.done) {
          this.endSnapshot();
          return false;
        }
        emit(r.value[0], r.value[1], s.savedExpiry.get(r.value[0]) ?? NO_EXPIRY);
        n++;
      }
    }
    return true;
  }

  /** Abandons a running snapshot view (on failure). */
  abortSnapshot(): void {
    if (this.snap === null) return;
    this.snap.index.delete(SENTINEL);
    this.endSnapshot();
  }

  private endSnapshot(): void {
    this.snap = null;
    for (const wake of this.snapIdle.splice(0)) wake();
  }

  /** The entry for `key` in bucket `h`, expired or not, or NONE. */
  private find(key: string, h: number): number {
    const arena = this.st.arena;
    let e = this.index.get(h) ?? NONE;
    while (e !== NONE && !this.keyIs(e, key)) e = nextOf(arena, e);
    return e;
  }

  private keyIs(e: number, key: string): boolean {
    const arena = this.st.arena;
    const b = arena.page(e);
    const o = arena.offset(e);
    if (b[o + E_KLEN] !== key.length) return false;
    for (let i = 0; i < key.length; i++) if (b[o + E_KEY + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  private isExpired(key: string, h: number, e: number): boolean {
    const at = this.st.expires.get(e);
    if (at === undefined || at > this.now()) return false;
    if (this.activeExpiry) {
      this.remove(h, e);
      this.onExpire(key);
    }
    return true;
  }

  /** Unlinks entry `e` from bucket `h` and frees it. */
  private remove(h: number, e: number): void {
    if (this.snap !== null) this.touch(h);
    const arena = this.st.arena;
    const head = this.index.get(h)!;
    const next = nextOf(arena, e);
    if (head === e) {
      if (next === NONE) this.index.delete(h);
      else this.index.set(h, next);
    } else {
      let prev = head;
      while (nextOf(arena, prev) !== e) prev = nextOf(arena, prev);
      setNext(arena, prev, next);
    }
    this.count--;
    this.free(e);
  }

  private free(e: number): void {
    const st = this.st;
    const size = blockSize(st.arena, e);
    st.large.delete(e);
    st.expires.delete(e);
    st.arena.release(e, size);
  }

  /** Before the first change to bucket `h` during a snapshot: save its keys and move it behind the sentinel. */
  private touch(h: number): void {
    const s = this.snap!;
    // Once FLUSHALL gave the snapshot its own index, the live one needs no saving.
    if (s.inPlaceDone || s.index !== this.index || s.moved.has(h)) return;
    s.moved.add(h);
    const head = this.index.get(h);
    if (head === undefined) return;
    const st = this.st;
    for (let e = head; e !== NONE; e = nextOf(st.arena, e)) {
      const key = keyOf(st.arena, e);
      s.saved.set(key, valueOf(st, e).slice());
      const at = st.expires.get(e);
      if (at !== undefined) s.savedExpiry.set(key, at);
    }
    this.index.delete(h);
    this.index.set(h, head);
  }
}
