// The arena: blocks by size class, reuse through free lists, frees deferred to the end of the tick
// while views may still be read, and the keyspace's promise that a view lives until then.

import { describe, expect, test } from "bun:test";
import { Arena, MAX_BLOCK, PAGE_SIZE, blockBytes, classOf } from "../../../src/store/arena.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";

describe("Arena", () => {
  test("blocks never overlap and stay inside their page, across classes and pages", () => {
    const a = new Arena();
    const spans: [number, number, number][] = [];
    for (let i = 0; i < 3000; i++) {
      const size = 1 + ((i * 7919) % 3000);
      const h = a.alloc(size);
      const off = a.offset(h);
      expect(off % 8).toBe(0);
      expect(off + size).toBeLessThanOrEqual(PAGE_SIZE);
      spans.push([a.pages.indexOf(a.page(h)), off, off + size]);
    }
    spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i]![0] === spans[i - 1]![0]) expect(spans[i]![1]).toBeGreaterThanOrEqual(spans[i - 1]![2]);
    }
    expect(a.pages.length).toBeGreaterThan(1);
  });

  test("a freed block is reused for the same class; deferred frees wait for flushFrees", () => {
    const a = new Arena();
    const h = a.alloc(40);
    a.release(h, 40);
    expect(a.alloc(33)).toBe(h); // same class (40)
    a.deferFrees = true;
    a.release(h, 40);
    expect(a.alloc(40)).not.toBe(h);
    a.flushFrees();
    expect(a.alloc(40)).toBe(h);
  });

  test("classes cover every size up to MAX_BLOCK with little waste", () => {
    let last = -1;
    for (let size = 1; size <= MAX_BLOCK; size += 13) {
      const c = classOf(size);
      expect(c).toBeGreaterThanOrEqual(last);
      last = c;
      // The steps: 8 bytes up to 256, 32 up to 4 KiB, then about an eighth of the size.
      const waste = blockBytes(size) - size;
      expect(waste).toBeGreaterThanOrEqual(0);
      expect(waste).toBeLessThan(size <= 256 ? 8 : size <= 4096 ? 32 : Math.ceil(size / 8) + 64);
    }
    expect(() => classOf(MAX_BLOCK)).not.toThrow();
  });
});

test("keyspace: a view from get() survives an overwrite until flushFrees (GETSET reads it after)", () => {
  const ks = new Keyspace();
  ks.deferFrees = true;
  ks.set("k", new Uint8Array(24).fill(1));
  const old = ks.get("k")!;
  ks.set("k", new Uint8Array(24).fill(2));
  ks.set("other", new Uint8Array(24).fill(3));
  expect([...old]).toEqual(new Array(24).fill(1));
  ks.flushFrees();
  expect([...ks.get("k")!]).toEqual(new Array(24).fill(2));
});
