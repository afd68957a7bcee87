// Loaded by `bun test` before any test file (bunfig.toml): builds ./microdb when it is missing or
// older than its sources, so the e2e tests always run against the binary the sources make; and
// after the whole run, cleans up what the e2e harness started.

import { afterAll } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { cleanUp } from "./e2e/harness.ts";

const root = join(import.meta.dir, "..");
const binary = join(root, "microdb");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const stale = !existsSync(binary) ||
  statSync(binary).mtimeMs < Math.max(newestSource(join(root, "src")), statSync(join(root, "build.ts")).mtimeMs);
if (stale) {
  const r = Bun.spawnSync([process.execPath, "run", join(root, "build.ts")], { cwd: root, stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`build.ts failed with exit code ${r.exitCode}`);
}

// Once, after every test file: no server outlives the run, no temp directory is left behind.
afterAll(cleanUp);
