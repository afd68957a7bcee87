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

import { closeSync, fstatSync, openSync, readSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { LARGE_VALUE, type Keyspace, type RawEmit, type SnapshotView } from "../store/keyspace.ts";
import { copyBytes } from "../bytes.ts";
import { keyFromBytes } from "../store/keys.ts";
import { readU32, writeU32 } from "../protocol/binary.ts";
import { fsyncDirAsync, readU64, replaceFile, writeU64 } from "./aof.ts";

export const SNAPSHOT_FILE = "dump.rdb";
export const SNAPSHOT_TMP = "dump.rdb.tmp";
export const SNAPSHOT_HEADER = 24;
const SNAP_MAGIC = new Uint8Array([0x4d, 0x44, 0x42, 0x53, 0x4e, 0x41, 0x50, 0x01]);
const KIND_STRING = 0x00;
const KIND_STRING_EXPIRY = 0x01;
const KIND_END = 0xff;
const ENTRY_HEADER = 6;
const EXPIRY_FIELD = 8;
/** End marker, entry count, CRC. */
export const SNAPSHOT_FOOTER = 1 + 8 + 4;
/**
 * A slice ends after this much time... Every client whose request arrives during a slice waits
 * for the rest of it: under -c 50 -P 1 each slice lengthens one tick, so while a snapshot runs
 * every client's latency grows by about a slice, and a snapshot spans more than 1% of a
 * benchmark row (its p99). Slices went from 1 ms to 0.25, to 0.1 and then to 0.05: the loop time
 * stays about the same, the wall time grows (a `SAVE` of 1M x 16 B on an idle server, 3 each:
 * 55-78 ms of loop time in 83-125 ms at 0.25, 54-93 ms in 118-195 ms at 0.1; docs/benchmarks.md,
 * "Shorter slices"). 0.05 came with the walk's tighter step bound (keyspace.ts), without which
 * slices overran any budget: bench:snapshot's p99 during a SAVE of 1.08M keys went from 1.10
 * and 1.71 ms to 0.69 and 0.98, the SAVE from 196-252 ms to 277-307 ms.
 */
export const SLICE_BUDGET_MS = 0.05;
/** ...or this many encoded bytes (1 KiB values fill 1 MiB in 0.4-3 ms when the memory is cold). */
const SLICE_BYTES = 256 * 1024;
/** Entries between clock checks, at most. */
const CLOCK_EVERY = 64;
/** The most bytes one entry copies into a slice (larger values are referenced instead). */
const LARGEST_COPIED = ENTRY_HEADER + EXPIRY_FIELD + 255 + LARGE_VALUE - 1;

export interface SnapshotSink {
  write(chunks: Uint8Array[]): Promise<void>;
}

export interface SnapshotStats {
  entries: number;
  bytes: number;
  slices: number;
  /** Longest time one slice held the event loop. */
  worstSliceMs: number;
  /** Time all slices together held the event loop (the rest of `ms` the loop served clients). */
  busyMs: number;
  ms: number;
}

/** Streams the keyspace's point-in-time `view` (begun by the caller) into `sink`. */
export async function writeSnapshotStream(
  ks: Keyspace, view: SnapshotView, position: number, sink: SnapshotSink, budgetMs = SLICE_BUDGET_MS,
): Promise<SnapshotStats> {
  const started = performance.now();
  const stats: SnapshotStats = { entries: 0, bytes: 0, slices: 0, worstSliceMs: 0, busyMs: 0, ms: 0 };
  let crc = 0;
  const header = new Uint8Array(SNAPSHOT_HEADER);
  header.set(SNAP_MAGIC, 0);
  writeU64(header, 8, position);
  writeU64(header, 16, Date.now());
  let chunks: Uint8Array[] = [header];
  let more = true;
  // One slice buffer, reused once the sink has taken the previous slice: a snapshot of a large
  // keyspace should not itself feed the garbage collector, whose pauses are the loop's worst stalls.
  const sliceBuf = new Uint8Array(SLICE_BYTES + LARGEST_COPIED);
  /**
   * The largest entry copied so far (0: none yet, taken as the worst case): each walk step takes
   * only as many entries as fit in what is left of the slice, so 64 entries of tens of KiB cannot
   * run a slice far past its bound. An entry larger than any before it can still overrun; the
   * buffer has room for one, and beyond that a new one is made.
   */
  let largest = 0;
  try {
    while (more) {
      const t0 = performance.now();
      let buf: Uint8Array = sliceBuf;
      let len = 0;
      /** Bytes copied into this slice (len restarts whenever a large value is queued by reference). */
      let copied = 0;
      // Bytes are copied from the arena in place (no key string, no view per entry): a snapshot
      // of a large keyspace should not feed the collector. Large values are immutable arrays and
      // are referenced instead.
      const emit: RawEmit = (kb, ko, kl, vb, vo, vl, large, expireAt) => {
        const extra = expireAt > 0 ? EXPIRY_FIELD : 0;
        const need = ENTRY_HEADER + extra + kl + (large ? 0 : vl);
        copied += need;
        if (need > largest) largest = need;
        if (len + need > buf.length) {
          // Only an entry larger than any before it in this snapshot gets here (see `largest`).
          chunks.push(buf.subarray(0, len));
          buf = new Uint8Array(Math.max(need, SLICE_BYTES));
          len = 0;
        }
        buf[len] = extra ? KIND_STRING_EXPIRY : KIND_STRING;
        buf[len + 1] = kl;
        writeU32(buf, len + 2, vl);
        len += ENTRY_HEADER;
        if (extra) {
          writeU64(buf, len, expireAt);
          len += EXPIRY_FIELD;
        }
        copyBytes(kb, ko, kl, buf, len);
        len += kl;
        if (large) {
          chunks.push(buf.subarray(0, len));
          chunks.push(vo === 0 && vl === vb.length ? vb : vb.subarray(vo, vo + vl));
          buf = buf.subarray(len);
          len = 0;
        } else {
          copyBytes(vb, vo, vl, buf, len);
          len += vl;
        }
        stats.entries++;
      };
      for (;;) {
        const room = Math.floor((SLICE_BYTES - copied) / (largest || LARGEST_COPIED));
        more = ks.snapshotNextRaw(view, Math.max(1, Math.min(CLOCK_EVERY, room)), emit);
        if (!more || copied >= SLICE_BYTES || performance.now() - t0 >= budgetMs) break;
      }
      if (!more) {
        const end = new Uint8Array(SNAPSHOT_FOOTER);
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
      const sliceMs = performance.now() - t0;
      stats.worstSliceMs = Math.max(stats.worstSliceMs, sliceMs);
      stats.busyMs += sliceMs;
      stats.slices++;
      for (const c of chunks) stats.bytes += c.length;
      const out = chunks;
      chunks = [];
      await sink.write(out);
      // Let the loop poll sockets before the next slice even if the sink answered at once.
      await new Promise<void>((r) => setImmediate(r));
    }
  } catch (e) {
    ks.abortSnapshot(view);
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
  ks: Keyspace, view: SnapshotView, dir: string, position: number, beforeCommit: () => Promise<void> = async () => {},
): Promise<SnapshotStats> {
  const tmp = join(dir, SNAPSHOT_TMP);
  const fh = await open(tmp, "w");
  let stats: SnapshotStats;
  try {
    stats = await writeSnapshotStream(ks, view, position, {
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
  replaceFile(tmp, join(dir, SNAPSHOT_FILE));
  await fsyncDirAsync(dir);
  return stats;
}

export class SnapshotError extends Error {
  override name = "SnapshotError";
}

/**
 * Decodes a snapshot fed in chunks of any size — from a file (loadSnapshot) or from a master's
 * socket (a replica's full sync) — into a keyspace. Entries whole in a chunk are read in place;
 * only an entry cut by a chunk boundary is copied. Nothing a header claims is allocated before it
 * is checked against `maxBytes` (what can still arrive) and `maxValue`.
 */
export class SnapshotDecoder {
  position = -1;
  createdAt = 0;
  entries = 0;
  done = false;
  /** Bytes consumed so far (the offset of the next byte in the snapshot). */
  offset = 0;
  private crc = 0;
  private held = new Uint8Array(0);
  private heldLen = 0;
  private sawHeader = false;
  private endAt = -1;

  constructor(
    private readonly ks: Keyspace,
    private readonly name: string,
    private readonly maxBytes: number,
    private readonly maxValue: number,
  ) {}

  /** Decodes what it can of chunk[start, end); returns how many bytes it took (it stops at the end). */
  feed(chunk: Uint8Array, start = 0, end = chunk.length): number {
    let pos = start;
    // First complete the one item a previous chunk cut short (held is never more than one item).
    while (this.heldLen > 0 && !this.done) {
      const need = this.needed(this.held, 0, this.heldLen);
      if (this.heldLen < need) {
        if (pos === end) return end - start;
        const want = Math.min(end - pos, need - this.heldLen);
        this.hold(chunk, pos, pos + want);
        pos += want;
        continue;
      }
      this.decode(this.held, 0, this.heldLen);
      this.heldLen = 0;
      if (this.held.length > 1024 * 1024) this.held = new Uint8Array(0);
    }
    if (this.done) return pos - start;
    pos += this.decode(chunk, pos, end);
    if (!this.done && pos < end) {
      this.hold(chunk, pos, end);
      pos = end;
    }
    return pos - start;
  }

  /** Decodes whole items from buf[pos, end); returns bytes used. */
  private decode(buf: Uint8Array, pos: number, end: number): number {
    const from = pos;
    while (!this.done) {
      const need = this.needed(buf, pos, end);
      if (end - pos < need) break;
      if (!this.sawHeader) {
        for (let i = 0; i < SNAP_MAGIC.length; i++) {
          if (buf[pos + i] !== SNAP_MAGIC[i]) throw this.bad("not a microdb snapshot (bad magic or version)", 0);
        }
        this.position = readU64(buf, pos + 8);
        this.createdAt = readU64(buf, pos + 16);
        this.sawHeader = true;
      } else if (this.endAt < 0 && buf[pos] === KIND_END) {
        this.endAt = this.offset;
        const count = readU64(buf, pos + 1);
        if (count !== this.entries) throw this.bad(`footer counts ${count} entries, the snapshot holds ${this.entries}`, this.endAt);
        this.consume(buf, pos, 9);
        pos += 9;
        continue;
      } else if (this.endAt >= 0) {
        if (readU32(buf, pos) !== this.crc) throw this.bad("CRC mismatch (the snapshot is corrupt)", this.endAt);
        this.done = true;
        this.offset += 4;
        pos += 4;
        break;
      } else {
        const kind = buf[pos]!;
        const head = ENTRY_HEADER + (kind === KIND_STRING_EXPIRY ? EXPIRY_FIELD : 0);
        const keyLen = buf[pos + 1]!;
        const valueLen = readU32(buf, pos + 2);
        const at = pos + head;
        const key = keyFromBytes(buf, at, keyLen);
        this.ks.set(key, buf.subarray(at + keyLen, at + keyLen + valueLen));
        // An expired key is loaded with its time and goes the usual way (a logged delete).
        if (kind === KIND_STRING_EXPIRY) this.ks.setExpireRaw(key, readU64(buf, pos + ENTRY_HEADER));
        this.entries++;
      }
      this.consume(buf, pos, need);
      pos += need;
    }
    return pos - from;
  }

  /** Bytes the next item needs, checking what its header claims once the header is there. */
  private needed(buf: Uint8Array, pos: number, end: number): number {
    if (!this.sawHeader) return SNAPSHOT_HEADER;
    if (this.endAt >= 0) return 4;
    if (end - pos < 1) return 1;
    const kind = buf[pos]!;
    if (kind === KIND_END) return 9;
    if (kind !== KIND_STRING && kind !== KIND_STRING_EXPIRY) throw this.bad(`unknown entry kind 0x${kind.toString(16)}`);
    const head = ENTRY_HEADER + (kind === KIND_STRING_EXPIRY ? EXPIRY_FIELD : 0);
    if (end - pos < head) return head;
    const keyLen = buf[pos + 1]!;
    const valueLen = readU32(buf, pos + 2);
    if (keyLen === 0) throw this.bad("entry with an empty key");
    if (valueLen > this.maxValue) throw this.bad(`entry value of ${valueLen} bytes is over max_value_size (${this.maxValue})`);
    if (this.offset + head + keyLen + valueLen > this.maxBytes) throw this.bad(`entry claims ${valueLen} value bytes past the end of the file (truncated)`);
    return head + keyLen + valueLen;
  }

  private consume(buf: Uint8Array, pos: number, n: number): void {
    this.crc = Bun.hash.crc32(buf.subarray(pos, pos + n), this.crc);
    this.offset += n;
  }

  private hold(chunk: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.heldLen + n > this.held.length) {
      const next = new Uint8Array(Math.max(this.heldLen + n, this.held.length * 2, 4096));
      next.set(this.held.subarray(0, this.heldLen));
      this.held = next;
    }
    this.held.set(chunk.subarray(start, end), this.heldLen);
    this.heldLen += n;
  }

  bad(why: string, at = this.offset): SnapshotError {
    return new SnapshotError(`${this.name}: ${why} at byte offset ${at}`);
  }

  /** Why the snapshot is incomplete, for a source that ended (file end, closed socket). */
  truncated(): SnapshotError {
    if (!this.sawHeader) return this.bad(`${this.offset + this.heldLen} bytes, shorter than the ${SNAPSHOT_HEADER}-byte header`, 0);
    if (this.endAt < 0) return this.bad("ends before the end marker (truncated)");
    return this.bad("ends inside the footer (truncated)");
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
    const dec = new SnapshotDecoder(ks, path, size, 0xffff_ffff);
    const chunk = new Uint8Array(1024 * 1024);
    let read = 0;
    while (!dec.done) {
      const got = readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) throw dec.truncated();
      read += got;
      const used = dec.feed(chunk, 0, got);
      if (dec.done && (used < got || read < size)) {
        throw dec.bad(`${size - dec.offset} unexpected bytes after the footer`, dec.offset);
      }
    }
    return { position: dec.position, createdAt: dec.createdAt, entries: dec.entries, bytes: size };
  } finally {
    closeSync(fd);
  }
}
