// AOF records: one request frame (the binary protocol's encoding, so one encoder serves the wire,
// the AOF and the replication stream) followed by the CRC32 of the frame (u32 BE).
//
//   frame: magic version opcode flags key_len value_len(u32 BE) key value
//   crc:   Bun.hash.crc32(frame)
//
// Keys are keyspace strings (one char per byte), written back as their bytes.

import { copyBytes } from "../bytes.ts";
import { writeKey } from "../store/keys.ts";
import { crc32 } from "./crc32.ts";
import { MAGIC, PROTOCOL_VERSION, REQUEST_HEADER, readU32, writeRequestHeader, writeU32 } from "../protocol/binary.ts";

export const RECORD_CRC = 4;

export function recordSize(keyLen: number, valueLen: number): number {
  return REQUEST_HEADER + keyLen + valueLen + RECORD_CRC;
}

/** Writes one record at `off` (the buffer must have room); returns the offset after it. */
export function writeRecord(buf: Uint8Array, off: number, op: number, key: string, value: Uint8Array | null): number {
  const at = writeKey(scratchKey, 0, key);
  return writeRecordBytes(buf, off, op, scratchKey, 0, at, value ?? EMPTY, 0, value?.length ?? 0);
}

const scratchKey = new Uint8Array(256);
const EMPTY = new Uint8Array(0);

/** writeRecord with the key kb[ko, ko + kl) and the value vb[vo, vo + vl) given in place. */
export function writeRecordBytes(
  buf: Uint8Array, off: number, op: number, kb: Uint8Array, ko: number, kl: number, vb: Uint8Array, vo: number, vl: number,
): number {
  let at = writeRequestHeader(buf, off, op, 0, kl, vl);
  copyBytes(kb, ko, kl, buf, at);
  at += kl;
  copyBytes(vb, vo, vl, buf, at);
  at += vl;
  writeU32(buf, at, crc32(buf, off, at));
  return at + RECORD_CRC;
}

export type RecordScan =
  | { kind: "record"; op: number; keyStart: number; keyLen: number; valueLen: number; end: number }
  /** Not enough bytes for the whole record: a torn tail if nothing follows. */
  | { kind: "incomplete" }
  | { kind: "corrupt"; why: string };

/** Reads the record at `off` in buf[0, end) and checks its framing and CRC. */
export function scanRecord(buf: Uint8Array, off: number, end: number): RecordScan {
  if (end - off < REQUEST_HEADER) return { kind: "incomplete" };
  if (buf[off] !== MAGIC) return { kind: "corrupt", why: `bad record magic 0x${buf[off]!.toString(16).padStart(2, "0")}` };
  if (buf[off + 1] !== PROTOCOL_VERSION) return { kind: "corrupt", why: `bad record version ${buf[off + 1]}` };
  const keyLen = buf[off + 4]!;
  const valueLen = readU32(buf, off + 5);
  const frameEnd = off + REQUEST_HEADER + keyLen + valueLen;
  if (frameEnd + RECORD_CRC > end) return { kind: "incomplete" };
  const crc = readU32(buf, frameEnd);
  if (crc32(buf, off, frameEnd) !== crc) return { kind: "corrupt", why: "CRC mismatch" };
  return { kind: "record", op: buf[off + 2]!, keyStart: off + REQUEST_HEADER, keyLen, valueLen, end: frameEnd + RECORD_CRC };
}
