// SnapshotDecoder: the one snapshot reader for dump.rdb and a replica's full sync, fed in chunks of
// every size and cut at every byte; damage is named with its offset.

import { describe, expect, test } from "bun:test";
import { SnapshotDecoder, SnapshotError, writeSnapshotStream } from "../../../src/persistence/snapshot.ts";
import { digest } from "../../../src/store/digest.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";
import { Rng, xorshiftBytes } from "../../support/rng.ts";

async function encode(ks: Keyspace, position: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const view = ks.beginSnapshot();
  await writeSnapshotStream(ks, view, position, { write: async (chunks) => void parts.push(...chunks.map((c) => c.slice())) });
  return Buffer.concat(parts);
}

function sample(seed: number, n: number): Keyspace {
  const rng = new Rng(seed);
  const ks = new Keyspace(seed); // a fixed hash: the same layout every run
  for (let i = 0; i < n; i++) {
    const key = `k${i}:` + String.fromCharCode(rng.int(0, 255));
    ks.set(key, xorshiftBytes(rng.chance(0.1) ? rng.int(70_000, 90_000) : rng.int(0, 40), rng.int(1, 1e9)));
    if (rng.chance(0.3)) ks.setExpire(key, Date.now() + rng.int(10_000, 1e9));
  }
  return ks;
}

function decodeIn(bytes: Uint8Array, cuts: number[]): { ks: Keyspace; dec: SnapshotDecoder; used: number } {
  const ks = new Keyspace();
  const dec = new SnapshotDecoder(ks, "stream", Infinity, 1 << 30);
  let at = 0;
  let used = 0;
  for (const cut of [...cuts, bytes.length]) {
    used += dec.feed(bytes, at, cut);
    at = cut;
  }
  return { ks, dec, used };
}

describe("SnapshotDecoder", () => {
  test("every split point of a small snapshot decodes to the same dataset and position", async () => {
    const src = sample(1, 12);
    const bytes = await encode(src, 4242);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { ks, dec, used } = decodeIn(bytes, [cut]);
      expect(dec.done).toBe(true);
      expect(used).toBe(bytes.length);
      expect(dec.position).toBe(4242);
      expect(digest(ks)).toBe(digest(src));
    }
  });

  test("random chunkings of a larger snapshot (values over 64 KiB), with stream bytes after it", async () => {
    const src = sample(2, 300);
    const snap = await encode(src, 7);
    const trailer = new Uint8Array([1, 2, 3, 4, 5]);
    const bytes = Buffer.concat([snap, trailer]);
    const rng = new Rng(3);
    for (let round = 0; round < 30; round++) {
      const cuts: number[] = [];
      let at = 0;
      while (at < bytes.length) cuts.push((at = Math.min(bytes.length, at + rng.int(1, round % 2 ? 50 : 100_000))));
      const { ks, dec, used } = decodeIn(bytes, cuts);
      expect(dec.done).toBe(true);
      expect(used).toBe(snap.length);
      expect(digest(ks)).toBe(digest(src));
    }
  });

  test("a flipped byte is a named error with an offset; a cut-short stream is not done", async () => {
    const bytes = await encode(sample(4, 20), 0);
    const bad = bytes.slice();
    bad[bad.length - 2]! ^= 0x40; // in the CRC: the whole file is read, then refused
    expect(() => decodeIn(bad, [])).toThrow(SnapshotError);
    expect(() => decodeIn(bad, [])).toThrow(/at byte offset \d+/);
    const { dec } = decodeIn(bytes.subarray(0, bytes.length - 3), []);
    expect(dec.done).toBe(false);
    expect(dec.truncated().message).toMatch(/truncated/);
  });

  test("a value length over the limit is refused from its header, before its bytes arrive", async () => {
    const ks = new Keyspace();
    ks.set("a", new Uint8Array(1000));
    const bytes = await encode(ks, 0);
    const dec = new SnapshotDecoder(new Keyspace(), "stream", Infinity, 999);
    expect(() => dec.feed(bytes, 0, 24 + 6)).toThrow(/over max_value_size/);
  });
});
