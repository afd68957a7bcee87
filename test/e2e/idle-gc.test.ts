// E2e: after a burst of more than 64 MiB of input the compiled server runs one full collection once
// it goes quiet (INFO memory idle_collections), and none while the input is small; a replica counts
// its stream from the master as input.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../../src/client/client.ts";
import { startServer, waitFor, type RunningServer } from "./harness.ts";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" } });
});
afterAll(async () => {
  await server.stop();
});

const idleCollections = (info: string) => Number(/idle_collections:(\d+)/.exec(info)?.[1]);

test("one full collection when the server goes quiet after 70 MiB of input", async () => {
  const c = await connect("127.0.0.1", server.port);
  const value = new Uint8Array(1024 * 1024).fill(120);
  await c.set("small", "x");
  await Bun.sleep(300); // quiet, but far under the threshold
  expect(idleCollections(await c.info("memory"))).toBe(0);
  for (let i = 0; i < 70; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, j) => c.set(`big:${i + j}`, value)));
  }
  await waitFor("an idle collection", async () => idleCollections(await c.info("memory")) >= 1, 3000);
  await Bun.sleep(300); // still quiet: no second one
  expect(idleCollections(await c.info("memory"))).toBe(1);
  c.close();
}, 30_000);

test("a replica counts its stream from the master: one idle collection after 70 MiB of it", async () => {
  const quiet = { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };
  const m = await startServer({ env: quiet });
  const r = await startServer({ env: { ...quiet, MICRODB_ROLE: "slave", MICRODB_MASTER_ADDR: `127.0.0.1:${m.port}` } });
  const mc = await connect("127.0.0.1", m.port);
  const rc = await connect("127.0.0.1", r.port);
  try {
    await waitFor("the replica's link", async () => /master_link_status:up/.test(await rc.info("replication")));
    const value = new Uint8Array(1024 * 1024).fill(121);
    for (let i = 0; i < 70; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => mc.set(`big:${i + j}`, value)));
    }
    // The replica's own clients sent it almost nothing: only the stream can add up to 64 MiB.
    await waitFor("an idle collection on the replica", async () => idleCollections(await rc.info("memory")) >= 1, 5000);
  } finally {
    mc.close();
    rc.close();
    await r.stop();
    await m.stop();
  }
}, 30_000);
