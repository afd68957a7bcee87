// The replica side of replication: the link to the master.
//
// The link speaks the binary protocol: [AUTH master_auth], then REPLICATE <replid> <offset> <port>
// (CALL frames). The master answers with one status frame:
//   - "CONTINUE <replid> <offset>": records follow from our offset (partial resync);
//   - "FULLRESYNC <replid> <offset>": a snapshot in dump.rdb's format follows, then records from
//     its offset. The snapshot loads into a fresh keyspace that replaces ours only when it is
//     complete and its CRC checks, so reads keep being served from the old data until then.
// Records are AOF records (record.ts): each is checked, applied (apply.ts) and kept in this node's
// backlog, so after a promotion other replicas can resync from it. PING records are heartbeats
// and do not count in the offset. REPLCONF ACK <offset> goes back every second.
//
// A replica writes no data files (the master owns persistence) and never expires keys itself; it
// keeps serving reads while the link is down and reconnects with a backoff capped at 5 s. A link
// silent for REPL_TIMEOUT_MS is taken for dead. A stream that fails its checks is dropped and the
// next sync is a full one.

import type { Socket } from "bun";
import type { Config } from "../config.ts";
import { applyMutation } from "../commands/apply.ts";
import { log } from "../log.ts";
import { MAGIC, Op, RESPONSE_HEADER, Status, encodeCallArgs, encodeRequest, readU32 } from "../protocol/binary.ts";
import { Output } from "../protocol/output.ts";
import { scanRecord } from "../persistence/record.ts";
import { SnapshotDecoder } from "../persistence/snapshot.ts";
import { Keyspace } from "../store/keyspace.ts";
import type { ReplicationMaster } from "./master.ts";

export type LinkState = "connect" | "connecting" | "sync" | "connected";

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
const ACK_EVERY_MS = 1000;
export const REPL_TIMEOUT_MS = 20_000;
const HANDSHAKE_TIMEOUT_MS = 120_000;

export interface ReplicaHost {
  readonly config: Config;
  readonly keyspace: Keyspace;
  /** This node's replication id, offset history and backlog. */
  readonly master: ReplicationMaster;
  /** The port this node listens on (sent to the master for its INFO). */
  readonly port: number;
  /** Swaps in the keyspace a full sync loaded. */
  replaceKeyspace(ks: Keyspace): void;
  /** Counts bytes read from the master (input, for the collection after a burst). */
  countStreamInput(bytes: number): void;
}

type Phase = "auth" | "handshake" | "snapshot" | "stream";

/** A CALL frame of text arguments (one byte per char). */
function call(...args: string[]): Uint8Array {
  return encodeRequest(Op.CALL, null, encodeCallArgs(args.map((a) => Buffer.from(a, "latin1"))));
}

export class ReplicaLink {
  state: LinkState = "connect";
  /** Stream offset applied so far (-1: nothing yet, a full sync is needed). */
  offset: number;
  /** Replication id of the stream we follow ("?" for none). */
  replid: string;
  lastIoAt = 0;
  downSince = Date.now();
  lastSync: "none" | "full" | "partial" = "none";
  readonly syncs = { full: 0, partial: 0 };
  private socket: Socket<undefined> | null = null;
  private out = new Output();
  private buf = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;
  private phase: Phase = "handshake";
  private loading: { ks: Keyspace; dec: SnapshotDecoder } | null = null;
  /** The id and offset FULLRESYNC named, and when the sync began. */
  private fullId = "?";
  private fullAt = 0;
  private syncStarted = 0;
  private attempt = 0;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly ackTimer: ReturnType<typeof setInterval>;
  /** Largest record the stream may carry. */
  private readonly maxRecord: number;

  constructor(
    private readonly host: ReplicaHost,
    readonly masterHost: string,
    readonly masterPort: number,
    replid: string,
    offset: number,
  ) {
    this.replid = replid;
    this.offset = offset;
    this.maxRecord = 9 + 255 + host.config.max_value_size + 4;
    this.ackTimer = setInterval(() => this.tick(), ACK_EVERY_MS);
    this.ackTimer.unref?.();
    this.connect();
  }

  get syncInProgress(): boolean {
    return this.state === "sync";
  }

  /** Bytes of the full sync received so far. */
  get loadedBytes(): number {
    return this.loading?.dec.offset ?? 0;
  }

  /** Ends the link for good (promotion, re-pointing, shutdown). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.ackTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.terminate();
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = "connecting";
    // Nothing from a previous connection may go out on this one.
    this.out = new Output();
    this.start = this.end = 0;
    this.loading = null;
    const link = this;
    Bun.connect<undefined>({
      hostname: this.masterHost,
      port: this.masterPort,
      socket: {
        open(socket) {
          if (link.stopped) return void socket.terminate();
          link.socket = socket;
          link.lastIoAt = Date.now();
          link.handshake();
        },
        data(socket, chunk) {
          if (socket === link.socket) link.onData(chunk);
        },
        drain(socket) {
          if (socket === link.socket) link.out.flush(socket);
        },
        close(socket) {
          if (socket === link.socket) link.lost("connection closed");
        },
        error(socket, err) {
          if (socket === link.socket) link.lost(err.message);
        },
        connectError(_socket, err) {
          link.lost(`cannot connect: ${err.message}`);
        },
      },
    }).catch((e: Error) => this.lost(`cannot connect: ${e.message}`));
  }

  private handshake(): void {
    const auth = this.host.config.master_auth;
    if (auth !== "") this.write(call("AUTH", auth));
    this.phase = auth !== "" ? "auth" : "handshake";
    this.write(call("REPLICATE", this.replid, String(this.offset), String(this.host.port)));
  }

  private write(frame: Uint8Array): void {
    const at = this.out.reserve(frame.length);
    this.out.buf.set(frame, at);
    this.out.len += frame.length;
    if (this.socket) this.out.flush(this.socket);
  }

  private lost(why: string): void {
    const wasUp = this.state === "connected" || this.state === "sync";
    // Forget the socket before closing it: its close handler runs at once and must not count twice.
    const socket = this.socket;
    this.socket = null;
    socket?.terminate();
    if (this.stopped || this.retryTimer !== null) return;
    if (wasUp) this.downSince = Date.now();
    this.state = "connect";
    this.loading = null;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
    log("warn", `Master ${this.masterHost}:${this.masterPort}: ${why}; reconnecting in ${delay} ms`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private tick(): void {
    if (this.socket === null) return;
    // Before its answer the master may be finishing a disk snapshot (a full sync waits for it),
    // and it sends nothing meanwhile: the handshake gets a longer allowance.
    const allowed = this.phase === "auth" || this.phase === "handshake" ? HANDSHAKE_TIMEOUT_MS : REPL_TIMEOUT_MS;
    if (Date.now() - this.lastIoAt > allowed) {
      this.lost(`no data for ${allowed / 1000} s`);
      return;
    }
    if (this.state === "connected") this.write(call("REPLCONF", "ACK", String(this.offset)));
  }

  private onData(chunk: Uint8Array): void {
    this.lastIoAt = Date.now();
    this.host.countStreamInput(chunk.length);
    try {
      if (this.phase === "snapshot" && this.end === this.start) {
        // The common case: snapshot bytes straight from the socket's chunk, no copy.
        const used = this.loadSnapshot(chunk, 0, chunk.length);
        if (used < chunk.length) this.take(chunk.subarray(used));
      } else {
        this.take(chunk);
      }
      this.process();
    } catch (e) {
      // A stream that fails its checks cannot be trusted from any offset: start over in full.
      log("error", `Replication stream from ${this.masterHost}:${this.masterPort} is broken: ${(e as Error).message}; the next sync is a full one`);
      this.replid = "?";
      this.offset = -1;
      this.lost("stream error");
    }
  }

  /** Appends to the receive buffer. */
  private take(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      const size = Math.max(this.buf.length, live + chunk.length);
      const next = size > this.buf.length ? new Uint8Array(Math.max(size, this.buf.length * 2)) : this.buf;
      if (next === this.buf) next.copyWithin(0, this.start, this.end);
      else next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  private process(): void {
    while (this.start < this.end) {
      if (this.phase === "auth" || this.phase === "handshake") {
        if (!this.reply()) return;
      } else if (this.phase === "snapshot") {
        this.start += this.loadSnapshot(this.buf, this.start, this.end);
        if (this.phase === "snapshot") return;
      } else {
        this.records();
        break;
      }
    }
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** One reply frame of the handshake; false when it is not all here yet. */
  private reply(): boolean {
    const b = this.buf;
    const p = this.start;
    if (this.end - p < RESPONSE_HEADER) return false;
    if (b[p] !== MAGIC) throw new Error(`bad reply magic 0x${b[p]!.toString(16)} from the master`);
    const status = b[p + 1]!;
    const len = readU32(b, p + 2);
    if (len > 64 * 1024) throw new Error(`handshake reply of ${len} bytes`);
    if (this.end - p < RESPONSE_HEADER + len) return false;
    const payload = b.subarray(p + RESPONSE_HEADER, p + RESPONSE_HEADER + len);
    this.start = p + RESPONSE_HEADER + len;
    if (status === Status.ERROR) {
      const text = Buffer.from(payload.subarray(2)).toString();
      // The master may be restarting, or not a master yet: try again later.
      this.lost(`the master refused ${this.phase === "auth" ? "AUTH" : "REPLICATE"}: ${text}`);
      return false;
    }
    if (this.phase === "auth") {
      this.phase = "handshake";
      return true;
    }
    const text = Buffer.from(payload).toString("latin1");
    const m = /^(FULLRESYNC|CONTINUE) ([0-9a-f]{40}) ([0-9]+)$/.exec(text);
    if (status !== Status.STRING || !m) throw new Error(`unexpected handshake reply ${JSON.stringify(text.slice(0, 80))}`);
    const at = Number(m[3]);
    this.attempt = 0;
    if (m[1] === "CONTINUE") {
      if (this.replid !== m[2]) this.host.master.follow(m[2]!);
      this.replid = m[2]!;
      this.phase = "stream";
      this.state = "connected";
      this.lastSync = "partial";
      this.syncs.partial++;
      this.host.master.ensureBacklog(this.offset);
      log("info", `Partial resync with ${this.masterHost}:${this.masterPort} from offset ${this.offset}`);
    } else {
      // Our id and offset stay as they are until the new dataset is loaded: a link lost
      // mid-load must not pair the new id with an offset from the old history.
      this.fullId = m[2]!;
      this.phase = "snapshot";
      this.state = "sync";
      const ks = new Keyspace();
      ks.activeExpiry = false;
      this.loading = { ks, dec: new SnapshotDecoder(ks, "full sync stream", Infinity, this.host.config.max_value_size) };
      this.fullAt = at;
      this.syncStarted = performance.now();
      log("info", `Full sync from ${this.masterHost}:${this.masterPort} at offset ${at}`);
    }
    return true;
  }

  private loadSnapshot(buf: Uint8Array, start: number, end: number): number {
    const l = this.loading!;
    const used = l.dec.feed(buf, start, end);
    if (l.dec.done) {
      if (l.dec.position !== this.fullAt) throw new Error(`snapshot is at offset ${l.dec.position}, the master said ${this.fullAt}`);
      this.host.replaceKeyspace(l.ks);
      this.replid = this.fullId;
      this.host.master.follow(this.replid);
      this.offset = this.fullAt;
      this.host.master.backlog = null;
      this.host.master.ensureBacklog(this.offset);
      this.loading = null;
      this.phase = "stream";
      this.state = "connected";
      this.lastSync = "full";
      this.syncs.full++;
      log("info", `Full sync done: ${l.dec.entries} keys, ${l.dec.offset} bytes in ${(performance.now() - this.syncStarted).toFixed(0)} ms`);
    }
    return used;
  }

  /** Applies every whole record received; a cut-short one waits for more bytes. */
  private records(): void {
    const b = this.buf;
    const ks = this.host.keyspace;
    const backlog = this.host.master.backlog!;
    let p = this.start;
    while (p < this.end) {
      const r = scanRecord(b, p, this.end);
      if (r.kind === "incomplete") {
        if (this.end - p >= 9 && 9 + b[p + 4]! + readU32(b, p + 5) + 4 > this.maxRecord) {
          throw new Error(`a record of ${readU32(b, p + 5)} value bytes is over max_value_size`);
        }
        break;
      }
      if (r.kind === "corrupt") throw new Error(`${r.why} at stream offset ${this.offset}`);
      if (r.op !== Op.PING) {
        const err = applyMutation(ks, r.op, b, r.keyStart, r.keyLen, r.valueLen);
        if (err) throw new Error(`${err} at stream offset ${this.offset}`);
        backlog.append(b.subarray(p, r.end));
        this.offset += r.end - p;
      }
      p = r.end;
    }
    this.start = p;
  }
}
