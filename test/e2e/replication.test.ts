// E2e: replication through the compiled binary — a master and two replicas converging on the same
// DEBUG DIGEST, a full sync of a dataset written before the replica started (with writes during
// the sync), a replica stopped with SIGSTOP and dropped at the output limit that comes back by
// partial resync, a master restart, a promotion with REPLICAOF NO ONE that the other replica
// follows by partial resync, read-only replicas, and the promoted node's data on disk.

import { afterEach, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { connect, ServerError, type Client } from "../../src/client/client.ts";
import { CLIENT_LINK, probeFreePort, run, startServer, tempDir, waitFor, type RunningServer } from "./harness.ts";

const open: Client[] = [];
const servers: RunningServer[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  for (const s of servers.splice(0)) if (s.proc.exitCode === null && s.proc.signalCode === null) await s.kill();
});

async function client(s: RunningServer | number): Promise<Client> {
  const c = await connect("127.0.0.1", typeof s === "number" ? s : s.port, { timeoutMs: 15_000 });
  open.push(c);
  return c;
}

async function master(env: Record<string, string> = {}, opts: { cwd?: string; port?: number } = {}): Promise<RunningServer> {
  const s = await startServer({
    cwd: opts.cwd,
    env: { MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0", ...env },
    ...(opts.port ? { port0: false, args: ["--port", String(opts.port)] } : {}),
  });
  servers.push(s);
  return s;
}

async function replica(masterPort: number, env: Record<string, string> = {}): Promise<RunningServer> {
  const s = await startServer({ env: { MICRODB_ROLE: "slave", MICRODB_MASTER_ADDR: `127.0.0.1:${masterPort}`, ...env } });
  servers.push(s);
  return s;
}

async function info(c: Client, field: string): Promise<string> {
  return new RegExp(`^${field}:(.*?)\\r?$`, "m").exec(await c.info("everything"))?.[1] ?? "";
}

/** A reply with bulk strings as text. */
function text(v: unknown): unknown {
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return Array.isArray(v) ? v.map(text) : v;
}

async function cmd(c: Client, ...args: string[]): Promise<unknown> {
  return text(await c.command(...args));
}

/** The error a command is answered with. */
async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ServerError) return e.message;
    throw e;
  }
  throw new Error("expected an error reply");
}

async function digest(c: Client): Promise<string> {
  return String(await cmd(c, "DEBUG", "DIGEST"));
}

/** Waits until the replica has applied everything the master has, then compares digests. */
async function converged(m: Client, ...replicas: Client[]): Promise<void> {
  const target = Number(await info(m, "master_repl_offset"));
  for (const r of replicas) {
    await waitFor(`replica offset ${target}`, async () => Number(await info(r, "slave_repl_offset")) >= target, 10_000);
  }
  const want = await digest(m);
  expect(want).not.toBe("0".repeat(40));
  for (const r of replicas) expect(await digest(r)).toBe(want);
}

/** A mix of every logged mutation, pipelined. */
async function writeMix(c: Client, n: number, prefix: string): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const key = `${prefix}:${i % 3000}`;
    switch (i % 10) {
      case 0: pending.push(c.command("DEL", key)); break;
      case 1: pending.push(c.command("EXPIRE", key, "1000")); break;
      case 2: pending.push(c.command("PERSIST", key)); break;
      case 3: pending.push(c.command("INCR", `${prefix}:counter`)); break;
      case 4: pending.push(c.command("APPEND", key, "+")); break;
      case 5: pending.push(c.command("SET", key, new Uint8Array([i & 255, 0, 13, 10, 255]))); break;
      default: pending.push(c.set(key, `v${i}`));
    }
    if (pending.length >= 2000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

describe("replication", () => {
  test("a master and two replicas: 10,000 writes reach both, digests match, replicas are read-only", async () => {
    const m = await master();
    const mc = await client(m);
    const [r1, r2] = await Promise.all([replica(m.port), replica(m.port)]);
    const [c1, c2] = await Promise.all([client(r1), client(r2)]);
    await waitFor("two online replicas", async () => (await info(mc, "connected_slaves")) === "2");

    await writeMix(mc, 10_000, "mix");
    // An expired key is deleted on the master and the replicas only hear of it as a delete.
    await mc.command("SET", "short", "x", "PX", "50");
    await Bun.sleep(120);
    expect(await mc.get("short")).toBeNull();
    await converged(mc, c1, c2);
    expect(Number(await info(c1, "db0").then((s) => /keys=(\d+)/.exec(s)?.[1]))).toBe(await mc.dbsize());

    // INFO and ROLE on both sides.
    const m0 = await info(mc, "slave0");
    expect(m0).toMatch(/^ip=127\.0\.0\.1,port=\d+,state=online,offset=\d+,lag=\d+$/);
    expect(await info(c1, "master_link_status")).toBe("up");
    expect(await info(c1, "master_last_sync")).toBe("full");
    const role = (await cmd(c1, "ROLE")) as unknown[];
    expect(role.slice(0, 4)).toEqual(["slave", "127.0.0.1", m.port, "connected"]);
    const mrole = (await cmd(mc, "ROLE")) as unknown[];
    expect(mrole[0]).toBe("master");
    expect((mrole[2] as unknown[]).length).toBe(2);

    // Writes are refused with Redis's error; the CLI exits 1; reads are served.
    expect(await errorOf(c1.command("SET", "mix:1", "nope"))).toBe("READONLY You can't write against a read only replica.");
    const cli = await run([CLIENT_LINK, `127.0.0.1:${r2.port}`, "set", "x", "y"]);
    expect(cli.code).toBe(1);
    expect(cli.out + cli.stderr).toContain("READONLY");
    expect(await c2.get("mix:7")).toEqual(await mc.get("mix:7"));

    // The replication commands are refused where they make no sense.
    expect(await errorOf(c1.command("REPLICATE", "?", "-1", "0"))).toContain("chained replication is not supported");
    const redis = new RedisClient(`redis://127.0.0.1:${m.port}`);
    try {
      await redis.send("REPLICATE", ["?", "-1", "0"]);
      throw new Error("REPLICATE over RESP was accepted");
    } catch (e) {
      expect((e as Error).message).toContain("binary protocol");
    } finally {
      redis.close();
    }
    const cliInfo = await run([CLIENT_LINK, `127.0.0.1:${m.port}`, "info", "replication"]);
    expect(cliInfo.out).toContain("connected_slaves:2");
    // A replica writes no data files, and shuts down cleanly.
    expect(await Bun.file(`${r1.cwd}/data/appendonly.aof`).exists()).toBe(false);
    expect(await r1.stop()).toBe(0);
    await waitFor("the master to see one replica", async () => (await info(mc, "connected_slaves")) === "1");
  }, 60_000);

  test("a master with requirepass: a replica with master_auth syncs, one without keeps retrying and says why", async () => {
    const m = await master({ MICRODB_REQUIREPASS: "s3cret" });
    const mc = await connect("127.0.0.1", m.port, { password: "s3cret" });
    open.push(mc);
    await mc.set("k", "v");
    const good = await replica(m.port, { MICRODB_MASTER_AUTH: "s3cret" });
    const bad = await replica(m.port);
    const gc = await client(good);
    await converged(mc, gc);
    await waitFor("the refusal in the log", () => bad.output().includes("NOAUTH"));
    expect(await info(mc, "connected_slaves")).toBe("1");
  }, 30_000);

  test("a replica started after 100,000 writes gets them by full sync; writes during the sync are not lost", async () => {
    const m = await master();
    const mc = await client(m);
    for (let b = 0; b < 100_000; b += 10_000) {
      const batch: Promise<void>[] = [];
      for (let i = b; i < b + 10_000; i++) batch.push(mc.set(`pre:${i}`, `value-${i}`));
      await Promise.all(batch);
    }
    // A disk snapshot is running when the replica asks: its full sync waits for it, then runs.
    expect(await cmd(mc, "BGSAVE")).toBe("Background saving started");
    const r = await replica(m.port);
    const rc = await client(r);
    // Keep writing while the replica syncs (overwrites of snapshot keys and new keys).
    let i = 0;
    while ((await info(rc, "master_last_sync")) !== "full" || i < 3000) {
      const batch: Promise<void>[] = [];
      for (let j = 0; j < 200; j++, i++) batch.push(mc.set(i % 2 ? `pre:${i}` : `during:${i}`, `new-${i}`));
      await Promise.all(batch);
      if (i > 400_000) throw new Error("the full sync never finished");
    }
    await converged(mc, rc);
    expect(await rc.dbsize()).toBe(await mc.dbsize());
    expect(await rc.dbsize()).toBeGreaterThanOrEqual(100_000);
    expect(Number(await info(mc, "sync_full"))).toBe(1);
    expect(Number(await info(mc, "rdb_saves"))).toBeGreaterThanOrEqual(1);
  }, 60_000);

  test("a replica stopped with SIGSTOP is dropped at the output limit and comes back by partial resync", async () => {
    const m = await master({ MICRODB_CLIENT_OUTPUT_LIMIT: "1mb", MICRODB_REPL_BACKLOG_SIZE: "128mb" });
    const mc = await client(m);
    const r = await replica(m.port);
    let rc = await client(r);
    await mc.set("before", "1");
    await converged(mc, rc);
    rc.close();

    process.kill(r.pid, "SIGSTOP");
    try {
      const value = "x".repeat(16 * 1024);
      for (let b = 0; b < 2000; b += 250) {
        const batch: Promise<void>[] = [];
        for (let i = b; i < b + 250; i++) batch.push(mc.set(`big:${i}`, value + i));
        await Promise.all(batch);
      }
      await waitFor("the master to drop the stopped replica", async () => (await info(mc, "connected_slaves")) === "0");
      expect(m.output()).toContain("over client_output_limit");
    } finally {
      process.kill(r.pid, "SIGCONT");
    }
    rc = await client(r);
    await waitFor("a partial resync", async () => Number(await info(rc, "master_syncs_partial")) >= 1, 15_000);
    expect(await info(rc, "master_last_sync")).toBe("partial");
    expect(await info(rc, "master_syncs_full")).toBe("1");
    expect(Number(await info(mc, "sync_partial_ok"))).toBeGreaterThanOrEqual(1);
    await converged(mc, rc);
  }, 60_000);

  test("a master restart: the replica keeps serving reads, reconnects and converges", async () => {
    const dir = tempDir();
    const port = probeFreePort();
    let m = await master({}, { cwd: dir, port });
    let mc = await client(m);
    const r = await replica(port);
    const rc = await client(r);
    await writeMix(mc, 3000, "a");
    await converged(mc, rc);
    mc.close();
    expect(await m.stop()).toBe(0);

    await waitFor("the link to go down", async () => (await info(rc, "master_link_status")) === "down");
    expect(await rc.get("a:7")).not.toBeNull();

    m = await master({}, { cwd: dir, port });
    mc = await client(m);
    await writeMix(mc, 3000, "b");
    await waitFor("the replica to resync", async () => Number(await info(rc, "master_syncs_full")) >= 2, 15_000);
    await converged(mc, rc);
  }, 60_000);

  test("REPLICAOF NO ONE promotes a replica, the other follows it by partial resync, and its data is durable", async () => {
    const m = await master();
    const mc = await client(m);
    const [r1, r2] = await Promise.all([replica(m.port, { MICRODB_APPENDFSYNC: "always" }), replica(m.port)]);
    const [c1, c2] = await Promise.all([client(r1), client(r2)]);
    await writeMix(mc, 5000, "p");
    await converged(mc, c1, c2);

    // Failover: the master goes away, r1 is promoted, r2 is pointed at it.
    await m.kill();
    expect(await cmd(c1, "REPLICAOF", "NO", "ONE")).toBe("OK");
    expect(await cmd(c2, "REPLICAOF", "127.0.0.1", String(r1.port))).toBe("OK");
    expect(await cmd(c2, "REPLICAOF", "127.0.0.1", String(r1.port))).toBe("OK Already connected to specified master");
    expect(((await cmd(c1, "ROLE")) as unknown[])[0]).toBe("master");

    await c1.set("after", "promotion");
    await writeMix(c1, 2000, "q");
    await converged(c1, c2);
    expect(await c2.get("after")).toEqual(new TextEncoder().encode("promotion"));
    expect(await info(c2, "master_last_sync")).toBe("partial");
    expect(await info(c1, "master_replid2")).not.toBe("0".repeat(40));

    // The promoted node now owns data files: a kill -9 and a restart as a master keep everything.
    const want = await digest(c1);
    await r1.kill();
    const back = await master({ MICRODB_APPENDFSYNC: "always" }, { cwd: r1.cwd });
    const bc = await client(back);
    expect(await digest(bc)).toBe(want);
  }, 60_000);

  test("REPLICAOF HOST PORT demotes a master at run time; it syncs and turns read-only", async () => {
    const a = await master();
    const b = await master();
    const [ac, bc] = await Promise.all([client(a), client(b)]);
    await writeMix(ac, 2000, "a");
    await bc.set("only-on-b", "1");
    expect(await cmd(bc, "REPLICAOF", "127.0.0.1", String(a.port))).toBe("OK");
    await waitFor("b to sync", async () => (await info(bc, "master_link_status")) === "up");
    await converged(ac, bc);
    expect(await bc.get("only-on-b")).toBeNull();
    expect(await errorOf(bc.command("SET", "k", "v"))).toContain("READONLY");
    expect(await errorOf(bc.command("SAVE"))).toContain("writes no data files");
  }, 60_000);
});
