// Key bytes <-> keyspace strings: one-to-one for every byte, on both the short and the long path.

import { expect, test } from "bun:test";
import { keyFromBytes, keyToBytes } from "../../../src/store/keys.ts";

test("every byte value maps to its own char and back, short and long keys", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  for (const len of [1, 24, 25, 255]) {
    for (let start = 0; start + len <= 256; start += 37) {
      const key = keyFromBytes(all, start, len);
      expect(key.length).toBe(len);
      expect(keyToBytes(key)).toEqual(all.subarray(start, start + len));
    }
  }
});

test("byte sequences that are invalid UTF-8 stay distinct keys", () => {
  const a = keyFromBytes(new Uint8Array([0xff]), 0, 1);
  const b = keyFromBytes(new Uint8Array([0xfe]), 0, 1);
  const c = keyFromBytes(new Uint8Array([0xc3, 0x28]), 0, 2);
  expect(new Set([a, b, c]).size).toBe(3);
  expect(a.charCodeAt(0)).toBe(0xff);
});

test("reads from the given offset only", () => {
  const buf = new TextEncoder().encode("xxhello-worldyy");
  expect(keyFromBytes(buf, 2, 11)).toBe("hello-world");
  const long = new TextEncoder().encode(`__${"k".repeat(40)}__`);
  expect(keyFromBytes(long, 2, 40)).toBe("k".repeat(40));
});
