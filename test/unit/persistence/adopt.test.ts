// Persistence.adopt (a promoted replica takes over its data_dir): old files go, a snapshot at the
// stream offset lands, then the log starts there; writes meanwhile are held, logged once (in the
// snapshot or in the log, never both) and recovered exactly.

import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultConfig } from "../../../src/config.ts";
import { AOF_FILE, AOF_NEXT } from "../../../src/persistence/aof.ts";
import { Persistence } from "../../../src/persistence/persistence.ts";
import { recover } from "../../../src/persistence/recovery.ts";
import { SNAPSHOT_FILE } from "../../../src/persistence/snapshot.ts";
import { Op } from "../../../src/protocol/binary.ts";
import { digest } from "../../../src/store/digest.ts";
import { Keyspace } from "../../../src/store/keyspace.ts";
import { tempDir } from "../../support/temp-dir.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("Persistence.adopt", () => {
  test("old files are replaced; writes during the first snapshot are held, then recovered exactly once", async () => {
    const dir = tempDir();
    // Files of another history, which must not be replayed over the adopted data.
    writeFileSync(join(dir, AOF_FILE), "stale");
    writeFileSync(join(dir, AOF_NEXT), "stale");
    const ks = new Keyspace();
    for (let i = 0; i < 5000; i++) ks.set(`k${i}`, bytes(`v${i}`));
    const offset = 987_654;
    const p = Persistence.adopt(dir, { ...defaultConfig(), appendfsync: "always" }, ks, offset);

    // Writes while the snapshot runs: applied in memory and logged, replies held until written.
    let released = 0;
    for (let i = 0; i < 50; i++) {
      ks.set(`k${i}`, bytes(`new${i}`));
      p.logWrite(Op.SET, `k${i}`, bytes(`new${i}`));
      p.aof.whenWritten(p.aof.position, () => released++);
    }
    expect(released).toBe(0);
    expect(existsSync(join(dir, AOF_FILE))).toBe(false);
    await p.save();
    expect(released).toBe(50);
    // After the first snapshot writes go to the log as usual.
    ks.set("later", bytes("x"));
    p.logWrite(Op.SET, "later", bytes("x"));
    const end = p.aof.position;
    await p.close(false);

    const back = new Keyspace();
    const report = recover(dir, back, { truncateTorn: false });
    // The held writes came before the snapshot began, so they are in it and not in the log.
    expect(report.snapshot!.position).toBeGreaterThan(offset);
    expect(report.snapshot!.entries).toBe(5000);
    expect(report.replayed).toBe(1);
    expect(report.aof.base).toBe(report.snapshot!.position);
    expect(report.aof.base + report.aof.size).toBe(end);
    expect(digest(back)).toBe(digest(ks));
    expect(existsSync(join(dir, SNAPSHOT_FILE))).toBe(true);
  });

  test("writes taken into the first snapshot do not count as written or durable until it is on disk", async () => {
    const dir = tempDir();
    const ks = new Keyspace();
    // Enough keys that the snapshot takes several slices, so it can be watched while it runs.
    for (let i = 0; i < 200_000; i++) ks.set(`k${i}`, bytes(`value-${i}`));
    const p = Persistence.adopt(dir, { ...defaultConfig(), appendfsync: "always" }, ks, 1000);
    ks.set("held", bytes("x"));
    p.logWrite(Op.SET, "held", bytes("x"));
    const pos = p.aof.position;
    let seen = 0;
    while (!existsSync(join(dir, SNAPSHOT_FILE))) {
      if (ks.snapshotRunning) {
        // The snapshot at `pos` is being written: a reply held for `pos` must still be held.
        expect(p.aof.durable).toBeLessThan(pos);
        expect(p.aof.writtenPosition).toBeLessThan(pos);
        // ...and the log counts it as held, so reads wait too rather than show it (Server.holdAfter).
        expect(p.aof.holding).toBe(true);
        seen++;
      }
      await new Promise<void>((r) => setImmediate(r));
    }
    expect(seen).toBeGreaterThan(0);
    await p.save();
    expect(p.aof.durable).toBeGreaterThanOrEqual(pos);
    await p.close(false);
  });
});
