// Keyspace expiry with an injected clock: lazy deletion (master) vs read-as-absent (replica), bounded sweeps, TTL rules, and snapshot views under expiry changes and FLUSHALL.

import { describe, expect, test } from "bun:test";
import { Keyspace } from "../../../src/store/keyspace.ts";
import { mulberry32 as rng } from "../../support/rng.ts";

const T = 1_000_000;

const v = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));
const str = (x: Uint8Array | undefined): string | undefined => (x === undefined ? undefined : Buffer.from(x).toString("latin1"));

function setup(activeExpiry = true): { ks: Keyspace; clock: { t: number }; expired: string[] } {
  const ks = new Keyspace();
  const clock = { t: T };
  ks.now = () => clock.t;
  ks.activeExpiry = activeExpiry;
  const expired: string[] = [];
  ks.onExpire = (k) => expired.push(k);
  return { ks, clock, expired };
}

/** Drains a running snapshot view `step` entries at a time; returns every emission in order. */
function drain(ks: Keyspace, step = 1, between?: () => void): [string, string, number][] {
  const out: [string, string, number][] = [];
  for (let i = 0; ; i++) {
    if (i > 100_000) throw new Error("snapshot view never ended");
    const more = ks.snapshotNext(step, (k, val, at) => out.push([k, str(val)!, at]));
    if (!more) return out;
    between?.();
  }
}

/** Checks emissions against the state at the start: every emission is a start entry as it was; every start key is emitted. */
function checkView(emitted: [string, string, number][], start: Map<string, [string, number]>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [k, val, at] of emitted) {
    const want = start.get(k);
    if (want === undefined) problems.push(`emitted ${JSON.stringify(k)}, which did not exist at the start`);
    else if (want[0] !== val || want[1] !== at) problems.push(`${JSON.stringify(k)} emitted as (${val}, ${at}), was (${want[0]}, ${want[1]}) at the start`);
    seen.add(k);
  }
  for (const k of start.keys()) if (!seen.has(k)) problems.push(`${JSON.stringify(k)} was never emitted`);
  return problems;
}

describe("expiry on a master (activeExpiry)", () => {
  test("a key is there until its time, then reads as absent, is deleted, and onExpire runs once", () => {
    const { ks, clock, expired } = setup();
    ks.set("k", v("val"));
    ks.set("other", v("o"));
    expect(ks.setExpire("k", T + 100)).toBe(true);
    expect(ks.expiresCount).toBe(1);
    clock.t = T + 99;
    expect(str(ks.get("k"))).toBe("val");
    expect(ks.has("k")).toBe(true);
    expect(ks.expireAt("k")).toBe(T + 100);
    expect(expired).toEqual([]);
    clock.t = T + 100; // due at exactly its time
    expect(ks.get("k")).toBeUndefined();
    expect(expired).toEqual(["k"]);
    expect(ks.size).toBe(1);
    expect(ks.expiresCount).toBe(0);
    expect(ks.has("k")).toBe(false);
    expect(ks.expireAt("k")).toBe(-1);
    expect(ks.get("k")).toBeUndefined();
    expect(expired).toEqual(["k"]);
    expect(str(ks.get("other"))).toBe("o");
  });

  const accessors: [string, (ks: Keyspace) => unknown, unknown][] = [
    ["get", (ks) => ks.get("k"), undefined],
    ["has", (ks) => ks.has("k"), false],
    ["expireAt", (ks) => ks.expireAt("k"), -1],
    ["delete", (ks) => ks.delete("k"), false],
    ["persist", (ks) => ks.persist("k"), false],
    ["setExpire", (ks) => ks.setExpire("k", T + 10_000), false],
    ["keys()", (ks) => [...ks.keys()], ["live"]],
    ["entries()", (ks) => [...ks.entries()].map((e) => e[0]), ["live"]],
  ];
  for (const [name, access, result] of accessors) {
    test(`${name} as the first access after expiry: absent, deleted, onExpire once`, () => {
      const { ks, clock, expired } = setup();
      ks.set("k", v("val"));
      ks.set("live", v("x"));
      ks.setExpire("k", T + 5);
      clock.t = T + 6;
      expect(access(ks)).toEqual(result);
      expect(expired).toEqual(["k"]);
      expect(ks.size).toBe(1);
      expect(ks.expiresCount).toBe(0);
      access(ks);
      expect(expired).toEqual(["k"]);
    });
  }

  test("setExpireRaw sets an expiry even in the past: the next access deletes the key", () => {
    const { ks, expired } = setup();
    ks.set("k", v("val"));
    ks.setExpireRaw("k", T - 1000);
    expect(ks.expiresCount).toBe(1);
    expect(ks.size).toBe(1);
    expect(ks.get("k")).toBeUndefined();
    expect(expired).toEqual(["k"]);
    expect(ks.size).toBe(0);
    expect(ks.expiresCount).toBe(0);
  });

  test("setExpireRaw on a missing key does nothing; in the future it acts like setExpire", () => {
    const { ks, clock } = setup();
    ks.setExpireRaw("nope", T + 10);
    expect(ks.expiresCount).toBe(0);
    expect(ks.size).toBe(0);
    ks.set("k", v("val"));
    ks.setExpireRaw("k", T + 10);
    expect(ks.expireAt("k")).toBe(T + 10);
    clock.t = T + 10;
    expect(ks.has("k")).toBe(false);
  });
});

describe("expiry on a replica (activeExpiry = false)", () => {
  test("an expired key reads as absent but stays, without onExpire, until forget()", () => {
    const { ks, clock, expired } = setup(false);
    ks.set("k", v("val"));
    ks.set("live", v("x"));
    ks.setExpire("k", T + 100);
    clock.t = T + 100;
    for (let i = 0; i < 3; i++) {
      expect(ks.get("k")).toBeUndefined();
      expect(ks.has("k")).toBe(false);
      expect(ks.expireAt("k")).toBe(-1);
      expect(ks.delete("k")).toBe(false); // an expired key counts as already gone
      expect(ks.persist("k")).toBe(false);
      expect(ks.setExpire("k", T + 10_000)).toBe(false);
      expect([...ks.keys()]).toEqual(["live"]);
      expect([...ks.entries()].map((e) => e[0])).toEqual(["live"]);
    }
    expect(ks.sweep(1000)).toBe(0);
    expect(expired).toEqual([]);
    expect(ks.size).toBe(2);
    expect(ks.expiresCount).toBe(1);

    ks.forget("k");
    expect(ks.size).toBe(1);
    expect(ks.expiresCount).toBe(0);
    expect(expired).toEqual([]);
    ks.forget("k");
    ks.forget("never");
    expect(ks.size).toBe(1);
  });

  test("setExpireRaw in the past on a replica: absent, not deleted", () => {
    const { ks, expired } = setup(false);
    ks.set("k", v("val"));
    ks.setExpireRaw("k", T - 1);
    expect(ks.get("k")).toBeUndefined();
    expect(ks.size).toBe(1);
    expect(ks.expiresCount).toBe(1);
    expect(expired).toEqual([]);
  });

  test("promoted to master (activeExpiry = true): the next access deletes and reports it", () => {
    const { ks, clock, expired } = setup(false);
    ks.set("k", v("val"));
    ks.setExpire("k", T + 1);
    clock.t = T + 2;
    expect(ks.get("k")).toBeUndefined();
    expect(ks.size).toBe(1);
    ks.activeExpiry = true;
    expect(ks.get("k")).toBeUndefined();
    expect(ks.size).toBe(0);
    expect(expired).toEqual(["k"]);
  });

  test("forget() removes a live key with a TTL whatever its expiry", () => {
    const { ks } = setup(false);
    ks.set("k", v("val"));
    ks.setExpire("k", T + 1_000_000);
    ks.forget("k");
    expect(ks.has("k")).toBe(false);
    expect(ks.expiresCount).toBe(0);
    expect(ks.size).toBe(0);
  });
});

describe("sweep", () => {
  test("deletes at most `budget` expired keys per call, in order, continuing where it stopped", () => {
    const { ks, clock, expired } = setup();
    const names: string[] = [];
    for (let i = 0; i < 10; i++) {
      ks.set(`e${i}`, v("x"));
      ks.setExpire(`e${i}`, T + 10 + i);
      names.push(`e${i}`);
      if (i % 2 === 0) ks.set(`p${i}`, v("y")); // no TTL: never looked at, never deleted
    }
    clock.t = T + 1000;
    expect([ks.sweep(3), ks.sweep(3), ks.sweep(3), ks.sweep(3), ks.sweep(3)]).toEqual([3, 3, 3, 1, 0]);
    expect(expired).toEqual(names);
    expect(ks.size).toBe(5);
    expect(ks.expiresCount).toBe(0);
  });

  test("looks at no more than `budget` keys: with live and expired keys alternating, budget 1 deletes every other call", () => {
    const { ks, clock, expired } = setup();
    for (let i = 0; i < 4; i++) {
      ks.set(`live${i}`, v("x"));
      ks.setExpire(`live${i}`, T + 1_000_000);
      ks.set(`dead${i}`, v("x"));
      ks.setExpire(`dead${i}`, T + 10);
    }
    clock.t = T + 20;
    // Restarting from the start each call would look at live0 forever and delete nothing.
    const got: number[] = [];
    for (let i = 0; i < 8; i++) got.push(ks.sweep(1));
    expect(got).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    expect(expired).toEqual(["dead0", "dead1", "dead2", "dead3"]);
    // With budget 2 each call sees one live and at most one expired key.
    const { ks: ks2, clock: clock2 } = setup();
    for (let i = 0; i < 6; i++) {
      ks2.set(`live${i}`, v("x"));
      ks2.setExpire(`live${i}`, T + 1_000_000);
      ks2.set(`dead${i}`, v("x"));
      ks2.setExpire(`dead${i}`, T + 10);
    }
    clock2.t = T + 20;
    expect([ks2.sweep(2), ks2.sweep(2), ks2.sweep(2)]).toEqual([1, 1, 1]);
    expect(ks2.expiresCount).toBe(9);
  });

  test("after a full pass it starts over and finds keys that expired since", () => {
    const { ks, clock, expired } = setup();
    for (let i = 0; i < 4; i++) {
      ks.set(`k${i}`, v("x"));
      ks.setExpire(`k${i}`, T + 100 * (i + 1));
    }
    clock.t = T + 150;
    let total = 0;
    for (let i = 0; i < 6; i++) total += ks.sweep(2);
    expect(total).toBe(1);
    clock.t = T + 1000;
    for (let i = 0; i < 6; i++) {
      const n = ks.sweep(2);
      expect(n).toBeLessThanOrEqual(2);
      total += n;
    }
    expect(total).toBe(4);
    expect(expired[0]).toBe("k0");
    expect([...expired].sort()).toEqual(["k0", "k1", "k2", "k3"]);
    expect(ks.size).toBe(0);
  });

  test("a key due exactly now is deleted; one due 1 ms later is not; budget 0 and no TTLs do nothing", () => {
    const { ks, clock, expired } = setup();
    expect(ks.sweep(10)).toBe(0);
    ks.set("now", v("x"));
    ks.setExpire("now", T + 50);
    ks.set("later", v("x"));
    ks.setExpire("later", T + 51);
    clock.t = T + 50;
    expect(ks.sweep(0)).toBe(0);
    expect(ks.sweep(10)).toBe(1);
    expect(expired).toEqual(["now"]);
    expect(ks.has("later")).toBe(true);
  });

  test("clear() in the middle of a pass: the next sweep works on the new keys", () => {
    const { ks, clock, expired } = setup();
    for (let i = 0; i < 4; i++) {
      ks.set(`a${i}`, v("x"));
      ks.setExpire(`a${i}`, T + 1);
    }
    clock.t = T + 2;
    expect(ks.sweep(1)).toBe(1);
    ks.clear();
    expect(ks.expiresCount).toBe(0);
    ks.set("b", v("x"));
    ks.setExpire("b", T + 1);
    expect(ks.sweep(10)).toBe(1);
    expect(expired).toEqual(["a0", "b"]);
    expect(ks.size).toBe(0);
  });
});

describe("TTL rules", () => {
  test("set() clears the TTL; set(..., keepTtl = true) keeps it; a new key with keepTtl has none", () => {
    const { ks, clock, expired } = setup();
    ks.set("a", v("1"));
    ks.setExpire("a", T + 100);
    ks.set("a", v("2"));
    expect(ks.expireAt("a")).toBe(0);
    expect(ks.expiresCount).toBe(0);

    ks.set("b", v("1"));
    ks.setExpire("b", T + 100);
    ks.set("b", v("2"), true);
    expect(ks.expireAt("b")).toBe(T + 100);
    expect(str(ks.get("b"))).toBe("2");
    expect(ks.expiresCount).toBe(1);

    ks.set("c", v("1"), true);
    expect(ks.expireAt("c")).toBe(0);

    ks.set("b", v("3"));
    expect(ks.expireAt("b")).toBe(0);
    ks.setExpire("b", T + 100);
    ks.set("b", v("4"), true);
    expect(ks.expireAt("b")).toBe(T + 100);

    clock.t = T + 200;
    expect(str(ks.get("a"))).toBe("2");
    expect(ks.get("b")).toBeUndefined();
    expect(expired).toEqual(["b"]);
    expect(ks.size).toBe(2);
  });

  test("setExpire: false on a missing key, replaces the time of an existing one", () => {
    const { ks } = setup();
    expect(ks.setExpire("none", T + 1)).toBe(false);
    expect(ks.expiresCount).toBe(0);
    ks.set("k", v("x"));
    expect(ks.setExpire("k", T + 1)).toBe(true);
    expect(ks.setExpire("k", T + 500)).toBe(true);
    expect(ks.expireAt("k")).toBe(T + 500);
    expect(ks.expiresCount).toBe(1);
  });

  test("persist(): true once and the key lives on; false without a TTL or key", () => {
    const { ks, clock } = setup();
    ks.set("k", v("x"));
    expect(ks.persist("k")).toBe(false);
    ks.setExpire("k", T + 10);
    expect(ks.persist("k")).toBe(true);
    expect(ks.persist("k")).toBe(false);
    expect(ks.expireAt("k")).toBe(0);
    expect(ks.expiresCount).toBe(0);
    expect(ks.persist("missing")).toBe(false);
    clock.t = T + 1000;
    expect(ks.has("k")).toBe(true);
  });

  test("delete() and clear() drop the TTL with the key; a re-created key has none", () => {
    const { ks, clock } = setup();
    ks.set("k", v("x"));
    ks.setExpire("k", T + 10);
    expect(ks.delete("k")).toBe(true);
    expect(ks.expiresCount).toBe(0);
    ks.set("k", v("y"));
    expect(ks.expireAt("k")).toBe(0);
    ks.setExpire("k", T + 10);
    ks.set("j", v("z"));
    ks.setExpire("j", T + 10);
    ks.clear();
    expect(ks.expiresCount).toBe(0);
    expect(ks.size).toBe(0);
    ks.set("k", v("y"));
    clock.t = T + 100;
    expect(ks.expireAt("k")).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Snapshot views

describe("snapshot views and expiry", () => {
  /** Keys with and without TTLs, one already expired but never accessed (still in the map). */
  function populate(ks: Keyspace): Map<string, [string, number]> {
    const start = new Map<string, [string, number]>();
    const put = (k: string, val: string, at: number) => {
      ks.set(k, v(val));
      if (at !== 0) ks.setExpireRaw(k, at);
      start.set(k, [val, at]);
    };
    put("a", "A", T + 100);
    put("b", "B", T + 200);
    put("c", "C", 0);
    put("d", "D", T + 300);
    put("e", "E", T + 50);
    put("f", "F", T + 400);
    put("g", "G", 0);
    put("x", "X", T - 10);
    return start;
  }

  /** EXPIRE, PERSIST, delete, expiry on access and by sweep, overwrite with and without KEEPTTL, a new key. */
  function changes(ks: Keyspace, clock: { t: number }): (() => void)[] {
    return [
      () => expect(ks.setExpire("a", T + 999)).toBe(true),
      () => expect(ks.persist("b")).toBe(true),
      () => expect(ks.delete("d")).toBe(true),
      () => expect(ks.setExpire("c", T + 777)).toBe(true),
      () => ks.set("f", v("F2"), true),
      () => ks.set("g", v("G2")),
      () => {
        ks.set("h", v("H"));
        ks.setExpire("h", T + 5);
      },
      () => {
        clock.t = T + 60;
        expect(ks.get("e")).toBeUndefined();
      },
      () => expect(ks.sweep(100)).toBe(2), // x and h
    ];
  }

  function checkLiveAfter(ks: Keyspace, expired: string[]): void {
    const live: Record<string, [string | undefined, number]> = {};
    for (const k of ["a", "b", "c", "d", "e", "f", "g", "h", "x"]) live[k] = [str(ks.get(k)), ks.expireAt(k)];
    expect(live).toEqual({
      a: ["A", T + 999], b: ["B", 0], c: ["C", T + 777], d: [undefined, -1], e: [undefined, -1],
      f: ["F2", T + 400], g: ["G2", 0], h: [undefined, -1], x: [undefined, -1],
    });
    expect([...expired].sort()).toEqual(["e", "h", "x"]);
    expect(ks.size).toBe(5);
    expect(ks.expiresCount).toBe(3);
    expect([...ks.keys()].sort()).toEqual(["a", "b", "c", "f", "g"]);
  }

  for (let before = 0; before <= 9; before++) {
    test(`every key is emitted with its value and expiry as of the start (changes after ${before} emissions)`, () => {
      const { ks, clock, expired } = setup();
      const start = populate(ks);
      ks.beginSnapshot();
      expect(ks.size).toBe(8);
      const emitted: [string, string, number][] = [];
      let done = false;
      if (before > 0) done = !ks.snapshotNext(before, (k, val, at) => emitted.push([k, str(val)!, at]));
      for (const change of changes(ks, clock)) change();
      if (!done) emitted.push(...drain(ks));
      expect(checkView(emitted, start)).toEqual([]);
      checkLiveAfter(ks, expired);
    });
  }

  test("changes interleaved one by one with single emissions", () => {
    const { ks, clock, expired } = setup();
    const start = populate(ks);
    ks.beginSnapshot();
    const todo = changes(ks, clock);
    const emitted = drain(ks, 1, () => todo.shift()?.());
    for (const change of todo) change();
    expect(checkView(emitted, start)).toEqual([]);
    checkLiveAfter(ks, expired);
  });

  test("replica: keys past their time are emitted with their expiry and stay; forget() during the view", () => {
    const { ks, clock, expired } = setup(false);
    const start = populate(ks);
    clock.t = T + 250; // a, b, e, x are past their time
    ks.beginSnapshot();
    ks.forget("a");
    ks.forget("c");
    expect(ks.sweep(100)).toBe(0);
    const emitted = drain(ks, 2, () => ks.setExpireRaw("b", T + 5000));
    expect(checkView(emitted, start)).toEqual([]);
    expect(expired).toEqual([]);
    expect(ks.size).toBe(6);
    expect(ks.expireAt("b")).toBe(T + 5000);
    expect(ks.get("e")).toBeUndefined();
  });

  describe("clear() (FLUSHALL) during a running view", () => {
    type Collect = (k: string, val: Uint8Array, at: number) => void;
    const when: [string, (ks: Keyspace, collect: Collect) => void][] = [
      ["before any emission", () => {}],
      ["after 3 emissions", (ks, collect) => ks.snapshotNext(3, collect)],
      ["twice", (ks, collect) => {
        ks.snapshotNext(2, collect);
        ks.clear();
      }],
    ];
    for (const [label, prepare] of when) {
      test(`${label}: the view emits exactly the start state; the live keyspace is empty and takes new keys the view never shows`, () => {
        const { ks, clock, expired } = setup();
        const start = populate(ks);
        ks.beginSnapshot();
        const emitted: [string, string, number][] = [];
        // One start key touched before the flush (its old value is saved), one expired and deleted.
        ks.set("c", v("C-new"));
        clock.t = T + 60;
        expect(ks.get("e")).toBeUndefined();
        prepare(ks, (k, val, at) => emitted.push([k, str(val)!, at]));
        ks.clear();
        expect(ks.size).toBe(0);
        expect(ks.expiresCount).toBe(0);
        expect([...ks.keys()]).toEqual([]);
        expect(ks.get("a")).toBeUndefined();
        // New keys, some with the names of start keys, some with TTLs.
        ks.set("a", v("A-after"));
        ks.setExpire("a", T + 5000);
        ks.set("new", v("N"));
        ks.set("c", v("C-after"));
        ks.delete("c");
        expect(ks.size).toBe(2);
        expect(ks.expiresCount).toBe(1);
        emitted.push(...drain(ks, 2, () => ks.set(`more${emitted.length}`, v("M"))));
        expect(checkView(emitted, start)).toEqual([]);
        expect(expired).toEqual(["e"]);
        expect(str(ks.get("a"))).toBe("A-after");
        expect(ks.expireAt("a")).toBe(T + 5000);
        expect(ks.has("c")).toBe(false);
        const live = [...ks.keys()];
        expect(live).toContain("a");
        expect(live).toContain("new");
        expect(live.filter((k) => k !== "a" && k !== "new" && !k.startsWith("more"))).toEqual([]);
        expect(ks.size).toBe([...ks.keys()].length);
      });
    }

    test("full accounting: every start key is emitted once the emissions before the flush are counted", () => {
      const { ks, clock } = setup();
      const start = populate(ks);
      ks.beginSnapshot();
      const emitted: [string, string, number][] = [];
      const collect = (k: string, val: Uint8Array, at: number) => emitted.push([k, str(val)!, at]);
      ks.setExpire("a", T + 1); // saved with its start expiry, and stamped
      ks.snapshotNext(3, collect);
      clock.t = T + 60;
      ks.clear();
      ks.set("b", v("B-after"));
      ks.setExpire("b", T + 70);
      clock.t = T + 80;
      expect(ks.sweep(10)).toBe(1); // the new b, not the view's
      while (ks.snapshotNext(1, collect));
      expect(checkView(emitted, start)).toEqual([]);
      expect(ks.size).toBe(0);
      // The old view is over: a new one sees only the live state.
      ks.set("z", v("Z"));
      ks.beginSnapshot();
      expect(drain(ks, 10)).toEqual([["z", "Z", 0]]);
      expect(ks.size).toBe(1);
    });

    test("after the cursor passed the start keys, with saved old values still to emit", () => {
      const { ks } = setup();
      const start = populate(ks);
      ks.beginSnapshot();
      const emitted: [string, string, number][] = [];
      const collect = (k: string, val: Uint8Array, at: number) => emitted.push([k, str(val)!, at]);
      ks.persist("a");
      ks.set("b", v("B2"));
      // 6 start keys are still in place: the walk emits them before any saved one.
      while (emitted.length < 6) expect(ks.snapshotNext(6 - emitted.length, collect)).toBe(true);
      expect(emitted.length).toBe(6);
      ks.clear();
      ks.set("a", v("A3"));
      while (ks.snapshotNext(1, collect));
      expect(checkView(emitted, start)).toEqual([]);
      expect(ks.size).toBe(1);
      expect(ks.expireAt("a")).toBe(0);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A seeded model test: random expiry operations, snapshots and flushes against a plain model.


describe("model test: random expiry operations with snapshot views", () => {
  for (const master of [true, false]) {
    test(master ? "master" : "replica", () => {
      const random = rng(master ? 11 : 12);
      const int = (n: number) => Math.floor(random() * n);
      const pool = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "\xff", "\x00", ""];
      const problems: string[] = [];
      let views = 0;
      for (let round = 0; round < 60 && problems.length === 0; round++) {
        const { ks, clock, expired } = setup(master);
        /** Raw state: what the map holds, expired or not. */
        const model = new Map<string, { val: string; at: number }>();
        const wantExpired: string[] = [];
        let counter = 0;
        let start: Map<string, [string, number]> | null = null;
        let emitted: [string, string, number][] = [];
        const live = (k: string) => {
          const e = model.get(k);
          if (e === undefined) return undefined;
          if (e.at !== 0 && e.at <= clock.t) {
            if (master) {
              model.delete(k);
              wantExpired.push(k);
            }
            return undefined;
          }
          return e;
        };
        const fail = (what: string) => problems.push(`round ${round}: ${what}`);
        for (let step = 0; step < 300 && problems.length === 0; step++) {
          const k = pool[int(pool.length)]!;
          const op = int(14);
          if (op === 0 || op === 1) {
            const got = str(ks.get(k));
            const want = live(k)?.val;
            if (got !== want) fail(`get(${k}) = ${got}, want ${want}`);
          } else if (op === 2 || op === 3) {
            const keep = random() < 0.4;
            if (keep) {
              ks.get(k); // like SET KEEPTTL: look the key up first
              live(k);
            }
            const val = `v${counter++}`;
            ks.set(k, v(val), keep);
            model.set(k, { val, at: keep ? (model.get(k)?.at ?? 0) : 0 });
          } else if (op === 4 || op === 5) {
            const at = clock.t + 1 + int(60);
            const r = ks.setExpire(k, at);
            const e = live(k);
            if (r !== (e !== undefined)) fail(`setExpire(${k}) = ${r}`);
            if (e) e.at = at;
          } else if (op === 6) {
            const r = ks.persist(k);
            const e = live(k);
            const want = e !== undefined && e.at !== 0;
            if (r !== want) fail(`persist(${k}) = ${r}, want ${want}`);
            if (e) e.at = 0;
          } else if (op === 7) {
            const r = ks.delete(k);
            const want = live(k) !== undefined;
            if (r !== want) fail(`delete(${k}) = ${r}, want ${want}`);
            if (want) model.delete(k); // on a replica an expired key stays until the master's delete
          } else if (op === 8) {
            ks.forget(k);
            model.delete(k);
          } else if (op === 9) {
            const at = clock.t - 20 + int(60);
            ks.setExpireRaw(k, at);
            const e = model.get(k);
            if (e) e.at = at;
          } else if (op === 10) {
            clock.t += int(25);
          } else if (op === 11) {
            const got = ks.expireAt(k);
            const e = live(k);
            const want = e === undefined ? -1 : e.at;
            if (got !== want) fail(`expireAt(${k}) = ${got}, want ${want}`);
          } else if (op === 12) {
            const before = expired.length;
            const n = ks.sweep(1 + int(4));
            const swept = expired.slice(before);
            if (swept.length !== n) fail(`sweep returned ${n} but reported ${swept.length}`);
            if (!master && n !== 0) fail("a replica swept");
            for (const s of swept) {
              const e = model.get(s);
              if (e === undefined || e.at === 0 || e.at > clock.t) fail(`sweep deleted ${JSON.stringify(s)}, which was not due`);
              model.delete(s);
              wantExpired.push(s);
            }
          } else if (random() < 0.1) {
            ks.clear();
            model.clear();
          } else if (start === null) {
            ks.beginSnapshot();
            views++;
            start = new Map([...model].map(([key, e]) => [key, [e.val, e.at]]));
            emitted = [];
          }
          if (start !== null && random() < 0.3) {
            const more = ks.snapshotNext(1 + int(3), (key, val, at) => emitted.push([key, str(val)!, at]));
            if (!more) {
              for (const p of checkView(emitted, start)) fail(`view: ${p}`);
              start = null;
            }
          }
          if (ks.size !== model.size) fail(`after op ${op} on ${JSON.stringify(k)}: size ${ks.size}, model ${model.size}`);
          let withTtl = 0;
          for (const e of model.values()) if (e.at !== 0) withTtl++;
          if (ks.expiresCount !== withTtl) fail(`after op ${op} on ${JSON.stringify(k)}: expiresCount ${ks.expiresCount}, model ${withTtl}`);
          if (expired.join("|") !== wantExpired.join("|")) fail(`onExpire calls ${JSON.stringify(expired)}, want ${JSON.stringify(wantExpired)}`);
        }
        if (start !== null) {
          emitted.push(...drain(ks, 5));
          for (const p of checkView(emitted, start)) fail(`view: ${p}`);
        }
      }
      expect(problems.slice(0, 5)).toEqual([]);
      expect(views).toBeGreaterThan(30);
    });
  }
});
