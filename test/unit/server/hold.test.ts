// No reply shows a write that a crash could still take back from the OS's view: a read on another
// connection, made while that write's record is held in this process (behind a running fsync),
// waits until the record is written (everysec) or fsynced (always). Server.holdAfter.

import { RedisClient } from "bun";
import { afterEach, expect, test } from "bun:test";
import { defaultConfig } from "../../../src/config.ts";
import type { Aof } from "../../../src/persistence/aof.ts";
import { Server } from "../../../src/server/server.ts";
import { gateSyncs, type SyncGate } from "../../support/gate-syncs.ts";
import { tempDir } from "../../support/temp-dir.ts";

const servers: Server[] = [];
const clients: RedisClient[] = [];
const gates: SyncGate[] = [];

afterEach(async () => {
  for (const g of gates.splice(0)) g.open();
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.shutdown("test over", false);
});

async function start(appendfsync: "everysec" | "always") {
  const server = new Server({ ...defaultConfig(), source: null, bind: "127.0.0.1", port: 0, data_dir: tempDir(), appendfsync, busy_poll_us: 0 });
  server.start();
  servers.push(server);
  // The server's log (private: a test reaches in to hold its fsyncs).
  const aof = (server as unknown as { aof: Aof }).aof;
  const connect = async () => {
    const c = new RedisClient(`redis://127.0.0.1:${server.port}`);
    clients.push(c);
    await c.connect();
    return c;
  };
  const gate = gateSyncs(aof);
  gates.push(gate);
  return { server, aof, gate, writer: await connect(), reader: await connect() };
}

/** Resolves once the server has run `n` more commands than `from`. */
async function processed(server: Server, from: number, n: number): Promise<void> {
  while (server.stats.commandsProcessed < from + n) await Bun.sleep(1);
}

/**
 * With SET k v2 sent (`set`, the server's count of commands `base` before it) and its record
 * ending at `setEnd` held back, a GET of k from the other client: no reply while the gate holds
 * the fsync, then v2, and `position()` (how far the log has gone) at setEnd or past it when the
 * reply arrives.
 */
async function expectGetWaitsForGate(
  w: Awaited<ReturnType<typeof start>>, set: Promise<string>, base: number, setEnd: number, position: () => number,
): Promise<void> {
  let atReply = -1;
  const get = w.reader.get("k").then((v) => {
    atReply = position();
    return v;
  });
  await processed(w.server, base, 2);
  await Bun.sleep(20);
  expect(atReply).toBe(-1); // no reply yet: v2 is only in the server's memory (or not fsynced)
  w.gate.release();
  expect(await get).toBe("v2");
  expect(atReply).toBeGreaterThanOrEqual(setEnd);
  expect(await set).toBe("OK");
}

test("everysec: a GET of a key whose SET is held behind an fsync answers only once that SET is written", async () => {
  const w = await start("everysec");
  const { server, aof, gate, writer } = w;
  aof.holdMs = 60_000; // the hold lasts until the gate lets the fsync go, however slow the machine
  await writer.set("k", "v1");
  void aof.syncWritten(); // the once-a-second fsync, held open by the gate
  expect(gate.waiting()).toBe(1);

  const base = server.stats.commandsProcessed;
  const set = writer.set("k", "v2");
  await processed(server, base, 1);
  const setEnd = aof.position;
  expect(aof.writtenPosition).toBeLessThan(setEnd); // held, not written
  await expectGetWaitsForGate(w, set, base, setEnd, () => aof.writtenPosition);
});

test("always: a GET of a key whose SET is not fsynced yet answers only once that SET is durable", async () => {
  const w = await start("always");
  const { server, aof, gate, writer } = w;
  const first = writer.set("k", "v1");
  while (gate.waiting() === 0) await Bun.sleep(1);
  gate.release();
  await first;

  const base = server.stats.commandsProcessed;
  const set = writer.set("k", "v2");
  while (gate.waiting() === 0) await Bun.sleep(1); // v2 written, its fsync held
  const setEnd = aof.position;
  await expectGetWaitsForGate(w, set, base, setEnd, () => aof.durable);
});
