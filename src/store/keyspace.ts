// The keyspace: the only owner of key and value memory, key expiry, and the point-in-time view
// snapshots read.
//
// Keys are byte strings held as latin1 JS strings (one char per byte, 0..255), so distinct byte
// sequences never collide the way UTF-8 decoding would make them. Values are Uint8Arrays that the
// store owns: a value is copied once, when it is stored, and never mutated afterwards, so replies
// and snapshots may reference it without copying.
//
// Expiry: absolute times (ms) in a side map. A key past its time is gone for readers; a master also
// deletes it on access and in a sweep that checks a bounded number of keys per call, and reports
// each deletion through onExpire so the AOF (and replicas) get an explicit delete. A replica never
// expires keys by itself: it waits for its master's delete.
//
// Point-in-time snapshots without fork and without stopping the world (after Dragonfly): at the
// start a sentinel key (a char > 0xFF, so never a real key) is appended to the Map. Map iteration
// follows insertion order, so the keys before the sentinel are the keys that existed at the start.
// The first time a write touches such a key during the snapshot, its old value (and expiry) is
// saved and the key is moved behind the sentinel; so every key still before the sentinel is
// untouched, and the snapshot reads it in place. When the cursor reaches the sentinel it emits the
// saved old values. Keys created during the snapshot are never saved. A key read in place and
// touched later is emitted twice with the same value, which loading makes harmless. Extra memory
// is proportional to the writes during the snapshot, not to the dataset. FLUSHALL during a
// snapshot hands the old Map to the snapshot and starts a new one.

const SENTINEL = "\u0100snapshot";
const NO_EXPIRY = 0;

export type Emit = (key: string, value: Uint8Array, expireAt: number) => void;

interface SnapshotState {
  /** The Map being walked (the live one, unless FLUSHALL replaced it). */
  readonly map: Map<string, Uint8Array>;
  readonly expires: Map<string, number>;
  /** Old values of start-time keys touched during the snapshot, with their expiry (0 = none). */
  readonly saved: Map<string, Uint8Array>;
  readonly savedExpiry: Map<string, number>;
  /** Keys that did not exist at the start. */
  readonly born: Set<string>;
  readonly cursor: Iterator<[string, Uint8Array]>;
  /** Set once the cursor passed the sentinel (or FLUSHALL detached the Map): nothing to save any more. */
  inPlaceDone: boolean;
  savedCursor: Iterator<[string, Uint8Array]> | null;
}

export class Keyspace {
  private map = new Map<string, Uint8Array>();
  private expires = new Map<string, number>();
  private snap: SnapshotState | null = null;
  private sweepCursor: Iterator<[string, number]> | null = null;
  /** Woken when the running snapshot view ends (a disk snapshot and a full sync take turns). */
  private snapIdle: (() => void)[] = [];
  /** False on a replica: expired keys read as absent but are deleted only by the master. */
  activeExpiry = true;
  /** Called after a key was deleted because it expired (to log the delete). */
  onExpire: (key: string) => void = () => {};
  now: () => number = Date.now;

  get size(): number {
    return this.map.size - (this.snap !== null && !this.snap.inPlaceDone && this.snap.map === this.map ? 1 : 0);
  }

  get expiresCount(): number {
    return this.expires.size;
  }

  get(key: string): Uint8Array | undefined {
    const v = this.map.get(key);
    if (v === undefined || this.expires.size === 0 || !this.isExpired(key)) return v;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Absolute expiry time in ms, 0 for none, -1 when the key does not exist. */
  expireAt(key: string): number {
    if (this.get(key) === undefined) return -1;
    return this.expires.get(key) ?? NO_EXPIRY;
  }

  /** Stores a copy of `value` (a view into a receive buffer is fine); clears the TTL unless keepTtl. */
  set(key: string, value: Uint8Array, keepTtl = false): void {
    this.setOwned(key, value.slice(), keepTtl);
  }

  /** Stores `value` itself; the caller hands over ownership and must not change it again. */
  setOwned(key: string, value: Uint8Array, keepTtl = false): void {
    const s = this.snap;
    if (s !== null) {
      // Only a running snapshot needs to know what was there before.
      const old = this.map.get(key);
      if (old === undefined) {
        if (!s.inPlaceDone && s.map === this.map && !s.saved.has(key)) s.born.add(key);
      } else {
        this.beforeTouch(key, old);
      }
    }
    this.map.set(key, value);
    if (!keepTtl && this.expires.size > 0) this.expires.delete(key);
  }

  /** Sets an absolute expiry on an existing key; false if there is no such key. */
  setExpire(key: string, at: number): boolean {
    const v = this.get(key);
    if (v === undefined) return false;
    if (this.snap !== null) this.beforeTouch(key, v, true);
    this.expires.set(key, at);
    return true;
  }

  /** Sets an expiry as the log recorded it, even one already in the past (replay). */
  setExpireRaw(key: string, at: number): void {
    const v = this.map.get(key);
    if (v === undefined) return;
    if (this.snap !== null) this.beforeTouch(key, v, true);
    this.expires.set(key, at);
  }

  /** Removes an expiry as the log recorded it, whatever the clock says now (replay). */
  persistRaw(key: string): void {
    const v = this.map.get(key);
    if (v === undefined || !this.expires.has(key)) return;
    if (this.snap !== null) this.beforeTouch(key, v, true);
    this.expires.delete(key);
  }

  /** Removes a key's expiry; true if it had one. */
  persist(key: string): boolean {
    const v = this.get(key);
    if (v === undefined || !this.expires.has(key)) return false;
    if (this.snap !== null) this.beforeTouch(key, v, true);
    this.expires.delete(key);
    return true;
  }

  /** DEL: true if a live key was deleted (an expired one counts as already gone). */
  delete(key: string): boolean {
    const v = this.get(key);
    if (v === undefined) return false;
    this.remove(key, v);
    return true;
  }

  /** Removes a key whatever its expiry (applying a master's or the log's delete). */
  forget(key: string): void {
    const v = this.map.get(key);
    if (v !== undefined) this.remove(key, v);
  }

  /** Removes every key. */
  clear(): void {
    const s = this.snap;
    if (s !== null && !s.inPlaceDone && s.map === this.map) {
      // The snapshot keeps walking the old Map, which nothing changes any more.
      this.map = new Map();
      this.expires = new Map();
    } else {
      this.map.clear();
      this.expires.clear();
    }
    this.sweepCursor = null;
  }

  /** Live (unexpired) keys, in insertion order, never the snapshot sentinel. */
  *keys(): IterableIterator<string> {
    for (const k of this.map.keys()) if (k !== SENTINEL && this.get(k) !== undefined) yield k;
  }

  /** Live entries with their expiry (0 = none), without deleting expired ones on the way (DEBUG DIGEST). */
  *peekEntries(): IterableIterator<[string, Uint8Array, number]> {
    const now = this.now();
    for (const [k, v] of this.map) {
      if (k === SENTINEL) continue;
      const at = this.expires.get(k) ?? NO_EXPIRY;
      if (at === NO_EXPIRY || at > now) yield [k, v, at];
    }
  }

  /** Live entries, never the snapshot sentinel. */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const e of this.map) if (e[0] !== SENTINEL && this.get(e[0]) !== undefined) yield e;
  }

  /**
   * Deletes expired keys, looking at no more than `budget` keys with an expiry; a master only.
   * Returns how many were deleted. Successive calls continue where the last one stopped.
   */
  sweep(budget: number): number {
    if (!this.activeExpiry || this.expires.size === 0) return 0;
    const now = this.now();
    let deleted = 0;
    for (let n = 0; n < budget; n++) {
      this.sweepCursor ??= this.expires.entries();
      const r = this.sweepCursor.next();
      if (r.done) {
        this.sweepCursor = null;
        break;
      }
      const [key, at] = r.value;
      if (at <= now) {
        const v = this.map.get(key);
        if (v !== undefined) this.remove(key, v);
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
    this.map.set(SENTINEL, new Uint8Array(0));
    this.snap = {
      map: this.map, expires: this.expires, saved: new Map(), savedExpiry: new Map(), born: new Set(),
      cursor: this.map.entries(), inPlaceDone: false, savedCursor: null,
    };
  }

  /**
   * Calls `emit` for up to `max` entries of the point-in-time view; returns false when the view is
   * exhausted (the snapshot state is then released). Expired keys are emitted with their expiry:
   * loading drops them.
   */
  snapshotNext(max: number, emit: Emit): boolean {
    const s = this.snap;
    if (s === null) throw new Error("no snapshot is running");
    let n = 0;
    if (s.savedCursor === null) {
      while (n < max) {
        const r = s.cursor.next();
        if (r.done || r.value[0] === SENTINEL) {
          if (s.map === this.map) s.map.delete(SENTINEL);
          s.inPlaceDone = true;
          s.savedCursor = s.saved.entries();
          break;
        }
        emit(r.value[0], r.value[1], s.expires.get(r.value[0]) ?? NO_EXPIRY);
        n++;
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
    this.snap.map.delete(SENTINEL);
    this.endSnapshot();
  }

  private endSnapshot(): void {
    this.snap = null;
    for (const wake of this.snapIdle.splice(0)) wake();
  }

  private isExpired(key: string): boolean {
    const at = this.expires.get(key);
    if (at === undefined || at > this.now()) return false;
    if (this.activeExpiry) {
      const v = this.map.get(key)!;
      this.remove(key, v);
      this.onExpire(key);
    }
    return true;
  }

  private remove(key: string, old: Uint8Array): void {
    if (this.snap !== null) this.beforeTouch(key, old);
    this.map.delete(key);
    this.expires.delete(key);
  }

  private beforeTouch(key: string, old: Uint8Array, keepInPlace = false): void {
    const s = this.snap!;
    // Once FLUSHALL gave the snapshot its own Map, the live one needs no saving.
    if (s.inPlaceDone || s.map !== this.map || s.born.has(key) || s.saved.has(key)) return;
    s.saved.set(key, old);
    const at = this.expires.get(key);
    if (at !== undefined) s.savedExpiry.set(key, at);
    // Move the key behind the sentinel so the cursor never reads its new state in place.
    this.map.delete(key);
    if (keepInPlace) this.map.set(key, old);
  }
}
