// SCAN cursors: each is a live walk over the keyspace (Keyspace.keys), kept by id between calls
// (the same id for the whole scan, so a retried call continues rather than failing). The walk
// visits every key present for its whole life and always ends, which is SCAN's promise.
// The table is bounded: the least recently used cursor is dropped past MAX_CURSORS, and a dropped
// or unknown cursor is an error rather than a silent restart.

const MAX_CURSORS = 1024;

export class ScanCursors {
  private readonly live = new Map<number, Iterator<string>>();
  private next = 1;

  /** Stores an iterator and returns its cursor id (never 0, which means "start"). */
  put(it: Iterator<string>): number {
    const id = this.next++;
    if (this.next > 2 ** 52) this.next = 1;
    this.live.set(id, it);
    if (this.live.size > MAX_CURSORS) this.live.delete(this.live.keys().next().value!);
    return id;
  }

  /** The iterator for a cursor id, kept (as most recently used) until its scan ends. */
  take(id: number): Iterator<string> | undefined {
    const it = this.live.get(id);
    if (it !== undefined) {
      this.live.delete(id);
      this.live.set(id, it);
    }
    return it;
  }

  /** Forgets every cursor (the keyspace they walk was replaced). */
  clear(): void {
    this.live.clear();
  }

  /** Forgets a cursor whose scan has ended. */
  done(id: number): void {
    this.live.delete(id);
  }
}
