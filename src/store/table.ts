// The keyspace's index: an open-addressing hash table (linear probing) of entry handles, in two
// Int32Arrays (the key's hash, the handle), so a million keys cost 16 MB of flat memory and
// nothing for the garbage collector to walk (a Map of them cost ~60 MB and most of a full GC).
//
// A slot is EMPTY, a TOMBSTONE (a deleted entry; probes go past it, inserts may reuse it) or a
// handle. Deleting never moves other entries, so a walk by slot index sees every entry that stays
// put; only a rehash moves them, and it bumps `generation` so walks restart (visiting some keys
// twice, which SCAN and the snapshot walk allow). The table grows (or is rebuilt without its
// tombstones) when live entries plus tombstones pass 3/4 of the slots.

export const EMPTY = -1;
export const TOMBSTONE = -2;
const MIN_SLOTS = 1024;

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

  constructor(slots = MIN_SLOTS) {
    this.hashes = new Int32Array(slots);
    this.handles = new Int32Array(slots).fill(EMPTY);
    this.mask = slots - 1;
  }

  get slots(): number {
    return this.handles.length;
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

  private rehash(): void {
    let slots = MIN_SLOTS;
    while (slots * 3 < (this.size + 1) * 8) slots *= 2;
    const oldHashes = this.hashes;
    const oldHandles = this.handles;
    this.hashes = new Int32Array(slots);
    this.handles = new Int32Array(slots).fill(EMPTY);
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
