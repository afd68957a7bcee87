// E2e with Redis's own tools (Debian package redis-tools): redis-cli one-shot commands and AUTH, redis-cli --pipe mass insertion of 100,000 keys, and redis-benchmark against the compiled server.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanEnv, cleanup, startServer, type RunningServer } from "./harness.ts";

const REDIS_CLI = Bun.which("redis-cli");
const REDIS_BENCHMARK = Bun.which("redis-benchmark");
if (!REDIS_CLI) console.warn("resp-tools.test.ts: redis-cli not found, its tests are skipped (install the Debian package redis-tools)");
if (!REDIS_BENCHMARK) console.warn("resp-tools.test.ts: redis-benchmark not found, its test is skipped (install the Debian package redis-tools)");

/** Runs a tool to completion; it is SIGKILLed (only it) after `timeoutMs`. */
async function tool(cmd: string[], opts: { stdin?: Uint8Array; timeoutMs?: number } = {}) {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: cleanEnv(),
    timeout: opts.timeoutMs ?? 10_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr, signal: proc.signalCode };
}

let server: RunningServer;
const cli = (...args: string[]) => tool([REDIS_CLI!, "-h", "127.0.0.1", "-p", String(server.port), ...args]);

/** The server's own account (stats, persistence, log tail) for a failure message. */
async function diagnostics(): Promise<string> {
  const info = await cli("info", "all").catch((e: unknown) => ({ stdout: String(e) }));
  const fields = info.stdout.split(/\r?\n/).filter((l) => /^(total_commands|aof_|rdb_|connected_clients)/.test(l));
  return [...fields, ...server.output().trim().split("\n").slice(-8)].join("\n");
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
  cleanup(server.cwd);
});

describe("redis-cli", () => {
  test.skipIf(!REDIS_CLI)("one-shot commands print what Redis would", async () => {
    expect(await cli("set", "foo", "bar")).toMatchObject({ code: 0, stdout: "OK\n" });
    expect(await cli("get", "foo")).toMatchObject({ code: 0, stdout: "bar\n" });
    expect((await cli("get", "nosuchkey")).stdout).toBe("\n"); // nil prints as an empty line
    expect((await cli("incr", "cli:n")).stdout).toBe("1\n");
    expect((await cli("incrby", "cli:n", "41")).stdout).toBe("42\n");
    expect((await cli("mget", "foo", "nosuchkey", "cli:n")).stdout).toBe("bar\n\n42\n");
    expect((await cli("set", "cli:ttl", "v", "EX", "100")).stdout).toBe("OK\n");
    expect(Number((await cli("ttl", "cli:ttl")).stdout)).toBeWithin(98, 101);
    expect((await cli("ping")).stdout).toBe("PONG\n");
    expect((await cli("echo", "hello world")).stdout).toBe("hello world\n");
    expect((await cli("exists", "foo", "cli:n", "nosuchkey")).stdout).toBe("2\n");
    expect((await cli("type", "foo")).stdout).toBe("string\n");
    expect((await cli("del", "foo", "nosuchkey")).stdout).toBe("1\n");
    expect((await cli("get", "foo")).stdout).toBe("\n");
    expect((await cli("foo", "a")).stdout).toStartWith("ERR unknown command 'foo', with args beginning with: 'a'");
    expect((await cli("incr", "cli:ttl")).stdout).toStartWith("ERR value is not an integer or out of range");
    expect((await cli("info", "keyspace")).stdout).toMatch(/^# Keyspace\r?\ndb0:keys=\d+,expires=1,avg_ttl=0/);
    // Quoting survives the trip: an argument with spaces and a newline.
    expect((await cli("set", "cli:quoted", "a b\nc")).stdout).toBe("OK\n");
    expect((await cli("--raw", "get", "cli:quoted")).stdout).toBe("a b\nc\n");
    expect((await cli("strlen", "cli:quoted")).stdout).toBe("5\n");
  });

  test.skipIf(!REDIS_CLI)("-a authenticates against requirepass; without it: NOAUTH", async () => {
    const s = await startServer({ env: { MICRODB_REQUIREPASS: "tool-pass" } });
    try {
      const base = [REDIS_CLI!, "-h", "127.0.0.1", "-p", String(s.port)];
      expect((await tool([...base, "get", "k"])).stdout).toStartWith("NOAUTH Authentication required.");
      // redis-cli reports a failed AUTH on stderr, then runs the command unauthenticated.
      const wrong = await tool([...base, "-a", "wrong", "--no-auth-warning", "get", "k"]);
      expect(wrong.stderr).toContain("AUTH failed: WRONGPASS invalid username-password pair or user is disabled.");
      expect(wrong.stdout).toStartWith("NOAUTH Authentication required.");
      expect(await tool([...base, "-a", "tool-pass", "--no-auth-warning", "set", "k", "v"])).toMatchObject({ code: 0, stdout: "OK\n" });
      expect((await tool([...base, "--user", "default", "--pass", "tool-pass", "--no-auth-warning", "get", "k"])).stdout).toBe("v\n");
    } finally {
      await s.stop();
      cleanup(s.cwd);
    }
  });

  test.skipIf(!REDIS_CLI)("--pipe inserts 100,000 keys: errors 0, replies 100000, DBSIZE 100000", async () => {
    expect((await cli("flushall")).stdout).toBe("OK\n");
    const N = 100_000;
    let text = "";
    for (let i = 0; i < N; i++) {
      const k = `key:${i}`;
      const v = `value:${i}`;
      text += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`;
    }
    const r = await tool([REDIS_CLI!, "-h", "127.0.0.1", "-p", String(server.port), "--pipe"], {
      stdin: new TextEncoder().encode(text),
      timeoutMs: 50_000,
    });
    // One comparison, so a failure shows everything redis-cli said and what the server was doing.
    expect({
      signal: r.signal,
      code: r.code,
      transferred: r.stdout.includes("All data transferred."),
      summary: /errors: \d+, replies: \d+/.exec(r.stdout)?.[0] ?? r.stdout,
      stderr: r.stderr,
    }).toEqual({
      signal: null, code: 0, transferred: true, summary: "errors: 0, replies: 100000", stderr: "",
      ...(r.code !== 0 || r.signal !== null ? { server: await diagnostics() } : {}),
    });
    expect((await cli("dbsize")).stdout).toBe("100000\n");
    expect((await cli("get", "key:0")).stdout).toBe("value:0\n");
    expect((await cli("get", "key:99999")).stdout).toBe("value:99999\n");
    // redis-cli --scan walks SCAN's cursors to the end.
    const scanned = (await cli("--scan", "--pattern", "key:9999?")).stdout.trim().split("\n").sort();
    expect(scanned).toEqual(Array.from({ length: 10 }, (_, i) => `key:9999${i}`));
  }, 60_000);
});

describe("redis-benchmark", () => {
  test.skipIf(!REDIS_BENCHMARK)("-t set,get,incr,mset -n 20000 -q: exit 0, no errors, one result line per test", async () => {
    const r = await tool([REDIS_BENCHMARK!, "-h", "127.0.0.1", "-p", String(server.port), "-t", "set,get,incr,mset", "-n", "20000", "-q"], {
      timeoutMs: 50_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    // Killed by the timeout means it stalled: show where, and what the server was doing.
    expect({ signal: r.signal, code: r.code }).toEqual({
      signal: null, code: 0,
      ...(r.code !== 0 || r.signal !== null ? { tail: out.slice(-600), server: await diagnostics() } : {}),
    });
    // Progress lines end in CR; the result lines are "NAME: N requests per second, p50=...".
    const lines = out.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l.length > 0);
    expect(lines.filter((l) => /error|warning|refused|closed/i.test(l))).toEqual([]);
    const results = lines.map((l) => /^(.+?): ([\d.]+) requests per second/.exec(l)).filter((m) => m !== null);
    expect(results.map((m) => m[1])).toEqual(["SET", "GET", "INCR", "MSET (10 keys)"]);
    for (const m of results) expect(Number(m[2])).toBeGreaterThan(0);
    // Without -r every INCR hits one key: all 20,000 of them must have counted.
    expect((await cli("get", "counter:__rand_int__")).stdout).toBe("20000\n");
    expect((await cli("strlen", "key:__rand_int__")).stdout).toBe("3\n"); // -d 3: the default payload size
  }, 60_000);
});
