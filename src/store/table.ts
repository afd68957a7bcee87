// The keyspace's index: an open-addressing hash table (linear probing) of entry handles, in two
// Int32Arrays (the key's hash, the handle), so a million keys cost 16 MB of flat memory and
// nothing for the garbage collector to walk (a Map of them cost ~60 MB and most of a full GC).
//
// A slot is EMPTY, a TOMBSTONE (a deleted entry; probes go past it, inserts may reuse it) or a
// handle. Deleting never moves other entries. The table grows (or is rebuilt without its
// tombstones, at most half full) when live entries plus tombstones pass 3/4 of the slots.
//
// Growing is prepared between ticks so it does not stop the loop: from 5/8 used on, the doubled
// table's arrays are made resident in slices, then the entries are copied into it in slices, and
// every change to a slot already copied is made in both tables. At 3/4 the table switches to the
// copy (copying whatever is left). Lookups only ever read the current table.
//
// SCAN, a walk that spans many event-loop ticks, goes by home bucket — the slot a key's hash
// points at — in Redis's reverse-binary cursor order (dictScan): every entry present for the whole
// walk is visited, at least once, however often the table is rebuilt or resized between steps,
// and the walk always ends. (The snapshot writer does not use the index: it walks the arena in
// address order, keyspace.ts.)

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
  /**
   * The arrays of the next, doubled table, made resident ahead of the rebuild (warmStep): first
   * writes to fresh memory fault page by page (~4 ms per MiB on a small VM), so growing 2M slots to
   * 4M took ~150 ms in one go, of which the re-insertion itself was ~25 ms.
   */
  private nextHashes: Int32Array | null = null;
  private nextHandles: Int32Array | null = null;
  /** Slots of the next arrays already written (handles EMPTY, hashes 0). */
  private warmed = 0;
  /** Slots of this table [0, copied) whose entries are in the next one (kept in step since). */
  private copied = 0;
  /** Live entries plus tombstones of the next table. */
  private nextUsed = 0;
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
    const i = freeSlot(this.handles, hash);
    if (this.handles[i] === EMPTY) this.used++;
    this.handles[i] = handle;
    this.hashes[i] = hash;
    this.size++;
    if (i < this.copied) this.insertNext(hash, handle);
  }

  /** Puts `handle` in slot `i` in place of the live entry there (same key). */
  replaceAt(i: number, handle: number): void {
    if (i < this.copied) this.nextHandles![this.nextSlotOf(this.hashes[i]!, this.handles[i]!)] = handle;
    this.handles[i] = handle;
  }

  /** Empties slot `i` (it held a live entry). */
  removeAt(i: number): void {
    if (i < this.copied && vacate(this.nextHandles!, this.nextSlotOf(this.hashes[i]!, this.handles[i]!))) this.nextUsed--;
    if (vacate(this.handles, i)) this.used--;
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

  /** Slots of the next table being prepared (0 for none), how many are resident, how many of ours are copied. */
  get preparing(): { slots: number; warmed: number; copied: number } {
    return { slots: this.nextHandles?.length ?? 0, warmed: this.warmed, copied: this.copied };
  }

  /**
   * Between ticks: once the table is 5/8 used (the rebuild comes at 3/4) and it will double,
   * makes a slice of the next table's arrays resident, so the rebuild only re-inserts. They cost
   * twice the table's own memory, so a table that has not grown for IDLE_MS lets them go, and
   * prepares again only when it grows.
   */
  warmStep(now?: number): void {
    const n = this.handles.length;
    if (this.used * 8 < n * 5 || this.size * 2 < n) {
      // Shrunk below the point of preparing (deletions): the next table would not be used.
      if (this.nextHandles !== null) this.dropNext();
      return;
    }
    const t = now ?? performance.now();
    if (this.used > this.usedSeen) {
      this.usedSeen = this.used;
      this.grewAt = t;
    } else if (t - this.grewAt > IDLE_MS) {
      this.dropNext();
      return;
    }
    if (this.nextHandles === null) {
      this.nextHandles = unzeroed(2 * n);
      this.nextHashes = unzeroed(2 * n);
      this.warmed = this.copied = this.nextUsed = 0;
    }
    const step = Math.max(WARM_SLOTS, n >>> 6);
    if (this.warmed < this.nextHandles.length) {
      const end = Math.min(this.nextHandles.length, this.warmed + step);
      this.nextHandles.fill(EMPTY, this.warmed, end);
      this.nextHashes!.fill(0, this.warmed, end);
      this.warmed = end;
    } else if (this.copied < n) {
      // Half as many of ours per step: each may cost a probe in the next table.
      this.copyUpTo(Math.min(n, this.copied + (step >>> 1)));
    }
  }

  private dropNext(): void {
    this.nextHandles = this.nextHashes = null;
    this.warmed = this.copied = this.nextUsed = 0;
  }

  /** Copies the live entries of our slots [copied, end) into the (resident) next table. */
  private copyUpTo(end: number): void {
    const handles = this.handles;
    const hashes = this.hashes;
    for (let i = this.copied; i < end; i++) {
      const e = handles[i]!;
      if (e >= 0) this.insertNext(hashes[i]!, e);
    }
    this.copied = end;
  }

  private insertNext(hash: number, handle: number): void {
    const handles = this.nextHandles!;
    const j = freeSlot(handles, hash);
    if (handles[j] === EMPTY) this.nextUsed++;
    handles[j] = handle;
    this.nextHashes![j] = hash;
  }

  /** The slot of the next table that holds `handle` (inserted there with `hash`). */
  private nextSlotOf(hash: number, handle: number): number {
    const handles = this.nextHandles!;
    const mask = handles.length - 1;
    let j = hash & mask;
    while (handles[j] !== handle) {
      // Cannot happen while the copy is kept in step; a named error beats an endless loop.
      if (handles[j] === EMPTY) throw new Error(`index: entry ${handle} missing from the table being prepared`);
      j = (j + 1) & mask;
    }
    return j;
  }

  private rehash(): void {
    // At most half full after a rebuild: a million keys take 2M slots (16 MB), not 4M.
    let slots = MIN_SLOTS;
    while (slots < (this.size + 1) * 2) slots *= 2;
    this.usedSeen = 0;
    if (this.nextHandles === null || this.nextHandles.length !== slots) {
      this.nextHandles = new Int32Array(slots).fill(EMPTY);
      this.nextHashes = new Int32Array(slots);
      this.copied = this.nextUsed = 0;
    } else if (this.copied === 0) {
      // Prepared by warmStep; whatever it did not reach yet is written now.
      this.nextHandles.fill(EMPTY, this.warmed);
    }
    // Whatever was not copied yet (all of it, for a table not prepared) goes over now.
    this.copyUpTo(this.handles.length);
    if (this.nextUsed * 2 > slots) {
      // Churn while it was kept in step left it over half used with tombstones (probes end only
      // at an empty slot): rebuild into the same resident arrays instead.
      this.nextHandles.fill(EMPTY);
      this.copied = this.nextUsed = 0;
      this.copyUpTo(this.handles.length);
    }
    this.handles = this.nextHandles;
    this.hashes = this.nextHashes!;
    this.mask = slots - 1;
    this.used = this.nextUsed;
    this.dropNext();
  }
}

/** The first slot on `hash`'s probe path that holds no live entry (EMPTY, or a TOMBSTONE to reuse). */
function freeSlot(handles: Int32Array, hash: number): number {
  const mask = handles.length - 1;
  let i = hash & mask;
  while (handles[i]! >= 0) i = (i + 1) & mask;
  return i;
}

/**
 * Empties slot `i` of a table; true when it could become EMPTY (one less slot used), false when it
 * is left a TOMBSTONE. A slot followed by an empty one ends every probe path through it.
 */
function vacate(handles: Int32Array, i: number): boolean {
  if (handles[(i + 1) & (handles.length - 1)] === EMPTY) {
    handles[i] = EMPTY;
    return true;
  }
  handles[i] = TOMBSTONE;
  return false;
}

/**
 * An Int32Array whose memory is not cleared when it is made: warmStep writes every slot itself, in
 * slices, while a zeroed array of megabytes is cleared in one go when the allocator hands back
 * memory it had used before (measured: one tick of 30 ms preparing 2 x 8 MiB).
 */
function unzeroed(n: number): Int32Array {
  const b = Buffer.allocUnsafe(n * 4);
  return b.byteOffset % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, n) : new Int32Array(n);
}

function rev32(v: number): number {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return ((v >>> 16) | (v << 16)) >>> 0;
}
