// Applying logged mutations to a keyspace: AOF replay at start-up (and, later, the replication
// stream). The log holds only the effect of a command (SET, DELETE, PEXPIREAT, PERSIST, FLUSHALL),
// never the command that caused it, so replay is deterministic. A logged delete removes the key
// whatever its expiry says: it is how a master tells its log and replicas that a key expired.

import { Op } from "../protocol/binary.ts";
import type { Keyspace } from "../store/keyspace.ts";
import { keyFromBytes } from "../store/keys.ts";

/** Applies one logged mutation; returns an error text for a record that is not a valid mutation. */
export function applyMutation(
  ks: Keyspace, op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number,
): string | null {
  if (op === Op.FLUSHALL) {
    ks.clear();
    return null;
  }
  if (keyLen === 0) return `opcode 0x${op.toString(16)} with an empty key`;
  const key = keyFromBytes(buf, keyStart, keyLen);
  const value = buf.subarray(keyStart + keyLen, keyStart + keyLen + valueLen);
  switch (op) {
    case Op.SET:
      ks.set(key, value);
      return null;
    case Op.DELETE:
      ks.forget(key);
      return null;
    case Op.PEXPIREAT: {
      const text = Buffer.from(value).toString("latin1");
      const at = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(at) || at <= 0) return `bad expiry time in a PEXPIREAT record`;
      ks.setExpireRaw(key, at);
      return null;
    }
    case Op.PERSIST:
      ks.persistRaw(key);
      return null;
    default:
      return `opcode 0x${op.toString(16)} is not a logged mutation`;
  }
}
