// E2e: the command-line client (`./client` and `./microdb client`) against the compiled server.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Client } from "../../src/client/client.ts";
import { BINARY, CLIENT_LINK, probeFreePort, run, startServer, type RunningServer } from "./harness.ts";

let server: RunningServer;
let addr: string;
let lib: Client;

beforeAll(async () => {
  server = await startServer();
  addr = `127.0.0.1:${server.port}`;
  lib = await connect("127.0.0.1", server.port);
});
afterAll(async () => {
  lib.close();
  await server.stop();
});

describe("microdb client", () => {
  test("./client set, get, delete print like redis-cli", async () => {
    expect(await run([CLIENT_LINK, addr, "set", "foo", "bar"])).toMatchObject({ code: 0, out: "OK\n" });
    expect(await run([CLIENT_LINK, addr, "get", "foo"])).toMatchObject({ code: 0, out: '"bar"\n' });
    expect(await run([CLIENT_LINK, addr, "exists", "foo"])).toMatchObject({ code: 0, out: "(integer) 1\n" });
    expect(await run([CLIENT_LINK, addr, "delete", "foo"])).toMatchObject({ code: 0, out: "(integer) 1\n" });
    expect(await run([CLIENT_LINK, addr, "delete", "foo"])).toMatchObject({ code: 0, out: "(integer) 0\n" });
    expect(await run([CLIENT_LINK, addr, "get", "foo"])).toMatchObject({ code: 0, out: "(nil)\n" });
    expect(await run([CLIENT_LINK, addr, "ping"])).toMatchObject({ code: 0, out: "PONG\n" });
  });

  test("`microdb client` is the same client; the library sees what it stored", async () => {
    expect(await run([BINARY, "client", addr, "set", "k1", "hello world"])).toMatchObject({ code: 0, out: "OK\n" });
    expect(await lib.getString("k1")).toBe("hello world");
    await lib.set("k2", 'quote " and \\ and \n');
    expect((await run([BINARY, "client", addr, "get", "k2"])).out).toBe('"quote \\" and \\\\ and \\n"\n');
    expect((await run([BINARY, "client", addr, "dbsize"])).out).toMatch(/^\(integer\) \d+\n$/);
  });

  test("arguments may hold any bytes (not UTF-8): distinct keys stay distinct", async () => {
    // bash's $'..' passes raw bytes that are invalid UTF-8; process.argv alone would turn both into U+FFFD.
    const sh = (script: string) => run(["bash", "-c", script]);
    expect((await sh(`"${CLIENT_LINK}" ${addr} set $'\\xff' $'\\x80\\xfe\\x01'`)).out).toBe("OK\n");
    expect((await sh(`"${CLIENT_LINK}" ${addr} set $'\\xfe' other`)).out).toBe("OK\n");
    expect(await lib.get(new Uint8Array([0xff]))).toEqual(new Uint8Array([0x80, 0xfe, 0x01]));
    expect(await lib.getString(new Uint8Array([0xfe]))).toBe("other");
    expect((await sh(`"${CLIENT_LINK}" ${addr} get $'\\xff'`)).out).toBe('"\\x80\\xfe\\x01"\n');
    const rawOut = await sh(`"${CLIENT_LINK}" --raw ${addr} get $'\\xff'`);
    expect(rawOut.stdout).toEqual(new Uint8Array([0x80, 0xfe, 0x01, 0x0a]));
  });

  test("an error reply prints (error) and exits 1", async () => {
    await lib.set("notnum", "abc");
    const r = await run([CLIENT_LINK, addr, "incr", "notnum"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("(error) ERR value is not an integer or out of range\n");
    expect(await run([CLIENT_LINK, addr, "nosuch", "a"])).toMatchObject({
      code: 1, out: "(error) ERR unknown command 'nosuch', with args beginning with: 'a' \n",
    });
    expect(await run([CLIENT_LINK, addr, "get"])).toMatchObject({ code: 1, out: "(error) ERR wrong number of arguments for 'get' command\n" });
  });

  test("any command works, arrays print numbered like redis-cli", async () => {
    expect((await run([CLIENT_LINK, addr, "mset", "m1", "x", "m2", "y"])).out).toBe("OK\n");
    expect((await run([CLIENT_LINK, addr, "mget", "m1", "nokey", "m2"])).out).toBe('1) "x"\n2) (nil)\n3) "y"\n');
    expect((await run([CLIENT_LINK, addr, "incrby", "counter", "5"])).out).toBe("(integer) 5\n");
    expect((await run([CLIENT_LINK, addr, "keys", "nomatch*"])).out).toBe("(empty array)\n");
    expect((await run([CLIENT_LINK, addr, "type", "m1"])).out).toBe("string\n");
  });

  test("a key over 255 bytes is refused with exit 1", async () => {
    const r = await run([CLIENT_LINK, addr, "set", "k".repeat(256), "v"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("(error) ERR key is 256 bytes; keys must be 1..255 bytes\n");
    expect((await run([CLIENT_LINK, addr, "set", "k".repeat(255), "v"])).out).toBe("OK\n");
  });

  test("a refused connection says so and exits 1", async () => {
    const port = probeFreePort();
    const r = await run([CLIENT_LINK, `127.0.0.1:${port}`, "get", "foo"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: cannot connect to 127.0.0.1:${port}: connection refused\n`);
  });

  test("bad usage exits 1 with the usage text", async () => {
    for (const args of [[addr], [], ["nohostport", "get", "x"]]) {
      const r = await run([CLIENT_LINK, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("usage: microdb client");
    }
  });

  test("info prints the server's sections", async () => {
    const r = await run([CLIENT_LINK, addr, "info"]);
    expect(r.code).toBe(0);
    for (const s of ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"]) expect(r.out).toContain(s);
    expect(r.out).toContain(`tcp_port:${server.port}`);
  });
});
