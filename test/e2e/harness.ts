// Starts the compiled ./microdb for e2e tests: each server gets its own temp directory and port 0
// (the OS picks a free port; the server's start line says which). Only processes started here are
// ever killed, and all of them are killed, and their directories removed, once the whole run ends
// (cleanUp, registered as a global afterAll by test/preload.ts: bun test fires no process "exit").

import type { Subprocess } from "bun";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_ENV } from "../../src/server/runtime-env.ts";
import { removeTempDirs, tempDir } from "../support/temp-dir.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const BINARY = join(ROOT, "microdb");
export const CLIENT_LINK = join(ROOT, "client");

const started = new Set<Subprocess>();

export { tempDir };

/** Kills every server still running and removes every temp directory made by tempDir. */
export async function cleanUp(): Promise<void> {
  for (const p of started) p.kill("SIGKILL");
  await Promise.all([...started].map((p) => p.exited));
  // A suite run would otherwise leave a data directory per server behind in /tmp.
  removeTempDirs();
}

export interface ServerOptions {
  /** Working directory (a new temp dir by default). */
  cwd?: string;
  /** Extra command-line arguments; `--port 0` is added unless `port` is false. */
  args?: string[];
  env?: Record<string, string>;
  /** Set false to leave the port to config file or env. */
  port0?: boolean;
  /** A command that execs the server, e.g. ["taskset", "-c", "0"] (the pid stays the server's). */
  wrapper?: string[];
  /** Open descriptors of this process passed on to the server, as child fd -> our fd (3 and up). */
  passFds?: Record<number, number>;
}

export interface RunningServer {
  readonly port: number;
  readonly pid: number;
  readonly cwd: string;
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Resident memory in bytes (Linux /proc). */
  rss(): number;
}

/** Environment for spawned servers without the outer shell's MICRODB_* variables or runtime settings. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("MICRODB_") && !Object.hasOwn(RUNTIME_ENV, k)) env[k] = v;
  return { ...env, ...extra };
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const cwd = opts.cwd ?? tempDir();
  const args = [...(opts.port0 === false ? [] : ["--port", "0"]), ...(opts.args ?? [])];
  const stdio: ["ignore", "pipe", "pipe", ...("ignore" | number)[]] = ["ignore", "pipe", "pipe"];
  for (const [at, fd] of Object.entries(opts.passFds ?? {})) {
    while (stdio.length < Number(at)) stdio.push("ignore");
    stdio[Number(at)] = fd;
  }
  const proc = Bun.spawn([...(opts.wrapper ?? []), BINARY, ...args], { cwd, env: cleanEnv(opts.env), stdio });
  started.add(proc);
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const deadline = Date.now() + 10_000;
  while (!out.includes("Ready to accept connections")) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`microdb exited (${proc.exitCode}) before ready:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`microdb not ready after 10 s:\n${out}`);
    }
    await Bun.sleep(10);
  }
  const port = Number(/ port=(\d+) /.exec(out)?.[1]);
  const finish = async () => {
    await proc.exited;
    started.delete(proc);
  };
  return {
    port,
    pid: proc.pid,
    cwd,
    proc,
    output: () => out,
    stop: async () => {
      proc.kill("SIGTERM");
      await finish();
      return proc.exitCode ?? -1;
    },
    kill: async () => {
      proc.kill("SIGKILL");
      await finish();
    },
    rss: () => {
      const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
  };
}

/** Runs the compiled binary to completion (client subcommand, bad configs, --help). */
export async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout: new Uint8Array(stdout), out: new TextDecoder().decode(stdout), stderr };
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A port that was free a moment ago (for tests about where the port setting comes from). */
export function probeFreePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Polls `cond` every 20 ms until it holds; throws naming `what` after `ms`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
