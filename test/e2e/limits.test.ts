// E2e: limits and hostile input against the compiled server — oversize values without memory
// growth, max_clients, refused frames that keep the connection, lost framing that closes it, and
// 10,000 random and mutated frames after which the server still answers.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, ServerError } from "../../src/client/client.ts";
import {
  ErrorCode, MAGIC, Op, REQUEST_HEADER, Status, encodeRequest, writeRequestHeader,
} from "../../src/protocol/binary.ts";
import { rawConnect } from "./raw.ts";
import { startServer, type RunningServer } from "./harness.ts";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { MICRODB_MAX_VALUE_SIZE: "64kb", MICRODB_MAX_CLIENTS: "20" } });
});
afterAll(async () => {
  await server.stop();
});

const dec = new TextDecoder();
const errorText = (payload: Uint8Array) => dec.decode(payload.subarray(2));
const errorCode = (payload: Uint8Array) => (payload[0]! << 8) | payload[1]!;
const ping = encodeRequest(Op.PING, null, null);

describe("limits", () => {
  test("a value over max_value_size is refused on its header; the body streams past without being kept", async () => {
    const conn = await rawConnect(server.port);
    conn.send(ping);
    await conn.frames(1);
    const before = server.rss();
    const claimed = 256 * 1024 * 1024;
    const header = new Uint8Array(REQUEST_HEADER + 1);
    writeRequestHeader(header, 0, Op.SET, 0, 1, claimed);
    header[REQUEST_HEADER] = 0x6b;
    conn.send(header);
    // The refusal comes before any body byte is sent: the header alone decided it.
    const [, refusal] = await conn.frames(2);
    expect(refusal!.status).toBe(Status.ERROR);
    expect(errorCode(refusal!.payload)).toBe(ErrorCode.VALUE_TOO_LARGE);
    expect(errorText(refusal!.payload)).toBe(`ERR value is ${claimed} bytes; max_value_size is 65536`);
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    for (let sent = 0; sent < claimed; sent += chunk.length) {
      conn.send(chunk);
      if (sent % (32 * chunk.length) === 0) await Bun.sleep(1);
    }
    conn.send(ping); // framing survived: the next frame is read after the skipped body
    const frames = await conn.frames(3, 20_000);
    expect(frames[2]!.status).toBe(Status.STRING);
    expect(dec.decode(frames[2]!.payload)).toBe("PONG");
    expect(server.rss() - before).toBeLessThan(claimed / 4);
    conn.close();
  }, 30_000);

  test("a header claiming a large (allowed) value costs memory only as its bytes arrive", async () => {
    const big = await startServer();
    try {
      const before = big.rss();
      const conns = await Promise.all(Array.from({ length: 8 }, () => rawConnect(big.port)));
      const header = new Uint8Array(REQUEST_HEADER + 1 + 10);
      writeRequestHeader(header, 0, Op.SET, 0, 1, 500 * 1024 * 1024);
      for (const c of conns) c.send(header);
      await Bun.sleep(300);
      // 8 x 500 MiB claimed; only a few bytes each arrived.
      expect(big.rss() - before).toBeLessThan(32 * 1024 * 1024);
      for (const c of conns) c.close();
    } finally {
      await big.stop();
    }
  });

  test("refused frames get an error and the connection goes on", async () => {
    const conn = await rawConnect(server.port);
    const unknown = new Uint8Array(REQUEST_HEADER + 3 + 4);
    writeRequestHeader(unknown, 0, 0x7f, 0, 3, 4);
    const flagged = new Uint8Array(REQUEST_HEADER + 1);
    writeRequestHeader(flagged, 0, Op.GET, 0x80, 1, 0);
    conn.send(unknown);
    conn.send(flagged);
    conn.send(encodeRequest(Op.GET, null, null)); // GET without a key
    conn.send(encodeRequest(Op.DBSIZE, new Uint8Array([1]), null)); // DBSIZE with a key
    conn.send(ping);
    const f = await conn.frames(5);
    expect(f.slice(0, 4).map((x) => errorCode(x.payload))).toEqual([
      ErrorCode.UNKNOWN_OPCODE, ErrorCode.BAD_FLAGS, ErrorCode.BAD_ARGUMENTS, ErrorCode.BAD_ARGUMENTS,
    ]);
    expect(errorText(f[0]!.payload)).toBe("ERR unknown opcode 0x7f");
    expect(errorText(f[2]!.payload)).toBe("ERR opcode 0x10 needs a key (1..255 bytes)");
    expect(dec.decode(f[4]!.payload)).toBe("PONG");
    expect(conn.isClosed).toBe(false);
    conn.close();
  });

  test("lost framing (bad magic after a frame, bad version) gets an error, then the connection closes", async () => {
    // The first byte picks the protocol, so a bad magic byte can only come after a binary frame.
    for (const [bytes, code, text, before] of [
      [new TextEncoder().encode("GET foo\r\n"), ErrorCode.BAD_MAGIC, "ERR Protocol error: bad magic byte 0x47 (expected 0xdb)", 1],
      [new Uint8Array([MAGIC, 9, Op.PING, 0, 0, 0, 0, 0, 0]), ErrorCode.BAD_VERSION, "ERR Protocol error: unsupported protocol version 9 (this server speaks 1)", 0],
    ] as const) {
      const conn = await rawConnect(server.port);
      if (before) conn.send(ping);
      conn.send(bytes);
      const f = await conn.frames(1 + before);
      expect(errorCode(f[before]!.payload)).toBe(code);
      expect(errorText(f[before]!.payload)).toBe(text);
      await conn.closed;
    }
  });

  test("max_clients: one more client gets an error and is closed; a freed slot is usable", async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect("127.0.0.1", server.port)));
    await Promise.all(clients.map((cl) => cl.ping()));
    const extra = await connect("127.0.0.1", server.port);
    const err = await extra.ping().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe(ErrorCode.MAX_CLIENTS);
    expect((err as ServerError).message).toBe("ERR max number of clients reached");
    clients.pop()!.close();
    await Bun.sleep(50);
    const again = await connect("127.0.0.1", server.port);
    expect(await again.ping()).toBe("PONG");
    again.close();
    for (const cl of clients) cl.close();
  });

  test("10,000 random and mutated frames: the server still answers PING", async () => {
    let seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const startSeed = seed;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const int = (n: number) => Math.floor(rand() * n);
    const bytes = (n: number) => new Uint8Array(n).map(() => int(256));
    const ops = [Op.PING, Op.GET, Op.SET, Op.DELETE, Op.EXISTS, Op.DBSIZE, Op.INFO];
    const frame = (): Uint8Array => {
      const kind = int(3);
      if (kind === 0) return bytes(1 + int(40)); // noise
      const f = encodeRequest(ops[int(ops.length)]!, int(4) === 0 ? null : bytes(1 + int(20)), int(2) ? bytes(int(100)) : null);
      if (kind === 2) for (let m = 1 + int(3); m > 0; m--) f[int(Math.min(f.length, 12))] = int(256); // mutate, mostly the header
      return f;
    };
    let conn = await rawConnect(server.port);
    for (let i = 0; i < 10_000; i++) {
      if (conn.isClosed || i % 50 === 0) {
        conn.close();
        conn = await rawConnect(server.port);
      }
      conn.send(frame());
      if (i % 500 === 0) await Bun.sleep(1);
    }
    conn.close();
    const c = await connect("127.0.0.1", server.port);
    expect(await c.ping()).toBe("PONG");
    await c.set("after-fuzz", "ok");
    expect(await c.getString("after-fuzz")).toBe("ok");
    c.close();
    expect(server.proc.exitCode, `fuzz seed ${startSeed}`).toBeNull();
  }, 30_000);
});
