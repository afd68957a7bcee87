// One full garbage collection when the server goes quiet after a large burst of input.
//
// Bun hands every socket read to JavaScript as a new buffer (up to 512 KiB each). After a bulk
// load those are garbage waiting for a collection, and until one comes the process holds them:
// 1.5 s after loading 100k x 1 KiB values with redis-cli --pipe the RSS read 162-172 MiB, and
// 160-162 MiB after one full collection (which took 6-8 ms; a young-generation one, Bun.gc(false),
// released nothing). Quiet means under QUIET_BYTES of input in one sweep interval (100 ms): small
// requests (a monitor polling INFO) do not keep it from happening, a server reading more than
// ~640 KiB/s never pauses for it, and a lighter load pays ~7 ms once per IDLE_GC_BYTES read.
// Input counts client reads and a replica's stream from its master (a full sync is a burst).

export const IDLE_GC_BYTES = 64 * 1024 * 1024;
export const QUIET_BYTES = 64 * 1024;

export class IdleCollector {
  private lastTotal = 0;
  private sinceCollection = 0;

  constructor(
    private readonly collect: () => void = () => Bun.gc(true),
    private readonly threshold = IDLE_GC_BYTES,
  ) {}

  /** Called every sweep interval with the bytes read so far; true when it collected. */
  tick(totalInput: number): boolean {
    const read = Math.max(0, totalInput - this.lastTotal);
    this.lastTotal = totalInput;
    this.sinceCollection += read;
    if (read >= QUIET_BYTES || this.sinceCollection < this.threshold) return false;
    this.sinceCollection = 0;
    this.collect();
    return true;
  }
}
