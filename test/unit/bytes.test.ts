// copyBytes: the one byte copy of the codecs, the keyspace and the snapshot writer.

import { expect, test } from "bun:test";
import { copyBytes } from "../../src/bytes.ts";

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test("copies exactly src[start, start + len) to dst at `at`, short and long, touching nothing else", () => {
  const src = pattern(5000, 7);
  for (const len of [0, 1, 31, 32, 33, 64, 1024, 4000]) {
    for (const [start, at] of [[0, 0], [3, 5], [999, 17], [5000 - len, 0]] as const) {
      const dst = new Uint8Array(len + 40).fill(0xee);
      const to = Math.min(at, 40);
      copyBytes(src, start, len, dst, to);
      expect(dst.subarray(to, to + len)).toEqual(new Uint8Array(src.subarray(start, start + len)));
      expect(dst.subarray(0, to).every((b) => b === 0xee)).toBe(true);
      expect(dst.subarray(to + len).every((b) => b === 0xee)).toBe(true);
    }
  }
});

test("copies from a view into another array's middle (the arena and reply buffers are views)", () => {
  const backing = pattern(4096, 3);
  const view = backing.subarray(100, 2100);
  const dst = new Uint8Array(3000);
  copyBytes(view, 50, 1500, dst, 1000);
  expect(dst.subarray(1000, 2500)).toEqual(new Uint8Array(backing.subarray(150, 1650)));
});

test("a copy that does not fit is a RangeError, never a silent short copy", () => {
  const src = pattern(100, 1);
  expect(() => copyBytes(src, 0, 64, new Uint8Array(63), 0)).toThrow(RangeError);
  expect(() => copyBytes(src, 0, 64, new Uint8Array(100), 40)).toThrow(RangeError);
  expect(() => copyBytes(src, 50, 64, new Uint8Array(100), 0)).toThrow(RangeError);
});
