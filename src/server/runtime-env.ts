// Runtime settings the server wants that JavaScriptCore and mimalloc read only from the
// environment, once, at process start: when any is missing, the server executes itself again in
// place (execve through bun:ffi: same pid, same argv, same open descriptors) with it added.
//
// Why these two: on a machine whose cores are all busy (the server's loop and its clients), two
// helper threads of the runtime preempt the loop for 1-3 ms at a time, and while they run every
// client waits. JSC's JSCWarmUp thread faults in fresh heap blocks ahead of the allocator, and
// mimalloc's scavenger returns "holes" of freed pages to the OS, pages the runtime then faults in
// again. Without either, `redis-benchmark -c 50 -P 1` SET p99 went from 1.77 to 1.21 ms (medians
// of 5), with RSS after a bulk load unchanged (README, "Where the -P 1 tail comes from").

import { dlopen, FFIType, ptr } from "bun:ffi";
import { readlinkSync, realpathSync } from "node:fs";
import { readNulList } from "../argv.ts";

/** Variable, value: what the server runs with unless its environment already says otherwise. */
export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  BUN_JSC_useWarmUpMarkedBlocks: "false",
  MIMALLOC_PURGE_HOLES: "0",
};

/** The settings `env` lacks (a variable the user set, to any value, is theirs). */
export function missingRuntimeEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.keys(RUNTIME_ENV).filter((k) => env[k] === undefined);
}

/**
 * Re-executes this process with the missing settings added. Returns null when nothing is missing
 * (or not on Linux, where /proc gives the exact argv and environment); on success it does not
 * return at all; otherwise it returns why it could not, and the server runs on without them.
 */
export function applyRuntimeEnv(): string | null {
  if (process.platform !== "linux") return null;
  const missing = missingRuntimeEnv(process.env);
  if (missing.length === 0) return null;
  try {
    // The exact bytes this process was started with, not process.argv's decoded view of them.
    const argv = readNulList("/proc/self/cmdline");
    const envp = readNulList("/proc/self/environ");
    const enc = new TextEncoder();
    for (const k of missing) envp.push(enc.encode(`${k}=${RUNTIME_ENV[k]}`));
    const libc = dlopen("libc.so.6", {
      execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    });
    const path = executablePath(argv[0]);
    const argvTable = cStringTable(argv);
    const envTable = cStringTable(envp);
    libc.symbols.execve(path, argvTable.table, envTable.table);
    // Only a failed execve returns. The strings stay referenced until here: the tables point into them.
    libc.close();
    return `execve of ${Buffer.from(path.subarray(0, -1)).toString()} failed (${argvTable.strings.length + envTable.strings.length} bytes of arguments and environment)`;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * The file to execute, NUL-terminated: the path this process was started by when it names this
 * same file, since the process name that ps, top and pgrep show is taken from that path (from
 * /proc/self/exe it would be "exe"); else the file's own path.
 */
function executablePath(argv0: Uint8Array | undefined): Uint8Array {
  const self = readlinkSync("/proc/self/exe", { encoding: "buffer" });
  if (self.toString().endsWith(" (deleted)")) throw new Error(`${self.toString()}: the executable was replaced since the server started`);
  let chosen: Uint8Array = self;
  if (argv0 !== undefined && argv0.includes(0x2f)) {
    try {
      if (realpathSync(Buffer.from(argv0), { encoding: "buffer" }).equals(self)) chosen = argv0;
    } catch {
      // Not resolvable from here: use the file's own path.
    }
  }
  const out = new Uint8Array(chosen.length + 1);
  out.set(chosen, 0);
  return out;
}

/** A NULL-terminated array of pointers to NUL-terminated copies of `items`, as execve wants. */
function cStringTable(items: Uint8Array[]): { table: BigUint64Array; strings: Uint8Array } {
  let size = 0;
  for (const it of items) size += it.length + 1;
  const strings = new Uint8Array(size);
  const table = new BigUint64Array(items.length + 1);
  // ptr() pins the buffer, so the addresses below stay valid.
  const base = BigInt(ptr(strings));
  let off = 0;
  items.forEach((it, i) => {
    strings.set(it, off);
    table[i] = base + BigInt(off);
    off += it.length + 1;
  });
  return { table, strings };
}
