// What both request readers offer their sink before running a pipelined read: the keys of its
// first whole commands, so the keyspace can look them all up at once (Keyspace.prefetch) and the
// CPU waits for their cache misses together rather than one command at a time. At -c 50 -P 16 the
// index and entry misses were most of a GET's own time. Only a hint: the parse that follows
// checks every byte again, and a reader that finds nothing says nothing.

/** Keys passed per read, at most. */
export const PREFETCH_MAX = 32;

export interface KeyPrefetch {
  /** The keys are kb[starts[k], starts[k] + lens[k]) for k < n (2 <= n <= PREFETCH_MAX), in command order. */
  prefetch?(kb: Uint8Array, starts: Int32Array, lens: Int32Array, n: number): void;
}

/** Where a reader collects the keys it finds. */
export class KeySpans {
  readonly starts = new Int32Array(PREFETCH_MAX);
  readonly lens = new Int32Array(PREFETCH_MAX);
}
