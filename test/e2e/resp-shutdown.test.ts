// E2e: the SHUTDOWN command over RESP — SAVE writes a final snapshot, NOSAVE does not; both exit 0.

import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RespConn } from "./resp-helpers.ts";
import { cleanup, startServer } from "./harness.ts";

for (const mode of ["SAVE", "NOSAVE"] as const) {
  test(`SHUTDOWN ${mode} stops the server with exit 0${mode === "SAVE" ? " after a final snapshot" : " without one"}`, async () => {
    const env = { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };
    const s = await startServer({ env });
    const c = await RespConn.open(s.port);
    await c.call("SET", "k", "v");
    void c.call("SHUTDOWN", mode).catch(() => {}); // no reply: the connection closes as the server exits
    expect(await s.proc.exited).toBe(0);
    expect(existsSync(join(s.cwd, "data", "dump.rdb"))).toBe(mode === "SAVE");
    expect(s.output()).toContain("SHUTDOWN command: shutting down");
    cleanup(s.cwd);
  });
}
