// Temp directories for tests: made under the OS temp dir and removed once the whole run ends
// (removeTempDirs, called by the e2e harness's cleanUp, a global afterAll from test/preload.ts).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dirs: string[] = [];

/** A new temp directory, removed after the run. */
export function tempDir(prefix = "microdb-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Removes every temp directory made so far. */
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // still in use (a mount): leave it rather than fail the run
    }
  }
}
