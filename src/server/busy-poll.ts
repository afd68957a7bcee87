// Busy polling: for a short window after client traffic (a read, or replies going out) the event
// loop keeps polling its sockets instead of sleeping in epoll_wait.
//
// With one client (or a few) each request is a round trip, and most of it is not work but two
// wake-ups: the client's and the server's. On the 2-core VM we develop on, one-client GET went from
// ~14k to ~26k requests/s (redis-benchmark -c 1, 16 B, loopback) when the server polled for 50 µs,
// because the next request arrived while it was still polling and no wake-up was needed. The
// window restarts when replies go out as well as on reads: a reply held for an fsync leaves well
// after its request was read, and the client answers it, not the read. While replies wait for
// an fsync that runs off the loop (a write held behind everysec's, aof.ts) the loop polls on past
// the window, up to WAIT_CAP_MS, so that it sees the fsync's completion at once instead of being
// woken for it (measured when `always` fsynced off the loop too: one-client SET, median 3.9k ->
// 5.2k requests/s). Under `always` the fsync now runs on the loop, which never waits for it.
// The price is CPU: while traffic keeps coming less than the window apart, one core stays busy;
// once it stops, polling ends within the window and an idle server costs nothing.
//
// A pending setImmediate makes Bun poll the loop without blocking (epoll with a zero timeout), so
// one immediate re-armed until the window has passed is the whole mechanism. This is the server's
// own loop spinning in user space, not the kernel's net.core.busy_poll.

/**
 * How long past the last traffic the loop keeps polling while replies wait for an fsync: fsyncs take
 * 0.13-0.3 ms on the disks we measured, and a failing or slow disk must not keep a core busy.
 */
const WAIT_CAP_MS = 2;

export class BusyPoll {
  private last = 0;
  private polling = false;
  /** The loop has polled without finding a read since the last one. */
  private spun = false;
  private saved = 0;
  private readonly windowMs: number;
  private readonly poll = (): void => {
    const quiet = performance.now() - this.last;
    if (quiet < this.windowMs || (quiet < this.waitCapMs && this.waiting())) {
      this.spun = true;
      setImmediate(this.poll);
    } else {
      this.polling = false;
      this.spun = false;
    }
  };

  /** `waiting`: replies wait for work off the loop (an fsync) whose completion the loop should see at once. */
  constructor(
    windowUs: number,
    private readonly waiting: () => boolean = () => false,
    private readonly waitCapMs = WAIT_CAP_MS,
  ) {
    this.windowMs = windowUs / 1000;
  }

  /** Reads that a zero-timeout poll found, where the loop would otherwise have slept: wake-ups saved. */
  get hits(): number {
    return this.saved;
  }

  /** A client's bytes were just read. */
  afterRead(): void {
    if (this.spun) {
      this.saved++;
      this.spun = false;
    }
    this.afterReply();
  }

  /** Replies went out: poll for another window from now (a read counts as this too). */
  afterReply(): void {
    this.last = performance.now();
    if (!this.polling) {
      this.polling = true;
      setImmediate(this.poll);
    }
  }
}
