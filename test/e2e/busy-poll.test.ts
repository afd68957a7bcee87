// E2e: busy_poll_us on the compiled server. Requests that come back within the window find the
// loop polling (INFO stats busy_poll_hits), none do with 0, and polling ends once the client stops:
// an idle server does not keep burning its core.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "../../src/client/client.ts";
import { startServer } from "./harness.ts";

const field = (info: string, name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)?.[1]);

/** CPU time (user + system) of a process so far, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

test("with a 10 ms window, back-to-back requests find the loop polling, and an idle server stops", async () => {
  const server = await startServer({ env: { MICRODB_BUSY_POLL_US: "10000" } });
  const c = await connect("127.0.0.1", server.port);
  try {
    for (let i = 0; i < 50; i++) await c.set(`k${i}`, "v");
    const info = await c.info();
    expect(field(info, "busy_poll_us")).toBe(10000);
    // Each SET is sent right after the previous reply: far inside 10 ms, even on a loaded machine.
    expect(field(info, "busy_poll_hits")).toBeGreaterThanOrEqual(25);

    await Bun.sleep(100); // past the window
    const before = cpuTicks(server.pid);
    await Bun.sleep(1000);
    // A loop still polling would use ~100 ticks (a whole core for 1 s); idle, it is ~0.
    expect(cpuTicks(server.pid) - before).toBeLessThan(30);
  } finally {
    c.close();
    await server.stop();
  }
}, 20_000);

test("busy_poll_us 0 never polls", async () => {
  const server = await startServer({ env: { MICRODB_BUSY_POLL_US: "0" } });
  const c = await connect("127.0.0.1", server.port);
  try {
    for (let i = 0; i < 50; i++) await c.set(`k${i}`, "v");
    const info = await c.info();
    expect(field(info, "busy_poll_us")).toBe(0);
    expect(field(info, "busy_poll_hits")).toBe(0);
  } finally {
    c.close();
    await server.stop();
  }
}, 20_000);
