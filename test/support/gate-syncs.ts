// Holds an AOF's fsyncs until a test lets them go: what happens while an fsync runs (records held
// behind it, replies waiting) cannot be looked at with a real one, which on a fast disk ends first.
// Under `always` the log's own fsync runs on the loop and completes before any tick can end; with
// the gate it runs as an off-loop one would, which the hold must also handle.

import { fdatasync } from "node:fs";
import type { Aof } from "../../src/persistence/aof.ts";

export interface SyncGate {
  /** fsyncs started and not yet let go. */
  waiting(): number;
  /** Lets the oldest one run (the real fdatasync, completing in a later turn), or fail with `err`. */
  release(err?: Error): void;
  /** Lets every held one run, and every later one through (a test's clean-up). */
  open(): void;
}

export function gateSyncs(aof: Aof): SyncGate {
  const held: ((err?: Error) => void)[] = [];
  let opened = false;
  aof.datasync = (fd, done) => {
    if (opened) fdatasync(fd, done);
    else held.push((err) => (err ? done(err) : fdatasync(fd, done)));
  };
  return {
    waiting: () => held.length,
    release: (err) => {
      const next = held.shift();
      if (next === undefined) throw new Error("no fsync is waiting");
      next(err);
    },
    open: () => {
      opened = true;
      for (const next of held.splice(0)) next();
    },
  };
}
