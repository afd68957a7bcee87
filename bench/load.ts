// End-to-end load benchmark: the compiled microdb against redis-server on the same machine, both
// with an AOF at appendfsync everysec and their default compaction, driven by the same generator
// (redis-benchmark). Rows: SET and GET with 16 B and 1 KiB values at -c 50 -P 1, -c 50 -P 16 and
// -c 1 -P 1 (-r 100000), SET at -c 50 -P 1 under appendfsync always (group commit), RSS after
// loading 1M keys x 16 B and 100k keys x 1 KiB (redis-cli --pipe), and, with the 1M keys loaded, the
// worst SET reply of redis-benchmark -c 8 without and during a snapshot (microdb SAVE, Redis BGSAVE).
// Each rep starts one server of each kind side by side, gives both the same discarded warm-up
// (each -c 50 -P 1 shape briefly, then -P 16), then runs every row against one (the other
// stopped with SIGSTOP) and then the other, alternating which goes first from row to row.
// The table holds medians and the ratio microdb/Redis, and is also written as JSON and an SVG bar
// chart into bench/results/.
//
// Run: npm run bench:load [-- --reps 3 --quick]. Needs Debian's redis-server and redis-tools.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: { reps: { type: "string", default: "3" }, quick: { type: "boolean", default: false } },
});
const REPS = Number(opt.reps);
const QUICK = opt.quick;
const ROOT = join(import.meta.dir, "..");
const RESULTS = join(ROOT, "bench", "results");

for (const tool of ["redis-server", "redis-benchmark", "redis-cli"]) {
  if (!Bun.which(tool)) {
    console.error(`bench/load.ts needs ${tool} (Debian packages redis-server and redis-tools)`);
    process.exit(1);
  }
}

type Kind = "microdb" | "redis";

interface Server {
  kind: Kind;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

async function waitPing(port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = Bun.spawnSync(["redis-cli", "-p", String(port), "ping"]);
    if (r.stdout.toString().trim() === "PONG") return;
    await Bun.sleep(20);
  }
  throw new Error(`no PONG on port ${port}`);
}

async function start(kind: Kind, fsync: "everysec" | "always" = "everysec"): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
  const port = freePort();
  const cmd = kind === "microdb"
    ? [join(ROOT, "microdb"), "--port", String(port), "--data-dir", join(dir, "data")]
    : ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes",
      "--appendfsync", fsync, "--save", "", "--daemonize", "no", "--logfile", join(dir, "redis.log")];
  const env = kind === "microdb" ? { ...process.env, MICRODB_APPENDFSYNC: fsync } : process.env;
  const proc = Bun.spawn(cmd, { cwd: dir, env, stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  await waitPing(port);
  return {
    kind,
    port,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGKILL");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Sample {
  rps: number;
  p99: number;
}

/** One redis-benchmark run of SET then GET; returns figures per test name. */
function benchmark(port: number, clients: number, pipeline: number, size: number, n: number): Record<string, Sample> {
  const r = Bun.spawnSync([
    "redis-benchmark", "-p", String(port), "-t", "set,get", "-c", String(clients), "-P", String(pipeline),
    "-d", String(size), "-r", "100000", "-n", String(n), "--csv",
  ], { timeout: 300_000 });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`redis-benchmark failed (${r.exitCode}): ${r.stderr}`);
  const csv = csvRows(out);
  const rows: Record<string, Sample> = {};
  for (const test of ["SET", "GET"]) {
    const cells = csv.get(test);
    if (!cells) throw new Error(`unexpected redis-benchmark output:\n${out}`);
    rows[test] = { rps: Number(cells[1]), p99: Number(cells[6]) };
  }
  return rows;
}

/** redis-benchmark --csv output as its rows' cells (unquoted), by test name. */
function csvRows(out: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, ""));
    if (cells.length > 1) rows.set(cells[0]!, cells);
  }
  return rows;
}

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/**
 * The worst SET reply time (ms) of redis-benchmark -t set -c 8 (-r 1000000, 16 B) against a loaded
 * server, with a snapshot begun 0.4 s into the run (microdb SAVE, Redis BGSAVE), or none. A C
 * client, so the figure is the server's delay, not a benchmark runtime's pauses.
 */
async function worstReply(kind: Kind, port: number, snapshot: boolean): Promise<number> {
  const bench = Bun.spawn([
    "redis-benchmark", "-p", String(port), "-t", "set", "-c", "8", "-n", "80000", "-r", "1000000", "-d", "16", "--csv",
  ], { stdout: "pipe", stderr: "ignore" });
  if (snapshot) {
    await Bun.sleep(400);
    const r = Bun.spawnSync(["redis-cli", "-p", String(port), kind === "microdb" ? "save" : "bgsave"], { timeout: 60_000 });
    const said = r.stdout.toString().trim();
    if (said !== "OK" && !said.startsWith("Background saving started")) throw new Error(`${kind} snapshot: ${said} ${r.stderr}`);
  }
  const out = await new Response(bench.stdout).text();
  await bench.exited;
  const cells = csvRows(out).get("SET");
  if (!cells) throw new Error(`unexpected redis-benchmark output:\n${out}`);
  return Number(cells[7]);
}

interface Loaded {
  rss: number;
  /** Worst reply times (ms) under a SET load, without and with a snapshot, when asked for. */
  worst?: { idle: number; snapshot: number };
}

/** Loads `count` keys of `size` bytes with redis-cli --pipe; returns RSS afterwards (and worst replies). */
async function loadAndMeasure(kind: Kind, count: number, size: number, snapshots = false): Promise<Loaded> {
  const s = await start(kind);
  try {
    const value = "x".repeat(size);
    const parts: string[] = [];
    for (let i = 0; i < count; i++) {
      const key = `key:${i}`;
      parts.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${size}\r\n${value}\r\n`);
    }
    const input = new TextEncoder().encode(parts.join(""));
    const p = Bun.spawn(["redis-cli", "-p", String(s.port), "--pipe"], { stdin: input, stdout: "pipe", stderr: "pipe" });
    const text = await new Response(p.stdout).text();
    await p.exited;
    if (!/errors: 0, replies: \d+/.test(text)) throw new Error(`--pipe failed: ${text}`);
    await Bun.sleep(1500); // let an AOF rewrite / snapshot triggered by the load settle
    const loaded: Loaded = { rss: rss(s.pid) };
    if (snapshots) loaded.worst = { idle: await worstReply(kind, s.port, false), snapshot: await worstReply(kind, s.port, true) };
    return loaded;
  } finally {
    await s.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  name: string;
  unit: string;
  microdb: number;
  redis: number;
  /** For throughput rows higher is better; for memory and latency lower is better. */
  better: "higher" | "lower";
}

const configs: { c: number; P: number; n: number }[] = QUICK
  ? [{ c: 50, P: 16, n: 100_000 }]
  : [{ c: 50, P: 1, n: 100_000 }, { c: 50, P: 16, n: 400_000 }, { c: 1, P: 1, n: 20_000 }];
const sizes = QUICK ? [16] : [16, 1024];

const samples = new Map<string, { microdb: Sample[]; redis: Sample[] }>();
const record = (key: string, kind: Kind, sample: Sample) => {
  if (!samples.has(key)) samples.set(key, { microdb: [], redis: [] });
  samples.get(key)![kind].push(sample);
};
/** Both kinds, the one that goes first alternating with `turn`, so neither is always measured on a fresher machine. */
const pair = (turn: number): Kind[] => (turn % 2 === 0 ? ["microdb", "redis"] : ["redis", "microdb"]);
/** Starts one server of each kind, runs `fn` with both, and stops whichever were started. */
async function withPair(fsync: "everysec" | "always", fn: (servers: Record<Kind, Server>) => Promise<void>): Promise<void> {
  const started: Server[] = [];
  try {
    const microdb = await start("microdb", fsync);
    started.push(microdb);
    const redis = await start("redis", fsync);
    started.push(redis);
    await fn({ microdb, redis });
  } finally {
    await Promise.allSettled(started.map((s) => s.stop()));
  }
}

/**
 * Runs `fn` against `servers[kind]` with the other server stopped (SIGSTOP): idle, microdb may
 * still be finishing work of its own last row (a snapshot the back-off delayed, probably), which
 * must not land in Redis's row; left running, it took Redis's GET p99 from 0.58 to 0.82-1.06 ms.
 * Only the server's own process stops: a child Redis forks for an AOF rewrite runs on.
 */
function alone<T>(servers: Record<Kind, Server>, kind: Kind, fn: (s: Server) => T): T {
  const other = servers[kind === "microdb" ? "redis" : "microdb"];
  process.kill(other.pid, "SIGSTOP");
  try {
    return fn(servers[kind]);
  } finally {
    process.kill(other.pid, "SIGCONT");
  }
}

/**
 * The discarded warm-up, the same for both servers: a run of each -c 50 -P 1 shape to be measured
 * (`p1Sizes`, P1_WARM requests each), then -P 16 (`p16n` requests). JSC compiles a function's
 * optimized tiers only once it is hot, on a thread of its own, on a machine whose two cores the
 * server and redis-benchmark already fill. After a -P 16-only warm-up it still optimized 15
 * functions in each -P 1 row (18-36 ms of compile time, BUN_JSC_reportDFGCompileTimes=1). With
 * -P 1 runs of 20k requests, the first measured row (50-client 16-byte SET) still had 9-28
 * compiles, among them the AOF's tick path and the snapshot's copy-on-write hooks by FTL (p99
 * 0.80-0.90 ms, three runs); with 100k, 2-3 (p99 0.33-0.46 ms). The -P 1 runs go first so that
 * the -P 16 run overwrites most of their keys with 16-byte values (about 3,100 keep 1 KiB ones,
 * the same on both servers).
 */
const P1_WARM = 100_000;

function warmUp(port: number, p1Sizes: number[], p16n: number): void {
  if (!QUICK) for (const size of p1Sizes) benchmark(port, 50, 1, size, P1_WARM);
  benchmark(port, 50, 16, 16, p16n);
}

for (let rep = 0; rep < REPS; rep++) {
  // One long-running server of each kind per rep, as in production, with the same discarded
  // warm-up run for both: microdb's JIT compiles its hot paths in the first second or so, Redis
  // needs none. Both run side by side and every row is measured on one right after the other
  // (which goes first alternates, the other is stopped meanwhile): the machine's speed drifts
  // over minutes, and a slow spell should hit both sides of a row, not one server's whole rep.
  await withPair("everysec", async (servers) => {
    for (const kind of pair(rep)) alone(servers, kind, (s) => warmUp(s.port, sizes, QUICK ? 50_000 : 300_000));
    let turn = rep;
    for (const { c, P, n } of configs) {
      for (const size of sizes) {
        for (const kind of pair(turn++)) {
          const rows = alone(servers, kind, (s) => benchmark(s.port, c, P, size, n));
          for (const test of ["SET", "GET"] as const) record(`${test} -c ${c} -P ${P} ${size === 16 ? "16 B" : "1 KiB"}`, kind, rows[test]!);
          console.error(`rep ${rep + 1}/${REPS} ${kind} -c ${c} -P ${P} -d ${size}: SET ${rows.SET!.rps} GET ${rows.GET!.rps} rps`);
        }
      }
    }
  });
  // Group commit: SET with 50 clients under appendfsync always, against the same row at everysec.
  await withPair("always", async (always) => {
    for (const kind of pair(rep)) alone(always, kind, (s) => warmUp(s.port, [16], QUICK ? 20_000 : 100_000));
    for (const kind of pair(rep)) {
      const rows = alone(always, kind, (s) => benchmark(s.port, 50, 1, 16, QUICK ? 20_000 : 100_000));
      record("SET -c 50 -P 1 16 B, appendfsync always", kind, rows.SET!);
      console.error(`rep ${rep + 1}/${REPS} ${kind} appendfsync always -c 50 -P 1 -d 16: SET ${rows.SET!.rps} rps`);
    }
  });
}

const rows: Row[] = [];
for (const [name, s] of samples) {
  rows.push({ name: `${name} (req/s)`, unit: "req/s", microdb: median(s.microdb.map((x) => x.rps)), redis: median(s.redis.map((x) => x.rps)), better: "higher" });
  if (name.includes("-P 1 ") && !name.includes("always")) {
    rows.push({ name: `${name} p99 (ms)`, unit: "ms", microdb: median(s.microdb.map((x) => x.p99)), redis: median(s.redis.map((x) => x.p99)), better: "lower" });
  }
}
const memory: [string, number, number][] = QUICK ? [["RSS, 100k x 16 B", 100_000, 16]] : [["RSS, 1M keys x 16 B", 1_000_000, 16], ["RSS, 100k keys x 1 KiB", 100_000, 1024]];
const worst = { microdb: { idle: [] as number[], snapshot: [] as number[] }, redis: { idle: [] as number[], snapshot: [] as number[] } };
for (const [name, count, size] of memory) {
  // The 1M-key dataset also serves the snapshot rows: worst reply under load, with and without one.
  const snapshots = count === memory[0]![1];
  const m: number[] = [], r: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of pair(rep)) {
      const got = await loadAndMeasure(kind, count, size, snapshots);
      (kind === "microdb" ? m : r).push(got.rss);
      if (got.worst) {
        worst[kind].idle.push(got.worst.idle);
        worst[kind].snapshot.push(got.worst.snapshot);
        console.error(`rep ${rep + 1}/${REPS} ${kind} worst SET reply, no snapshot ${got.worst.idle} ms, during a snapshot ${got.worst.snapshot} ms`);
      }
    }
    console.error(`rep ${rep + 1}/${REPS} ${name}: microdb ${(m.at(-1)! / 1048576).toFixed(0)} MiB, redis ${(r.at(-1)! / 1048576).toFixed(0)} MiB`);
  }
  rows.push({ name: `${name} (MiB)`, unit: "MiB", microdb: median(m) / 1048576, redis: median(r) / 1048576, better: "lower" });
}
if (worst.microdb.idle.length > 0) {
  const keys = QUICK ? "100k" : "1M";
  rows.push({ name: `SET -c 8 worst reply, ${keys} keys, no snapshot (ms)`, unit: "ms", microdb: median(worst.microdb.idle), redis: median(worst.redis.idle), better: "lower" });
  rows.push({ name: `SET -c 8 worst reply, ${keys} keys, during a snapshot (ms)`, unit: "ms", microdb: median(worst.microdb.snapshot), redis: median(worst.redis.snapshot), better: "lower" });
}

const fmt = (x: number, unit: string) => (unit === "req/s" ? Math.round(x).toLocaleString("en-US") : x.toFixed(unit === "ms" ? 3 : 1));
const redisVersion = Bun.spawnSync(["redis-server", "--version"]).stdout.toString().trim().split(" ").slice(0, 3).join(" ");
const header = `| row | microdb | Redis | microdb/Redis |\n|---|---:|---:|---:|`;
const lines = rows.map((r) => `| ${r.name} | ${fmt(r.microdb, r.unit)} | ${fmt(r.redis, r.unit)} | ${(r.microdb / r.redis).toFixed(2)} |`);
const table = [header, ...lines].join("\n");
console.log(`medians of ${REPS} reps, each row run on both servers back to back; ${redisVersion}; both appendfsync everysec; redis-benchmark -r 100000; the same warm-up for both (${QUICK ? "-P 16 -n 50000" : `-c 50 -P 1 16 B and 1 KiB, -n ${P1_WARM} each, then -P 16 -n 300000`})\n`);
console.log(table);

mkdirSync(RESULTS, { recursive: true });
const stamp = new Date().toISOString();
writeFileSync(join(RESULTS, "load.json"), JSON.stringify({ date: stamp, reps: REPS, redis: redisVersion, rows }, null, 2) + "\n");
writeFileSync(join(RESULTS, "load.md"), `${table}\n`);
writeFileSync(join(RESULTS, "load.svg"), svg(rows, stamp));
console.error(`wrote ${join(RESULTS, "load.json")}, load.md and load.svg`);

/** A horizontal bar chart of the microdb/Redis ratio per row (1.0 = parity). */
function svg(rows: Row[], date: string): string {
  const rowH = 26, left = 320, width = 860, max = Math.max(2, ...rows.map((r) => r.microdb / r.redis));
  const scale = (width - left - 80) / max;
  const bars = rows.map((r, i) => {
    const ratio = r.microdb / r.redis;
    const good = r.better === "higher" ? ratio >= 1 : ratio <= 1;
    const y = 40 + i * rowH;
    return `<text x="${left - 8}" y="${y + 16}" text-anchor="end" font-size="12">${r.name.replace(/&/g, "&amp;")}</text>` +
      `<rect x="${left}" y="${y + 4}" width="${(ratio * scale).toFixed(1)}" height="16" fill="${good ? "#3a7" : "#d64"}"/>` +
      `<text x="${left + ratio * scale + 6}" y="${y + 16}" font-size="12">${ratio.toFixed(2)}</text>`;
  }).join("\n");
  const one = left + scale;
  const h = 60 + rows.length * rowH;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif">
<text x="10" y="22" font-size="14">microdb / Redis (bench/load.ts, ${date}); green = microdb better</text>
<line x1="${one}" y1="34" x2="${one}" y2="${h - 10}" stroke="#333" stroke-dasharray="4 3"/>
${bars}
</svg>
`;
}
