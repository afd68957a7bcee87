// INFO's "replication" section, in Redis's field names (tools read them), plus microdb's own
// fields saying how the last sync went (master_last_sync, master_syncs_full/partial).

import type { ReplicationMaster } from "./master.ts";
import { REPL_TIMEOUT_MS, type ReplicaLink } from "./replica.ts";

export function replicationInfo(master: ReplicationMaster, replica: ReplicaLink | null, offset: number): [string, string | number][] {
  const now = Date.now();
  const lines: [string, string | number][] = [["role", replica ? "slave" : "master"]];
  if (replica) {
    const up = replica.state === "connected";
    lines.push(
      ["master_host", replica.masterHost],
      ["master_port", replica.masterPort],
      ["master_link_status", up ? "up" : "down"],
      ["master_last_io_seconds_ago", replica.lastIoAt > 0 ? Math.floor((now - replica.lastIoAt) / 1000) : -1],
      ["master_sync_in_progress", replica.syncInProgress ? 1 : 0],
      ["slave_read_repl_offset", replica.offset],
      ["slave_repl_offset", replica.offset],
    );
    if (replica.syncInProgress) lines.push(["master_sync_read_bytes", replica.loadedBytes]);
    if (!up) lines.push(["master_link_down_since_seconds", Math.floor((now - replica.downSince) / 1000)]);
    lines.push(
      ["master_last_sync", replica.lastSync],
      ["master_syncs_full", replica.syncs.full],
      ["master_syncs_partial", replica.syncs.partial],
      ["master_repl_timeout_seconds", REPL_TIMEOUT_MS / 1000],
      ["slave_priority", 100],
      ["slave_read_only", 1],
      ["replica_announced", 1],
    );
  }
  const replicas = master.replicas();
  lines.push(["connected_slaves", replicas.length]);
  replicas.forEach((r, i) => lines.push([`slave${i}`, `ip=${r.ip},port=${r.port},state=${r.state},offset=${r.offset},lag=${r.lag}`]));
  const b = master.backlog;
  lines.push(
    ["master_failover_state", "no-failover"],
    ["master_replid", replica && replica.replid === "?" ? master.replid : (replica?.replid ?? master.replid)],
    ["master_replid2", master.replid2],
    ["master_repl_offset", offset],
    ["second_repl_offset", master.secondOffset],
    ["repl_backlog_active", b ? 1 : 0],
    ["repl_backlog_size", b?.size ?? master.backlogSize],
    ["repl_backlog_first_byte_offset", b ? b.start + 1 : 0],
    ["repl_backlog_histlen", b?.histlen ?? 0],
  );
  return lines;
}
