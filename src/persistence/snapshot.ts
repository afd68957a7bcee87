// dump.rdb: a point-in-time image of the keyspace, and the AOF position it covers.
//
//   header  magic "MDBSNAP" + format version 1 (8 bytes), AOF position (u64 BE), created at ms (u64 BE)
//   entries kind (u8: 0 = string, 1 = string with expiry), key length (u8), value length (u32 BE),
//           [kind 1: expiry, absolute ms (u64 BE)], key, value
//   end     kind 0xFF, entry count (u64 BE), CRC32 of every byte before it (u32 BE)
//
// Writing walks the keyspace's point-in-time view (keyspace.ts) in slices between event-loop
// ticks, so clients are served while it runs: each slice stops after SLICE_BUDGET_MS or
// SLICE_BYTES and the loop polls I/O before the next. The stream goes to any async sink: a temp
// file that is fsynced, renamed over dump.rdb and whose directory is fsynced (saveSnapshot), or
// later a replica's socket. docs/files.md has the byte layout.

import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Keyspace } from "../store/keyspace.ts";
import { keyFromBytes, writeKey } from "../store/keys.ts";
import { readU32, writeU32 } from "../protocol/binary.ts";
import { fsyncDirAsync, readU64, writeU64 } from "./aof.ts";

export const SNAPSHOT_FILE = "dump.rdb";
export const SNAPSHOT_TMP = "dump.rdb.tmp";
export const SNAPSHOT_HEADER = 24;
const SNAP_MAGIC = new Uint8Array([0x4d, 0x44, 0x42, 0x53, 0x4e, 0x41, 0x50, 0x01]);
const KIND_STRING = 0x00;
const KIND_STRING_EXPIRY = 0x01;
const KIND_END = 0xff;
const ENTRY_HEADER = 6;
const EXPIRY_FIELD = 8;
const FOOTER = 1 + 8 + 4;
/** A slice ends after this much time... */
export const SLICE_BUDGET_MS = 1;
/** ...or this many encoded bytes. */
const SLICE_BYTES = 1024 * 1024;
/** Entries between clock checks. */
const CLOCK_EVERY = 64;
/** Values this large are written by reference rather than copied into the slice. */
const LARGE_VALUE = 64 * 1024;

export interface SnapshotSink {
  write(chunks: Uint8Array[]): Promise<void>;
}

export interface SnapshotStats {
  entries: number;
  bytes: number;
  slices: number;
  /** Longest time one slice held the event loop. */
  worstSliceMs: number;
  ms: number;
}

/** Streams the keyspace's point-in-time view (begun by the caller) into `sink`. */
export async function writeSnapshotStream(ks: Keyspace, position: number, sink: SnapshotSink): Promise<SnapshotStats> {
  const started = performance.now();
  const stats: SnapshotStats = { entries: 0, bytes: 0, slices: 0, worstSliceMs: 0, ms: 0 };
  let crc = 0;
  const header = new Uint8Array(SNAPSHOT_HEADER);
  header.set(SNAP_MAGIC, 0);
  writeU64(header, 8, position);
  writeU64(header, 16, Date.now());
  let chunks: Uint8Array[] = [header];
  let more = true;
  // One slice buffer, reused once the sink has taken the previous slice: a snapshot of a large
  // keyspace should not itself feed the garbage collector, whose pauses are the loop's worst stalls.
  const sliceBuf = new Uint8Array(SLICE_BYTES + 64 * 1024);
  try {
    while (more) {
      const t0 = performance.now();
      let buf: Uint8Array = sliceBuf;
      let len = 0;
      let n = 0;
      const emit = (key: string, value: Uint8Array, expireAt: number) => {
        const large = value.length >= LARGE_VALUE;
        const extra = expireAt > 0 ? EXPIRY_FIELD : 0;
        const need = ENTRY_HEADER + extra + key.length + (large ? 0 : value.length);
        if (len + need > buf.length) {
          // Only an entry larger than the room left gets here (slices stop at SLICE_BYTES).
          chunks.push(buf.subarray(0, len));
          buf = new Uint8Array(Math.max(need, SLICE_BYTES));
          len = 0;
        }
        buf[len] = extra ? KIND_STRING_EXPIRY : KIND_STRING;
        buf[len + 1] = key.length;
        writeU32(buf, len + 2, value.length);
        len += ENTRY_HEADER;
        if (extra) {
          writeU64(buf, len, expireAt);
          len += EXPIRY_FIELD;
        }
        len = writeKey(buf, len, key);
        if (large) {
          chunks.push(buf.subarray(0, len));
          chunks.push(value);
          buf = buf.subarray(len);
          len = 0;
        } else {
          buf.set(value, len);
          len += value.length;
        }
        stats.entries++;
        n++;
      };
      for (;;) {
        more = ks.snapshotNext(CLOCK_EVERY, emit);
        if (!more || len >= SLICE_BYTES || performance.now() - t0 >= SLICE_BUDGET_MS) break;
      }
      if (!more) {
        const end = new Uint8Array(FOOTER);
        end[0] = KIND_END;
        writeU64(end, 1, stats.entries);
        buf = concat(buf.subarray(0, len), end.subarray(0, 9));
        len = buf.length;
      }
      if (len > 0) chunks.push(buf.subarray(0, len));
      for (const c of chunks) crc = Bun.hash.crc32(c, crc);
      if (!more) {
        const tail = new Uint8Array(4);
        writeU32(tail, 0, crc);
        chunks.push(tail);
      }
      stats.worstSliceMs = Math.max(stats.worstSliceMs, performance.now() - t0);
      stats.slices++;
      for (const c of chunks) stats.bytes += c.length;
      const out = chunks;
      chunks = [];
      await sink.write(out);
      // Let the loop poll sockets before the next slice even if the sink answered at once.
      await new Promise<void>((r) => setImmediate(r));
    }
  } catch (e) {
    ks.abortSnapshot();
    throw e;
  }
  stats.ms = performance.now() - started;
  return stats;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Writes dump.rdb.tmp, fsyncs it, waits for `beforeCommit` (the AOF must be durable up to the
 * snapshot's position before a dump.rdb claiming that position exists), renames it over dump.rdb
 * and fsyncs the directory.
 */
export async function saveSnapshot(
  ks: Keyspace, dir: string, position: number, beforeCommit: () => Promise<void> = async () => {},
): Promise<SnapshotStats> {
  const tmp = join(dir, SNAPSHOT_TMP);
  const fh = await open(tmp, "w");
  let stats: SnapshotStats;
  try {
    stats = await writeSnapshotStream(ks, position, {
      write: async (chunks) => {
        await fh.writev(chunks);
      },
    });
    await fh.sync();
    await beforeCommit();
  } catch (e) {
    await fh.close().catch(() => {});
    rmSync(tmp, { force: true });
    throw e;
  }
  await fh.close();
  renameSync(tmp, join(dir, SNAPSHOT_FILE));
  await fsyncDirAsync(dir);
  return stats;
}

export class SnapshotError extends Error {
  override name = "SnapshotError";
}

/** Sequential reads of a file with a refillable window and a running CRC of consumed bytes. */
class FileWindow {
  buf = new Uint8Array(1024 * 1024);
  start = 0;
  end = 0;
  /** File offset of buf[start]. */
  offset = 0;
  crc = 0;
  private eof = false;

  constructor(private readonly fd: number) {}

  /** Makes `n` bytes available at buf[start]; false if the file ends first. */
  need(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (n > this.buf.length) {
      const next = new Uint8Array(n);
      next.set(this.buf.subarray(0, this.end));
      this.buf = next;
    }
    while (this.end < n && !this.eof) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (got === 0) this.eof = true;
      this.end += got;
    }
    return this.end - this.start >= n;
  }

  consume(n: number): void {
    this.crc = Bun.hash.crc32(this.buf.subarray(this.start, this.start + n), this.crc);
    this.start += n;
    this.offset += n;
  }
}

export interface LoadedSnapshot {
  position: number;
  createdAt: number;
  entries: number;
  bytes: number;
}

/** Loads dump.rdb into `ks`; throws SnapshotError naming the file and byte offset of a problem. */
export function loadSnapshot(path: string, ks: Keyspace): LoadedSnapshot {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const w = new FileWindow(fd);
    const bad = (why: string, at = w.offset) => new SnapshotError(`${path}: ${why} at byte offset ${at}`);
    if (!w.need(SNAPSHOT_HEADER)) throw bad(`file is ${size} bytes, shorter than the ${SNAPSHOT_HEADER}-byte header`, 0);
    for (let i = 0; i < SNAP_MAGIC.length; i++) {
      if (w.buf[i] !== SNAP_MAGIC[i]) throw bad("not a microdb snapshot (bad magic or version)", 0);
    }
    const position = readU64(w.buf, 8);
    const createdAt = readU64(w.buf, 16);
    w.consume(SNAPSHOT_HEADER);
    let entries = 0;
    for (;;) {
      if (!w.need(1)) throw bad("file ends before the end marker (truncated)");
      const kind = w.buf[w.start]!;
      if (kind === KIND_END) break;
      if (kind !== KIND_STRING && kind !== KIND_STRING_EXPIRY) throw bad(`unknown entry kind 0x${kind.toString(16)}`);
      const head = ENTRY_HEADER + (kind === KIND_STRING_EXPIRY ? EXPIRY_FIELD : 0);
      if (!w.need(head)) throw bad("file ends inside an entry header (truncated)");
      const keyLen = w.buf[w.start + 1]!;
      const valueLen = readU32(w.buf, w.start + 2);
      const expireAt = kind === KIND_STRING_EXPIRY ? readU64(w.buf, w.start + ENTRY_HEADER) : 0;
      if (keyLen === 0) throw bad("entry with an empty key");
      if (w.offset + head + keyLen + valueLen > size) throw bad(`entry claims ${valueLen} value bytes past the end of the file (truncated)`);
      if (!w.need(head + keyLen + valueLen)) throw bad("file ends inside an entry (truncated)");
      const at = w.start + head;
      const key = keyFromBytes(w.buf, at, keyLen);
      ks.set(key, w.buf.subarray(at + keyLen, at + keyLen + valueLen));
      // An expired key is loaded with its time and goes the usual way (a logged delete).
      if (expireAt > 0) ks.setExpireRaw(key, expireAt);
      w.consume(head + keyLen + valueLen);
      entries++;
    }
    const endAt = w.offset;
    if (!w.need(FOOTER)) throw bad("file ends inside the footer (truncated)");
    const count = readU64(w.buf, w.start + 1);
    w.consume(9);
    const crc = readU32(w.buf, w.start);
    if (crc !== w.crc) throw bad("CRC mismatch (the file is corrupt)", endAt);
    if (count !== entries) throw bad(`footer counts ${count} entries, the file holds ${entries}`, endAt);
    if (w.offset + 4 !== size) throw bad(`${size - w.offset - 4} unexpected bytes after the footer`, w.offset + 4);
    return { position, createdAt, entries, bytes: size };
  } finally {
    closeSync(fd);
  }
}
