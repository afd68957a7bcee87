// Builds ./microdb: one self-contained executable (server, client and every later entrypoint),
// plus ./client, a link to it, so that `./client 127.0.0.1:6379 set foo bar` works verbatim.

import { existsSync, lstatSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";

const root = import.meta.dir;
const outfile = join(root, "microdb");

const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  // Not minified: stack traces in the server's log stay readable.
  compile: {
    outfile,
    // The server must not pick up a .env or bunfig.toml from whatever directory it is started in.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
});
if (!result.success) {
  for (const m of result.logs) console.error(m);
  process.exit(1);
}

const link = join(root, "client");
if (existsSync(link) || isBrokenLink(link)) unlinkSync(link);
symlinkSync("microdb", link);
console.log(`built ${outfile} and ${link} -> microdb`);

function isBrokenLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
