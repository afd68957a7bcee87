// Applying logged mutations to a keyspace: AOF replay at start-up (and, later, the replication
// stream). The log holds only the effect of a command (SET, DELETE), never the command that caused
// it, so replay is deterministic.

import { Op } from "../protocol/binary.ts";
import type { Keyspace } from "../store/keyspace.ts";
import { keyFromBytes } from "../store/keys.ts";

/** Applies one logged mutation; returns an error text for an opcode that is not a mutation. */
export function applyMutation(
  ks: Keyspace, op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number,
): string | null {
  const key = keyFromBytes(buf, keyStart, keyLen);
  switch (op) {
    case Op.SET:
      ks.set(key, buf.subarray(keyStart + keyLen, keyStart + keyLen + valueLen));
      return null;
    case Op.DELETE:
      ks.delete(key);
      return null;
    default:
      return `opcode 0x${op.toString(16)} is not a logged mutation`;
  }
}
