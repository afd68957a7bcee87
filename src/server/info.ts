// INFO text: "# Section" headers and field:value lines, in Redis's layout so that tools and people
// used to Redis read it the same way.

import type { Config } from "../config.ts";
import type { PersistenceInfo } from "../persistence/persistence.ts";
import { REDIS_COMPAT_VERSION } from "../commands/server.ts";
import { VERSION } from "../version.ts";

export interface InfoSource {
  readonly config: Config & { source: string | null };
  readonly port: number;
  readonly startedAt: number;
  readonly clientCount: number;
  readonly stats: ServerStats;
  readonly keys: number;
  readonly expires: number;
  readonly persistenceInfo: PersistenceInfo | null;
  /** The keyspace's arena (entries off the collected heap): bytes in use, free for reuse, pages. */
  readonly arena: { used: number; free: number; pages: number };
  readonly dataDir: string;
  /** Reads that found the loop busy polling (null when busy_poll_us is 0). */
  readonly busyPoll: { readonly hits: number } | null;
  replicationInfo(): [string, string | number][];
  replicationStats(): { syncFull: number; syncPartialOk: number; syncPartialErr: number };
}

export interface ServerStats {
  connectionsReceived: number;
  rejectedConnections: number;
  commandsProcessed: number;
  netInputBytes: number;
  netOutputBytes: number;
  expiredKeys: number;
  /** Full collections run when the server went quiet after a burst of input (idle-gc.ts). */
  idleCollections: number;
}

type Section = (s: InfoSource) => [string, string | number][];

const SECTIONS: Record<string, Section> = {
  server: (s) => [
    ["redis_version", REDIS_COMPAT_VERSION],
    ["microdb_version", VERSION],
    ["redis_mode", "standalone"],
    ["os", `${process.platform} ${process.arch}`],
    ["arch_bits", 64],
    ["bun_version", Bun.version],
    ["process_id", process.pid],
    ["tcp_port", s.port],
    ["bind", s.config.bind],
    ["uptime_in_seconds", Math.floor((Date.now() - s.startedAt) / 1000)],
    ["uptime_in_days", Math.floor((Date.now() - s.startedAt) / 86_400_000)],
    ["executable", process.execPath],
    ["config_file", s.config.source ?? ""],
    ["threads", s.config.threads],
    ["busy_poll_us", s.config.busy_poll_us],
  ],
  clients: (s) => [
    ["connected_clients", s.clientCount],
    ["blocked_clients", 0],
    ["maxclients", s.config.max_clients],
    ["client_output_limit", s.config.client_output_limit],
  ],
  memory: (s) => {
    const m = process.memoryUsage();
    return [
      ["used_memory", m.heapUsed + m.external + m.arrayBuffers],
      ["used_memory_human", `${((m.heapUsed + m.external + m.arrayBuffers) / 1048576).toFixed(2)}M`],
      ["used_memory_rss", m.rss],
      ["arena_used_bytes", s.arena.used],
      ["arena_free_bytes", s.arena.free],
      ["arena_pages", s.arena.pages],
      ["idle_collections", s.stats.idleCollections],
      ["maxmemory", 0],
      ["max_value_size", s.config.max_value_size],
    ];
  },
  persistence: (s) => {
    const p = s.persistenceInfo;
    if (!p) return [];
    const last = p.lastSnapshot;
    return [
      ["loading", 0],
      ["data_dir", s.dataDir],
      ["aof_enabled", 1],
      ["appendfsync", s.config.appendfsync],
      ["aof_last_write_status", p.aofHealthy ? "ok" : "err"],
      ["aof_last_error", p.aofError ?? ""],
      ["aof_position", p.aofPosition],
      ["aof_durable_position", p.aofDurable],
      ["rdb_changes_since_last_save", p.changesSinceSave],
      ["rdb_bgsave_in_progress", p.snapshotRunning ? 1 : 0],
      ["rdb_last_save_time", Math.floor(p.lastSaveTime / 1000)],
      ["rdb_last_bgsave_status", p.lastSnapshotOk ? "ok" : "err"],
      ["rdb_saves", p.snapshotsTaken],
      ["rdb_last_snapshot_entries", last?.entries ?? 0],
      ["rdb_last_snapshot_ms", last ? last.ms.toFixed(1) : 0],
      ["rdb_last_snapshot_worst_slice_ms", last ? last.worstSliceMs.toFixed(2) : 0],
      ["rdb_last_snapshot_busy_ms", last ? last.busyMs.toFixed(1) : 0],
    ];
  },
  stats: (s) => [
    ["total_connections_received", s.stats.connectionsReceived],
    ["total_commands_processed", s.stats.commandsProcessed],
    ["rejected_connections", s.stats.rejectedConnections],
    ["expired_keys", s.stats.expiredKeys],
    ["total_net_input_bytes", s.stats.netInputBytes],
    ["total_net_output_bytes", s.stats.netOutputBytes],
    ["busy_poll_hits", s.busyPoll?.hits ?? 0],
    ["sync_full", s.replicationStats().syncFull],
    ["sync_partial_ok", s.replicationStats().syncPartialOk],
    ["sync_partial_err", s.replicationStats().syncPartialErr],
  ],
  replication: (s) => s.replicationInfo(),
  keyspace: (s) => (s.keys > 0 ? [["db0", `keys=${s.keys},expires=${s.expires},avg_ttl=0`]] : []),
};

export const INFO_SECTIONS = Object.keys(SECTIONS);

/** One section, or all of them for null/"all"/"everything"/"default"; undefined if unknown. */
export function renderInfo(src: InfoSource, section: string | null): string | undefined {
  const names = section === null || section === "all" || section === "everything" || section === "default"
    ? INFO_SECTIONS
    : SECTIONS[section] ? [section] : undefined;
  if (!names) return undefined;
  return names
    .map((name) => {
      const lines = SECTIONS[name]!(src).map(([k, v]) => `${k}:${v}`);
      return [`# ${name[0]!.toUpperCase()}${name.slice(1)}`, ...lines].join("\r\n");
    })
    .join("\r\n\r\n") + "\r\n";
}
