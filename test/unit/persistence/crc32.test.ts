// The table CRC-32 equals Bun.hash.crc32 (zlib's) on every length around the native cut-over.

import { expect, test } from "bun:test";
import { crc32 } from "../../../src/persistence/crc32.ts";

test("matches Bun.hash.crc32 for lengths 0..600 at odd offsets", () => {
  const buf = new Uint8Array(1024).map((_, i) => (i * 131 + 7) & 0xff);
  for (let len = 0; len <= 600; len++) {
    const start = len % 7;
    expect(crc32(buf, start, start + len)).toBe(Bun.hash.crc32(buf.subarray(start, start + len)));
  }
  expect(crc32(new TextEncoder().encode("123456789"), 0, 9)).toBe(0xcbf43926); // the CRC-32 check value
});
