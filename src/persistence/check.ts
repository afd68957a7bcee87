// `microdb check [--fix] DATA_DIR`: verifies dump.rdb and the AOF files offline with the same scan
// the server runs at start-up. A torn last record is reported, and truncated with --fix; any other
// damage is reported with its file and byte offset. Exit 0 when the data would load as is (or
// does after --fix), 1 otherwise.

import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { Keyspace } from "../store/keyspace.ts";
import { recover } from "./recovery.ts";

export function runCheck(args: string[]): number {
  const fix = args.includes("--fix");
  const rest = args.filter((a) => a !== "--fix");
  if (rest.length !== 1 || rest[0]!.startsWith("-")) {
    process.stderr.write("usage: microdb check [--fix] DATA_DIR\n");
    return 1;
  }
  const dir = resolve(rest[0]!);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    process.stderr.write(`microdb check: ${dir} is not a directory\n`);
    return 1;
  }
  let report;
  try {
    report = recover(dir, new Keyspace(), { truncateTorn: fix });
  } catch (e) {
    process.stdout.write(`CORRUPT: ${(e as Error).message}\n`);
    return 1;
  }
  const snap = report.snapshot;
  process.stdout.write(`dump.rdb: ${snap ? `ok, ${snap.entries} entries covering log position ${snap.position}` : "absent"}\n`);
  process.stdout.write(`AOF: ${report.replayed + report.skipped} records ok (${report.skipped} already in the snapshot), appends continue in ${report.aof.file}\n`);
  for (const n of report.notes) process.stdout.write(`note: ${n}\n`);
  for (const t of report.torn) {
    process.stdout.write(fix
      ? `FIXED: ${t.file}: torn last record at byte offset ${t.offset} truncated (${t.bytes} bytes)\n`
      : `TORN: ${t.file}: torn last record at byte offset ${t.offset} (${t.bytes} bytes); run with --fix to truncate it\n`);
  }
  return report.torn.length > 0 && !fix ? 1 : 0;
}
