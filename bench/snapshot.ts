// Snapshot under load: loads N keys (default 1M × 16 B) into the compiled ./microdb, then measures
// SET reply latency from concurrent clients without a snapshot and while a snapshot runs (SAVE),
// and prints p50/p99/max for both, the snapshot's own figures (time, slices, longest slice) and the
// recovery time of a restart. Run: npm run bench:snapshot [-- --keys N --clients C --seconds S]

import { parseArgs } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Client } from "../src/client/client.ts";
import { loadKeys, startMicrodb } from "./support.ts";

const { values: opt } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    clients: { type: "string", default: "8" },
    seconds: { type: "string", default: "2" },
  },
});
const KEYS = Number(opt.keys);
const CLIENTS = Number(opt.clients);
const SECONDS = Number(opt.seconds);
const dir = mkdtempSync(join(tmpdir(), "microdb-bench-snap-"));

const start = () => startMicrodb(dir, { MICRODB_APPENDFSYNC: "everysec" });

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

function summary(lat: number[]): string {
  const s = [...lat].sort((a, b) => a - b);
  return `${s.length} replies, p50 ${pct(s, 0.5).toFixed(2)} ms, p99 ${pct(s, 0.99).toFixed(2)} ms, max ${(s[s.length - 1] ?? 0).toFixed(2)} ms`;
}

/** CLIENTS clients, one SET in flight each, until `until` resolves; returns every reply latency. */
async function load(port: number, until: Promise<unknown>): Promise<number[]> {
  const lat: number[] = [];
  let done = false;
  void until.then(() => (done = true));
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect("127.0.0.1", port)));
  await Promise.all(clients.map(async (c: Client, w) => {
    for (let i = 0; !done; i++) {
      const t0 = performance.now();
      await c.set(`load:${w}:${i % 10000}`, "0123456789abcdef");
      lat.push(performance.now() - t0);
    }
  }));
  for (const c of clients) c.close();
  return lat;
}

const server = await start();
const c = await connect("127.0.0.1", server.port);
const value = new TextEncoder().encode("0123456789abcdef");
let t0 = performance.now();
await loadKeys(c, KEYS, value);
console.log(`loaded ${KEYS} keys × 16 B in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const idle = await load(server.port, Bun.sleep(SECONDS * 1000));
console.log(`SET latency, no snapshot      : ${summary(idle)}`);

t0 = performance.now();
const saving = c.save();
const during = await load(server.port, saving);
const snapMs = performance.now() - t0;
const info = await c.info("persistence");
const field = (f: string) => new RegExp(`^${f}:(.*)$`, "m").exec(info)?.[1]?.trim();
console.log(`SET latency, during snapshot  : ${summary(during)}`);
console.log(`snapshot: ${field("rdb_last_snapshot_entries")} entries in ${field("rdb_last_snapshot_ms")} ms (SAVE answered after ${snapMs.toFixed(0)} ms), longest slice ${field("rdb_last_snapshot_worst_slice_ms")} ms`);
c.close();

server.proc.kill("SIGKILL");
await server.proc.exited;
const again = await start();
console.log(`restart: ${/Loaded .*$/m.exec(again.log())?.[0]}`);
again.proc.kill("SIGKILL");
await again.proc.exited;
rmSync(dir, { recursive: true, force: true });
