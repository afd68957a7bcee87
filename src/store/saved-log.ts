// The entries a running snapshot saves just before writes change them (Keyspace.beforeChange),
// kept as bytes in large chunks rather than as one key string and one value array each. Under a
// write load nearly every key can be saved: in a snapshot of 100k x 1 KiB values during a
// `SET -P 16` load, the per-entry objects (and the collector's work on them) made it take ~2 s
// and the row 136k writes a second, against 323 ms and 365k in a build that skipped the saves.
//
// Record: kind (u8: 0 = value inline, 1 = value kept by reference), key length (u8), value length
// (u32 BE), expiry in ms (u64 BE, 0 = none), the key, then the value (kind 0) or the index of the
// value in `large` (u32 BE, kind 1). Values the store keeps outside its arena are immutable
// arrays (keyspace.ts), so they are referenced, not copied.

import { copyBytes } from "../bytes.ts";
import { readU32, writeU32 } from "../protocol/binary.ts";
import type { RawEmit } from "./keyspace.ts";

const HEADER = 14;
const CHUNK = 1024 * 1024;
const INLINE = 0;
const BY_REFERENCE = 1;

export class SavedLog {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes used in each chunk. */
  private readonly used: number[] = [];
  private readonly large: Uint8Array[] = [];
  private readChunk = 0;
  private readOff = 0;
  /** Entries saved. */
  count = 0;

  /**
   * Saves an entry: key kb[ko, ko + kl); value vb[vo, vo + vl), by reference when `large`. A
   * RawEmit made once per log, so the keyspace hands entries to it as to the snapshot writer.
   */
  readonly save: RawEmit = (kb, ko, kl, vb, vo, vl, large, expireAt) => {
    const size = HEADER + kl + (large ? 4 : vl);
    let last = this.chunks.length - 1;
    if (last < 0 || this.used[last]! + size > this.chunks[last]!.length) {
      this.chunks.push(new Uint8Array(Math.max(CHUNK, size)));
      this.used.push(0);
      last++;
    }
    const b = this.chunks[last]!;
    let o = this.used[last]!;
    b[o] = large ? BY_REFERENCE : INLINE;
    b[o + 1] = kl;
    writeU32(b, o + 2, vl);
    writeU32(b, o + 6, Math.floor(expireAt / 0x1_0000_0000));
    writeU32(b, o + 10, expireAt >>> 0);
    o += HEADER;
    copyBytes(kb, ko, kl, b, o);
    o += kl;
    if (large) {
      writeU32(b, o, this.large.length);
      this.large.push(vo === 0 && vl === vb.length ? vb : vb.subarray(vo, vo + vl));
      o += 4;
    } else {
      copyBytes(vb, vo, vl, b, o);
      o += vl;
    }
    this.used[last] = o;
    this.count++;
  };

  /** Emits up to `max` saved entries, in the order they were saved; returns how many it emitted. */
  next(max: number, emit: RawEmit): number {
    let n = 0;
    while (n < max && this.readChunk < this.chunks.length) {
      const b = this.chunks[this.readChunk]!;
      if (this.readOff >= this.used[this.readChunk]!) {
        this.readChunk++;
        this.readOff = 0;
        continue;
      }
      const o = this.readOff;
      const kl = b[o + 1]!;
      const vl = readU32(b, o + 2);
      const expireAt = readU32(b, o + 6) * 0x1_0000_0000 + readU32(b, o + 10);
      const ko = o + HEADER;
      if (b[o] === BY_REFERENCE) {
        const v = this.large[readU32(b, ko + kl)]!;
        emit(b, ko, kl, v, 0, vl, true, expireAt);
        this.readOff = ko + kl + 4;
      } else {
        emit(b, ko, kl, b, ko + kl, vl, false, expireAt);
        this.readOff = ko + kl + vl;
      }
      n++;
    }
    return n;
  }

  /** Drops every chunk and reference (the snapshot ended): its caller may hold the view a while longer. */
  release(): void {
    this.chunks.length = 0;
    this.used.length = 0;
    this.large.length = 0;
    this.readChunk = this.readOff = 0;
  }

  /** True once every saved entry has been emitted. */
  get exhausted(): boolean {
    const last = this.chunks.length - 1;
    return this.readChunk > last || (this.readChunk === last && this.readOff >= this.used[last]!);
  }
}
