// Group commit in the append-only file: under `always`, records of ticks that end while an fsync
// runs are held and written as one batch just before the next fsync; other policies write every tick.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AOF_FILE, AOF_HEADER, Aof, type AofStart } from "../../../src/persistence/aof.ts";
import { recordSize } from "../../../src/persistence/record.ts";
import { Op } from "../../../src/protocol/binary.ts";

const FRESH: AofStart = { file: AOF_FILE, base: 0, size: 0, exists: false };
const VALUE = new Uint8Array([1, 2, 3]);
const ONE = recordSize(2, VALUE.length);

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "microdb-aof-"));
  roots.push(d);
  return d;
}

function fileBytes(dir: string): number {
  return statSync(join(dir, AOF_FILE)).size - AOF_HEADER;
}

test("always: ticks that end during an fsync are written together before the next fsync", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  aof.append(Op.SET, "k1", VALUE);
  aof.endOfTick(); // written, fsync started
  expect(fileBytes(dir)).toBe(ONE);
  // The fsync's callback cannot run before this synchronous code yields, so it is still running.
  aof.append(Op.SET, "k2", VALUE);
  aof.endOfTick();
  aof.append(Op.SET, "k3", VALUE);
  aof.endOfTick();
  expect(fileBytes(dir)).toBe(ONE);
  expect(aof.writtenPosition).toBe(ONE);

  await aof.waitDurable(3 * ONE);
  expect(fileBytes(dir)).toBe(3 * ONE);
  expect(aof.durable).toBe(3 * ONE);
  await aof.close();
});

test("always: the held batch is written and its fsync started before the replies of the last one go", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  aof.append(Op.SET, "k1", VALUE);
  aof.endOfTick();
  aof.append(Op.SET, "k2", VALUE);
  aof.endOfTick();
  let seenAtReply = -1;
  const first = new Promise<void>((done) =>
    aof.whenDurable(ONE, () => {
      seenAtReply = fileBytes(dir);
      done();
    }),
  );
  await first;
  expect(seenAtReply).toBe(2 * ONE);
  await aof.waitDurable(2 * ONE);
  await aof.close();
});

test("always: close writes and fsyncs records held behind a running fsync", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "always", FRESH);
  aof.append(Op.SET, "k1", VALUE);
  aof.endOfTick();
  aof.append(Op.SET, "k2", VALUE);
  aof.endOfTick();
  await aof.close();
  expect(fileBytes(dir)).toBe(2 * ONE);
  expect(aof.durable).toBe(2 * ONE);
});

test("everysec: every tick's batch is written at the end of its tick", async () => {
  const dir = tempDir();
  const aof = new Aof(dir, "everysec", FRESH);
  aof.append(Op.SET, "k1", VALUE);
  aof.endOfTick();
  aof.append(Op.SET, "k2", VALUE);
  aof.endOfTick();
  expect(fileBytes(dir)).toBe(2 * ONE);
  expect(aof.writtenPosition).toBe(2 * ONE);
  await aof.close();
});
