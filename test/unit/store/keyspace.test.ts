// The keyspace: copies values it is given, keeps byte counts right through set/overwrite/delete.

import { expect, test } from "bun:test";
import { Keyspace, LARGE_VALUE } from "../../../src/store/keyspace.ts";
import { ZERO_COPY_MIN } from "../../../src/protocol/output.ts";

test("set copies the value: later changes to the source do not leak in", () => {
  const ks = new Keyspace();
  const src = new Uint8Array([1, 2, 3]);
  ks.set("k", src);
  src[0] = 9;
  expect(ks.get("k")).toEqual(new Uint8Array([1, 2, 3]));
});

test("size follows set, overwrite and delete", () => {
  const ks = new Keyspace();
  ks.set("ab", new Uint8Array(10));
  ks.set("c", new Uint8Array(5));
  expect(ks.size).toBe(2);
  ks.set("ab", new Uint8Array(3));
  expect(ks.size).toBe(2);
  expect(ks.get("ab")?.length).toBe(3);
  expect(ks.delete("c")).toBe(true);
  expect(ks.size).toBe(1);
  expect(ks.delete("c")).toBe(false);
  expect(ks.has("c")).toBe(false);
});

// A reply may queue a value by reference only if it is immutable: arena values are views into
// blocks that are reused after the tick, so every value the arena holds must be small enough for
// the output queue to copy it.
test("arena values are always copied by the output queue (LARGE_VALUE <= ZERO_COPY_MIN)", () => {
  expect(LARGE_VALUE).toBeLessThanOrEqual(ZERO_COPY_MIN);
});

// Bun hands socket data as Buffers, whose slice() shares memory: a large value kept outside the
// arena must be a copy of its own, not a view that pins (and may see changes to) the chunk.
test("a large value is stored as a copy even when given as a Buffer view", () => {
  const ks = new Keyspace();
  const chunk = Buffer.alloc(LARGE_VALUE + 100, 7);
  const view = chunk.subarray(10, 10 + LARGE_VALUE + 1);
  ks.set("big", view);
  chunk.fill(1);
  const got = ks.get("big")!;
  expect(got.length).toBe(LARGE_VALUE + 1);
  expect(got.every((b) => b === 7)).toBe(true);
  expect(got.buffer).not.toBe(chunk.buffer);
});

test("prefetch reads and changes nothing: present, absent, deleted and empty keys look up the same after it", () => {
  const ks = new Keyspace();
  for (let i = 0; i < 2000; i++) ks.set(`k${i}`, new Uint8Array([i & 0xff]));
  for (let i = 0; i < 2000; i += 3) ks.delete(`k${i}`);
  ks.setExpireRaw("k2", Date.now() - 1000);
  const keys = ["k1", "k3", "k4000", "", "k1999", "k0", "k2"];
  const wire = new TextEncoder().encode(keys.join(""));
  const starts = new Int32Array(32);
  const lens = new Int32Array(32);
  let at = 0;
  keys.forEach((k, i) => {
    starts[i] = at;
    lens[i] = k.length;
    at += k.length;
  });
  // An expired key is still counted until something reads it: prefetch must not be that reader.
  const size = ks.size;
  ks.prefetch(wire, starts, lens, keys.length);
  expect(ks.size).toBe(size);
  expect(keys.map((k) => ks.get(k)?.[0] ?? null)).toEqual([1, null, null, null, 1999 & 0xff, null, null]);
  expect(ks.size).toBe(size - 1);
});
