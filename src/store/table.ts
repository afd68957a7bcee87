// The keyspace's index: an open-addressing hash table (linear probing) of entry handles, in two
// Int32Arrays (the key's hash, the handle), so a million keys cost 16 MB of flat memory and
// nothing for the garbage collector to walk (a Map of them cost ~60 MB and most of a full GC).
//
// A slot is EMPTY, a TOMBSTONE (a deleted entry; probes go past it, inserts may reuse it) or a
// handle. Deleting never moves other entries. The table grows (or is rebuilt without its
// tombstones, at most half full) when live entries plus tombstones pass 3/4 of the slots.
//
// SCAN, a walk that spans many event-loop ticks, goes by home bucket — the slot a key's hash
// points at — in Redis's reverse-binary cursor order (dictScan): every entry present for the whole
// walk is visited, at least once, however often the table is rebuilt or resized between steps,
// and the walk always ends. (The snapshot writer walks slot by slot instead, and uses the entries'
// epoch stamps to survive a rebuild: keyspace.ts.)

export const EMPTY = -1;
export const TOMBSTONE = -2;
const MIN_SLOTS = 1024;
/** Slots of the next table made resident per warmStep (or 1/64 of the table, if more): ~1 ms at most. */
const WARM_SLOTS = 16 * 1024;
/** A table that has not grown for this long lets its prepared next arrays go. */
const IDLE_MS = 10_000;

export class Table {
  hashes: Int32Array;
  handles: Int32Array;
  mask: number;
  /** Live entries. */
  size = 0;
  /** Live entries plus tombstones. */
  private used = 0;
  /** Bumped by every rehash: slot positions changed. */
  generation = 0;
  /**
   * The arrays of the next, doubled table, made resident ahead of the rebuild (warmStep): first
   * writes to fresh memory fault page by page (~4 ms per MiB on a small VM), so growing 2M slots to
   * 4M took ~150 ms in one go, of which the re-insertion itself was ~25 ms.
   */
  private nextHashes: Int32Array | null = null;
  private nextHandles: Int32Array | null = null;
  /** Slots of the next arrays already written (handles EMPTY, hashes 0). */
  private warmed = 0;
  /** `used` when growth was last seen, and when (ms): prepared arrays of a table that stopped growing are let go. */
  private usedSeen = 0;
  private grewAt = 0;

  constructor(slots = MIN_SLOTS) {
    this.hashes = new Int32Array(slots);
    this.handles = new Int32Array(slots).fill(EMPTY);
    this.mask = slots - 1;
  }

  /** Puts a new entry (its key must not be in the table) at the first free slot of its probe path. */
  insert(hash: number, handle: number): void {
    if ((this.used + 1) * 4 > this.handles.length * 3) this.rehash();
    const handles = this.handles;
    const mask = this.mask;
    let i = hash & mask;
    while (handles[i]! >= 0) i = (i + 1) & mask;
    if (handles[i] === EMPTY) this.used++;
    handles[i] = handle;
    this.hashes[i] = hash;
    this.size++;
  }

  /** Empties slot `i` (it held a live entry). */
  removeAt(i: number): void {
    // A slot followed by an empty one ends every probe path through it: it can be empty too.
    if (this.handles[(i + 1) & this.mask] === EMPTY) {
      this.handles[i] = EMPTY;
      this.used--;
    } else {
      this.handles[i] = TOMBSTONE;
    }
    this.size--;
  }

  /**
   * One step of a walk: calls visit(slot) for each live entry whose home bucket is
   * `cursor & mask` (they all sit in the run of occupied slots starting there), and returns the
   * next cursor, 0 when the walk is complete. Start with cursor 0.
   */
  scanStep(cursor: number, visit: (slot: number) => void): number {
    const mask = this.mask;
    const home = cursor & mask;
    const handles = this.handles;
    const hashes = this.hashes;
    for (let i = home; handles[i] !== EMPTY; i = (i + 1) & mask) {
      if (handles[i]! >= 0 && (hashes[i]! & mask) === home) visit(i);
    }
    return this.nextCursor(cursor);
  }

  /** The cursor after `cursor`: the reversed cursor incremented, the order that survives resizes. */
  nextCursor(cursor: number): number {
    return rev32((rev32((cursor | ~this.mask) >>> 0) + 1) >>> 0);
  }

  /** Slots of the next table being prepared (0 for none), and how many of them are resident. */
  get preparing(): { slots: number; warmed: number } {
    return { slots: this.nextHandles?.length ?? 0, warmed: this.warmed };
  }

  /**
   * Between ticks: once the table is 5/8 used (the rebuild comes at 3/4) and it will double,
   * makes a slice of the next table's arrays resident, so the rebuild only re-inserts. They cost
   * twice the table's own memory, so a table that has not grown for IDLE_MS lets them go, and
   * prepares again only when it grows.
   */
  warmStep(now?: number): void {
    const n = this.handles.length;
    if (this.used * 8 < n * 5 || this.size * 2 < n) return;
    const t = now ?? performance.now();
    if (this.used > this.usedSeen) {
      this.usedSeen = this.used;
      this.grewAt = t;
    } else if (t - this.grewAt > IDLE_MS) {
      this.nextHandles = this.nextHashes = null;
      this.warmed = 0;
      return;
    }
    if (this.nextHandles === null) {
      this.nextHandles = new Int32Array(2 * n);
      this.nextHashes = new Int32Array(2 * n);
      this.warmed = 0;
    }
    const end = Math.min(this.nextHandles.length, this.warmed + Math.max(WARM_SLOTS, n >>> 6));
    if (end === this.warmed) return;
    this.nextHandles.fill(EMPTY, this.warmed, end);
    this.nextHashes!.fill(0, this.warmed, end);
    this.warmed = end;
  }

  private rehash(): void {
    // At most half full after a rebuild: a million keys take 2M slots (16 MB), not 4M.
    let slots = MIN_SLOTS;
    while (slots < (this.size + 1) * 2) slots *= 2;
    const oldHashes = this.hashes;
    const oldHandles = this.handles;
    if (this.nextHandles !== null && this.nextHandles.length === slots) {
      // Prepared by warmStep; whatever it did not reach yet is written now.
      this.nextHandles.fill(EMPTY, this.warmed);
      this.handles = this.nextHandles;
      this.hashes = this.nextHashes!;
    } else {
      this.hashes = new Int32Array(slots);
      this.handles = new Int32Array(slots).fill(EMPTY);
    }
    this.nextHandles = this.nextHashes = null;
    this.warmed = 0;
    this.usedSeen = 0;
    this.mask = slots - 1;
    this.size = 0;
    this.used = 0;
    this.generation++;
    for (let i = 0; i < oldHandles.length; i++) {
      const e = oldHandles[i]!;
      if (e < 0) continue;
      let j = oldHashes[i]! & this.mask;
      while (this.handles[j] !== EMPTY) j = (j + 1) & this.mask;
      this.handles[j] = e;
      this.hashes[j] = oldHashes[i]!;
      this.used++;
      this.size++;
    }
  }
}

function rev32(v: number): number {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return ((v >>> 16) | (v << 16)) >>> 0;
}
