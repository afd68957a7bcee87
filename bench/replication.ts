// Replication figures: the full-sync time of a replica joining a master that holds N keys (default
// 1M × 16 B), and the steady-state lag of a replica under a write load (redis-benchmark SET when
// installed, else microdb's own pipelined clients). Lag is measured two ways: the delay until a
// probe SET on the master is readable on the replica (p50/p99/max), and the byte distance between
// the two offsets in INFO. Results go to bench/results/replication.{json,md}.
// Run: npm run bench:replication [-- --keys N --seconds S]

import { parseArgs } from "node:util";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Client } from "../src/client/client.ts";
import { loadKeys, startMicrodb, type Microdb } from "./support.ts";

const { values: opt } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    seconds: { type: "string", default: "10" },
  },
});
const KEYS = Number(opt.keys);
const SECONDS = Number(opt.seconds);
const ROOT = join(import.meta.dir, "..");
const dirs: string[] = [];

async function start(env: Record<string, string>): Promise<Microdb> {
  const dir = mkdtempSync(join(tmpdir(), "microdb-bench-repl-"));
  dirs.push(dir);
  return startMicrodb(dir, env);
}

async function field(c: Client, name: string): Promise<string> {
  return new RegExp(`^${name}:(.*?)\\r?$`, "m").exec(await c.info("replication"))?.[1] ?? "";
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

const master = await start({});
const mc = await connect("127.0.0.1", master.port);
const value = new TextEncoder().encode("0123456789abcdef");
let t0 = performance.now();
await loadKeys(mc, KEYS, value);
console.log(`loaded ${KEYS} keys × 16 B in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// Full sync: from the replica's start to its link being up with the whole dataset.
t0 = performance.now();
const replica = await start({ MICRODB_ROLE: "slave", MICRODB_MASTER_ADDR: `127.0.0.1:${master.port}` });
const rc = await connect("127.0.0.1", replica.port);
while ((await field(rc, "master_link_status")) !== "up") await Bun.sleep(5);
const fullSyncMs = performance.now() - t0;
const replicaKeys = await rc.dbsize();
const logged = /Full sync done: \d+ keys, (\d+) bytes in (\d+) ms/.exec(replica.log());
console.log(`full sync of ${replicaKeys} keys: ${fullSyncMs.toFixed(0)} ms from replica start to link up` +
  (logged ? ` (${(Number(logged[1]) / 1048576).toFixed(1)} MiB stream, ${logged[2]} ms from FULLRESYNC to loaded)` : ""));
if (replicaKeys !== KEYS) throw new Error(`replica has ${replicaKeys} keys, expected ${KEYS}`);

// Steady state: a write load on the master; probes measure how long a write takes to show up.
const haveRedisBenchmark = Bun.spawnSync(["which", "redis-benchmark"]).exitCode === 0;
let stop = false;
let loadDone: Promise<unknown>;
let loadName: string;
if (haveRedisBenchmark) {
  loadName = "redis-benchmark -t set -c 50 -P 16 -d 16 -r 100000";
  const proc = Bun.spawn(["redis-benchmark", "-p", String(master.port), "-t", "set", "-c", "50", "-P", "16", "-d", "16", "-r", "100000", "-n", "100000000", "-q"], {
    stdout: "ignore", stderr: "ignore",
  });
  loadDone = (async () => {
    while (!stop) await Bun.sleep(50);
    proc.kill();
    await proc.exited;
  })();
} else {
  loadName = "8 microdb clients, 16 SETs in flight each";
  const writers = await Promise.all(Array.from({ length: 8 }, () => connect("127.0.0.1", master.port)));
  loadDone = Promise.all(writers.map(async (c, w) => {
    for (let i = 0; !stop; i += 16) {
      await Promise.all(Array.from({ length: 16 }, (_, k) => c.set(`load:${w}:${(i + k) % 100000}`, value)));
    }
    c.close();
  }));
}
await Bun.sleep(500);

const delays: number[] = [];
/** From the master's reply to the probe SET to the value being readable on the replica. */
const afterAck: number[] = [];
const byteLag: number[] = [];
const writesBefore = Number(await field(mc, "master_repl_offset"));
const probeStart = performance.now();
for (let seq = 0; performance.now() - probeStart < SECONDS * 1000; seq++) {
  const want = `p${seq}`;
  const sent = performance.now();
  await mc.set("probe", want);
  const acked = performance.now();
  for (;;) {
    const got = await rc.get("probe");
    if (got && new TextDecoder().decode(got) === want) break;
  }
  delays.push(performance.now() - sent);
  afterAck.push(performance.now() - acked);
  if (seq % 5 === 0) {
    const [mo, ro] = await Promise.all([field(mc, "master_repl_offset"), field(rc, "slave_repl_offset")]);
    byteLag.push(Math.max(0, Number(mo) - Number(ro)));
  }
  await Bun.sleep(20);
}
const streamRate = (Number(await field(mc, "master_repl_offset")) - writesBefore) / ((performance.now() - probeStart) / 1000);
stop = true;
await loadDone;
const ds = [...delays].sort((a, b) => a - b);
const bs = [...byteLag].sort((a, b) => a - b);
const as = [...afterAck].sort((a, b) => a - b);
const lag = {
  probes: ds.length,
  ackP50Ms: pct(as, 0.5), ackP99Ms: pct(as, 0.99), ackMaxMs: as[as.length - 1] ?? 0,
  p50Ms: pct(ds, 0.5), p99Ms: pct(ds, 0.99), maxMs: ds[ds.length - 1] ?? 0,
  bytesP50: pct(bs, 0.5), bytesMax: bs[bs.length - 1] ?? 0,
  streamMiBps: streamRate / 1048576,
};
console.log(`steady-state lag under ${loadName}: ${lag.probes} probes; from the master's reply to visible on the replica ` +
  `p50 ${lag.ackP50Ms.toFixed(2)} ms, p99 ${lag.ackP99Ms.toFixed(2)} ms, max ${lag.ackMaxMs.toFixed(2)} ms; ` +
  `from sending the SET (includes the master's own latency under the load) p50 ${lag.p50Ms.toFixed(2)} ms, p99 ${lag.p99Ms.toFixed(2)} ms, max ${lag.maxMs.toFixed(2)} ms; ` +
  `offset distance p50 ${lag.bytesP50} B, max ${lag.bytesMax} B; stream ${lag.streamMiBps.toFixed(1)} MiB/s`);

const mdigest = String(await mc.command("DEBUG", "DIGEST"));
while (Number(await field(rc, "slave_repl_offset")) < Number(await field(mc, "master_repl_offset"))) await Bun.sleep(10);
const same = String(await rc.command("DEBUG", "DIGEST")) === mdigest;
console.log(`after the load: digests ${same ? "match" : "DIFFER"}`);

mc.close();
rc.close();
master.proc.kill();
replica.proc.kill();
await Promise.all([master.proc.exited, replica.proc.exited]);
for (const d of dirs) rmSync(d, { recursive: true, force: true });

const results = join(ROOT, "bench", "results");
mkdirSync(results, { recursive: true });
const date = new Date().toISOString();
writeFileSync(join(results, "replication.json"), JSON.stringify({ date, keys: KEYS, fullSyncMs, load: loadName, lag, digestsMatch: same }, null, 2) + "\n");
writeFileSync(join(results, "replication.md"), [
  `Replication (${date}, ${KEYS.toLocaleString("en-US")} keys × 16 B, loopback, one machine)`,
  "",
  "| measure | value |",
  "|---|---:|",
  `| full sync of ${KEYS.toLocaleString("en-US")} keys, replica start to link up | ${fullSyncMs.toFixed(0)} ms |`,
  `| master's reply → visible on the replica, p50 / p99 / max | ${lag.ackP50Ms.toFixed(2)} / ${lag.ackP99Ms.toFixed(2)} / ${lag.ackMaxMs.toFixed(2)} ms |`,
  `| SET sent → visible on the replica (includes the master's latency under load), p50 / p99 / max | ${lag.p50Ms.toFixed(2)} / ${lag.p99Ms.toFixed(2)} / ${lag.maxMs.toFixed(2)} ms |`,
  `| offset distance under load, p50 / max | ${lag.bytesP50} B / ${lag.bytesMax} B |`,
  `| replication stream rate | ${lag.streamMiBps.toFixed(1)} MiB/s |`,
  "",
  `Load: ${loadName}.`,
  "",
].join("\n"));
if (!same) process.exit(1);
