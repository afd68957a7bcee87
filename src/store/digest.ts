// DEBUG DIGEST: one fingerprint of the whole dataset (keys, values and expiry times), so a test or
// an operator can compare a master and its replicas without dumping them. Order-independent (a
// sum and an xor of per-key hashes), because two nodes may hold the same keys in different Map
// orders. It reads every key, so it holds the loop for as long as that takes, like Redis's.

import type { Keyspace } from "./keyspace.ts";

const MASK = (1n << 64n) - 1n;

/** 40 hex digits; all zeros for an empty keyspace (as Redis answers). */
export function digest(ks: Keyspace): string {
  let sum = 0n;
  let xor = 0n;
  let count = 0;
  // Reading must not change anything: expired keys are skipped, not deleted (a master would
  // otherwise log and stream deletes because someone asked for a digest).
  for (const [key, value, at] of ks.peekEntries()) {
    let h = Bun.hash.xxHash64(value, Bun.hash.xxHash64(key));
    if (at > 0) h ^= Bun.hash.xxHash64(String(at));
    sum = (sum + h) & MASK;
    xor ^= h;
    count++;
  }
  if (count === 0) return "0".repeat(40);
  return sum.toString(16).padStart(16, "0") + xor.toString(16).padStart(16, "0") + (count >>> 0).toString(16).padStart(8, "0");
}
