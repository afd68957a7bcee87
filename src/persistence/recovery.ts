// Start-up recovery: load dump.rdb, then replay the AOF files after the snapshot's position.
//
// The log is appendonly.aof, then appendonly.aof.next when a snapshot was under way or did not
// commit (aof.ts). Each file's header gives the position of its first record; a record whose
// position is before what is already applied (the snapshot, or an earlier file) is skipped, so no
// write is applied twice, and a file that starts after that point is a gap and stops start-up.
//
// A torn tail — the last record of the last file cut short by a crash, or a power loss's unwritten
// sector with the rest of that write after it — is truncated with a warning naming the byte
// offset. Zeros after a file's last record (preallocated under appendfsync always) are cut with a
// note. Any other damage (a bad CRC with records after it, a bad header, a corrupt snapshot) stops
// start-up with an error naming the file and offset; nothing starts silently empty. `microdb
// check` runs the same scan without a server.

import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { applyMutation } from "../commands/apply.ts";
import type { Keyspace } from "../store/keyspace.ts";
import { AOF_FILE, AOF_HEADER, AOF_NEXT, readAofHeader, type AofStart } from "./aof.ts";
import { MAGIC } from "../protocol/binary.ts";
import { scanRecord } from "./record.ts";
import { SNAPSHOT_FILE, SNAPSHOT_TMP, loadSnapshot, type LoadedSnapshot } from "./snapshot.ts";

export class RecoveryError extends Error {
  override name = "RecoveryError";
}

export interface TornTail {
  file: string;
  /** Byte offset in the file where the torn record starts (the file's new length). */
  offset: number;
  /** Bytes cut off (or that would be, without fixing). */
  bytes: number;
}

export interface RecoveryReport {
  snapshot: LoadedSnapshot | null;
  /** Records applied from the AOF. */
  replayed: number;
  /** Records skipped because the snapshot already held them. */
  skipped: number;
  torn: TornTail[];
  /** Where appends continue. */
  aof: AofStart;
  notes: string[];
}

export interface RecoveryOptions {
  /** Truncate a torn tail (the server does; `check` only with --fix). */
  truncateTorn: boolean;
}

/** Recovers `dir` into `ks`; throws RecoveryError (or SnapshotError) on damage it must not guess about. */
export function recover(dir: string, ks: Keyspace, opts: RecoveryOptions): RecoveryReport {
  const notes: string[] = [];
  const removed = opts.truncateTorn ? "removed" : "found (--fix removes it)";
  const tmp = join(dir, SNAPSHOT_TMP);
  if (existsSync(tmp)) {
    notes.push(`${removed} ${SNAPSHOT_TMP} left by a snapshot that did not finish`);
    if (opts.truncateTorn) rmSync(tmp);
  }
  const snapPath = join(dir, SNAPSHOT_FILE);
  const snapshot = existsSync(snapPath) ? loadSnapshot(snapPath, ks) : null;
  let applied = snapshot?.position ?? 0;
  const report: RecoveryReport = {
    snapshot, replayed: 0, skipped: 0, torn: [], notes,
    aof: { file: AOF_FILE, base: applied, size: 0, exists: false },
  };

  const files = [AOF_FILE, AOF_NEXT].filter((f) => existsSync(join(dir, f)));
  const nextPath = join(dir, AOF_NEXT);
  if (files.includes(AOF_NEXT) && statSync(nextPath).size === AOF_HEADER && !("error" in readAofHeader(readFileSync(nextPath)))) {
    // A next file with no records (a switch that did not finish) holds nothing; appends go on
    // where the log ends, and a torn tail before it is still the log's last record.
    notes.push(`${removed} ${AOF_NEXT}: it has no records`);
    if (opts.truncateTorn) rmSync(nextPath);
    files.pop();
  }
  /** Preallocated zeros to cut once every file has been read. */
  const zeroTails: { path: string; off: number }[] = [];
  /** Files that were read, with the log position each ends at. */
  const seen: { file: AofStart["file"]; base: number; size: number }[] = [];
  for (let i = 0; i < files.length; i++) {
    const name = files[i]!;
    const last = i === files.length - 1;
    const path = join(dir, name);
    const fd = openSync(path, "r+");
    try {
      const data = readAll(fd);
      const header = readAofHeader(data.subarray(0, AOF_HEADER));
      if ("error" in header) {
        // A next file is created with its header fsynced before any record goes in, so a short or
        // empty one holds nothing that was ever acknowledged.
        if (name === AOF_NEXT && (data.length < AOF_HEADER || zeros(data, 0, data.length))) {
          notes.push(`${removed} ${AOF_NEXT} (${data.length} bytes, no header) that was being created at a crash`);
          if (opts.truncateTorn) rmSync(path);
          continue;
        }
        throw new RecoveryError(`${path}: ${header.error} at byte offset 0`);
      }

      if (header.base > applied) {
        throw new RecoveryError(
          `${path}: starts at log position ${header.base}, but the data before it ends at ${applied}` +
            (snapshot ? "" : ` (is ${SNAPSHOT_FILE} missing?)`) + ": refusing to start with a gap at byte offset 0",
        );
      }
      let off = AOF_HEADER;
      while (off < data.length) {
        const r = scanRecord(data, off, data.length);
        if (r.kind === "record") {
          const pos = header.base + (off - AOF_HEADER);
          if (pos < applied) {
            if (pos + (r.end - off) > applied) throw new RecoveryError(`${path}: record at byte offset ${off} straddles position ${applied}`);
            report.skipped++;
          } else {
            const err = applyMutation(ks, r.op, data, r.keyStart, r.keyLen, r.valueLen);
            if (err) throw new RecoveryError(`${path}: ${err} in the record at byte offset ${off}`);
            report.replayed++;
          }
          off = r.end;
          continue;
        }
        if (zeros(data, off, data.length)) {
          // Space preallocated under appendfsync always (aof.ts), which a clean close cuts off.
          // Cut once the whole scan has passed: a later file may still stop start-up.
          notes.push(`${removed} ${data.length - off} bytes of zeros after the last record of ${name}, at byte offset ${off} (space preallocated under appendfsync always, left by a crash)`);
          zeroTails.push({ path, off });
          break;
        }
        // A crash cuts the log short or leaves a record partly written, so nothing valid follows a
        // torn record, unless a power loss kept later sectors of the write but not an earlier one.
        // Other damage with an intact record after it is corruption, whatever it looks like.
        const next = nextValidRecord(data, off);
        const torn = last && (next < 0 || unwrittenSector(data, off, next));
        if (torn && next >= 0) {
          notes.push(`${path}: the torn write at byte offset ${off} has a zeroed 512-byte sector (unwritten at a power loss); the records after it were part of that unacknowledged write and go with it`);
        }
        if (!torn) {
          const why = r.kind === "corrupt" ? r.why : "record cut short";
          throw new RecoveryError(
            `${path}: ${why} in the record at byte offset ${off}` +
              (last ? " with more data after it: the file is corrupt, not torn" : ` and ${files[i + 1]} follows it`),
          );
        }
        report.torn.push({ file: path, offset: off, bytes: data.length - off });
        if (opts.truncateTorn) ftruncateSync(fd, off);
        break;
      }
      const size = Math.min(off, data.length) - AOF_HEADER;
      applied = Math.max(applied, header.base + size);
      seen.push({ file: name as AofStart["file"], base: header.base, size });
    } finally {
      closeSync(fd);
    }
  }

  // Appends continue in the last file that ends exactly where the recovered history ends. A file
  // ending earlier is either stale (an empty next file from a switch that failed) or wholly
  // covered by the snapshot; appending to it would give new records positions the snapshot
  // already claims, and the next start would skip them.
  let cont = -1;
  for (let i = seen.length - 1; i >= 0; i--) {
    if (seen[i]!.base + seen[i]!.size === applied) {
      cont = i;
      break;
    }
  }
  if (opts.truncateTorn) for (const z of zeroTails) truncateSync(z.path, z.off);
  for (let i = cont + 1; i < seen.length; i++) {
    const f = seen[i]!;
    notes.push(`${removed} ${f.file}: it ends at log position ${f.base + f.size}, before the recovered history (${applied}), so it holds nothing new`);
    if (opts.truncateTorn) rmSync(join(dir, f.file));
  }
  report.aof = cont >= 0 ? { ...seen[cont]!, exists: true } : { file: AOF_FILE, base: applied, size: 0, exists: false };
  return report;
}

/** True when data[from, to) holds only zero bytes. */
function zeros(data: Uint8Array, from: number, to: number): boolean {
  for (let p = from; p < to; p++) if (data[p] !== 0) return false;
  return true;
}

/** Where the first intact record (magic, framing and CRC all good) after `off` starts, or -1. */
function nextValidRecord(data: Uint8Array, off: number): number {
  for (let p = off + 1; p < data.length; p++) {
    if (data[p] === MAGIC && scanRecord(data, p, data.length).kind === "record") return p;
  }
  return -1;
}

/**
 * True when a whole 512-byte sector of zeros lies in data[from, to): a write over preallocated
 * zeros (appendfsync always) that a power loss cut, keeping later sectors of it but not this one.
 * No record after such a sector was acknowledged: the fsync it waited for would have made the
 * sector durable too. Damage that is not a zeroed sector (a flipped bit) with records after it
 * stays corruption.
 */
function unwrittenSector(data: Uint8Array, from: number, to: number): boolean {
  for (let s = Math.ceil(from / SECTOR) * SECTOR; s + SECTOR <= to; s += SECTOR) {
    if (zeros(data, s, s + SECTOR)) return true;
  }
  return false;
}

const SECTOR = 512;

function readAll(fd: number): Uint8Array {
  const size = fstatSync(fd).size;
  const data = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, data, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return data.subarray(0, got);
}
