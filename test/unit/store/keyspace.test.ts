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
