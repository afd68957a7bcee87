// E2e: the client library against the compiled server — every method, binary safety, pipelining,
// concurrency, a 64 MiB value, timeouts and connection failures.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  ArgumentError, ConnectionError, ServerError, TimeoutError, connect, type Client,
} from "../../src/client/client.ts";
import { ErrorCode } from "../../src/protocol/binary.ts";
import { probeFreePort, startServer, type RunningServer } from "./harness.ts";

let server: RunningServer;
let c: Client;

beforeAll(async () => {
  server = await startServer();
  c = await connect("127.0.0.1", server.port);
});
afterAll(async () => {
  c.close();
  await server.stop();
});

describe("client library", () => {
  test("every method", async () => {
    expect(await c.ping()).toBe("PONG");
    expect(await c.ping("echo me")).toBe("echo me");
    expect(await c.get("missing")).toBeNull();
    await c.set("a", "1");
    expect(await c.getString("a")).toBe("1");
    expect(await c.exists("a")).toBe(true);
    expect(await c.exists("b")).toBe(false);
    expect(await c.dbsize()).toBeGreaterThanOrEqual(1);
    expect(await c.delete("a")).toBe(1);
    expect(await c.delete("a")).toBe(0);
    expect(await c.exists("a")).toBe(false);
    const info = await c.info("keyspace");
    expect(info.startsWith("# Keyspace")).toBe(true);
    expect(await c.info("bogus")).toBe(""); // Redis answers an unknown section with nothing
  });

  test("values and keys are binary-safe; an empty value is a value", async () => {
    const all = new Uint8Array(256).map((_, i) => i);
    await c.set(all.subarray(1), all);
    expect(await c.get(all.subarray(1))).toEqual(all);
    await c.set(new Uint8Array([0xc3, 0x28]), "x"); // invalid UTF-8 key
    await c.set(new Uint8Array([0xc3, 0x29]), "y");
    expect(await c.getString(new Uint8Array([0xc3, 0x28]))).toBe("x");
    expect(await c.getString(new Uint8Array([0xc3, 0x29]))).toBe("y");
    await c.set("empty", new Uint8Array(0));
    expect(await c.get("empty")).toEqual(new Uint8Array(0));
    expect(await c.exists("empty")).toBe(true);
  });

  test("a 255-byte key is accepted, a 256-byte or empty key refused before sending", async () => {
    const k255 = new Uint8Array(255).fill(0x6b);
    await c.set(k255, "v");
    expect(await c.getString(k255)).toBe("v");
    await expect(c.set(new Uint8Array(256), "v")).rejects.toBeInstanceOf(ArgumentError);
    await expect(c.get("")).rejects.toBeInstanceOf(ArgumentError);
    expect(await c.ping()).toBe("PONG"); // the connection is unharmed
  });

  test("10,000 pipelined requests on one connection, replies in order", async () => {
    const sets: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i++) sets.push(c.set(`p:${i}`, `v${i}`));
    await Promise.all(sets);
    const gets: Promise<string | null>[] = [];
    for (let i = 0; i < 10_000; i++) gets.push(c.getString(`p:${i}`));
    const values = await Promise.all(gets);
    for (let i = 0; i < 10_000; i++) expect(values[i]).toBe(`v${i}`);
  });

  test("100 simultaneous clients each doing 100 set/get pairs: no lost or crossed replies", async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => connect("127.0.0.1", server.port)));
    const work = clients.map(async (cl, n) => {
      const results: Promise<unknown>[] = [];
      for (let i = 0; i < 100; i++) {
        const key = `c${n}:k${i}`;
        results.push(cl.set(key, `${n}/${i}`));
        results.push(cl.getString(key).then((v) => expect(v).toBe(`${n}/${i}`)));
      }
      await Promise.all(results);
    });
    await Promise.all(work);
    for (const cl of clients) cl.close();
    expect(await c.getString("c99:k99")).toBe("99/99");
  }, 30_000);

  test("a 64 MiB value round trip", async () => {
    const big = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    big[big.length - 1] = 0x7f;
    await c.set("big", big);
    const back = await c.get("big");
    expect(back?.length).toBe(big.length);
    expect(Bun.hash.crc32(back!)).toBe(Bun.hash.crc32(big));
    expect(await c.delete("big")).toBe(1);
  }, 30_000);

  test("a refused connection is a ConnectionError", async () => {
    const port = probeFreePort();
    await expect(connect("127.0.0.1", port)).rejects.toBeInstanceOf(ConnectionError);
  });

  test("a server that never answers gives TimeoutError, and later calls fail cleanly", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const cl = await connect("127.0.0.1", silent.port, { timeoutMs: 200 });
      await expect(cl.get("x")).rejects.toBeInstanceOf(TimeoutError);
      await expect(cl.get("x")).rejects.toBeInstanceOf(TimeoutError);
    } finally {
      silent.stop(true);
    }
  });

  test("a connection reset fails every call in flight with ConnectionError", async () => {
    const rude = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(s) { s.end(); } } });
    try {
      const cl = await connect("127.0.0.1", rude.port);
      const settled = await Promise.allSettled([cl.get("a"), cl.get("b"), cl.set("c", "d")]);
      for (const r of settled) {
        expect(r.status).toBe("rejected");
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionError);
      }
    } finally {
      rude.stop(true);
    }
  });

  test("error replies are ServerError with a code", async () => {
    const err = await c.call(0x7f, null, null).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe(ErrorCode.UNKNOWN_OPCODE);
    expect((err as ServerError).message).toBe("ERR unknown opcode 0x7f");
    expect(await c.ping()).toBe("PONG");
  });
});
