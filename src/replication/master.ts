// The master side of replication (Redis's PSYNC model).
//
// The replication stream is the log itself: every record the AOF gets (the binary frame + CRC32,
// record.ts) is also the stream, so a master's stream offset is its AOF position, and a snapshot's
// position is an offset on the stream. A replica sends REPLICATE <replid> <offset> <port>:
//   - if the id is ours (or the one we inherited at promotion, up to where it ended) and the
//     offset is still in the backlog, it gets "CONTINUE <replid> <offset>" and the bytes after
//     its offset (partial resync);
//   - otherwise "FULLRESYNC <replid> <P>", then a point-in-time snapshot of the keyspace at stream
//     offset P in dump.rdb's format (the snapshot writer, sliced so clients keep being served),
//     then the stream from P, read from the backlog (full sync).
// Replicas waiting for a full sync share one snapshot. After that a replica is online: each tick's
// records go to the backlog and to every online replica in one write. Heartbeats (a PING record,
// not counted in offsets) go out every second, and replicas ack their offset every second with
// REPLCONF ACK. A replica whose unsent output passes client_output_limit is disconnected: it will
// resync, and the master never holds more than that for it.

import type { Config } from "../config.ts";
import { copyOf } from "../bytes.ts";
import { log } from "../log.ts";
import { Op } from "../protocol/binary.ts";
import { writeRecord } from "../persistence/record.ts";
import { writeSnapshotStream } from "../persistence/snapshot.ts";
import type { Keyspace } from "../store/keyspace.ts";
import { Backlog } from "./backlog.ts";

/** A connection that REPLICATE turned into a replica link. */
export interface StreamTarget {
  readonly addr: string;
  /** Address the replica connected from (for INFO and ROLE). */
  readonly ip: string;
  /** Queues raw bytes after everything queued so far. */
  send(bytes: Uint8Array): void;
  /** Bytes waiting to be sent. */
  readonly pendingOutput: number;
  /** Resolves once no more than `bytes` wait to be sent (or the connection closed). */
  drained(bytes: number): Promise<void>;
  /** Closes the connection at once, dropping what was not sent. */
  drop(): void;
  readonly isClosed: boolean;
  onClosed(cb: () => void): void;
}

export type LinkState = "wait_bgsave" | "send_bulk" | "online";

interface Link {
  readonly target: StreamTarget;
  /** The replica's address, kept for the log after the socket is gone. */
  readonly addr: string;
  readonly port: number;
  state: LinkState;
  ackOffset: number;
  lastAckAt: number;
  /** Called once with the status line, before any stream byte. */
  start: ((status: string) => void) | null;
}

export interface ReplicaInfo {
  ip: string;
  port: number;
  state: LinkState;
  offset: number;
  lag: number;
}

/** Heartbeat: a PING record (13 bytes), which replicas do not count. */
const PING = (() => {
  const b = new Uint8Array(13);
  writeRecord(b, 0, Op.PING, "", null);
  return b;
})();
const HEARTBEAT_MS = 1000;
/** A full sync's snapshot waits for a replica whose unsent output passes this. */
const SYNC_HIGH_WATER = 4 * 1024 * 1024;
/** A full sync drops a replica that takes none of its data for this long. */
const SYNC_STALL_MS = 20_000;
/** Catching up from the backlog goes in pieces this large, each once the last one drained. */
const CATCHUP_CHUNK = 256 * 1024;

export interface MasterHost {
  readonly keyspace: Keyspace;
  readonly config: Config;
  /** The current stream offset (the AOF position). */
  offset(): number;
}

/** True once at most `bytes` wait to be sent, false if that takes longer than `ms`. */
async function drainedWithin(target: StreamTarget, bytes: number, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const ok = await Promise.race([target.drained(bytes).then(() => true as const), late]);
  clearTimeout(timer);
  return ok;
}

export function newReplid(): string {
  const b = new Uint8Array(20);
  crypto.getRandomValues(b);
  return Buffer.from(b).toString("hex");
}

export class ReplicationMaster {
  replid = newReplid();
  /** The id this node replicated under before a promotion, valid up to secondOffset. */
  replid2 = "0".repeat(40);
  secondOffset = -1;
  backlog: Backlog | null = null;
  readonly stats = { syncFull: 0, syncPartialOk: 0, syncPartialErr: 0 };
  private readonly links = new Map<StreamTarget, Link>();
  /** Stream bytes of the current tick, sent at its end. */
  private tick = new Uint8Array(64 * 1024);
  private tickLen = 0;
  private syncing: Promise<void> | null = null;
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor(private readonly host: MasterHost) {
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref?.();
  }

  get backlogSize(): number {
    return this.host.config.repl_backlog_size;
  }

  /** Keeps history from `offset` on (a replica keeps one too, for after a promotion). */
  ensureBacklog(offset: number): Backlog {
    if (this.backlog === null || this.backlog.end !== offset) this.backlog = new Backlog(this.host.config.repl_backlog_size, offset);
    return this.backlog;
  }

  /** One record the log just took (bytes [start, end) of buf): it goes out at the end of the tick. */
  readonly tap = (buf: Uint8Array, start: number, end: number): void => {
    // No replica has ever attached: the stream has no one to go to and nothing to keep.
    if (this.backlog === null) return;
    const n = end - start;
    if (this.tickLen + n > this.tick.length) {
      const next = new Uint8Array(Math.max(this.tickLen + n, this.tick.length * 2));
      next.set(this.tick.subarray(0, this.tickLen));
      this.tick = next;
    }
    this.tick.set(buf.subarray(start, end), this.tickLen);
    this.tickLen += n;
  };

  /** True when this tick has logged records that are not streamed yet. */
  get holding(): boolean {
    return this.tickLen > 0;
  }

  /** End of tick: this tick's records to the backlog and to every online replica. */
  endOfTick(): void {
    if (this.tickLen === 0) return;
    const bytes = this.tick.slice(0, this.tickLen);
    this.tickLen = 0;
    if (this.tick.length > 1024 * 1024) this.tick = new Uint8Array(64 * 1024);
    this.backlog?.append(bytes);
    for (const link of this.links.values()) {
      if (link.state === "online") this.send(link, bytes);
    }
  }

  /**
   * REPLICATE: answers through `start` (a status line) before any stream byte is queued. Returns a
   * promise when the answer waits for a full sync's snapshot to begin.
   */
  attach(target: StreamTarget, replid: string, offset: number, port: number, start: (status: string) => void): Promise<void> | void {
    // This tick's records so far belong to the backlog before an offset is compared with it.
    this.endOfTick();
    const now = Date.now();
    const link: Link = { target, addr: target.addr, port, state: "wait_bgsave", ackOffset: 0, lastAckAt: now, start };
    this.links.set(target, link);
    target.onClosed(() => {
      if (this.links.get(target) === link) {
        this.links.delete(target);
        log("info", `Replica ${link.addr} disconnected`);
      }
    });
    const current = this.host.offset();
    const known = replid === this.replid || (replid === this.replid2 && offset <= this.secondOffset);
    if (known && this.backlog !== null && this.backlog.end === current && this.backlog.covers(offset)) {
      this.stats.syncPartialOk++;
      link.state = "send_bulk";
      link.ackOffset = offset;
      this.begin(link, `CONTINUE ${this.replid} ${current}`);
      log("info", `Replica ${link.addr} resyncs partially from offset ${offset} (${current - offset} bytes from the backlog)`);
      void this.catchUp(link, offset);
      return;
    }
    if (replid !== "?") this.stats.syncPartialErr++;
    this.stats.syncFull++;
    log("info", `Replica ${target.addr} needs a full sync (asked for ${replid === "?" ? "none" : `${replid}:${offset}`})`);
    return new Promise<void>((resolve) => {
      const begun = link.start!;
      link.start = (status) => {
        begun(status);
        resolve();
      };
      target.onClosed(resolve);
      this.syncing ??= this.fullSync();
    });
  }

  /** REPLCONF ACK from a replica link. */
  ack(target: StreamTarget, offset: number): void {
    const link = this.links.get(target);
    if (!link) return;
    link.ackOffset = offset;
    link.lastAckAt = Date.now();
  }

  isReplica(target: StreamTarget): boolean {
    return this.links.has(target);
  }

  replicas(): ReplicaInfo[] {
    const now = Date.now();
    return [...this.links.values()].map((l) => ({
      ip: l.target.ip, port: l.port, state: l.state, offset: l.ackOffset, lag: Math.floor((now - l.lastAckAt) / 1000),
    }));
  }

  /** Disconnects every replica (this node stops being a master, or shuts down). */
  dropAll(): void {
    for (const l of [...this.links.values()]) l.target.drop();
    this.links.clear();
  }

  /** Promotion: the stream we followed so far stays valid for partial resyncs under its old id. */
  promote(offset: number): void {
    this.replid2 = this.replid;
    this.secondOffset = offset;
    this.replid = newReplid();
  }

  /** Follows a new master: its id and offset become ours as data arrives. */
  follow(replid: string): void {
    this.replid = replid;
    this.replid2 = "0".repeat(40);
    this.secondOffset = -1;
  }

  /** Shutdown: no more heartbeats; the links end with the other connections, after the last flush. */
  stop(): void {
    clearInterval(this.heartbeat);
  }

  private begin(link: Link, status: string): void {
    const start = link.start;
    link.start = null;
    start?.(status);
  }

  private send(link: Link, bytes: Uint8Array): void {
    if (link.target.isClosed) return;
    link.target.send(bytes);
    const limit = this.host.config.client_output_limit;
    if (link.target.pendingOutput > limit) {
      log("warn", `Replica ${link.addr} is ${link.target.pendingOutput} bytes behind, over client_output_limit (${limit}): disconnecting it (it will resync)`);
      this.links.delete(link.target);
      link.target.drop();
    }
  }

  /**
   * Sends the backlog from `from` to its end in pieces, each once the replica took the last, then
   * puts the link online (this tick's records follow at the end of the tick). The output limit
   * applies once online: catching up is paced by the replica, not cut off by it.
   */
  private async catchUp(link: Link, from: number): Promise<void> {
    const limit = this.host.config.client_output_limit;
    let at = from;
    for (;;) {
      if (link.target.isClosed || this.links.get(link.target) !== link) return;
      const b = this.backlog;
      if (b === null || !b.covers(at)) {
        log("warn", `Replica ${link.addr} fell behind the backlog while catching up; disconnecting it (it will full-sync; a larger repl_backlog_size helps)`);
        this.links.delete(link.target);
        link.target.drop();
        return;
      }
      if (at === b.end) {
        link.state = "online";
        return;
      }
      const piece = b.readFrom(at, CATCHUP_CHUNK);
      link.target.send(piece);
      at += piece.length;
      await link.target.drained(limit / 2);
    }
  }

  private beat(): void {
    for (const link of this.links.values()) if (link.state === "online") this.send(link, PING);
  }

  /**
   * One snapshot for every replica waiting when it begins; replicas that ask meanwhile get the
   * next one. The snapshot waits for a running disk snapshot (one point-in-time view at a time).
   */
  private async fullSync(): Promise<void> {
    try {
      for (;;) {
        const ks = this.host.keyspace;
        while (ks.snapshotRunning) await ks.snapshotIdle();
        const group = [...this.links.values()].filter((l) => l.state === "wait_bgsave" && !l.target.isClosed);
        if (group.length === 0) return;
        this.endOfTick();
        const position = this.host.offset();
        this.ensureBacklog(position);
        const view = ks.beginSnapshot();
        for (const l of group) {
          l.state = "send_bulk";
          this.begin(l, `FULLRESYNC ${this.replid} ${position}`);
        }
        const live = () => group.filter((l) => !l.target.isClosed && this.links.get(l.target) === l);
        try {
          const stats = await writeSnapshotStream(ks, view, position, {
            write: async (chunks) => {
              const targets = live();
              if (targets.length === 0) throw new Error("every replica of this full sync disconnected");
              // The writer reuses its slice buffer once this resolves, and a replica may not have
              // taken the bytes by then: they are copied once, for every replica of the group.
              const copies = chunks.map(copyOf);
              for (const l of targets) for (const c of copies) l.target.send(c);
              // A replica that stops reading must not hold the point-in-time view (and with it
              // every disk snapshot, and so the AOF's cut) for ever: it is let go after a while.
              await Promise.all(targets.map(async (l) => {
                if (!(await drainedWithin(l.target, SYNC_HIGH_WATER, SYNC_STALL_MS))) {
                  log("warn", `Replica ${l.addr} took no full-sync data for ${SYNC_STALL_MS / 1000} s; disconnecting it`);
                  this.links.delete(l.target);
                  l.target.drop();
                }
              }));
            },
          });
          log("info", `Full sync: ${stats.entries} entries, ${stats.bytes} bytes in ${stats.ms.toFixed(1)} ms to ${group.length} replica(s)`);
        } catch (e) {
          log("warn", `Full sync stopped: ${(e as Error).message}`);
          continue;
        }
        for (const l of live()) {
          l.ackOffset = position;
          void this.catchUp(l, position);
        }
      }
    } finally {
      this.syncing = null;
    }
  }
}
