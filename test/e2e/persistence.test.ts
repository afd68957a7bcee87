// E2e: persistence through the compiled binary — restarts after a clean stop and after kill -9,
// a kill -9 crash loop under appendfsync=always with snapshots cutting the log meanwhile,
// snapshot scheduling, the AOF cut, torn and corrupt files, `microdb check`, and SAVE.

import { describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type Client } from "../../src/client/client.ts";
import { BINARY, CLIENT_LINK, cleanup, run, startServer, tempDir, waitFor, type RunningServer } from "./harness.ts";

const AOF = (dir: string) => join(dir, "data", "appendonly.aof");
const RDB = (dir: string) => join(dir, "data", "dump.rdb");

async function client(s: RunningServer): Promise<Client> {
  return connect("127.0.0.1", s.port);
}

async function infoField(c: Client, field: string): Promise<string> {
  return new RegExp(`^${field}:(.*)\\r?$`, "m").exec(await c.info())?.[1] ?? "";
}

describe("persistence", () => {
  test("data survives a clean stop and a kill -9 (appendfsync always)", async () => {
    const dir = tempDir();
    let s = await startServer({ cwd: dir, env: { MICRODB_APPENDFSYNC: "always" } });
    let c = await client(s);
    await c.set("a", "1");
    await c.set("b", new Uint8Array([0, 255, 10]));
    await c.set("gone", "x");
    await c.delete("gone");
    c.close();
    expect(await s.stop()).toBe(0);
    expect(await run([BINARY, "check", join(dir, "data")])).toMatchObject({ code: 0, out: expect.not.stringContaining("zeros") });
    s = await startServer({ cwd: dir, env: { MICRODB_APPENDFSYNC: "always" } });
    c = await client(s);
    expect(await c.getString("a")).toBe("1");
    expect(await c.get("b")).toEqual(new Uint8Array([0, 255, 10]));
    expect(await c.exists("gone")).toBe(false);
    await c.set("after-restart", "y");
    await c.set("a", "2");
    c.close();
    await s.kill();
    // Under always the AOF is kept zero-filled ahead of the log (a clean stop cuts that off);
    // after a kill -9 the zeros are there, and the next start removes them without calling it torn.
    expect(statSync(AOF(dir)).size).toBeGreaterThan(256 * 1024);
    s = await startServer({ cwd: dir });
    expect(s.output()).toMatch(/Loaded 3 keys in [\d.]+ ms/);
    expect(s.output()).toMatch(/removed \d+ bytes of zeros after the last record of appendonly\.aof/);
    expect(s.output()).not.toContain("torn");
    expect(statSync(AOF(dir)).size).toBeLessThan(1024);
    c = await client(s);
    expect(await c.getString("after-restart")).toBe("y");
    expect(await c.getString("a")).toBe("2");
    c.close();
    await s.stop();
    cleanup(dir);
  });

  test("crash loop: kill -9 at a random moment, 20 rounds; every acknowledged write is there", async () => {
    const dir = tempDir();
    // Frequent snapshots, so kills also land mid-snapshot and between its rename and the AOF cut.
    const env = { MICRODB_APPENDFSYNC: "always", MICRODB_SNAPSHOT_COMMANDS: "150", MICRODB_SNAPSHOT_INTERVAL: "0" };
    const acked = new Map<string, string>();
    // Keys whose delete was in flight at the kill: either state is right, the next start says which.
    const inDoubt = new Map<string, string>();
    const verify = async (c: Client, round: number) => {
      const keys = [...acked.keys()];
      const got = await Promise.all(keys.map((k) => c.getString(k)));
      keys.forEach((k, i) => expect(got[i], `round ${round}: ${k}`).toBe(acked.get(k)!));
      for (const [k, v] of inDoubt) {
        const now = await c.getString(k);
        expect([v, null], `round ${round}: ${k}`).toContain(now);
        if (now !== null) acked.set(k, now);
      }
      inDoubt.clear();
    };
    for (let round = 0; round < 20; round++) {
      const s = await startServer({ cwd: dir, env });
      const c = await client(s);
      // Everything acknowledged in earlier rounds is back, byte for byte.
      await verify(c, round);
      let stop = false;
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const key = `r${round}:w${w}:${i}`;
          const value = `${round}/${w}/${i}/${"v".repeat(i % 50)}`;
          try {
            await c.set(key, value);
            acked.set(key, value);
            if (i % 7 === 0) {
              // Overwrites and deletes too: the latest acknowledged state must come back.
              const old = `r${round}:w${w}:${i - 7}`;
              const was = acked.get(old);
              if (was !== undefined) {
                acked.delete(old);
                inDoubt.set(old, was);
                await c.delete(old);
                inDoubt.delete(old);
              }
            }
          } catch {
            return; // the kill
          }
        }
      });
      // Automatic snapshots back off 300x their loop time after the first of a round, so a SAVE at
      // a random moment puts another one where the kill may land.
      const saving = Bun.sleep(Math.floor(Math.random() * 200)).then(() => c.save()).catch(() => {});
      await Bun.sleep(60 + Math.floor(Math.random() * 200));
      await s.kill();
      await saving;
      stop = true;
      await Promise.all(writers);
      c.close();
    }
    const s = await startServer({ cwd: dir });
    const c = await client(s);
    await verify(c, 20);
    expect(acked.size).toBeGreaterThan(500);
    c.close();
    await s.stop();
    expect(await run([BINARY, "check", join(dir, "data")])).toMatchObject({ code: 0 });
    cleanup(dir);
  }, 60_000);

  test("snapshots by write count and by interval; the AOF is cut after each", async () => {
    const dir = tempDir();
    let s = await startServer({ cwd: dir, env: { MICRODB_SNAPSHOT_COMMANDS: "100", MICRODB_SNAPSHOT_INTERVAL: "0" } });
    let c = await client(s);
    for (let i = 0; i < 99; i++) await c.set(`k${i}`, "x".repeat(100));
    await Bun.sleep(200);
    expect(existsSync(RDB(dir))).toBe(false);
    const aofBefore = statSync(AOF(dir)).size;
    expect(aofBefore).toBeGreaterThan(99 * 100);
    await c.set("k99", "x".repeat(100)); // the 100th write
    await waitFor("a snapshot by count", async () => (await infoField(c, "rdb_saves")) === "1");
    expect(existsSync(RDB(dir))).toBe(true);
    expect(statSync(AOF(dir)).size).toBeLessThan(200); // cut before the snapshot counted as done
    c.close();
    await s.stop();

    s = await startServer({ cwd: dir, env: { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "1" } });
    c = await client(s);
    await Bun.sleep(1300);
    expect(await infoField(c, "rdb_saves")).toBe("0"); // no writes, no snapshot
    const mtime = statSync(RDB(dir)).mtimeMs;
    await c.set("interval", "yes");
    await waitFor("a snapshot by interval", async () => (await infoField(c, "rdb_saves")) === "1", 3000);
    expect(statSync(RDB(dir)).mtimeMs).toBeGreaterThan(mtime);
    c.close();
    await s.kill();
    s = await startServer({ cwd: dir });
    c = await client(s);
    expect(await c.dbsize()).toBe(101);
    expect(await c.getString("interval")).toBe("yes");
    c.close();
    await s.stop();
    cleanup(dir);
  });

  test("SAVE answers once the snapshot is on disk; restart with snapshot + AOF tail gives the same data", async () => {
    const dir = tempDir();
    const env = { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0", MICRODB_APPENDFSYNC: "always" };
    let s = await startServer({ cwd: dir, env });
    let c = await client(s);
    const expected = new Map<string, string>();
    for (let i = 0; i < 2000; i++) expected.set(`before:${i}`, `v${i}`);
    await Promise.all([...expected].map(([k, v]) => c.set(k, v)));
    const saved = await run([CLIENT_LINK, `127.0.0.1:${s.port}`, "save"]);
    expect(saved).toMatchObject({ code: 0, out: "OK\n" });
    expect(statSync(RDB(dir)).size).toBeGreaterThan(2000 * 10);
    expect(statSync(AOF(dir)).size).toBe(20); // header only: the snapshot holds it all
    for (let i = 0; i < 500; i++) {
      expected.set(`after:${i}`, `w${i}`);
      expected.delete(`before:${i}`);
    }
    await Promise.all([...expected].filter(([k]) => k.startsWith("after:")).map(([k, v]) => c.set(k, v)));
    await Promise.all(Array.from({ length: 500 }, (_, i) => c.delete(`before:${i}`)));
    c.close();
    await s.kill();
    s = await startServer({ cwd: dir, env });
    expect(s.output()).toContain("snapshot: 2000 entries");
    expect(s.output()).toContain("AOF: 1000 records replayed");
    c = await client(s);
    expect(await c.dbsize()).toBe(expected.size);
    const keys = [...expected.keys()];
    const got = await Promise.all(keys.map((k) => c.getString(k)));
    keys.forEach((k, i) => expect(got[i]).toBe(expected.get(k)!));
    c.close();
    await s.stop();
    cleanup(dir);
  });

  test("a torn AOF tail starts with a warning; a flipped byte refuses to start; check --fix repairs the tail", async () => {
    const dir = tempDir();
    const env = { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };
    let s = await startServer({ cwd: dir, env });
    let c = await client(s);
    for (let i = 0; i < 10; i++) await c.set(`k${i}`, `value-${i}`);
    c.close();
    await s.kill(); // no final snapshot: the data is in the AOF only
    const size = statSync(AOF(dir)).size;
    const recordSize = 9 + 2 + 7 + 4;
    expect(size).toBe(20 + 10 * recordSize);

    // Torn: the last record cut short.
    truncateSync(AOF(dir), size - 3);
    const checked = await run([BINARY, "check", join(dir, "data")]);
    expect(checked.code).toBe(1);
    expect(checked.out).toContain(`torn last record at byte offset ${size - recordSize}`);
    s = await startServer({ cwd: dir, env });
    expect(s.output()).toContain(`torn last record at byte offset ${size - recordSize} (${recordSize - 3} bytes, a write cut short by a crash) truncated`);
    c = await client(s);
    expect(await c.dbsize()).toBe(9);
    expect(await c.exists("k9")).toBe(false);
    await c.set("k9", "value-9");
    c.close();
    await s.kill();

    // check --fix on a torn tail.
    appendFileSync(AOF(dir), new Uint8Array([0xdb, 0x01, 0x11]));
    expect((await run([BINARY, "check", join(dir, "data")])).code).toBe(1);
    const fixed = await run([BINARY, "check", "--fix", join(dir, "data")]);
    expect(fixed.code).toBe(0);
    expect(fixed.out).toContain("FIXED");
    expect(statSync(AOF(dir)).size).toBe(size);
    expect(await run([BINARY, "check", join(dir, "data")])).toMatchObject({ code: 0 });

    // Corrupt: a byte flipped in the middle.
    const bytes = readFileSync(AOF(dir));
    const at = 20 + 3 * recordSize + 12;
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(AOF(dir), bytes);
    const refused = await run([BINARY, "--port", "0"], { cwd: dir, env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`appendonly.aof: CRC mismatch in the record at byte offset ${20 + 3 * recordSize}`);
    expect(refused.out).not.toContain("Ready to accept connections");
    expect((await run([BINARY, "check", "--fix", join(dir, "data")])).code).toBe(1); // not repairable
    cleanup(dir);
  });

  test("a corrupt dump.rdb stops start-up with the file and offset", async () => {
    const dir = tempDir();
    let s = await startServer({ cwd: dir });
    const c = await client(s);
    await c.set("x", "y");
    c.close();
    await s.stop(); // final snapshot
    const bytes = readFileSync(RDB(dir));
    bytes[26] = bytes[26]! ^ 0x01;
    writeFileSync(RDB(dir), bytes);
    const r = await run([BINARY, "--port", "0"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to start: .*dump\.rdb: (CRC mismatch|.*) at byte offset \d+/);
    cleanup(dir);
  });

  for (const trigger of ["shutdown.txt", "SIGTERM"] as const) {
    test(`graceful shutdown via ${trigger}: exit 0 within 2 s, files complete, all data back`, async () => {
      const dir = tempDir();
      const env = { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };
      let s = await startServer({ cwd: dir, env });
      let c = await client(s);
      const writes = Array.from({ length: 5000 }, (_, i) => c.set(`s${i}`, `v${i}`));
      await Promise.all(writes);
      const t0 = Date.now();
      if (trigger === "SIGTERM") s.proc.kill("SIGTERM");
      else writeFileSync(join(dir, "shutdown.txt"), "");
      const code = await s.proc.exited;
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(existsSync(join(dir, "shutdown.txt"))).toBe(false);
      expect(s.output()).toContain("Snapshot saved: 5000 entries");
      expect(await run([BINARY, "check", join(dir, "data")])).toMatchObject({ code: 0 });
      c.close();
      s = await startServer({ cwd: dir, env });
      c = await client(s);
      expect(await c.dbsize()).toBe(5000);
      expect(await c.getString("s4999")).toBe("v4999");
      c.close();
      await s.stop();
      cleanup(dir);
    });
  }

  test("a shutdown.txt already present at start-up is removed with a warning, not obeyed", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "shutdown.txt"), "stale");
    const s = await startServer({ cwd: dir });
    // The warning goes to stderr, which may arrive after stdout's ready line.
    await waitFor("the warning", () => s.output().includes("shutdown.txt was already present at start-up; removed it instead of shutting down"));
    expect(existsSync(join(dir, "shutdown.txt"))).toBe(false);
    await Bun.sleep(400);
    const c = await client(s);
    expect(await c.ping()).toBe("PONG");
    c.close();
    await s.stop();
    cleanup(dir);
  });
});
