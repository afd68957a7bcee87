// globMatcher: Redis KEYS/SCAN MATCH glob semantics (* ? [..] [^..] ranges, escapes, binary bytes), checked against a port of Redis's stringmatchlen.

import { describe, expect, test } from "bun:test";
import { globMatcher } from "../../../src/commands/glob.ts";
import { mulberry32 as rng } from "../../support/rng.ts";

/** Patterns and keys are latin1 strings: one char per byte, like keyspace keys. */
const match = (pattern: string, key: string): boolean => globMatcher(new Uint8Array(Buffer.from(pattern, "latin1")))(key);

function expectMatches(pattern: string, yes: string[], no: string[]): void {
  const m = globMatcher(new Uint8Array(Buffer.from(pattern, "latin1")));
  expect({ pattern, wrongYes: yes.filter((k) => !m(k)), wrongNo: no.filter((k) => m(k)) }).toEqual({ pattern, wrongYes: [], wrongNo: [] });
}

describe("globMatcher: Redis's documented KEYS examples", () => {
  test("h?llo", () => expectMatches("h?llo", ["hello", "hallo", "hxllo", "h\xffllo"], ["hllo", "heello", "hello!", "Hello"]));
  test("h*llo", () => expectMatches("h*llo", ["hllo", "heeeello", "hello", "h*llo", "hllollo"], ["hell", "ello", "hlo", "hllox"]));
  test("h[ae]llo", () => expectMatches("h[ae]llo", ["hello", "hallo"], ["hillo", "hllo", "haello", "hEllo"]));
  test("h[^e]llo", () => expectMatches("h[^e]llo", ["hallo", "hbllo", "h^llo", "h\x00llo"], ["hello", "hllo", "haallo"]));
  test("h[a-b]llo", () => expectMatches("h[a-b]llo", ["hallo", "hbllo"], ["hcllo", "hello", "h-llo", "hAllo"]));
});

describe("globMatcher: semantics", () => {
  test('"*" matches everything, including the empty key and binary keys', () => {
    expectMatches("*", ["", "a", "*", "\x00", "\xff\x80\r\n", "x".repeat(10_000)], []);
  });

  test("* matches any run, including empty, anywhere in the pattern", () => {
    expectMatches("a*", ["a", "ab", "a*"], ["", "b", "ba"]);
    expectMatches("*a", ["a", "ba", "aaa"], ["", "ab"]);
    expectMatches("a*b*c", ["abc", "aXbYc", "abbbc", "acbc"], ["ab", "acb", "abcd"]);
    expectMatches("a**b", ["ab", "axxb"], ["a", "b"]);
  });

  test("? matches exactly one byte", () => {
    expectMatches("?", ["a", "\x00", "\xff", "?"], ["", "ab"]);
    expectMatches("??", ["ab", "\xc3\xa9"], ["a", "abc"]);
  });

  test("classes: [abc], [^a], [a-z], reversed range [z-a], mixes", () => {
    expectMatches("[abc]", ["a", "b", "c"], ["d", "", "ab", "[", "]"]);
    expectMatches("[^a]", ["b", "^", "\xff"], ["a", "", "bb"]);
    expectMatches("[a-z]", ["a", "m", "z"], ["A", "`", "{", "0"]);
    expectMatches("[z-a]", ["a", "m", "z"], ["A", "`", "{"]);
    expectMatches("[^a-c]", ["d", "A"], ["a", "b", "c"]);
    expectMatches("[0-9a-fA-F]", ["0", "9", "a", "f", "A", "F"], ["g", "G", "/", ":"]);
    expectMatches("x[ab]y[^0-9]", ["xayz", "xby-"], ["xcyz", "xay1", "xay"]);
  });

  test("escapes: \\* \\? \\[ match themselves; \\ inside a class; a trailing \\ is literal", () => {
    expectMatches("\\*", ["*"], ["", "a", "\\*", "**"]);
    expectMatches("\\?", ["?"], ["a", ""]);
    expectMatches("\\[abc]", ["[abc]"], ["a", "[a"]);
    expectMatches("a\\*b*", ["a*b", "a*bxyz"], ["ab", "axb"]);
    expectMatches("\\a", ["a"], ["\\a"]);
    expectMatches("[\\]]", ["]"], ["\\", "a"]);
    expectMatches("[\\^a]", ["^", "a"], ["b"]);
    expectMatches("[a\\-z]", ["a", "-", "z"], ["b", "m"]);
    expectMatches("a\\", ["a\\"], ["a", "a\\\\"]);
  });

  test("binary keys: bytes 0x80..0xff, NUL, CR/LF compare as bytes", () => {
    expectMatches("\x80*", ["\x80", "\x80abc", "\x80\xff"], ["\x81", "a\x80"]);
    expectMatches("[\x80-\xff]", ["\x80", "\xc0", "\xff"], ["\x7f", "\x00", "a"]);
    expectMatches("[^\x80-\xff]", ["\x7f", "\x00"], ["\x80", "\xff"]);
    expectMatches("*\x00*", ["\x00", "a\x00b"], ["ab", ""]);
    expectMatches("k?y\r\n", ["k\xffy\r\n"], ["k\xffy\n"]);
    // A UTF-8 pattern is bytes too: "é" is two bytes, so one "?" does not match it.
    const e = Buffer.from("é", "utf8").toString("latin1");
    expectMatches(e + "*", [e, e + "x"], ["e", "\xe9"]);
    expectMatches("?", ["\xe9"], [e]);
  });

  test("empty pattern matches only the empty key; [] never matches; [^] matches any one byte", () => {
    expectMatches("", [""], ["a"]);
    expectMatches("[]", [], ["", "]", "a", "[]"]);
    expectMatches("[^]", ["a", "]", "\xff"], ["", "ab"]);
  });

  test("an unterminated class runs to the end of the pattern", () => {
    expectMatches("[abc", ["a", "c"], ["d", "[abc"]);
    expectMatches("x[^a", ["xb"], ["xa", "x"]);
  });

  test("where microdb deliberately differs from Redis's stringmatchlen: '-]' is a literal '-', and a run of stars matches ''", () => {
    // Redis reads "[a-]" as the range a..']' (0x5d..0x61) and loses the closing bracket.
    expectMatches("[a-]", ["a", "-"], ["_", "]", "b"]);
    // Redis special-cases the exact pattern "*" in KEYS/SCAN, but stringmatchlen("**", "") is 0.
    expect(match("**", "")).toBe(true);
    expect(match("***", "")).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Differential test against a port of Redis 7's stringmatchlen (util.c), case-sensitive, with the
// two deliberate differences above, bytes compared unsigned.

function redisMatch(pattern: string, key: string): boolean {
  if (key.length === 0 && pattern.length > 0 && /^\*+$/.test(pattern)) return true; // microdb: "**" matches ""
  const P = [...pattern].map((c) => c.charCodeAt(0));
  const S = [...key].map((c) => c.charCodeAt(0));
  return stringmatchlen(P, 0, S, 0, { skipLonger: false }, 0);
}

function stringmatchlen(P: number[], pi: number, S: number[], si: number, st: { skipLonger: boolean }, nesting: number): boolean {
  if (nesting > 1000) return false;
  let plen = P.length - pi;
  let slen = S.length - si;
  const at = (i: number): number => (i < P.length ? P[i]! : 0); // C strings end in NUL
  while (plen > 0 && slen > 0) {
    const c = at(pi);
    if (c === 0x2a /* * */) {
      while (plen > 0 && at(pi + 1) === 0x2a) {
        pi++;
        plen--;
      }
      if (plen === 1) return true;
      while (slen > 0) {
        if (stringmatchlen(P, pi + 1, S, si, st, nesting + 1)) return true;
        if (st.skipLonger) return false;
        si++;
        slen--;
      }
      st.skipLonger = true;
      return false;
    } else if (c === 0x3f /* ? */) {
      si++;
      slen--;
    } else if (c === 0x5b /* [ */) {
      pi++;
      plen--;
      const not = at(pi) === 0x5e;
      if (not) {
        pi++;
        plen--;
      }
      let hit = false;
      for (;;) {
        if (at(pi) === 0x5c && plen >= 2) {
          pi++;
          plen--;
          if (at(pi) === S[si]) hit = true;
        } else if (at(pi) === 0x5d) {
          break;
        } else if (plen === 0) {
          pi--;
          plen++;
          break;
        } else if (plen >= 3 && at(pi + 1) === 0x2d && at(pi + 2) !== 0x5d /* microdb: "-]" is literal */) {
          let lo = at(pi);
          let hi = at(pi + 2);
          if (lo > hi) [lo, hi] = [hi, lo];
          pi += 2;
          plen -= 2;
          const x = S[si]!;
          if (x >= lo && x <= hi) hit = true;
        } else if (at(pi) === S[si]) {
          hit = true;
        }
        pi++;
        plen--;
      }
      if (not) hit = !hit;
      if (!hit) return false;
      si++;
      slen--;
    } else {
      if (c === 0x5c && plen >= 2) {
        pi++;
        plen--;
      }
      if (at(pi) !== S[si]) return false;
      si++;
      slen--;
    }
    pi++;
    plen--;
    if (slen === 0) {
      while (plen > 0 && at(pi) === 0x2a) {
        pi++;
        plen--;
      }
      break;
    }
  }
  return plen === 0 && slen === 0;
}


describe("globMatcher vs Redis's stringmatchlen", () => {
  test("the reference port agrees with the documented examples (sanity)", () => {
    expect(redisMatch("h[^e]llo", "hallo")).toBe(true);
    expect(redisMatch("h[^e]llo", "hello")).toBe(false);
    expect(redisMatch("h*llo", "heeeello")).toBe(true);
    expect(redisMatch("[z-a]", "m")).toBe(true);
    expect(redisMatch("\\*", "a")).toBe(false);
  });

  test("200,000 random short patterns and keys over the special characters agree", () => {
    const random = rng(2024);
    const pick = (alphabet: string) => alphabet[Math.floor(random() * alphabet.length)]!;
    const palpha = "ab*?[]^-\\\xff";
    const kalpha = "ab-]^\\*?[\xff\x80";
    const diffs: string[] = [];
    for (let t = 0; t < 200_000 && diffs.length < 10; t++) {
      let p = "";
      for (let i = Math.floor(random() * 8); i > 0; i--) p += pick(palpha);
      let k = "";
      for (let i = Math.floor(random() * 6); i > 0; i--) k += pick(kalpha);
      const got = match(p, k);
      if (got !== redisMatch(p, k)) diffs.push(`${JSON.stringify(p)} vs ${JSON.stringify(k)}: microdb ${got}`);
    }
    expect(diffs).toEqual([]);
  });
});

// Regression: the recursive matcher retried the rest of the pattern at every position for every
// '*', O(len^stars) (Redis's CVE-2022-36021). With a 2,000-byte key and ten stars that would never
// finish; a linear matcher answers at once. No clock here: the test runner's timeout is the check.
test("a pattern with many stars against a long key answers (no exponential backtracking)", () => {
  const m = globMatcher(new Uint8Array(Buffer.from("a*a*a*a*a*a*a*a*a*a*b", "latin1")));
  expect(m("a".repeat(2000))).toBe(false);
  expect(m("a".repeat(2000) + "b")).toBe(true);
});
