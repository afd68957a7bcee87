// The server: recovery, the listener, the set of client connections, the end-of-tick flush
// (AOF group commit and the replication stream, then replies), limits, stats, the node's role
// (master or replica, changed at run time by REPLICAOF) and graceful shutdown. Everything runs on
// one event loop, so every command is atomic without locks; after client traffic the loop polls
// for a while instead of sleeping (busy-poll.ts).
//
// A master owns its data files; a replica reads and writes none (its master owns persistence)
// and follows its master's stream. Demotion closes the data files; promotion starts them anew at
// the replica's stream offset (Persistence.adopt).

import type { Socket, TCPSocketListener } from "bun";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "../config.ts";
import { SHAPES, type CommandContext, type RoleView, type WriteRefusal } from "../commands/table.ts";
import { ErrorCode, Op, type RequestLimits } from "../protocol/binary.ts";
import { Persistence } from "../persistence/persistence.ts";
import { recover } from "../persistence/recovery.ts";
import { Keyspace } from "../store/keyspace.ts";
import { parseHostPort } from "../config.ts";
import { ReplicationMaster, newReplid } from "../replication/master.ts";
import { ReplicaLink } from "../replication/replica.ts";
import { replicationInfo } from "../replication/info.ts";
import { log, setLogRole } from "../log.ts";
import { VERSION } from "../version.ts";
import { BusyPoll } from "./busy-poll.ts";
import { FlushQueue } from "./flush-queue.ts";
import { IdleCollector } from "./idle-gc.ts";
import { Connection, type ConnectionHost } from "./connection.ts";
import { renderInfo, type InfoSource, type ServerStats } from "./info.ts";
import { ScanCursors } from "./scan-cursors.ts";

/** Start-up failures that should end the process with one clear line (exit 1). */
export class StartupError extends Error {
  override name = "StartupError";
}

const READONLY: WriteRefusal = { code: ErrorCode.READONLY, message: "READONLY You can't write against a read only replica." };
const NO_FILES = "this node is a replica: it writes no data files (its master owns persistence)";

export class Server implements ConnectionHost, InfoSource {
  keyspace = new Keyspace();
  readonly master: ReplicationMaster;
  private replica: ReplicaLink | null = null;
  /** Data files being closed after a demotion: replies held for them still wait for them. */
  private retiring: Persistence | null = null;
  readonly limits: RequestLimits;
  readonly outputLimit: number;
  readonly startedAt = Date.now();
  readonly stats: ServerStats = {
    connectionsReceived: 0, rejectedConnections: 0, commandsProcessed: 0, netInputBytes: 0, netOutputBytes: 0, expiredKeys: 0, idleCollections: 0,
  };
  readonly context: CommandContext;
  readonly dataDir: string;
  private persistence: Persistence | null = null;
  private listener: TCPSocketListener<Connection> | null = null;
  private readonly clients = new Set<Connection>();
  private readonly dirty = new FlushQueue<Connection>();
  private readonly idleGc = new IdleCollector();
  readonly busyPoll: BusyPoll | null;
  /** Bytes read from a master (a replica's stream); the idle collection counts them with client input. */
  private streamInput = 0;
  private tickScheduled = false;
  private readonly endOfTick = () => this.flushTick();
  private shuttingDown: Promise<void> | null = null;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;

  constructor(readonly config: Config & { source: string | null }) {
    this.limits = { maxValue: config.max_value_size, shapes: SHAPES };
    this.outputLimit = config.client_output_limit;
    this.busyPoll = config.busy_poll_us > 0 ? new BusyPoll(config.busy_poll_us, () => this.aof?.awaitingSync ?? false) : null;
    this.dataDir = resolve(config.data_dir);
    this.requirePassword = config.requirepass !== "";
    const server = this;
    this.master = new ReplicationMaster({
      get keyspace() {
        return server.keyspace;
      },
      config,
      offset: () => this.offset(),
    });
    this.context = {
      get keyspace() {
        return server.keyspace;
      },
      config,
      info: (section) => renderInfo(this, section),
      log: (op, key, value) => this.persistence!.logWrite(op, key, value),
      logBytes: (op, kb, ko, kl, vb, vo, vl) => this.persistence!.logWriteBytes(op, kb, ko, kl, vb, vo, vl),
      writeError: () => (this.replica ? READONLY : (this.persistence?.writeError ?? null)),
      save: () => (this.persistence ? this.persistence.save() : Promise.reject(new Error(NO_FILES))),
      bgsave: () => (this.persistence ? (this.persistence.bgsave() ? null : "ERR Background save already in progress") : `ERR ${NO_FILES}`),
      lastSave: () => Math.floor((this.persistence?.info().lastSaveTime ?? this.startedAt) / 1000),
      replication: {
        role: () => this.role(),
        replicaOf: (host, port) => this.replicaOf(host, port),
        promote: () => this.promote(),
        refuseReplica: () => (this.replica ? "ERR this node is a replica; chained replication is not supported: replicate from its master" : null),
        attach: (target, replid, offset, port, start) => this.master.attach(target, replid, offset, port, start),
        ack: (target, offset) => this.master.ack(target, offset),
      },
      shutdown: (save) => this.requestShutdown("SHUTDOWN command", save),
      sessions: () => this.clients,
      scanCursor: (id) => this.scans.take(id),
      storeScanCursor: (it) => this.scans.put(it),
      endScanCursor: (id) => this.scans.done(id),
    };
    this.keyspace.onExpire = (key) => {
      this.stats.expiredKeys++;
      this.persistence?.logWrite(Op.DELETE, key, null);
    };
  }

  readonly requirePassword: boolean;
  private readonly scans = new ScanCursors();
  /** Set by main: starts the graceful shutdown (and the exit after it). */
  requestShutdown: (reason: string, save: boolean) => void = () => {};

  get port(): number {
    return this.listener?.port ?? this.config.port;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get keys(): number {
    return this.keyspace.size;
  }

  get expires(): number {
    return this.keyspace.expiresCount;
  }

  get arena() {
    return this.keyspace.arenaStats;
  }

  get persistenceInfo() {
    return this.persistence?.info() ?? null;
  }

  /** The replication stream offset: a master's AOF position, or what a replica applied. */
  offset(): number {
    if (this.replica) return this.replica.offset;
    return this.persistence?.aof.position ?? 0;
  }

  replicationInfo(): [string, string | number][] {
    return replicationInfo(this.master, this.replica, this.offset());
  }

  replicationStats(): { syncFull: number; syncPartialOk: number; syncPartialErr: number } {
    return this.master.stats;
  }

  role(): RoleView {
    const r = this.replica;
    if (r) return { role: "slave", host: r.masterHost, port: r.masterPort, state: r.state, offset: r.offset };
    return { role: "master", offset: this.offset(), replicas: this.master.replicas() };
  }

  /** A full sync finished: its keyspace replaces ours (reads were served from ours meanwhile). */
  replaceKeyspace(ks: Keyspace): void {
    ks.activeExpiry = false;
    ks.deferFrees = true;
    ks.onExpire = this.keyspace.onExpire;
    this.keyspace = ks;
    this.scans.clear();
  }

  /** REPLICAOF HOST PORT: follow a master, keeping our id and offset to try a partial resync. */
  replicaOf(host: string, port: number): string {
    const old = this.replica;
    if (old && old.masterHost === host && old.masterPort === port) return "OK Already connected to specified master";
    let replid = this.master.replid;
    let offset = this.offset();
    if (old) {
      old.stop();
      replid = old.replid;
      offset = old.offset;
    } else {
      // Whatever this tick logged goes to the current replicas before they are let go.
      this.master.endOfTick();
      this.master.dropAll();
      const p = this.persistence;
      if (p) {
        p.aof.tap = null;
        this.persistence = null;
        this.retiring = p;
        p.close(false)
          .catch((e: Error) => log("error", `while closing the data files: ${e.message}`))
          .finally(() => {
            if (this.retiring === p) this.retiring = null;
          });
      }
      this.keyspace.activeExpiry = false;
    }
    log("info", `Now a replica of ${host}:${port}${old ? "" : " (data files closed; the master owns persistence)"}`);
    setLogRole("S");
    this.replica = new ReplicaLink(this, host, port, replid, offset);
    return "OK";
  }

  /** REPLICAOF NO ONE: become a master with the data we have; former peers may resync partially. */
  promote(): string {
    const link = this.replica;
    if (!link) return "OK";
    link.stop();
    this.replica = null;
    setLogRole("M");
    const offset = Math.max(link.offset, 0);
    if (link.replid === "?") this.master.replid = newReplid();
    else this.master.promote(offset);
    this.master.ensureBacklog(offset);
    this.keyspace.activeExpiry = true;
    this.openPersistence(Persistence.adopt(this.dataDir, this.config, this.keyspace, offset));
    log("info", `Promoted to master at offset ${offset} (replication id ${this.master.replid}; previous id ${this.master.replid2} valid up to ${this.master.secondOffset})`);
    return "OK";
  }

  private openPersistence(p: Persistence): void {
    this.persistence = p;
    p.aof.tap = this.master.tap;
  }

  private get aof() {
    return (this.persistence ?? this.retiring)?.aof ?? null;
  }

  countCommand(): void {
    this.stats.commandsProcessed++;
  }

  countInput(bytes: number): void {
    this.stats.netInputBytes += bytes;
  }

  repliesSent(bytes: number): void {
    this.stats.netOutputBytes += bytes;
    this.busyPoll?.afterReply();
  }

  countStreamInput(bytes: number): void {
    this.streamInput += bytes;
  }

  afterRequests(conn: Connection): void {
    // Nothing logged is waiting for the end of the tick (reads only, here and in every callback
    // before this one): the replies may go now, without waiting for the tick. A reply must never
    // show a write that is still only in this process, so otherwise they wait for the tick.
    if (this.aof?.holding || this.master.holding) this.scheduleFlush(conn);
    else conn.flush();
  }

  scheduleFlush(conn: Connection): void {
    this.dirty.add(conn);
    if (!this.tickScheduled) {
      this.tickScheduled = true;
      setImmediate(this.endOfTick);
    }
  }

  holdAfter(write: boolean): number {
    const aof = this.aof;
    if (aof === null) return 0;
    if (write) return aof.position;
    // While the AOF is failing reads must keep working (the write that failed is not
    // acknowledged, and others are refused). Otherwise, under `always` no reply leaves before the
    // fsync of what came before it, so a read does not show a write a crash could still take
    // back; under the other policies a read waits only while records are held back from the OS
    // (this tick's batch, or one held while an fsync runs), so it never shows a write that is
    // still only in this process.
    if (!aof.healthy) return 0;
    return this.config.appendfsync === "always" || aof.holding ? aof.position : 0;
  }

  /**
   * A reply to a write leaves once its record is fsynced (always) or at least written to the OS
   * (everysec, no): never while the record exists only in this process, as it would during a
   * write failure or while the AOF switches files.
   */
  durableOrWait(pos: number, conn: Connection): boolean {
    const aof = this.aof;
    if (aof === null) return true;
    if (this.config.appendfsync === "always") {
      if (pos <= aof.durable) return true;
      aof.whenDurable(pos, conn.flushLater);
    } else {
      if (pos <= aof.writtenPosition) return true;
      aof.whenWritten(pos, conn.flushLater);
    }
    return false;
  }

  /** End of tick: the AOF batch goes out in one write, then every touched connection flushes. */
  private flushTick(): void {
    this.tickScheduled = false;
    this.master.endOfTick();
    this.persistence?.aof.endOfTick();
    // Every reply of the tick has copied what it read: freed entries may be reused now.
    this.keyspace.endOfTick();
    // A flush may mark its connection again (a reader resumed after a pause): that mark belongs
    // to the next tick.
    this.dirty.flushAll();
  }

  /** Recovers the data directory and starts listening; throws StartupError. */
  start(): void {
    const dataDir = this.dataDir;
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (e) {
      throw new StartupError(`data_dir ${dataDir}: cannot create: ${(e as Error).message}`);
    }
    if (this.config.role === "slave") {
      // A replica's data comes from its master; its data_dir is neither read nor written.
      this.keyspace.activeExpiry = false;
      setLogRole("S");
      log("info", `role=slave: following ${this.config.master_addr}; ${dataDir} is not read or written while a replica`);
    } else {
      this.recoverAndOpen(dataDir);
    }
    // From here on replies read values: a freed entry is reused only at the end of the tick.
    this.keyspace.deferFrees = true;

    // Active expiry: a bounded look at keys with a TTL every 100 ms, so the loop is never held.
    this.sweepTimer = setInterval(() => {
      this.keyspace.sweep(200);
      this.flushTick();
      if (this.idleGc.tick(this.stats.netInputBytes + this.streamInput)) this.stats.idleCollections++;
    }, 100);
    this.sweepTimer.unref?.();

    const server = this;
    try {
      this.listener = Bun.listen<Connection>({
        hostname: this.config.bind,
        port: this.config.port,
        // A client's FIN does not close our side: its replies (maybe waiting for an fsync) go
        // out first, then onEnd's flush ends the connection.
        allowHalfOpen: true,
        socket: {
          open(socket) {
            const conn = new Connection(server, socket);
            socket.data = conn;
            server.stats.connectionsReceived++;
            if (server.clients.size >= server.config.max_clients || server.shuttingDown) {
              server.stats.rejectedConnections++;
              conn.refuse(ErrorCode.MAX_CLIENTS, server.shuttingDown ? "ERR server is shutting down" : "ERR max number of clients reached");
              return;
            }
            server.clients.add(conn);
          },
          data(socket, chunk) {
            socket.data.onData(chunk);
            server.busyPoll?.afterRead();
          },
          drain(socket) {
            socket.data.onDrain();
          },
          end(socket) {
            // The client closed its side: answer what it sent (replies may still wait for an
            // fsync), then close ours too rather than linger half-open.
            socket.data.onEnd();
          },
          close(socket) {
            socket.data.onClose();
            // A closed connection still marked for the tick is skipped by its flush.
            server.clients.delete(socket.data);
          },
          error(socket: Socket<Connection>, err: Error) {
            log("warn", `client ${socket.data?.addr ?? "?"}: ${err.message}`);
          },
        },
      });
    } catch (e) {
      throw new StartupError(`cannot listen on ${this.config.bind}:${this.config.port}: ${(e as Error).message}`);
    }
    const c = this.config;
    log("info", `microdb ${VERSION} pid=${process.pid} port=${this.port} role=${c.role} data_dir=${dataDir}`);
    log("info", "Ready to accept connections");
    if (c.role === "slave") {
      const m = parseHostPort(c.master_addr!)!;
      this.replica = new ReplicaLink(this, m.host, m.port, "?", -1);
    }
  }

  private recoverAndOpen(dataDir: string): void {
    const t0 = performance.now();
      let report;
      try {
        report = recover(dataDir, this.keyspace, { truncateTorn: true });
      } catch (e) {
        throw new StartupError(`refusing to start: ${(e as Error).message} (see: microdb check ${dataDir})`);
      }
      for (const n of report.notes) log("warn", n);
      for (const t of report.torn) {
        log("warn", `${t.file}: torn last record at byte offset ${t.offset} (${t.bytes} bytes, a write cut short by a crash) truncated`);
      }
      const snap = report.snapshot;
      log("info", `Loaded ${this.keyspace.size} keys in ${(performance.now() - t0).toFixed(1)} ms ` +
        `(snapshot: ${snap ? `${snap.entries} entries at log position ${snap.position}` : "none"}; ` +
        `AOF: ${report.replayed} records replayed, ${report.skipped} already in the snapshot)`);
      try {
        this.openPersistence(new Persistence(dataDir, this.config, this.keyspace, report.aof, snap));
      } catch (e) {
        throw new StartupError(`cannot open the AOF in ${dataDir}: ${(e as Error).message}`);
      }
  }

  /**
   * Graceful shutdown: stop accepting, answer what was already read, write and fsync the AOF,
   * write a final snapshot, then close every connection.
   */
  shutdown(reason: string, save = true): Promise<void> {
    if (this.shuttingDown) return this.shuttingDown;
    log("info", `${reason}: shutting down${save ? "" : " (no final snapshot)"}`);
    this.shuttingDown = (async () => {
      this.listener?.stop(false);
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.replica?.stop();
      this.master.stop();
      for (const c of this.clients) c.stopReading();
      this.flushTick();
      try {
        await this.persistence?.close(save);
      } catch (e) {
        log("error", `while closing the data files: ${(e as Error).message}`);
      }
      this.flushTick();
      // Replies already queued get a moment to leave before the sockets close.
      const deadline = Date.now() + 500;
      while (Date.now() < deadline && [...this.clients].some((c) => c.out.pending > 0)) await Bun.sleep(10);
      for (const c of this.clients) c.socket.end();
      this.listener?.stop(true);
      log("info", "microdb is now ready to exit, bye bye...");
    })();
    return this.shuttingDown;
  }
}
