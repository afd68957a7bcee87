// The CLI's redis-cli style quoting of values.

import { expect, test } from "bun:test";
import { quote } from "../../../src/client/cli.ts";

test("printable ASCII as is, the usual escapes, other bytes as \\xNN", () => {
  expect(quote(new TextEncoder().encode("bar"))).toBe('"bar"');
  expect(quote(new TextEncoder().encode('a"b\\c\n\r\t'))).toBe('"a\\"b\\\\c\\n\\r\\t"');
  expect(quote(new Uint8Array([0x00, 0x07, 0x08, 0x7f, 0x80, 0xff]))).toBe('"\\x00\\a\\b\\x7f\\x80\\xff"');
  expect(quote(new TextEncoder().encode("é"))).toBe('"\\xc3\\xa9"');
});
