// Args: argument views into receive buffers (push/size/bytes) and their readings as key, text, lower-case name and integer.

import { describe, expect, test } from "bun:test";
import { Args } from "../../../src/commands/args.ts";

/** Strings are latin1: one char per byte. */
function b(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

/**
 * Args whose arguments all live in one buffer at non-zero offsets, separated by junk bytes, the
 * way a receive buffer holds them: a view that ignores its start or length reads the junk.
 */
function argsOf(...parts: (string | Uint8Array)[]): Args {
  const bytes = parts.map((p) => (typeof p === "string" ? b(p) : p));
  let n = 3;
  for (const p of bytes) n += p.length + 3;
  const buf = new Uint8Array(n).fill(0x37); // '7': a digit, so int() reading past an argument would notice
  const args = new Args();
  let off = 3;
  for (const p of bytes) {
    buf.set(p, off);
    args.push(buf, off, p.length);
    off += p.length + 3;
  }
  return args;
}

/** int() of a single argument. */
const int = (s: string | Uint8Array): number | null => argsOf("x", s).int(1);

describe("Args views", () => {
  test("push, length, size, bytes: views into the buffer they came in", () => {
    const args = argsOf("SET", "key", "", "v\x00\xff");
    expect(args.length).toBe(4);
    expect([0, 1, 2, 3].map((i) => args.size(i))).toEqual([3, 3, 0, 3]);
    expect(args.bytes(1)).toEqual(b("key"));
    expect(args.bytes(2)).toEqual(new Uint8Array(0));
    expect(args.bytes(3)).toEqual(b("v\x00\xff"));
    // A view, not a copy: it shares the buffer.
    const v = args.bytes(1);
    const again = args.bytes(1);
    v[0] = 0x4b;
    expect(again[0]).toBe(0x4b);
  });

  test("views may come from different buffers", () => {
    const a = b("hello");
    const c = b("..world..");
    const args = new Args();
    args.push(a, 0, 5);
    args.push(c, 2, 5);
    expect(args.text(0)).toBe("hello");
    expect(args.text(1)).toBe("world");
  });

  test("reset() empties; pushes after it replace the old arguments", () => {
    const args = argsOf("a", "b", "c");
    args.reset();
    expect(args.length).toBe(0);
    const buf = b("zz");
    args.push(buf, 1, 1);
    expect(args.length).toBe(1);
    expect(args.text(0)).toBe("z");
    expect(args.size(0)).toBe(1);
  });
});

describe("Args.int", () => {
  test("accepts canonical decimal integers within ±(2^53-1)", () => {
    expect(int("0")).toBe(0);
    expect(int("1")).toBe(1);
    expect(int("-1")).toBe(-1);
    expect(int("123")).toBe(123);
    expect(int("-123")).toBe(-123);
    expect(int("10")).toBe(10);
    expect(int("9007199254740991")).toBe(Number.MAX_SAFE_INTEGER);
    expect(int("-9007199254740991")).toBe(-Number.MAX_SAFE_INTEGER);
  });

  test("rejects empty, signs alone, leading zeros, '+', fractions, spaces, junk and out of range", () => {
    const bad = [
      "", "-", "+", "01", "00", "-01", "007", "+1", "1.5", "1.", ".5", " 1", "1 ", "1\r\n", "1e3", "0x10", "1a", "a1",
      "--1", "1-", "9007199254740992", "-9007199254740992", "99999999999999999999", "-99999999999999999999",
      "123456789012345678901", "\x001", "1\x00", "\u0661",
    ];
    const accepted = bad.filter((s) => int(s) !== null).map((s) => `${JSON.stringify(s)} -> ${int(s)}`);
    expect(accepted).toEqual([]);
    // Multi-byte UTF-8 digits (ARABIC-INDIC ONE) are not digits.
    expect(int(new Uint8Array(Buffer.from("\u0661", "utf8")))).toBeNull();
  });

  test('"-0" and "-01" are rejected, as Redis does (string2ll wants a 1-9 after the sign)', () => {
    expect(int("-0")).toBeNull();
    expect(int("-01")).toBeNull();
    expect(int("-10")).toBe(-10);
  });

  test("reads only its own bytes (neighbouring digits in the buffer do not leak in)", () => {
    // argsOf surrounds each argument with '7's.
    expect(argsOf("5", "12").int(0)).toBe(5);
    expect(argsOf("5", "12").int(1)).toBe(12);
    expect(argsOf("", "12").int(0)).toBeNull();
  });
});

describe("Args.lower", () => {
  test("lower-cases ASCII A-Z only", () => {
    expect(argsOf("SeT").lower(0)).toBe("set");
    expect(argsOf("KEEPTTL").lower(0)).toBe("keepttl");
    // '@' (0x40) and '[' (0x5b) are next to 'A' and 'Z'; digits and '`{' stay.
    expect(argsOf("@AZ[`az{09_-").lower(0)).toBe("@az[`az{09_-");
  });

  test("leaves bytes >= 0x80 alone, one char per byte (no latin1 case folding of 0xC0..0xDE)", () => {
    expect(argsOf("\xc0\xc9\xde\xff\x80").lower(0)).toBe("\xc0\xc9\xde\xff\x80");
    expect(argsOf("").lower(0)).toBe("");
  });
});

describe("Args.key", () => {
  test("every byte 0..255 maps to the char of the same code, short keys (char loop)", () => {
    const wrong: number[] = [];
    for (let c = 0; c < 256; c++) {
      const k = argsOf(new Uint8Array([c]), new Uint8Array([c, 255 - c, c])).key(0);
      const k3 = argsOf(new Uint8Array([c]), new Uint8Array([c, 255 - c, c])).key(1);
      if (k !== String.fromCharCode(c) || k3 !== String.fromCharCode(c, 255 - c, c)) wrong.push(c);
    }
    expect(wrong).toEqual([]);
  });

  test("long keys (native latin1 slice) map byte for byte too; 24/25-byte boundary", () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const k = argsOf("pre", all).key(1);
    expect(k.length).toBe(256);
    expect([...k].every((ch, i) => ch.charCodeAt(0) === i)).toBe(true);
    for (const n of [23, 24, 25, 26]) {
      const bytes = new Uint8Array(n).map((_, i) => 0xff - i * 3);
      const key = argsOf("x", bytes).key(1);
      expect(key).toBe(String.fromCharCode(...bytes));
    }
  });

  test("distinct invalid UTF-8 sequences stay distinct keys; the empty key is ''", () => {
    const a = argsOf(new Uint8Array([0xff])).key(0);
    const c = argsOf(new Uint8Array([0xfe])).key(0);
    expect(a).not.toBe(c);
    expect(argsOf("").key(0)).toBe("");
  });
});

describe("Args.text", () => {
  test("decodes UTF-8; invalid bytes become U+FFFD", () => {
    expect(argsOf("x", new Uint8Array(Buffer.from("héllo €", "utf8"))).text(1)).toBe("héllo €");
    expect(argsOf(new Uint8Array([0x61, 0xff, 0x62])).text(0)).toBe("a\ufffdb");
    expect(argsOf("").text(0)).toBe("");
  });
});
