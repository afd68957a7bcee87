// E2e: the compiled server re-executes itself in place (same pid, same arguments and environment)
// with the runtime settings of src/server/runtime-env.ts added, unless the user set them: then it
// runs JSC without its JSCWarmUp thread and mimalloc without purging holes.

import { expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/client/client.ts";
import { BINARY, cleanEnv, startServer, tempDir, type RunningServer } from "./harness.ts";

function environ(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = kv.indexOf("=");
    if (eq > 0) out.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return out;
}

function threadNames(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim());
}

/** Enough allocation for JSC to start its warm-up thread when it is allowed one (~2,000 SETs do). */
async function someLoad(s: RunningServer): Promise<void> {
  const c = await connect("127.0.0.1", s.port);
  for (let i = 0; i < 10_000; i += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => c.set(`k:${i + j}`, "v".repeat(100))));
  c.close();
  await Bun.sleep(200);
}

/** mimalloc's own report of an option (MIMALLOC_VERBOSE=1); the last one is the running process's. */
function mimallocOption(out: string, name: string): string[] {
  return [...out.matchAll(new RegExp(`option '${name}': (\\S+)`, "g"))].map((m) => m[1]!);
}

test("by default: same pid and arguments, the settings added, no JSCWarmUp thread, no hole purging", async () => {
  const dir = join(tempDir(), "data dir é");
  const s = await startServer({ args: ["--data-dir", dir], env: { MIMALLOC_VERBOSE: "1", MICRODB_SNAPSHOT_COMMANDS: "0" } });
  try {
    // The process the test spawned is the server: the re-execution kept its pid.
    expect(readFileSync(`/proc/${s.pid}/cmdline`, "utf8").split("\0").slice(1, 5)).toEqual(["--port", "0", "--data-dir", dir]);
    expect(s.output()).toContain(`data_dir=${dir}`);
    // Executed by the path it was started with, so ps and pgrep still know it by its name.
    expect(readFileSync(`/proc/${s.pid}/comm`, "utf8").trim()).toBe("microdb");
    const env = environ(s.pid);
    expect(env.get("BUN_JSC_useWarmUpMarkedBlocks")).toBe("false");
    expect(env.get("MIMALLOC_PURGE_HOLES")).toBe("0");
    expect(env.get("MICRODB_SNAPSHOT_COMMANDS")).toBe("0");
    // Started twice: mimalloc reported its options once per start, holes purged only in the first.
    expect(mimallocOption(s.output(), "purge_holes")).toEqual(["1", "0"]);
    await someLoad(s);
    expect(threadNames(s.pid)).not.toContain("JSCWarmUp");
    expect(s.output()).not.toContain("Runtime settings not applied");
  } finally {
    await s.stop();
  }
}, 20_000);

test("a setting the user gave wins, and only what is missing is added", async () => {
  const s = await startServer({ env: { MIMALLOC_VERBOSE: "1", BUN_JSC_useWarmUpMarkedBlocks: "true" } });
  try {
    const env = environ(s.pid);
    expect(env.get("BUN_JSC_useWarmUpMarkedBlocks")).toBe("true");
    expect(env.get("MIMALLOC_PURGE_HOLES")).toBe("0");
    expect(mimallocOption(s.output(), "purge_holes")).toEqual(["1", "0"]);
    await someLoad(s);
    // The control for the test above: with warm-up allowed, the same load starts the thread.
    expect(threadNames(s.pid)).toContain("JSCWarmUp");
  } finally {
    await s.stop();
  }
}, 20_000);

test("with every setting given there is nothing to add: started once", async () => {
  const s = await startServer({ env: { MIMALLOC_VERBOSE: "1", BUN_JSC_useWarmUpMarkedBlocks: "false", MIMALLOC_PURGE_HOLES: "1" } });
  try {
    expect(mimallocOption(s.output(), "purge_holes")).toEqual(["1"]);
    expect(environ(s.pid).get("MIMALLOC_PURGE_HOLES")).toBe("1");
  } finally {
    await s.stop();
  }
}, 20_000);

test("a descriptor the parent passed on (a lock on fd 9, say) is still open after the second start", async () => {
  const dir = tempDir();
  const lock = join(dir, "lockfile");
  const fd = openSync(lock, "w");
  let s: RunningServer;
  try {
    s = await startServer({ cwd: dir, env: { MIMALLOC_VERBOSE: "1" }, passFds: { 9: fd } });
  } finally {
    closeSync(fd);
  }
  try {
    expect(mimallocOption(s.output(), "purge_holes")).toEqual(["1", "0"]); // it did start twice
    expect(readlinkSync(`/proc/${s.pid}/fd/9`)).toBe(lock);
  } finally {
    await s.stop();
  }
}, 20_000);

/** The kernel's cap on argv + environment for a new program: a quarter of the stack limit, within 128 KiB..6 MiB. */
function execLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max stack size"))!;
  const soft = line.split(/\s+/)[3]!;
  const quarter = soft === "unlimited" ? Infinity : Number(soft) / 4;
  return Math.max(Math.min(6 * 1024 * 1024, quarter), 128 * 1024);
}

/** `count` variables PAD00=xxx… taking exactly `total` bytes of the environment block (NULs included). */
function padding(total: number, count: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const share = i < count - 1 ? Math.floor(total / count) : total - Math.floor(total / count) * (count - 1);
    env[`PAD${String(i).padStart(2, "0")}`] = "x".repeat(share - 7); // "PADnn=" and the NUL
  }
  return env;
}

/** What an argument list costs the kernel: each string and its NUL, and a pointer to it. */
const argBytes = (args: string[]) => args.reduce((n, a) => n + Buffer.byteLength(a) + 1 + 8, 0);

test("when the second start fails, the server says why, with the errno, and runs on without the settings", async () => {
  // An environment just small enough for the server to start, so that the two settings it adds
  // (75 bytes) push the second start past the kernel's limit: execve fails with E2BIG. The
  // server's last try is by /proc/self/exe, shorter than BINARY's path; the 75 bytes cover the
  // difference for any path under 89 bytes.
  expect(BINARY.length).toBeLessThan(89);
  const limit = execLimit();
  const count = Math.ceil(limit / 120_000); // each under the 128 KiB cap on one string
  const fits = (total: number) => {
    try {
      return Bun.spawnSync([BINARY, "--version"], { env: cleanEnv(padding(total, count)), stdout: "ignore", stderr: "ignore" }).exitCode === 0;
    } catch {
      return false; // E2BIG from posix_spawn
    }
  };
  let lo = count * 8;
  let hi = limit;
  expect(fits(lo)).toBe(true);
  expect(fits(hi)).toBe(false);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  // The largest padding that fits with the server's own arguments instead of --version's.
  const total = lo + argBytes(["--version"]) - argBytes(["--port", "0"]);
  const s = await startServer({ env: padding(total, count) });
  try {
    expect(s.output()).toContain(
      "Runtime settings not applied (execve of /proc/self/exe failed: E2BIG (argument list too long)",
    );
    expect(environ(s.pid).has("MIMALLOC_PURGE_HOLES")).toBe(false);
    // It serves all the same.
    const c = await connect("127.0.0.1", s.port);
    await c.set("k", "v");
    expect(new TextDecoder().decode((await c.get("k"))!)).toBe("v");
    c.close();
  } finally {
    await s.stop();
  }
}, 20_000);
