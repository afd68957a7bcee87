// What starts a graceful shutdown: SIGTERM, SIGINT, or a file (shutdown_file, default
// shutdown.txt) appearing in the working directory, polled every 200 ms. A file already present at
// start-up is stale — it would stop the fresh server at once — so it is removed with a warning.
// The file is removed once the shutdown is done.

import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { log } from "../log.ts";

export const SHUTDOWN_POLL_MS = 200;

/**
 * Calls `shutdown` once on the first trigger, then exits 0 when it has finished. Returns the
 * trigger itself, for the SHUTDOWN command.
 */
export function watchForShutdown(
  file: string, shutdown: (reason: string, save: boolean) => Promise<void>,
): (reason: string, save: boolean) => void {
  const path = resolve(file);
  if (existsSync(path)) {
    log("warn", `${path} was already present at start-up; removed it instead of shutting down`);
    rmSync(path, { force: true });
  }
  let started = false;
  const begin = (reason: string, save = true) => {
    if (started) return;
    started = true;
    clearInterval(poll);
    shutdown(reason, save).then(
      () => {
        rmSync(path, { force: true });
        process.exit(0);
      },
      (e: unknown) => {
        log("error", `shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  const poll = setInterval(() => {
    if (existsSync(path)) begin(`${file} found`);
  }, SHUTDOWN_POLL_MS);
  process.on("SIGTERM", () => begin("Received SIGTERM"));
  process.on("SIGINT", () => begin("Received SIGINT"));
  return begin;
}
