// SavedLog: the entries a snapshot saves before writes change them, as bytes in chunks. Every
// entry comes back as saved (key, value, expiry, by reference or not), in order, across chunks.

import { describe, expect, test } from "bun:test";
import { SavedLog } from "../../../src/store/saved-log.ts";

const enc = (s: string) => new TextEncoder().encode(s);

interface Got {
  key: string;
  value: Uint8Array;
  large: boolean;
  expireAt: number;
  sameArray: boolean;
}

function drain(log: SavedLog, step: number, large: Uint8Array[] = []): Got[] {
  const out: Got[] = [];
  while (!log.exhausted) {
    const n = log.next(step, (kb, ko, kl, vb, vo, vl, isLarge, expireAt) => {
      out.push({
        key: new TextDecoder().decode(kb.subarray(ko, ko + kl)),
        value: vb.slice(vo, vo + vl),
        large: isLarge,
        expireAt,
        sameArray: large.includes(vb),
      });
    });
    expect(n).toBeLessThanOrEqual(step);
  }
  return out;
}

describe("SavedLog", () => {
  test("an empty log is exhausted and emits nothing", () => {
    const log = new SavedLog();
    expect(log.exhausted).toBe(true);
    expect(log.next(10, () => {})).toBe(0);
  });

  test("entries come back in order with their keys, values and expiry, inline or by reference", () => {
    const log = new SavedLog();
    const big = new Uint8Array(70_000).fill(9);
    const frame = enc("xxkey2yy");
    log.save(enc("k1"), 0, 2, enc("v1"), 0, 2, false, 0);
    log.save(frame, 2, 4, enc("--value--"), 2, 5, false, 1_700_000_000_123); // past 2^32 ms
    log.save(enc("big"), 0, 3, big, 0, big.length, true, 42);
    log.save(enc("empty"), 0, 5, new Uint8Array(0), 0, 0, false, 0);
    expect(log.count).toBe(4);
    const got = drain(log, 1, [big]);
    expect(got.map((g) => g.key)).toEqual(["k1", "key2", "big", "empty"]);
    expect(new TextDecoder().decode(got[1]!.value)).toBe("value");
    expect(got[1]!.expireAt).toBe(1_700_000_000_123);
    expect(got[2]!.large).toBe(true);
    expect(got[2]!.sameArray).toBe(true); // referenced, not copied
    expect(got[2]!.value.length).toBe(70_000);
    expect(got[2]!.expireAt).toBe(42);
    expect(got[3]!.value.length).toBe(0);
    expect(got.filter((g) => g.large).length).toBe(1);
  });

  test("release drops what was saved", () => {
    const log = new SavedLog();
    log.save(enc("k"), 0, 1, enc("v"), 0, 1, false, 0);
    log.release();
    expect(log.exhausted).toBe(true);
    expect(log.next(8, () => {})).toBe(0);
  });

  test("a copy is taken: changing the source after save does not change the saved value", () => {
    const log = new SavedLog();
    const v = enc("before");
    log.save(enc("k"), 0, 1, v, 0, v.length, false, 0);
    v.set(enc("AFTER!"));
    expect(new TextDecoder().decode(drain(log, 8)[0]!.value)).toBe("before");
  });

  test("thousands of entries across chunks, and one larger than a chunk, all come back", () => {
    const log = new SavedLog();
    const want: [string, number][] = [];
    for (let i = 0; i < 5000; i++) {
      const key = `key:${i}`;
      const len = (i * 37) % 1500;
      const value = new Uint8Array(len).fill(i & 0xff);
      log.save(enc(key), 0, key.length, value, 0, len, false, i);
      want.push([key, len]);
      if (i === 2500) {
        const huge = new Uint8Array(1_500_000).fill(7); // inline, bigger than a 1 MiB chunk
        log.save(enc("huge"), 0, 4, huge, 0, huge.length, false, 0);
        want.push(["huge", huge.length]);
      }
    }
    const got = drain(log, 64);
    expect(got.map((g) => [g.key, g.value.length])).toEqual(want);
    for (const g of got) {
      if (g.key === "huge") expect(g.value.every((b) => b === 7)).toBe(true);
      else expect(g.expireAt).toBe(Number(g.key.slice(4)));
    }
  });
});
