// The keyspace: the only owner of key and value memory, and the point-in-time view snapshots read.
//
// Keys are byte strings held as latin1 JS strings (one char per byte, 0..255), so distinct byte
// sequences never collide the way UTF-8 decoding would make them. Values are Uint8Arrays that the
// store owns: a value is copied once, when it is stored, and never mutated afterwards, so replies
// and snapshots may reference it without copying.
//
// Point-in-time snapshots without fork and without stopping the world (after Dragonfly): at the
// start a sentinel key (a char > 0xFF, so never a real key) is appended to the Map. Map iteration
// follows insertion order, so the keys before the sentinel are the keys that existed at the start.
// The first time a write touches such a key during the snapshot, its old value is saved and the
// key is moved behind the sentinel; so every key still before the sentinel is untouched, and the
// snapshot reads it in place. When the cursor reaches the sentinel it emits the saved old values.
// Keys created during the snapshot are never saved. A key read in place and touched later is
// emitted twice with the same value, which loading makes harmless. Extra memory is proportional to
// the writes during the snapshot, not to the dataset.

const SENTINEL = "\u0100snapshot";

interface SnapshotState {
  /** Old values of start-time keys touched during the snapshot. */
  readonly saved: Map<string, Uint8Array>;
  /** Keys that did not exist at the start. */
  readonly born: Set<string>;
  readonly cursor: Iterator<[string, Uint8Array]>;
  /** Set once the cursor passed the sentinel: nothing needs saving any more. */
  inPlaceDone: boolean;
  savedCursor: Iterator<[string, Uint8Array]> | null;
}

export class Keyspace {
  private readonly map = new Map<string, Uint8Array>();
  private valueBytes = 0;
  private keyBytes = 0;
  private snap: SnapshotState | null = null;

  get size(): number {
    return this.snap ? this.map.size - 1 : this.map.size;
  }

  /** Bytes held in keys and values (not counting per-entry overhead). */
  get dataBytes(): number {
    return this.keyBytes + this.valueBytes;
  }

  get(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Stores a copy of `value` (a view into a receive buffer is fine). */
  set(key: string, value: Uint8Array): void {
    this.setOwned(key, value.slice());
  }

  /** Stores `value` itself; the caller hands over ownership and must not change it again. */
  setOwned(key: string, value: Uint8Array): void {
    const old = this.map.get(key);
    if (old === undefined) {
      this.keyBytes += key.length;
      if (this.snap !== null && !this.snap.inPlaceDone && !this.snap.saved.has(key)) this.snap.born.add(key);
    } else {
      this.valueBytes -= old.length;
      if (this.snap !== null) this.beforeTouch(key, old);
    }
    this.valueBytes += value.length;
    this.map.set(key, value);
  }

  delete(key: string): boolean {
    const old = this.map.get(key);
    if (old === undefined) return false;
    if (this.snap !== null) this.beforeTouch(key, old);
    this.map.delete(key);
    this.keyBytes -= key.length;
    this.valueBytes -= old.length;
    return true;
  }

  /** Live entries (never the snapshot sentinel). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const e of this.map) if (e[0] !== SENTINEL) yield e;
  }

  /** Starts a point-in-time view; only one at a time. */
  beginSnapshot(): void {
    if (this.snap !== null) throw new Error("a snapshot is already running");
    this.map.set(SENTINEL, new Uint8Array(0));
    this.snap = { saved: new Map(), born: new Set(), cursor: this.map.entries(), inPlaceDone: false, savedCursor: null };
  }

  /**
   * Calls `emit` for up to `max` entries of the point-in-time view; returns false when the view is
   * exhausted (the snapshot state is then released).
   */
  snapshotNext(max: number, emit: (key: string, value: Uint8Array) => void): boolean {
    const s = this.snap;
    if (s === null) throw new Error("no snapshot is running");
    let n = 0;
    if (!s.inPlaceDone) {
      while (n < max) {
        const r = s.cursor.next();
        if (r.done || r.value[0] === SENTINEL) {
          s.inPlaceDone = true;
          this.map.delete(SENTINEL);
          s.savedCursor = s.saved.entries();
          break;
        }
        emit(r.value[0], r.value[1]);
        n++;
      }
    }
    if (s.inPlaceDone) {
      while (n < max) {
        const r = s.savedCursor!.next();
        if (r.done) {
          this.snap = null;
          return false;
        }
        emit(r.value[0], r.value[1]);
        n++;
      }
    }
    return true;
  }

  /** Abandons a running snapshot view (on failure). */
  abortSnapshot(): void {
    if (this.snap === null) return;
    if (!this.snap.inPlaceDone) this.map.delete(SENTINEL);
    this.snap = null;
  }

  private beforeTouch(key: string, old: Uint8Array): void {
    const s = this.snap!;
    if (s.inPlaceDone || s.born.has(key) || s.saved.has(key)) return;
    s.saved.set(key, old);
    // Move the key behind the sentinel so the cursor never reads its new value in place.
    this.map.delete(key);
  }
}
