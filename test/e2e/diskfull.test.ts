// E2e: a full disk is never ignored. On a small tmpfs the AOF write fails: the write whose batch
// failed is not acknowledged (appendfsync=always), later writes get MISCONF, reads keep working,
// and once space is freed the held write completes and writes are accepted again — and survive.
// Needs root to mount a tmpfs (CI runs as root); elsewhere it reports itself skipped.

import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, ServerError } from "../../src/client/client.ts";
import { ErrorCode } from "../../src/protocol/binary.ts";
import { cleanup, startServer, tempDir } from "./harness.ts";

const dir = tempDir();
const data = join(dir, "data");
mkdirSync(data);
const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", data]).exitCode === 0;
if (!mounted) console.warn("diskfull.test.ts skipped: mounting a tmpfs needs root (CI runs as root)");

afterAll(() => {
  if (mounted) Bun.spawnSync(["umount", "-l", data]);
  cleanup(dir);
});

test.skipIf(!mounted)("disk full: writes held, then refused with MISCONF; reads work; recovery when space returns", async () => {
  const env = { MICRODB_APPENDFSYNC: "always", MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0" };
  // Leave about 100 KiB free.
  writeFileSync(join(data, "filler"), new Uint8Array(1024 * 1024 - 100 * 1024));
  let s = await startServer({ cwd: dir, env });
  const c = await connect("127.0.0.1", s.port);
  await c.set("small", "fits");
  let answered = false;
  const big = new Uint8Array(200 * 1024).fill(0x62);
  const held = c.set("big", big).then(() => (answered = true));
  await Bun.sleep(300);
  expect(answered).toBe(false); // not acknowledged: it is not on disk

  const other = await connect("127.0.0.1", s.port);
  expect(await other.getString("small")).toBe("fits");
  const refused = await other.set("another", "x").then(() => null, (e: unknown) => e);
  expect(refused).toBeInstanceOf(ServerError);
  expect((refused as ServerError).code).toBe(ErrorCode.MISCONF);
  expect((refused as ServerError).message).toMatch(/^MISCONF Errors writing to the AOF file: write to appendonly.aof failed: .*(ENOSPC|space)/i);
  expect(s.output()).toMatch(/AOF: write to appendonly.aof failed: .*; writes are refused until it can be written again/);

  // A snapshot would claim a log position the failing AOF cannot make durable: refused, not half-made.
  const save = await other.save().then(() => null, (e: unknown) => e);
  expect(save).toBeInstanceOf(ServerError);
  expect((save as ServerError).code).toBe(ErrorCode.SAVE_FAILED);
  expect((save as ServerError).message).toContain("the AOF is failing");

  rmSync(join(data, "filler"));
  await held; // the retry wrote it, fsynced it, and only then answered
  expect(answered).toBe(true);
  await other.set("another", "accepted again");
  expect(s.output()).toContain("AOF: writing works again");
  await other.save(); // and snapshots work again, cutting the log
  c.close();
  other.close();
  await s.kill();

  s = await startServer({ cwd: dir, env });
  const again = await connect("127.0.0.1", s.port);
  expect((await again.get("big"))?.length).toBe(big.length);
  expect(await again.getString("another")).toBe("accepted again");
  again.close();
  await s.stop();
}, 20_000);
