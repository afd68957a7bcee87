// AOF records: writeRecord byte for byte, and scanRecord on whole, truncated and damaged records.

import { describe, expect, test } from "bun:test";
import { Op, REQUEST_HEADER } from "../../../src/protocol/binary.ts";
import { RECORD_CRC, recordSize, scanRecord, writeRecord, type RecordScan } from "../../../src/persistence/record.ts";

/** Parses "db 01 11 ..." into bytes, so expected records can be written out literally. */
function hex(s: string): Uint8Array {
  const parts = s.trim().split(/\s+/);
  return new Uint8Array(parts.map((p) => {
    if (!/^[0-9a-f]{2}$/i.test(p)) throw new Error(`bad hex byte ${p}`);
    return Number.parseInt(p, 16);
  }));
}

const ascii = (s: string) => new TextEncoder().encode(s);

/** Writes one record into a fresh buffer at `off`, surrounded by 0xEE filler. */
function encode(op: number, key: string, value: Uint8Array | null, off = 0, after = 0): { buf: Uint8Array; end: number } {
  const size = recordSize(key.length, value?.length ?? 0);
  const buf = new Uint8Array(off + size + after).fill(0xee);
  const end = writeRecord(buf, off, op, key, value);
  return { buf, end };
}

// SET "ab" = "xyz": frame db 01 11 00 02 00000003 'a' 'b' 'x' 'y' 'z', then CRC-32 of the frame
// (the standard IEEE CRC-32, as zlib computes it: 0xd303bed0) big-endian.
const SET_FRAME = hex("db 01 11 00 02 00 00 00 03 61 62 78 79 7a");
const SET_RECORD = hex("db 01 11 00 02 00 00 00 03 61 62 78 79 7a d3 03 be d0");
// DELETE "k": no value, value_len 0; CRC-32 0x7ca255a8.
const DEL_FRAME = hex("db 01 12 00 01 00 00 00 00 6b");
const DEL_RECORD = hex("db 01 12 00 01 00 00 00 00 6b 7c a2 55 a8");

describe("writeRecord", () => {
  test("SET byte for byte, at an offset, touching nothing else", () => {
    expect(recordSize(2, 3)).toBe(18);
    const { buf, end } = encode(Op.SET, "ab", ascii("xyz"), 5, 7);
    expect(end).toBe(5 + 18);
    expect(buf.subarray(5, end)).toEqual(SET_RECORD);
    expect(buf.subarray(0, 5)).toEqual(new Uint8Array(5).fill(0xee));
    expect(buf.subarray(end)).toEqual(new Uint8Array(7).fill(0xee));
  });

  test("DELETE byte for byte (null value: value_len 0, no value bytes)", () => {
    expect(recordSize(1, 0)).toBe(14);
    const { buf, end } = encode(Op.DELETE, "k", null, 0, 3);
    expect(end).toBe(14);
    expect(buf.subarray(0, end)).toEqual(DEL_RECORD);
    expect(buf.subarray(end)).toEqual(new Uint8Array(3).fill(0xee));
  });

  test("the CRC is Bun.hash.crc32 of the frame, big-endian after it", () => {
    expect(Bun.hash.crc32(SET_FRAME)).toBe(0xd303bed0);
    expect(Bun.hash.crc32(DEL_FRAME)).toBe(0x7ca255a8);
    for (const [op, key, value] of [
      [Op.SET, "some key", ascii("a longer value with more bytes in it")],
      [Op.SET, "e", new Uint8Array(0)],
      [Op.DELETE, "x".repeat(255), null],
    ] as const) {
      const { buf, end } = encode(op, key, value);
      const frameEnd = end - RECORD_CRC;
      const crc = Bun.hash.crc32(buf.subarray(0, frameEnd));
      expect([...buf.subarray(frameEnd, end)]).toEqual([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff]);
    }
  });

  test("key chars are written as single bytes (0x00 and 0xff keys), an empty value as value_len 0", () => {
    const { buf, end } = encode(Op.SET, "\u0000\u00ff", new Uint8Array([0x80]));
    // CRC-32 of db 01 11 00 02 00 00 00 01 00 ff 80 is 0xdb1c7cd1.
    expect(buf.subarray(0, end)).toEqual(hex("db 01 11 00 02 00 00 00 01 00 ff 80 db 1c 7c d1"));
    const empty = encode(Op.SET, "e", new Uint8Array(0));
    expect(empty.end).toBe(REQUEST_HEADER + 1 + RECORD_CRC);
    expect([...empty.buf.subarray(4, 9)]).toEqual([1, 0, 0, 0, 0]);
  });

  test("a large value: value_len big-endian over all four bytes", () => {
    const value = new Uint8Array(0x012345).map((_, i) => i * 7);
    const { buf, end } = encode(Op.SET, "big", value);
    expect(end).toBe(REQUEST_HEADER + 3 + 0x012345 + RECORD_CRC);
    expect([...buf.subarray(4, 9)]).toEqual([3, 0x00, 0x01, 0x23, 0x45]);
    expect(buf.subarray(12, 12 + value.length)).toEqual(value);
  });
});

describe("scanRecord", () => {
  test("reads a record's fields; records back to back, trailing bytes ignored", () => {
    const buf = new Uint8Array(3 + SET_RECORD.length + DEL_RECORD.length + 2).fill(0xee);
    let off = 3;
    off = writeRecord(buf, off, Op.SET, "ab", ascii("xyz"));
    off = writeRecord(buf, off, Op.DELETE, "k", null);
    const a = scanRecord(buf, 3, buf.length);
    expect(a).toEqual({ kind: "record", op: Op.SET, keyStart: 3 + 9, keyLen: 2, valueLen: 3, end: 3 + 18 });
    const b = scanRecord(buf, 3 + 18, off);
    expect(b).toEqual({ kind: "record", op: Op.DELETE, keyStart: 3 + 18 + 9, keyLen: 1, valueLen: 0, end: off });
    expect(buf.subarray(12, 14)).toEqual(ascii("ab"));
  });

  test("incomplete at every truncation length, at offset 0 and further in", () => {
    for (const rec of [SET_RECORD, DEL_RECORD]) {
      for (const at of [0, 4]) {
        const buf = new Uint8Array(at + rec.length);
        buf.set(rec, at);
        expect(scanRecord(buf, at, buf.length).kind).toBe("record");
        for (let len = 0; len < rec.length; len++) {
          expect(scanRecord(buf, at, at + len)).toEqual({ kind: "incomplete" });
        }
      }
    }
  });

  /** The record with byte `i` XORed with `mask`, followed by `tail` more bytes of 0xEE. */
  function flipped(rec: Uint8Array, i: number, mask: number, tail = 0): Uint8Array {
    const b = new Uint8Array(rec.length + tail).fill(0xee);
    b.set(rec);
    b[i]! ^= mask;
    return b;
  }

  test("a flipped magic or version byte: corrupt, saying which", () => {
    expect(scanRecord(flipped(SET_RECORD, 0, 0x01), 0, SET_RECORD.length)).toEqual({ kind: "corrupt", why: "bad record magic 0xda" });
    expect(scanRecord(flipped(SET_RECORD, 0, 0xdb), 0, SET_RECORD.length)).toEqual({ kind: "corrupt", why: "bad record magic 0x00" });
    expect(scanRecord(flipped(SET_RECORD, 1, 0x01), 0, SET_RECORD.length)).toEqual({ kind: "corrupt", why: "bad record version 0" });
    expect(scanRecord(flipped(DEL_RECORD, 1, 0x02), 0, DEL_RECORD.length)).toEqual({ kind: "corrupt", why: "bad record version 3" });
  });

  test("a flipped opcode, flags, key, value or CRC byte: corrupt, CRC mismatch", () => {
    for (const rec of [SET_RECORD, DEL_RECORD]) {
      const keyLen = rec[4]!;
      const positions = [2, 3];
      for (let i = 9; i < rec.length; i++) positions.push(i); // key, value, CRC
      expect(positions.length).toBe(2 + keyLen + (rec[8]!) + 4);
      for (const i of positions) {
        for (const mask of [0x01, 0x80, 0xff]) {
          expect({ i, mask, r: scanRecord(flipped(rec, i, mask), 0, rec.length) }).toEqual({ i, mask, r: { kind: "corrupt", why: "CRC mismatch" } });
        }
      }
    }
  });

  test("a length byte flipped: CRC mismatch while the claimed end is in the buffer, else incomplete", () => {
    // Smaller key or value length: the CRC is read from the wrong place.
    expect(scanRecord(flipped(SET_RECORD, 4, 0x02), 0, SET_RECORD.length)).toEqual({ kind: "corrupt", why: "CRC mismatch" });
    expect(scanRecord(flipped(SET_RECORD, 8, 0x01), 0, SET_RECORD.length)).toEqual({ kind: "corrupt", why: "CRC mismatch" });
    // Larger, with enough bytes after it (e.g. the next record): still caught by the CRC.
    expect(scanRecord(flipped(SET_RECORD, 4, 0x01, 64), 0, SET_RECORD.length + 64)).toEqual({ kind: "corrupt", why: "CRC mismatch" });
    expect(scanRecord(flipped(SET_RECORD, 8, 0x10, 64), 0, SET_RECORD.length + 64)).toEqual({ kind: "corrupt", why: "CRC mismatch" });
    // Larger than what the buffer holds: the record cannot be told from a cut-short one.
    for (const i of [4, 5, 6, 7]) {
      const r: RecordScan = scanRecord(flipped(SET_RECORD, i, 0x80, 64), 0, SET_RECORD.length + 64);
      expect(r).toEqual({ kind: "incomplete" });
    }
  });

  test("a zeroed region reads as corrupt (bad magic 0x00) once a header's worth is there", () => {
    const zeros = new Uint8Array(32);
    for (let len = 0; len < REQUEST_HEADER; len++) expect(scanRecord(zeros, 0, len)).toEqual({ kind: "incomplete" });
    expect(scanRecord(zeros, 0, zeros.length)).toEqual({ kind: "corrupt", why: "bad record magic 0x00" });
  });
});
