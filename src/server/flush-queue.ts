// The connections to flush at the end of the tick: each once, in the order they were marked.
//
// An array and a mark on each connection, not a Set: Set.clear() gives a Set new storage every
// time, one JSC cell a tick, and each of those outlives the young-generation collections until a
// full one. Under a 50-client SET load that grew the heap by ~35,000 cells between full
// collections and kept JSC's block warmer and mimalloc's scavenger busy (measured with bun:jsc
// heapStats; see the commit that added this file).

export interface Flushable {
  /** Set while the connection is in a FlushQueue; only the queue writes it. */
  inFlushQueue: boolean;
  flush(): void;
}

export class FlushQueue<T extends Flushable> {
  private marked: T[] = [];
  private spare: T[] = [];

  add(c: T): void {
    if (c.inFlushQueue) return;
    c.inFlushQueue = true;
    this.marked.push(c);
  }

  /** Flushes every marked connection; one marked again while this runs waits for the next call. */
  flushAll(): void {
    const list = this.marked;
    this.marked = this.spare;
    this.spare = list;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      c.inFlushQueue = false;
      c.flush();
    }
    list.length = 0;
  }
}
