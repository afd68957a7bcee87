// E2e regressions from the code review: a snapshot whose temp file cannot be opened, a client
// that half-closes under appendfsync=always, SET KEEPTTL on a just-expired key, and a SCAN cursor
// used twice. Each failed before its fix.

import { expect, test } from "bun:test";
import { mkdirSync, rmdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { RespConn, RespError, str } from "./resp-helpers.ts";
import { cleanup, startServer } from "./harness.ts";

test("a snapshot that cannot open its temp file fails cleanly: SAVE errors, the server lives, the next SAVE works", async () => {
  const s = await startServer({ env: { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" } });
  const c = await RespConn.open(s.port);
  await c.call("SET", "a", "1");
  const tmp = join(s.cwd, "data", "dump.rdb.tmp");
  mkdirSync(tmp); // open(…, "w") on a directory fails
  const failed = await c.call("SAVE");
  expect(failed).toBeInstanceOf(RespError);
  expect((failed as RespError).message).toMatch(/^ERR snapshot failed: /);
  await c.call("SET", "b", "2"); // writes after the failure (they used to hit "a snapshot is already running")
  await Bun.sleep(1200); // past the 1 s interval timer, which used to crash the process
  expect(s.proc.exitCode).toBeNull();
  rmdirSync(tmp);
  expect(await c.call("SAVE")).toBe("OK");
  expect(str(await c.call("GET", "b"))).toBe("2");
  c.close();
  await s.stop();
  cleanup(s.cwd);
});

test("appendfsync=always: a client that half-closes right after its requests still gets every reply", async () => {
  const s = await startServer({ env: { MICRODB_APPENDFSYNC: "always" } });
  for (let round = 0; round < 5; round++) {
    // node:net's end() sends FIN and keeps reading: a true half-close.
    const text = await new Promise<string>((resolve) => {
      let got = "";
      const sock = connect({ host: "127.0.0.1", port: s.port, allowHalfOpen: true }, () => {
        sock.write(`SET k${round} v\r\nGET k${round}\r\n`);
        sock.end();
      });
      sock.on("data", (d: Buffer) => (got += d.toString("latin1")));
      sock.on("end", () => resolve(got));
      sock.on("error", () => resolve(got));
      setTimeout(() => resolve(got), 3000);
    });
    expect(text).toBe("+OK\r\n$1\r\nv\r\n");
  }
  await s.stop();
  cleanup(s.cwd);
});

test("SET … KEEPTTL on a key whose TTL has just run out stores the new value without a TTL", async () => {
  const s = await startServer();
  const c = await RespConn.open(s.port);
  await c.call("SET", "k", "v1", "PX", "30");
  await Bun.sleep(80);
  expect(await c.call("SET", "k", "v2", "KEEPTTL")).toBe("OK");
  expect(str(await c.call("GET", "k"))).toBe("v2");
  expect(await c.call("TTL", "k")).toBe(-1);
  c.close();
  await s.stop();
  cleanup(s.cwd);
});

test("a SCAN cursor may be used again (a retried call continues instead of failing)", async () => {
  const s = await startServer();
  const c = await RespConn.open(s.port);
  for (let i = 0; i < 50; i++) await c.call("SET", `s${i}`, "x");
  const first = (await c.call("SCAN", "0", "COUNT", "10")) as [Uint8Array, Uint8Array[]];
  const cursor = str(first[0])!;
  expect(cursor).not.toBe("0");
  const again = await c.call("SCAN", cursor, "COUNT", "10");
  expect(again).not.toBeInstanceOf(RespError);
  const retry = await c.call("SCAN", cursor, "COUNT", "100");
  expect(retry).not.toBeInstanceOf(RespError);
  c.close();
  await s.stop();
  cleanup(s.cwd);
});

test("SETEX, PSETEX, UNLINK, FLUSHDB, EXPIREAT and PEXPIREAT behave as in Redis, and their effects survive a restart", async () => {
  const env = { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };
  let s = await startServer({ env });
  let c = await RespConn.open(s.port);
  expect(await c.call("SETEX", "a", "100", "1")).toBe("OK");
  expect(await c.call("TTL", "a")).toBe(100);
  expect(await c.call("PSETEX", "b", "100000", "2")).toBe("OK");
  expect(await c.call("TTL", "b")).toBe(100);
  const bad = await c.call("SETEX", "x", "0", "v");
  expect((bad as RespError).message).toBe("ERR invalid expire time in 'setex' command");
  await c.call("MSET", "u1", "x", "u2", "y", "f", "z");
  expect(await c.call("UNLINK", "u1", "u2", "nokey")).toBe(2);
  const at = Math.floor(Date.now() / 1000) + 500;
  expect(await c.call("EXPIREAT", "f", String(at))).toBe(1);
  expect(await c.call("TTL", "f")).toBeGreaterThan(490);
  expect(await c.call("PEXPIREAT", "f", String(Date.now() - 1000))).toBe(1); // in the past: deleted
  expect(await c.call("EXISTS", "f")).toBe(0);
  c.close();
  await s.kill();
  s = await startServer({ env, cwd: s.cwd });
  c = await RespConn.open(s.port);
  expect(str(await c.call("GET", "a"))).toBe("1");
  expect(await c.call("TTL", "a")).toBeGreaterThan(90);
  expect(await c.call("EXISTS", "u1", "u2", "f")).toBe(0);
  expect(await c.call("FLUSHDB")).toBe("OK");
  expect(await c.call("DBSIZE")).toBe(0);
  c.close();
  await s.stop();
  cleanup(s.cwd);
});
