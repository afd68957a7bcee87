// Shared by the end-to-end benchmarks: starting the compiled microdb and loading a dataset into it.

import { join } from "node:path";
import type { Client } from "../src/client/client.ts";

const BINARY = join(import.meta.dir, "..", "microdb");

export interface Microdb {
  proc: Bun.Subprocess<"ignore", "pipe", "inherit">;
  port: number;
  /** Everything it printed on stdout so far. */
  log: () => string;
}

/** Starts ./microdb in `dir` on a free port, snapshots off unless `env` says otherwise. */
export async function startMicrodb(dir: string, env: Record<string, string> = {}): Promise<Microdb> {
  const proc = Bun.spawn([BINARY, "--port", "0"], {
    cwd: dir,
    env: { ...process.env, MICRODB_SNAPSHOT_COMMANDS: "0", MICRODB_SNAPSHOT_INTERVAL: "0", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "inherit",
  });
  let out = "";
  void (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c);
  })();
  while (!out.includes("Ready to accept")) {
    if (proc.exitCode !== null) throw new Error(`microdb exited (${proc.exitCode}):\n${out}`);
    await Bun.sleep(10);
  }
  return { proc, port: Number(/ port=(\d+)/.exec(out)![1]), log: () => out };
}

/** SETs key:0 .. key:(n-1) to `value`, 10,000 requests in flight at a time. */
export async function loadKeys(c: Client, n: number, value: Uint8Array): Promise<void> {
  for (let i = 0; i < n; i += 10_000) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) batch.push(c.set(`key:${j}`, value));
    await Promise.all(batch);
  }
}
