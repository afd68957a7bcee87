// Runtime settings the server wants that JavaScriptCore and mimalloc read only from the
// environment, once, at process start: when any is missing, the server executes itself again in
// place (execve through bun:ffi: same pid, same argv, same open descriptors) with it added.
//
// Why these two: on a machine whose cores are all busy (the server's loop and its clients), two
// helper threads of the runtime preempt the loop for 1-3 ms at a time, and while they run every
// client waits. JSC's JSCWarmUp thread faults in fresh heap blocks ahead of the allocator, and
// mimalloc's scavenger returns "holes" of freed pages to the OS, pages the runtime then faults in
// again. Without either, `redis-benchmark -c 50 -P 1` SET p99 went from 1.77 to 1.21 ms (medians
// of 5), with RSS after a bulk load unchanged (docs/benchmarks.md, "Where the -P 1 tail comes from").

import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { readdirSync, readlinkSync, realpathSync } from "node:fs";
import { getSystemErrorMessage, getSystemErrorName } from "node:util";
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
  try {
    // The exact bytes this process was started with, not process.argv's decoded view of them;
    // and what is missing is judged on those bytes, so that the new process cannot find it missing.
    const argv = readNulList("/proc/self/cmdline");
    const envp = readNulList("/proc/self/environ");
    const dec = new TextDecoder();
    const have: Record<string, string> = {};
    for (const kv of envp) {
      const eq = kv.indexOf(0x3d);
      if (eq > 0) have[dec.decode(kv.subarray(0, eq))] = "";
    }
    const missing = missingRuntimeEnv(have);
    if (missing.length === 0) return null;
    const enc = new TextEncoder();
    for (const k of missing) envp.push(enc.encode(`${k}=${RUNTIME_ENV[k]}`));
    const libc = openLibc();
    keepInheritedDescriptors((fd) => libc.symbols.fcntl(fd, F_SETFD, 0));
    const argvTable = cStringTable(argv);
    const envTable = cStringTable(envp);
    const named = namedPath(argv[0]);
    // Both tables and paths stay referenced until execve returns (it returns only on failure).
    if (named !== null) libc.symbols.execve(named, argvTable.table, envTable.table);
    libc.symbols.execve(cString(enc.encode("/proc/self/exe")), argvTable.table, envTable.table);
    // Read at once, before other calls into libc can overwrite it.
    const errno = read.i32(libc.symbols.__errno_location() as Pointer, 0);
    libc.close();
    const bytes = argvTable.strings.length + envTable.strings.length;
    return `execve of /proc/self/exe failed: ${errnoText(errno)} (${bytes} bytes of arguments and environment)`;
  } catch (e) {
    return (e as Error).message;
  }
}

const F_SETFD = 2;

const LIBC_SYMBOLS = {
  execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

/**
 * The C library by glibc's soname; musl's loader (Alpine) answers to that name too, and its own
 * file name, for the machine, is the fallback.
 */
function openLibc() {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  const names = ["libc.so.6", `libc.musl-${arch}.so.1`];
  const errors: string[] = [];
  for (const name of names) {
    try {
      return dlopen(name, LIBC_SYMBOLS);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(`no C library to call execve with: ${errors.join("; ")}`);
}

/** "E2BIG (argument list too long)": the name a man page uses, and what it means. */
function errnoText(errno: number): string {
  try {
    const name = getSystemErrorName(-errno);
    // libuv names only the errors it knows; for others it says "Unknown system error -N".
    if (!name.startsWith("Unknown")) return `${name} (${getSystemErrorMessage(-errno)})`;
  } catch {
    // Not a valid errno (0, positive): said as a number below.
  }
  return `errno ${errno}`;
}

/**
 * Bun marks every descriptor a parent passed on (3 and up) close-on-exec when it starts; undone
 * here, so that a lock or pipe handed to the server (`flock` on fd 9, say) outlives the second
 * start. The runtime's own descriptors (epoll, eventfd and the like) are left to close.
 */
function keepInheritedDescriptors(clearCloexec: (fd: number) => number): void {
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    if (!(fd > 2)) continue;
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory listing's own descriptor, closed by now
    }
    if (target.startsWith("anon_inode:") || target.startsWith("/proc/")) continue;
    clearCloexec(fd);
  }
}

/**
 * The path this process was started by, NUL-terminated, when it names this same file: the
 * process name that ps, top and pgrep show is taken from the path execve is given (from
 * /proc/self/exe it would be "exe"). Null when it does not (a bare name found on PATH, a file
 * replaced since): /proc/self/exe, which is always this file, is used instead.
 */
function namedPath(argv0: Uint8Array | undefined): Uint8Array | null {
  if (argv0 === undefined || !argv0.includes(0x2f)) return null;
  try {
    const self = readlinkSync("/proc/self/exe", { encoding: "buffer" });
    return realpathSync(Buffer.from(argv0), { encoding: "buffer" }).equals(self) ? cString(argv0) : null;
  } catch {
    return null;
  }
}

function cString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes, 0);
  return out;
}

/** A NULL-terminated array of pointers to NUL-terminated copies of `items`, as execve wants. */
function cStringTable(items: Uint8Array[]): { table: BigUint64Array; strings: Uint8Array } {
  let size = 0;
  for (const it of items) size += it.length + 1;
  const strings = new Uint8Array(size);
  const table = new BigUint64Array(items.length + 1);
  // JSC does not move a typed array's storage; the caller keeps `strings` referenced meanwhile.
  const base = BigInt(ptr(strings));
  let off = 0;
  items.forEach((it, i) => {
    strings.set(it, off);
    table[i] = base + BigInt(off);
    off += it.length + 1;
  });
  return { table, strings };
}
