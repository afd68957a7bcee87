// E2e: busy_poll_us on the compiled server. Requests that come back within the window are found by
// the polling loop (INFO stats busy_poll_hits), the loop really spins between them (the server's
// CPU time while a client sends a request every 3 ms), none of it happens with 0, and polling ends
// once the client stops: an idle server does not keep burning its core. Confined to one CPU
// (taskset, from util-linux), the server defaults to no polling.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect, type Client } from "../../src/client/client.ts";
import { startServer, type RunningServer } from "./harness.ts";

const TASKSET = Bun.which("taskset");

const field = (info: string, name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)?.[1]);

/** CPU time (user + system) of a process so far, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** The server's CPU ticks while `c` sends 100 SETs 3 ms apart (about 0.4 s). */
async function ticksWhilePaced(pid: number, c: Client): Promise<number> {
  const before = cpuTicks(pid);
  for (let i = 0; i < 100; i++) {
    await c.set(`paced${i}`, "v");
    await Bun.sleep(3);
  }
  return cpuTicks(pid) - before;
}

/** Starts a server with `env`, connects, sends 50 SETs back to back, and hands over INFO after them. */
async function withServer(
  env: Record<string, string>,
  fn: (s: RunningServer, c: Client, info: string) => Promise<void>,
  wrapper?: string[],
): Promise<void> {
  const server = await startServer({ env, wrapper });
  const c = await connect("127.0.0.1", server.port);
  try {
    for (let i = 0; i < 50; i++) await c.set(`k${i}`, "v");
    await fn(server, c, await c.info());
  } finally {
    c.close();
    await server.stop();
  }
}

test("with a 10 ms window, requests find the loop polling, it spins between them, and stops when idle", async () => {
  await withServer({ MICRODB_BUSY_POLL_US: "10000" }, async (server, c, info) => {
    expect(field(info, "busy_poll_us")).toBe(10000);
    // Each SET is sent right after the previous reply: far inside 10 ms, even on a loaded machine.
    expect(field(info, "busy_poll_hits")).toBeGreaterThanOrEqual(25);

    // Gaps of 3 ms inside a 10 ms window: the loop never sleeps, ~40 ticks if it has a core;
    // a loop that slept between requests would use 1 or 2.
    expect(await ticksWhilePaced(server.pid, c)).toBeGreaterThanOrEqual(10);

    await Bun.sleep(100); // past the window
    const before = cpuTicks(server.pid);
    await Bun.sleep(1000);
    // A loop still polling would use ~100 ticks (a whole core for 1 s); idle, it is ~0.
    expect(cpuTicks(server.pid) - before).toBeLessThan(30);
  });
}, 20_000);

test("busy_poll_us 0 never polls", async () => {
  await withServer({ MICRODB_BUSY_POLL_US: "0" }, async (server, c, info) => {
    expect(field(info, "busy_poll_us")).toBe(0);
    expect(field(info, "busy_poll_hits")).toBe(0);
    expect(await ticksWhilePaced(server.pid, c)).toBeLessThan(10);
  });
}, 20_000);

test.skipIf(TASKSET === null)("on one CPU the default is 0 (needs taskset, Debian package util-linux)", async () => {
  await withServer({}, async (_s, _c, info) => expect(field(info, "busy_poll_us")).toBe(0), [TASKSET!, "-c", "0"]);
  // The same binary without the affinity mask, on this machine's cores.
  const expected = navigator.hardwareConcurrency > 1 ? 50 : 0;
  await withServer({}, async (_s, _c, info) => expect(field(info, "busy_poll_us")).toBe(expected));
}, 20_000);
