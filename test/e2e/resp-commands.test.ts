// E2e over RESP2/3: Bun's RedisClient (which speaks RESP3 after HELLO 3) and raw sockets against the compiled server — every command with Redis 7 replies and error texts, binary safety, pipelining, expiry across restarts, AUTH, QUIT and exact wire bytes.

import { RedisClient } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanup, startServer, tempDir, type RunningServer } from "./harness.ts";
import {
  RespConn, RespError, encodeCommand, eventually, latin1, parseReply, rawExchange, str, type RespValue,
} from "./resp-helpers.ts";

const MAX_VALUE = 2 * 1024 * 1024;
/** No automatic snapshots, so SAVE/BGSAVE/LASTSAVE are deterministic; 2 MiB values at most. */
const ENV = { MICRODB_MAX_VALUE_SIZE: "2mb", MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };

/** Bun's RedisClient, connected directly (it opens with HELLO 3, so the connection speaks RESP3). */
function bunClient(port: number, auth = "", opts: ConstructorParameters<typeof RedisClient>[1] = {}) {
  const r = new RedisClient(`redis://${auth}127.0.0.1:${port}`, { connectionTimeout: 5000, ...opts });
  return {
    r,
    close() {
      r.close();
    },
  };
}

/** The error text a command was refused with; fails the test if it was not refused. */
async function errorOf(p: Promise<unknown>): Promise<string> {
  let value: unknown;
  try {
    value = await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`expected an error reply, got ${JSON.stringify(value)}`);
}

function errText(v: RespValue): string {
  if (!(v instanceof RespError)) throw new Error(`expected an error reply, got ${JSON.stringify(v)}`);
  return v.message;
}

/** A flat [k1, v1, k2, v2, ...] reply as a map. */
function pairs(v: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < v.length; i += 2) m.set(String(v[i]), v[i + 1]);
  return m;
}

/** CLIENT LIST text as one field map per client. */
function clientList(text: string): Map<string, string>[] {
  return text.trim().split("\n").map((line) => new Map(line.split(" ").map((f) => {
    const eq = f.indexOf("=");
    return [f.slice(0, eq), f.slice(eq + 1)] as [string, string];
  })));
}

let server: RunningServer;
let client: ReturnType<typeof bunClient>;
let r: RedisClient;

beforeAll(async () => {
  server = await startServer({ env: ENV });
  client = bunClient(server.port);
  r = client.r;
});
afterAll(async () => {
  client.close();
  await server.stop();
  cleanup(server.cwd);
});

describe("RESP handshake", () => {
  // Bun's RedisClient opens every connection with HELLO 3 and gives up unless it succeeds.
  test("Bun's RedisClient connects directly (HELLO 3)", async () => {
    const direct = new RedisClient(`redis://127.0.0.1:${server.port}`, { autoReconnect: false, connectionTimeout: 3000 });
    try {
      expect(await direct.set("direct:k", "v")).toBe("OK");
      expect(await direct.get("direct:k")).toBe("v");
      expect(await direct.get("direct:missing")).toBeNull();
    } finally {
      direct.close();
    }
  });

  test("HELLO 2 and 3 describe the server; HELLO 4 is NOPROTO; HELLO SETNAME names the connection", async () => {
    const hello = pairs(await r.send("HELLO", ["2"]));
    expect(hello.get("server")).toBe("redis");
    expect(hello.get("version")).toBe("7.0.0");
    expect(hello.get("proto")).toBe(2);
    expect(hello.get("mode")).toBe("standalone");
    expect(hello.get("role")).toBe("master");
    expect(hello.get("id")).toBe(await r.client("ID"));
    expect(await errorOf(r.send("HELLO", ["4"]))).toBe("NOPROTO sorry, this protocol version is not supported.");
    const h3 = (await r.send("HELLO", ["3"])) as Record<string, unknown>;
    expect(h3.proto).toBe(3);
    expect(await r.get("s:nothing-here")).toBeNull(); // RESP3's null
    expect(await errorOf(r.send("HELLO", ["two"]))).toBe("ERR Protocol version is not an integer or out of range");
    const named = pairs(await r.send("HELLO", ["2", "SETNAME", "hello-name"]));
    expect(named.get("proto")).toBe(2);
    expect(await r.client("GETNAME")).toBe("hello-name");
  });
});

describe("string commands", () => {
  test("GET and SET with EX, PX, NX, XX, GET and KEEPTTL", async () => {
    expect(await r.get("s:missing")).toBeNull();
    expect(await r.set("s:a", "1")).toBe("OK");
    expect(await r.get("s:a")).toBe("1");
    expect(await r.ttl("s:a")).toBe(-1);

    expect(await r.set("s:ex", "v", "EX", 100)).toBe("OK");
    expect(await r.ttl("s:ex")).toBeWithin(99, 101);
    expect(await r.set("s:px", "v", "PX", 100_000)).toBe("OK");
    expect(await r.pttl("s:px")).toBeWithin(98_000, 100_001);

    expect(await r.set("s:a", "2", "NX")).toBeNull();
    expect(await r.get("s:a")).toBe("1");
    expect(await r.set("s:nx", "n", "NX")).toBe("OK");
    expect(await r.get("s:nx")).toBe("n");

    expect(await r.set("s:xx", "x", "XX")).toBeNull();
    expect(await r.exists("s:xx")).toBe(false);
    expect(await r.set("s:a", "3", "XX")).toBe("OK");
    expect(await r.get("s:a")).toBe("3");

    expect(await r.set("s:a", "4", "GET")).toBe("3");
    expect(await r.set("s:get-new", "g", "GET")).toBeNull();
    expect(await r.get("s:get-new")).toBe("g");
    expect(await r.set("s:a", "5", "NX", "GET")).toBe("4"); // NX failed: the old value, unchanged
    expect(await r.get("s:a")).toBe("4");

    // KEEPTTL keeps the expiry; a plain SET clears it.
    expect(await r.set("s:ex", "v2", "KEEPTTL")).toBe("OK");
    expect(await r.get("s:ex")).toBe("v2");
    expect(await r.ttl("s:ex")).toBeWithin(98, 101);
    expect(await r.set("s:ex", "v3")).toBe("OK");
    expect(await r.ttl("s:ex")).toBe(-1);

    expect(await r.set("s:pxat", "v", "PXAT", Date.now() + 50_000)).toBe("OK");
    expect(await r.pttl("s:pxat")).toBeWithin(45_000, 50_001);

    expect(await errorOf(r.set("s:a", "v", "EX", "10", "KEEPTTL"))).toBe("ERR syntax error");
    expect(await errorOf(r.set("s:a", "v", "NX", "XX"))).toBe("ERR syntax error");
    expect(await errorOf(r.set("s:a", "v", "EX"))).toBe("ERR syntax error");
    expect(await errorOf(r.set("s:a", "v", "BOGUS"))).toBe("ERR syntax error");
    expect(await errorOf(r.set("s:a", "v", "EX", "ten"))).toBe("ERR value is not an integer or out of range");
    expect(await errorOf(r.set("s:a", "v", "EX", 0))).toBe("ERR invalid expire time in 'set' command");
    expect(await errorOf(r.set("s:a", "v", "PX", -5))).toBe("ERR invalid expire time in 'set' command");
    expect(await r.get("s:a")).toBe("4"); // refused SETs changed nothing
  });

  test("SETNX, GETSET and GETDEL", async () => {
    expect(await r.setnx("g:a", "1")).toBe(1);
    expect(await r.setnx("g:a", "2")).toBe(0);
    expect(await r.get("g:a")).toBe("1");

    expect(await r.getset("g:a", "3")).toBe("1");
    expect(await r.getset("g:new", "n")).toBeNull();
    expect(await r.get("g:a")).toBe("3");
    await r.expire("g:a", 100);
    expect(await r.getset("g:a", "4")).toBe("3");
    expect(await r.ttl("g:a")).toBe(-1); // GETSET drops the expiry, as SET does

    expect(await r.getdel("g:a")).toBe("4");
    expect(await r.getdel("g:a")).toBeNull();
    expect(await r.exists("g:a")).toBe(false);
  });

  test("MGET and MSET", async () => {
    expect(await r.mset("m:a", "1", "m:b", "2", "m:c", "3")).toBe("OK");
    expect(await r.mget("m:a", "m:b", "m:missing", "m:c")).toEqual(["1", "2", null, "3"]);
    expect(await r.mset("m:a", "x", "m:a", "y")).toBe("OK"); // the last one wins
    expect(await r.get("m:a")).toBe("y");
    expect(await errorOf(r.send("MSET", ["m:a", "1", "m:b"]))).toBe("ERR wrong number of arguments for 'mset' command");
    expect(await errorOf(r.send("MGET", []))).toBe("ERR wrong number of arguments for 'mget' command");
  });

  test("INCR, INCRBY, DECR and DECRBY", async () => {
    expect(await r.incr("n:a")).toBe(1);
    expect(await r.incrby("n:a", 41)).toBe(42);
    expect(await r.decr("n:a")).toBe(41);
    expect(await r.decrby("n:a", 50)).toBe(-9);
    expect(await r.get("n:a")).toBe("-9");
    expect(await r.decr("n:fresh")).toBe(-1);

    await r.set("n:ttl", "10", "EX", 100);
    expect(await r.incr("n:ttl")).toBe(11);
    expect(await r.ttl("n:ttl")).toBeWithin(98, 101); // INCR keeps the expiry

    for (const bad of ["abc", "1.5", " 1", "01", ""]) {
      await r.set("n:bad", bad);
      expect(await errorOf(r.incr("n:bad"))).toBe("ERR value is not an integer or out of range");
    }
    expect(await errorOf(r.send("INCRBY", ["n:a", "x"]))).toBe("ERR value is not an integer or out of range");
    expect(await errorOf(r.send("DECRBY", ["n:a", "1.0"]))).toBe("ERR value is not an integer or out of range");
    expect(await r.get("n:a")).toBe("-9");
  });

  test("APPEND and STRLEN", async () => {
    expect(await r.strlen("ap:a")).toBe(0);
    expect(await r.append("ap:a", "hello")).toBe(5);
    expect(await r.append("ap:a", " world")).toBe(11);
    expect(await r.get("ap:a")).toBe("hello world");
    expect(await r.strlen("ap:a")).toBe(11);
    expect(await r.append("ap:u", "é")).toBe(2); // bytes, not characters
    expect(await r.strlen("ap:u")).toBe(2);
    await r.set("ap:ttl", "a", "EX", 100);
    expect(await r.append("ap:ttl", "b")).toBe(2);
    expect(await r.ttl("ap:ttl")).toBeWithin(98, 101); // APPEND keeps the expiry
  });

  test("a value of exactly max_value_size is stored; APPEND past it is refused", async () => {
    const big = new Uint8Array(MAX_VALUE).map((_, i) => (i * 7) & 0xff);
    expect(await r.set("big:max", big)).toBe("OK");
    expect(await r.strlen("big:max")).toBe(MAX_VALUE);
    expect(await r.getBuffer("big:max")).toEqual(big);
    expect(await errorOf(r.append("big:max", "x"))).toStartWith("ERR string exceeds maximum allowed size");
    expect(await r.strlen("big:max")).toBe(MAX_VALUE);
    expect(await r.del("big:max")).toBe(1);
  });

  test("values are binary-safe: all 256 byte values, CR LF, an empty value, a binary key", async () => {
    const all = new Uint8Array(256).map((_, i) => i);
    expect(await r.set("bin:all", all)).toBe("OK");
    expect(await r.getBuffer("bin:all")).toEqual(all);
    expect(await r.strlen("bin:all")).toBe(256);

    const reversed = all.slice().reverse();
    await r.set(all.subarray(1), reversed); // a 255-byte key holding every byte value but 0
    expect(await r.getBuffer(all.subarray(1))).toEqual(reversed);
    expect(await r.getBuffer(all.subarray(2))).toBeNull(); // a different key

    await r.set("bin:crlf", "a\r\nb\r\n$3\r\n");
    expect(await r.get("bin:crlf")).toBe("a\r\nb\r\n$3\r\n");
    await r.set("bin:empty", "");
    expect(await r.getBuffer("bin:empty")).toEqual(new Uint8Array(0));
    expect(await r.exists("bin:empty")).toBe(true);
    expect(await r.strlen("bin:empty")).toBe(0);
  });
});

describe("keyspace commands", () => {
  test("DEL and EXISTS with many keys", async () => {
    await r.mset("d:1", "a", "d:2", "b", "d:3", "c", "d:4", "d");
    expect(await r.send("EXISTS", ["d:1", "d:2", "d:missing", "d:1"])).toBe(3); // repeats count
    expect(await r.exists("d:3")).toBe(true);
    expect(await r.del("d:1", "d:2", "d:missing", "d:3")).toBe(3);
    expect(await r.send("EXISTS", ["d:1", "d:2", "d:3", "d:4"])).toBe(1);
    expect(await r.del("d:1")).toBe(0);
    expect(await errorOf(r.send("DEL", []))).toBe("ERR wrong number of arguments for 'del' command");
  });

  test("EXPIRE, PEXPIRE, TTL, PTTL and PERSIST", async () => {
    expect(await r.ttl("e:missing")).toBe(-2);
    expect(await r.pttl("e:missing")).toBe(-2);
    expect(await r.expire("e:missing", 10)).toBe(0);
    await r.set("e:a", "v");
    expect(await r.ttl("e:a")).toBe(-1);
    expect(await r.pttl("e:a")).toBe(-1);
    expect(await r.expire("e:a", 100)).toBe(1);
    expect(await r.ttl("e:a")).toBeWithin(99, 101);
    expect(await r.pexpire("e:a", 5000)).toBe(1);
    expect(await r.pttl("e:a")).toBeWithin(4000, 5001);
    expect(await r.ttl("e:a")).toBeWithin(4, 6);
    expect(await r.persist("e:a")).toBe(1);
    expect(await r.persist("e:a")).toBe(0);
    expect(await r.ttl("e:a")).toBe(-1);

    // Redis 7 options: NX only without an expiry, XX only with one, GT/LT compare (none = infinite).
    expect(await r.send("EXPIRE", ["e:a", "100", "XX"])).toBe(0);
    expect(await r.send("EXPIRE", ["e:a", "100", "NX"])).toBe(1);
    expect(await r.send("EXPIRE", ["e:a", "200", "NX"])).toBe(0);
    expect(await r.send("EXPIRE", ["e:a", "50", "GT"])).toBe(0);
    expect(await r.send("EXPIRE", ["e:a", "200", "GT"])).toBe(1);
    expect(await r.send("EXPIRE", ["e:a", "300", "LT"])).toBe(0);
    expect(await r.send("EXPIRE", ["e:a", "30", "LT"])).toBe(1);
    expect(await r.ttl("e:a")).toBeWithin(29, 31);
    expect(await errorOf(r.send("EXPIRE", ["e:a", "10", "NX", "XX"]))).toBe("ERR NX and XX, GT or LT options at the same time are not compatible");
    expect(await errorOf(r.send("EXPIRE", ["e:a", "10", "FOO"]))).toBe("ERR Unsupported option FOO");
    expect(await errorOf(r.send("EXPIRE", ["e:a", "soon"]))).toBe("ERR value is not an integer or out of range");

    // A time in the past deletes the key and counts as set.
    expect(await r.expire("e:a", 0)).toBe(1);
    expect(await r.get("e:a")).toBeNull();
    await r.set("e:b", "v");
    expect(await r.pexpire("e:b", -1)).toBe(1);
    expect(await r.exists("e:b")).toBe(false);
  });

  test("KEYS with glob patterns", async () => {
    await r.flushall();
    await r.mset("user:1", "a", "user:2", "b", "user:10", "c", "admin:1", "d", "hello", "e", "hallo", "f", "hxllo", "g", "a*b", "h");
    const keys = async (p: string) => (await r.keys(p)).sort();
    expect(await keys("*")).toEqual(["a*b", "admin:1", "hallo", "hello", "hxllo", "user:1", "user:10", "user:2"]);
    expect(await keys("user:?")).toEqual(["user:1", "user:2"]);
    expect(await keys("user:*")).toEqual(["user:1", "user:10", "user:2"]);
    expect(await keys("*:1")).toEqual(["admin:1", "user:1"]);
    expect(await keys("h[ae]llo")).toEqual(["hallo", "hello"]);
    expect(await keys("h[^e]llo")).toEqual(["hallo", "hxllo"]);
    expect(await keys("h[a-f]llo")).toEqual(["hallo", "hello"]);
    expect(await keys("a\\*b")).toEqual(["a*b"]);
    expect(await keys("nothing*")).toEqual([]);
  });

  test("SCAN with MATCH and COUNT returns every one of 500 keys exactly once", async () => {
    await r.flushall();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) writes.push(r.set(`scan:${i}`, String(i)));
    for (let i = 0; i < 50; i++) writes.push(r.set(`other:${i}`, String(i)));
    await Promise.all(writes);
    expect(await r.dbsize()).toBe(550);

    const seen: string[] = [];
    let cursor = "0";
    let calls = 0;
    do {
      const [next, batch] = await r.scan(cursor, "MATCH", "scan:*", "COUNT", 37);
      cursor = next;
      seen.push(...batch);
      calls++;
      expect(calls).toBeLessThan(1000);
    } while (cursor !== "0");
    expect(calls).toBeGreaterThan(1); // a real iteration, not one reply
    expect(seen.length).toBe(500); // no duplicates
    expect(new Set(seen)).toEqual(new Set(Array.from({ length: 500 }, (_, i) => `scan:${i}`)));

    // Without MATCH every key comes back; TYPE string is every key here, TYPE hash none.
    const everything = new Set<string>();
    cursor = "0";
    do {
      const [next, batch] = await r.scan(cursor, "COUNT", 100, "TYPE", "string");
      cursor = next;
      for (const k of batch) everything.add(k);
    } while (cursor !== "0");
    expect(everything.size).toBe(550);
    const [, hashes] = await r.scan(0, "COUNT", 1000, "TYPE", "hash");
    expect(hashes).toEqual([]);

    expect(await errorOf(r.send("SCAN", ["abc"]))).toBe("ERR invalid cursor");
    expect(await errorOf(r.send("SCAN", ["0", "COUNT", "0"]))).toBe("ERR syntax error");
    expect(await errorOf(r.send("SCAN", ["0", "BOGUS"]))).toBe("ERR syntax error");
  });

  test("DBSIZE, FLUSHALL and TYPE", async () => {
    expect(await r.flushall()).toBe("OK");
    expect(await r.dbsize()).toBe(0);
    await r.mset("t:1", "a", "t:2", "b", "t:3", "c");
    expect(await r.dbsize()).toBe(3);
    expect(await r.type("t:1")).toBe("string");
    expect(await r.type("t:missing")).toBe("none");
    expect(await r.flushall("ASYNC")).toBe("OK");
    expect(await r.dbsize()).toBe(0);
    expect(await r.get("t:1")).toBeNull();
    expect(await errorOf(r.send("FLUSHALL", ["NOW"]))).toBe("ERR syntax error");
  });
});

describe("server commands", () => {
  test("PING and ECHO", async () => {
    expect(await r.ping()).toBe("PONG");
    expect(await r.ping("hi there")).toBe("hi there");
    expect(await r.echo("echo \r\n me")).toBe("echo \r\n me");
    expect(await errorOf(r.send("PING", ["a", "b"]))).toBe("ERR wrong number of arguments for 'ping' command");
    expect(await errorOf(r.send("ECHO", []))).toBe("ERR wrong number of arguments for 'echo' command");
  });

  test("INFO: every section, one section, keyspace counts", async () => {
    await r.flushall();
    const all = await r.info();
    for (const h of ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication"]) expect(all).toContain(`${h}\r\n`);
    expect(all).toContain("redis_version:7.0.0\r\n");
    expect(all).toContain(`tcp_port:${server.port}\r\n`);
    expect(all).toContain("role:master\r\n");
    expect(all).not.toContain("db0:"); // an empty keyspace lists no database, like Redis

    await r.set("i:1", "a");
    await r.set("i:2", "b", "EX", 100);
    expect(await r.info("keyspace")).toBe("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n");
    expect(await r.info()).toContain("# Keyspace\r\ndb0:keys=2,expires=1");
    const serverOnly = await r.info("server");
    expect(serverOnly).toStartWith("# Server\r\n");
    expect(serverOnly).not.toContain("# Clients");
    expect(await r.info("SERVER")).toStartWith("# Server\r\n");
    expect(await r.info("bogus")).toBe("");
    const clients = await r.info("clients");
    expect(Number(/connected_clients:(\d+)/.exec(clients)?.[1])).toBeGreaterThanOrEqual(1);

    // The arena's accounting follows the entries: a 1000-byte value adds at least its size.
    const arena = async () => Number(/arena_used_bytes:(\d+)/.exec(await r.info("memory"))?.[1]);
    const before = await arena();
    await r.set("i:big", "x".repeat(1000));
    expect(await arena()).toBeGreaterThanOrEqual(before + 1000);
    await r.del("i:big");
  });

  test("SAVE, BGSAVE and LASTSAVE", async () => {
    const dump = join(server.cwd, "data", "dump.rdb");
    const before = await r.lastsave();
    expect(Math.abs(before - Date.now() / 1000)).toBeLessThan(120);
    await r.set("save:k", "v");
    expect(await r.send("SAVE", [])).toBe("OK");
    expect(existsSync(dump)).toBe(true);
    expect(await r.lastsave()).toBeGreaterThanOrEqual(before);
    const saves = async () => Number(/rdb_saves:(\d+)/.exec(await r.info("persistence"))?.[1]);
    const n = await saves();
    expect(n).toBeGreaterThanOrEqual(1);
    await r.set("save:k2", "v");
    expect(await r.send("BGSAVE", [])).toBe("Background saving started");
    expect(await eventually(async () => (await saves()) === n + 1)).toBe(true);
    expect(await r.info("persistence")).toContain("rdb_bgsave_in_progress:0\r\n");
    expect(await r.info("persistence")).toContain("rdb_last_bgsave_status:ok\r\n");
  });

  test("ROLE, SELECT, COMMAND and CONFIG GET", async () => {
    // A master's offset is its stream (AOF) position, as INFO replication says.
    const offset = Number(/master_repl_offset:(\d+)/.exec(await r.info("replication"))?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(await r.send("ROLE", [])).toEqual(["master", offset, []]);

    expect(await r.send("SELECT", ["0"])).toBe("OK");
    expect(await errorOf(r.send("SELECT", ["1"]))).toBe("ERR DB index is out of range");
    expect(await errorOf(r.send("SELECT", ["x"]))).toBe("ERR value is not an integer or out of range");

    const count = await r.command("COUNT");
    const table = await r.command();
    expect(count).toBeGreaterThanOrEqual(40);
    expect(table.length).toBe(count);
    const names = (table as unknown[][]).map((c) => c[0]).sort();
    for (const name of ["get", "set", "mget", "scan", "expire", "client", "config", "hello", "auth", "quit"]) expect(names).toContain(name);
    expect(await r.command("INFO", "get", "nosuch")).toEqual([["get", 2, ["readonly", "fast"], 1, 1, 1, [], [], [], []], null]);
    expect(await errorOf(r.command("BOGUS"))).toBe("ERR unknown subcommand 'BOGUS'. Try COMMAND HELP.");

    expect(await r.config("GET", "maxclients")).toEqual(["maxclients", "10000"]);
    expect(await r.config("GET", "proto-max-bulk-len")).toEqual(["proto-max-bulk-len", String(MAX_VALUE)]);
    expect(await r.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
    expect(await r.config("GET", "save")).toEqual(["save", ""]); // automatic snapshots are off here
    expect(pairs(await r.config("GET", "max*", "databases")).get("databases")).toBe("1");
    expect(await r.config("GET", "no-such-setting")).toEqual([]);
    expect(await errorOf(r.config("SET", "maxclients", "5"))).toStartWith("ERR unknown subcommand or wrong number of arguments for 'SET'");
  });

  test("CLIENT SETNAME, GETNAME, ID, SETINFO and LIST", async () => {
    expect(await r.client("SETNAME", "conn-a")).toBe("OK");
    expect(await r.client("GETNAME")).toBe("conn-a");
    const id = await r.client("ID");
    expect(typeof id).toBe("number");
    expect(await r.client("ID")).toBe(id);
    expect(await r.client("SETINFO", "lib-name", "bun-e2e")).toBe("OK");
    expect(await r.client("SETINFO", "lib-ver", "1.2.3")).toBe("OK");

    const other = await RespConn.open(server.port);
    try {
      expect(await other.call("CLIENT", "SETNAME", "conn-b")).toBe("OK");
      const otherId = await other.call("CLIENT", "ID");
      expect(otherId).not.toBe(id);
      const list = clientList(await r.client("LIST"));
      const mine = list.find((c) => c.get("id") === String(id));
      expect(mine?.get("name")).toBe("conn-a");
      expect(mine?.get("lib-name")).toBe("bun-e2e");
      expect(mine?.get("lib-ver")).toBe("1.2.3");
      expect(mine?.get("db")).toBe("0");
      expect(list.find((c) => c.get("id") === String(otherId))?.get("name")).toBe("conn-b");
      expect(str(await other.call("CLIENT", "GETNAME"))).toBe("conn-b");
    } finally {
      other.close();
    }

    expect(await errorOf(r.client("SETNAME", "has space"))).toBe("ERR Client names cannot contain spaces, newlines or special characters.");
    expect(await errorOf(r.client("SETINFO", "bogus", "x"))).toBe("ERR Unrecognized option 'bogus'");
    expect(await errorOf(r.client("NOSUCH"))).toBe("ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try CLIENT HELP.");
    expect(await r.client("GETNAME")).toBe("conn-a");
  });

  test("error texts are Redis 7's", async () => {
    expect(await errorOf(r.send("GET", []))).toBe("ERR wrong number of arguments for 'get' command");
    expect(await errorOf(r.send("GET", ["a", "b"]))).toBe("ERR wrong number of arguments for 'get' command");
    expect(await errorOf(r.send("foo", ["a"]))).toBe("ERR unknown command 'foo', with args beginning with: 'a' ");
    expect(await errorOf(r.send("foo", []))).toBe("ERR unknown command 'foo', with args beginning with: ");
    expect(await errorOf(r.send("foo", ["a", "b c"]))).toBe("ERR unknown command 'foo', with args beginning with: 'a' 'b c' ");
    await r.set("err:s", "text");
    expect(await errorOf(r.incr("err:s"))).toBe("ERR value is not an integer or out of range");
    expect(await errorOf(r.send("SET", ["err:s", "v", "WHAT"]))).toBe("ERR syntax error");
    expect(await errorOf(r.send("AUTH", ["pw"]))).toBe(
      "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
    );
    // Command names are case-insensitive, and the connection survives every refusal.
    expect(await r.send("gEt", ["err:s"])).toBe("text");
  });
});

describe("pipelining and expiry", () => {
  test("10,000 pipelined commands through RedisClient reply in order", async () => {
    await r.del("pipe:counter");
    const incrs: Promise<number>[] = [];
    const sets: Promise<string>[] = [];
    for (let i = 0; i < 5000; i++) {
      incrs.push(r.incr("pipe:counter"));
      sets.push(r.set(`pipe:${i}`, `v${i}`));
    }
    const counts = await Promise.all(incrs);
    for (let i = 0; i < counts.length; i++) if (counts[i] !== i + 1) expect(counts[i]).toBe(i + 1);
    expect(new Set(await Promise.all(sets))).toEqual(new Set(["OK"]));
    const gets: Promise<string | null>[] = [];
    for (let i = 0; i < 5000; i++) gets.push(r.get(`pipe:${i}`));
    const values = await Promise.all(gets);
    for (let i = 0; i < values.length; i++) if (values[i] !== `v${i}`) expect(values[i]).toBe(`v${i}`);
    expect(await r.get("pipe:counter")).toBe("5000");
  });

  test("a key set with PX 100 is gone after 200 ms", async () => {
    expect(await r.set("x:short", "v", "PX", 100)).toBe("OK");
    expect(await r.get("x:short")).toBe("v");
    await Bun.sleep(200);
    expect(await r.get("x:short")).toBeNull();
    expect(await r.exists("x:short")).toBe(false);
    expect(await r.ttl("x:short")).toBe(-2);
  });

  test("the active sweep removes expired keys nobody reads (DBSIZE drops to 0)", async () => {
    await r.flushall();
    const expiredBefore = Number(/expired_keys:(\d+)/.exec(await r.info("stats"))?.[1]);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) writes.push(r.set(`sweep:${i}`, "v", "PX", 500));
    await Promise.all(writes);
    expect(await r.dbsize()).toBe(20);
    expect(await r.info("keyspace")).toContain("db0:keys=20,expires=20");
    // Only DBSIZE and INFO from here: they never touch a key, so only the sweep can delete them.
    expect(await eventually(async () => (await r.dbsize()) === 0, 5000, 50)).toBe(true);
    expect(await r.info("keyspace")).toBe("# Keyspace\r\n");
    expect(Number(/expired_keys:(\d+)/.exec(await r.info("stats"))?.[1])).toBe(expiredBefore + 20);
  });
});

describe("expiry across restarts", () => {
  const env = { ...ENV, MICRODB_APPENDFSYNC: "always" };

  async function pttlBound(c: RedisClient, key: string, setReplyAt: number): Promise<[number, number]> {
    const askedAt = Date.now();
    const pttl = await c.pttl(key);
    // The expiry was fixed no later than the SET's reply, so at most this much can be left.
    return [pttl, 100_000 - (askedAt - setReplyAt)];
  }

  test("graceful restart: a key with EX 100 keeps its (absolute) TTL; an expired key stays gone", async () => {
    const cwd = tempDir();
    try {
      let s = await startServer({ cwd, env });
      let c = bunClient(s.port);
      await c.r.set("keep", "v", "EX", 100);
      const setReplyAt = Date.now();
      await c.r.set("gone", "v", "PX", 100);
      await c.r.set("plain", "v");
      await Bun.sleep(300); // "gone" expires while the server runs
      c.close();
      expect(await s.stop()).toBe(0);

      await Bun.sleep(700); // time passes while it is down: the TTL must not restart at 100 s
      s = await startServer({ cwd, env });
      c = bunClient(s.port);
      try {
        expect(await c.r.get("keep")).toBe("v");
        const [pttl, bound] = await pttlBound(c.r, "keep", setReplyAt);
        expect(pttl).toBeGreaterThan(90_000);
        expect(pttl).toBeLessThanOrEqual(bound);
        expect(await c.r.ttl("keep")).toBeWithin(90, 100);
        expect(await c.r.get("gone")).toBeNull();
        expect(await c.r.get("plain")).toBe("v");
        expect(await c.r.ttl("plain")).toBe(-1);
        expect(await c.r.dbsize()).toBe(2);
      } finally {
        c.close();
        await s.stop();
      }
    } finally {
      cleanup(cwd);
    }
  });

  test("after SIGKILL (AOF replay): the TTL survives, a key that expired while down does not return", async () => {
    const cwd = tempDir();
    try {
      let s = await startServer({ cwd, env });
      let c = bunClient(s.port);
      await c.r.set("keep", "v", "EX", 100);
      const setReplyAt = Date.now();
      await c.r.set("soon", "v", "PX", 600);
      await c.r.set("persisted", "v", "EX", 100);
      expect(await c.r.persist("persisted")).toBe(1);
      expect(await c.r.ttl("soon")).toBeGreaterThan(-1);
      c.close();
      await s.kill();

      await Bun.sleep(800); // "soon" expires while the server is down
      s = await startServer({ cwd, env });
      c = bunClient(s.port);
      try {
        const [pttl, bound] = await pttlBound(c.r, "keep", setReplyAt);
        expect(pttl).toBeGreaterThan(90_000);
        expect(pttl).toBeLessThanOrEqual(bound);
        expect(await c.r.get("soon")).toBeNull();
        expect(await c.r.exists("soon")).toBe(false);
        expect(await c.r.ttl("persisted")).toBe(-1);
        expect((await c.r.keys("*")).sort()).toEqual(["keep", "persisted"]);
      } finally {
        c.close();
        await s.stop();
      }
    } finally {
      cleanup(cwd);
    }
  });
});

describe("AUTH with requirepass", () => {
  const PASS = "s3cret pass";
  let authServer: RunningServer;

  beforeAll(async () => {
    authServer = await startServer({ env: { ...ENV, MICRODB_REQUIREPASS: PASS } });
  });
  afterAll(async () => {
    await authServer.stop();
    cleanup(authServer.cwd);
  });

  test("before AUTH: NOAUTH; a wrong password: WRONGPASS; the right one works", async () => {
    const c = await RespConn.open(authServer.port);
    try {
      expect(errText(await c.call("GET", "k"))).toBe("NOAUTH Authentication required.");
      expect(errText(await c.call("SET", "k", "v"))).toBe("NOAUTH Authentication required.");
      expect(errText(await c.call("PING"))).toBe("NOAUTH Authentication required.");
      expect(errText(await c.call("nosuch"))).toBe("ERR unknown command 'nosuch', with args beginning with: ");
      expect(errText(await c.call("AUTH", "wrong"))).toBe("WRONGPASS invalid username-password pair or user is disabled.");
      expect(errText(await c.call("AUTH", "someone", PASS))).toBe("WRONGPASS invalid username-password pair or user is disabled.");
      expect(errText(await c.call("AUTH", "a", "b", "c"))).toBe("ERR syntax error");
      expect(errText(await c.call("GET", "k"))).toBe("NOAUTH Authentication required.");
      expect(errText(await c.call("HELLO", "2"))).toStartWith("NOAUTH HELLO must be called with the client already authenticated");
      expect(await c.call("AUTH", PASS)).toBe("OK");
      expect(await c.call("SET", "k", "v")).toBe("OK");
      expect(str(await c.call("GET", "k"))).toBe("v");
    } finally {
      c.close();
    }
    const d = await RespConn.open(authServer.port);
    try {
      expect(await d.call("AUTH", "default", PASS)).toBe("OK");
      expect(str(await d.call("GET", "k"))).toBe("v");
    } finally {
      d.close();
    }
  });

  test("RedisClient with the password in the URL works; without it or with a wrong one it is refused", async () => {
    const ok = bunClient(authServer.port, `:${encodeURIComponent(PASS)}@`);
    try {
      expect(await ok.r.set("url:k", "v")).toBe("OK");
      expect(await ok.r.get("url:k")).toBe("v");
    } finally {
      ok.close();
    }
    const user = bunClient(authServer.port, `default:${encodeURIComponent(PASS)}@`);
    try {
      expect(await user.r.get("url:k")).toBe("v");
    } finally {
      user.close();
    }
    const wrong = bunClient(authServer.port, ":nope@", { autoReconnect: false });
    try {
      expect(await errorOf(wrong.r.get("url:k"))).toBe("WRONGPASS invalid username-password pair or user is disabled.");
    } finally {
      wrong.close();
    }
    const none = bunClient(authServer.port, "", { autoReconnect: false });
    try {
      expect(await errorOf(none.r.get("url:k"))).toStartWith("NOAUTH HELLO must be called with the client already authenticated");
    } finally {
      none.close();
    }
  });

  test("QUIT is allowed before AUTH and closes the connection", async () => {
    const c = await RespConn.open(authServer.port);
    expect(await c.call("QUIT")).toBe("OK");
    await c.closed;
    expect(c.isClosed).toBe(true);
  });
});

describe("QUIT", () => {
  test("the server replies +OK and closes the connection (raw client)", async () => {
    const c = await RespConn.open(server.port);
    expect(await c.call("PING")).toBe("PONG");
    expect(await c.call("QUIT")).toBe("OK");
    const closed = await Promise.race([c.closed.then(() => true), Bun.sleep(2000).then(() => false)]);
    expect(closed).toBe(true);
  });

  test("RedisClient: QUIT resolves OK and the client sees the server close", async () => {
    const q = bunClient(server.port, "", { autoReconnect: false });
    let closedBy: Error | null = null;
    q.r.onclose = (e) => {
      closedBy = e;
    };
    try {
      const id = await q.r.client("ID");
      expect(await q.r.send("QUIT", [])).toBe("OK");
      expect(await eventually(() => closedBy !== null, 2000)).toBe(true);
      expect(q.r.connected).toBe(false);
      // The server dropped that connection (its close may trail the client's by a moment).
      const gone = async () => !clientList(await r.client("LIST")).some((c) => c.get("id") === String(id));
      expect(await eventually(gone, 2000)).toBe(true);
    } finally {
      q.close();
    }
  });
});

describe("wire bytes on a raw socket", () => {
  test("an array PING and an inline PING both get exactly +PONG", async () => {
    const a = await rawExchange(server.port, ["*1\r\n$4\r\nPING\r\n"], { expect: (t) => t.length >= 7 });
    expect(a.text).toBe("+PONG\r\n");
    const b = await rawExchange(server.port, ["PING\r\n"], { expect: (t) => t.length >= 7 });
    expect(b.text).toBe("+PONG\r\n");
    const c = await rawExchange(server.port, ["ping\n"], { expect: (t) => t.length >= 7 }); // LF alone ends a line too
    expect(c.text).toBe("+PONG\r\n");
  });

  test("inline commands take quotes and escapes like redis-cli's", async () => {
    const done = (t: string) => t.endsWith("$6\r\nc\r\nd\"e\r\n");
    const x = await rawExchange(server.port, ['SET "wire key" "c\\r\\nd\\"e"\r\nGET \'wire key\'\r\n'], { expect: done });
    expect(x.text).toBe("+OK\r\n$6\r\nc\r\nd\"e\r\n");
  });

  test("a bulk length over max_value_size: the protocol error, then the server closes", async () => {
    const x = await rawExchange(server.port, [`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${MAX_VALUE + 1}\r\n`], { timeoutMs: 3000 });
    expect(x.text).toBe("-ERR Protocol error: invalid bulk length\r\n");
    expect(x.closed).toBe(true);
  });

  test("other framing errors also close: multibulk length, '$' expected, unbalanced quotes", async () => {
    const a = await rawExchange(server.port, ["*99999999\r\n"], { timeoutMs: 3000 });
    expect(a).toEqual({ text: "-ERR Protocol error: invalid multibulk length\r\n", closed: true });
    const b = await rawExchange(server.port, ["*1\r\n+PING\r\n"], { timeoutMs: 3000 });
    expect(b).toEqual({ text: "-ERR Protocol error: expected '$', got '+'\r\n", closed: true });
    const c = await rawExchange(server.port, ["PING\r\nSET \"open\r\nPING\r\n"], { timeoutMs: 3000 });
    expect(c).toEqual({ text: "+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n", closed: true });
  });

  /** Mixed inline and array requests, and the exact replies they must produce, in order. */
  function mixedPipeline(tag: string): { request: string; reply: string } {
    const k = `mix:${tag}`;
    const n = `cnt:${tag}`;
    const request =
      "PING\r\n" +
      `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$5\r\nhello\r\n` +
      "\r\n" + // an empty inline line: skipped without a reply
      "ECHO hi\r\n" +
      `*2\r\n$3\r\nGET\r\n$${k.length}\r\n${k}\r\n` +
      `*2\r\n$4\r\nINCR\r\n$${n.length}\r\n${n}\r\n` +
      `INCR ${n}\r\n` +
      "*0\r\n" + // an empty array: skipped too
      `*3\r\n$6\r\nAPPEND\r\n$${k.length}\r\n${k}\r\n$2\r\n\r\n\r\n` +
      `GET ${k}\r\n` +
      "*1\r\n$4\r\nPING\r\n";
    const reply = "+PONG\r\n+OK\r\n$2\r\nhi\r\n$5\r\nhello\r\n:1\r\n:2\r\n:7\r\n$7\r\nhello\r\n\r\n+PONG\r\n";
    return { request, reply };
  }

  test("pipelined inline and array commands split at odd byte boundaries reply in order", async () => {
    // One connection, chunks of 1, 2, 3, 5, 7, 11 bytes, each arriving as its own read.
    const { request, reply } = mixedPipeline("odd");
    const sizes = [1, 2, 3, 5, 7, 11];
    const chunks: string[] = [];
    for (let at = 0, i = 0; at < request.length; i++) {
      const n = sizes[i % sizes.length]!;
      chunks.push(request.slice(at, at + n));
      at += n;
    }
    const x = await rawExchange(server.port, chunks, { gapMs: 2, expect: (t) => t.length >= reply.length, timeoutMs: 5000, settleMs: 50 });
    expect(x.text).toBe(reply);
    expect(x.closed).toBe(false);
  });

  test("the same pipeline split in two at every byte position replies in order", async () => {
    const probe = mixedPipeline("probe");
    const positions = Array.from({ length: probe.request.length - 1 }, (_, i) => i + 1);
    const results = await Promise.all(positions.map(async (at) => {
      const { request, reply } = mixedPipeline(`split${at}`);
      // Tags differ in length, so cut at the same share of the request rather than the same byte.
      const cut = Math.round((at / probe.request.length) * request.length);
      const x = await rawExchange(server.port, [request.slice(0, cut), request.slice(cut)], {
        gapMs: 5, expect: (t) => t.length >= reply.length, timeoutMs: 5000,
      });
      return { cut, ok: x.text === reply, text: x.text, reply };
    }));
    const bad = results.filter((x) => !x.ok);
    expect(bad).toEqual([]);
  });

  test("10,000 commands written at once come back as 10,000 replies in order", async () => {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 5000; i++) {
      parts.push(encodeCommand(["INCR", "raw:counter"]));
      parts.push(encodeCommand(["ECHO", `e${i}`]));
    }
    const x = await rawExchange(server.port, [Buffer.concat(parts)], { expect: (t) => t.endsWith("$5\r\ne4999\r\n"), timeoutMs: 10_000, settleMs: 50 });
    expect(x.closed).toBe(false);
    const bytes = Buffer.from(x.text, "latin1");
    const got: RespValue[] = [];
    let pos = 0;
    for (let p = parseReply(bytes, pos); p !== null; p = parseReply(bytes, pos)) {
      got.push(p[0]);
      pos = p[1];
    }
    expect(pos).toBe(bytes.length);
    expect(got.length).toBe(10_000);
    for (let i = 0; i < 5000; i++) {
      if (got[2 * i] !== i + 1) expect(got[2 * i]).toBe(i + 1);
      const e = got[2 * i + 1];
      if (!(e instanceof Uint8Array) || latin1(e) !== `e${i}`) expect(str(e ?? null)).toBe(`e${i}`);
    }
  });
});

describe("INFO and CLIENT SETINFO details", () => {
  test("INFO with several sections returns each of them; CLIENT SETINFO refuses spaces", async () => {
    const c = await RespConn.open(server.port);
    const info = str(await c.call("INFO", "server", "keyspace", "nosuch"));
    expect(info).toContain("# Server");
    expect(info).toContain("# Keyspace");
    expect(info).not.toContain("# Clients");
    const refused = await c.call("CLIENT", "SETINFO", "lib-name", "a b");
    expect(refused).toBeInstanceOf(RespError);
    expect((refused as RespError).message).toBe("ERR lib-name cannot contain spaces, newlines or special characters.");
    expect(await c.call("CLIENT", "SETINFO", "lib-name", "ab")).toBe("OK");
    c.close();
  });
});
