// E2e through twemproxy (Debian package nutcracker): two microdb servers behind one nutcracker pool (redis: true, fnv1a_64, ketama); SET/GET/MGET/MSET/DEL through the proxy, and the keys spread across both servers.

import type { Subprocess } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, cleanup, probeFreePort, startServer, tempDir, type RunningServer } from "./harness.ts";
import { RespConn, eventually, str, type RespValue } from "./resp-helpers.ts";

// Debian installs it in /usr/sbin, which a non-root PATH may lack.
const NUTCRACKER = Bun.which("nutcracker") ?? Bun.which("nutcracker", { PATH: "/usr/sbin:/usr/local/sbin" });
if (!NUTCRACKER) console.warn("resp-twemproxy.test.ts: nutcracker not found, its tests are skipped (install the Debian package nutcracker)");

const KEYS = Array.from({ length: 200 }, (_, i) => `tw:${i}`);
const value = (k: string) => `value-of-${k}`;

let servers: RunningServer[] = [];
let dir = "";
let proxy: Subprocess<"ignore", "pipe", "pipe"> | null = null;
let proxyPort = 0;
let proxyOut = "";
let c: RespConn;

async function accepts(port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

async function keysOn(s: RunningServer): Promise<string[]> {
  const d = await RespConn.open(s.port);
  try {
    const v = await d.call("KEYS", "*");
    if (!Array.isArray(v)) throw new Error(`KEYS: ${JSON.stringify(v)}`);
    return v.map((k) => str(k)!).sort();
  } finally {
    d.close();
  }
}

beforeAll(async () => {
  if (!NUTCRACKER) return;
  servers = await Promise.all([startServer(), startServer()]);
  dir = tempDir("microdb-twemproxy-");
  proxyPort = probeFreePort();
  const conf = join(dir, "conf.yml");
  writeFileSync(conf, [
    "microdb:",
    `  listen: 127.0.0.1:${proxyPort}`,
    "  hash: fnv1a_64",
    "  distribution: ketama",
    "  redis: true",
    "  auto_eject_hosts: false",
    "  server_retry_timeout: 2000",
    "  server_failure_limit: 1",
    "  timeout: 3000",
    "  preconnect: true",
    "  servers:",
    ...servers.map((s, i) => `    - 127.0.0.1:${s.port}:1 microdb${i + 1}`),
    "",
  ].join("\n"));
  proxy = Bun.spawn([
    NUTCRACKER, "-c", conf, "-o", join(dir, "nutcracker.log"), "-p", join(dir, "nutcracker.pid"),
    "-s", String(probeFreePort()), "-a", "127.0.0.1",
  ], { cwd: dir, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const started = proxy;
  process.on("exit", () => started.kill("SIGKILL")); // never outlives this test process
  void new Response(proxy.stderr).text().then((t) => (proxyOut += t));
  const up = await eventually(async () => proxy!.exitCode !== null || (await accepts(proxyPort)), 5000, 50);
  if (!up || proxy.exitCode !== null) throw new Error(`nutcracker did not start (exit ${proxy.exitCode}): ${proxyOut}`);
  c = await RespConn.open(proxyPort);
});

afterAll(async () => {
  c?.close();
  if (proxy) {
    proxy.kill("SIGTERM");
    await proxy.exited;
  }
  for (const s of servers) {
    await s.stop();
    cleanup(s.cwd);
  }
  if (dir) cleanup(dir);
});

describe.skipIf(!NUTCRACKER)("through twemproxy", () => {
  test("SET and GET of 200 keys", async () => {
    const sets = await Promise.all(KEYS.map((k) => c.call("SET", k, value(k))));
    expect(new Set(sets)).toEqual(new Set(["OK"]));
    const gets = await Promise.all(KEYS.map((k) => c.call("GET", k)));
    expect(gets.map((g) => str(g))).toEqual(KEYS.map(value));
    expect(await c.call("GET", "tw:missing")).toBeNull();
    expect(await c.call("INCR", "tw:counter")).toBe(1);
    expect(await c.call("INCRBY", "tw:counter", "9")).toBe(10);
    expect(await c.call("DEL", "tw:counter")).toBe(1);
  });

  test("MGET across keys on both servers returns every value in order", async () => {
    const asked = [...KEYS.slice(0, 100), "tw:missing", ...KEYS.slice(100)];
    const v = await c.call("MGET", ...asked);
    if (!Array.isArray(v)) throw new Error(`MGET: ${JSON.stringify(v)}`);
    expect(v.map((x: RespValue) => str(x))).toEqual(asked.map((k) => (k === "tw:missing" ? null : value(k))));
  });

  test("the 200 keys are spread across both servers, each key on exactly one", async () => {
    const [a, b] = await Promise.all(servers.map(keysOn));
    expect(a!.length).toBeGreaterThan(0);
    expect(b!.length).toBeGreaterThan(0);
    expect(a!.length + b!.length).toBe(200);
    expect(new Set([...a!, ...b!])).toEqual(new Set(KEYS));
    // And each server holds the value written through the proxy.
    const d = await RespConn.open(servers[0]!.port);
    try {
      const vals = await Promise.all(a!.map((k) => d.call("GET", k)));
      expect(vals.map((x) => str(x))).toEqual(a!.map(value));
    } finally {
      d.close();
    }
  });

  test("MSET and multi-key DEL are split across the servers and summed", async () => {
    const extra = Array.from({ length: 20 }, (_, i) => `tw:m${i}`);
    expect(await c.call("MSET", ...extra.flatMap((k) => [k, value(k)]))).toBe("OK");
    const [a, b] = await Promise.all(servers.map(keysOn));
    expect(a!.length + b!.length).toBe(220);

    // One DEL naming every key (and one that does not exist): the proxy fans it out and adds up.
    expect(await c.call("DEL", ...KEYS, ...extra, "tw:missing")).toBe(220);
    const v = await c.call("MGET", ...KEYS.slice(0, 10));
    expect(v).toEqual(Array(10).fill(null));
    const sizes = await Promise.all(servers.map(async (s) => {
      const d = await RespConn.open(s.port);
      try {
        return await d.call("DBSIZE");
      } finally {
        d.close();
      }
    }));
    expect(sizes).toEqual([0, 0]);
  });
});
