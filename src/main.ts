// The microdb executable: picks a subcommand from argv. `microdb [server flags]` runs the server;
// `microdb client HOST:PORT CMD [ARGS]` (or `client HOST:PORT …` through the ./client link) runs
// the command-line client.

import { parseArgs } from "node:util";
import { rawArgs, programName } from "./argv.ts";
import { runCli } from "./client/cli.ts";
import { ConfigError, loadConfig, type ConfigKey } from "./config.ts";
import { runCheck } from "./persistence/check.ts";
import { applyRuntimeEnv } from "./server/runtime-env.ts";
import { Server, StartupError } from "./server/server.ts";
import { watchForShutdown } from "./server/shutdown.ts";
import { VERSION } from "./version.ts";
import { log } from "./log.ts";

const HELP = `microdb ${VERSION} — a key-value server in one executable

Usage:
  microdb [--config FILE] [--port N] [--data-dir DIR] [--bind ADDR]   run the server
  microdb client HOST:PORT COMMAND [ARGS...]                          run one command
  microdb check [--fix] DATA_DIR                                      verify dump.rdb and the AOF
  microdb --help | --version

Server options:
  --config FILE    read settings from FILE (default: ./microdb.conf if present)
  --port N         TCP port (0 = any free port; the log line shows which)
  --data-dir DIR   directory for data files (created if missing)
  --bind ADDR      address to listen on (default 127.0.0.1)

Settings come from defaults < config file < MICRODB_<KEY> environment < flags.
Client commands: ping [msg], get KEY, set KEY VALUE, delete KEY, exists KEY, dbsize, info [section], save
Shutdown: SIGTERM, SIGINT, or a file named shutdown.txt (config shutdown_file) in the working directory.
`;

function fail(message: string): never {
  process.stderr.write(`microdb: ${message}\n`);
  process.exit(1);
}

function runServer(args: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string" },
        port: { type: "string" },
        "data-dir": { type: "string" },
        bind: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message} (see microdb --help)`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP);
    return;
  }
  if (v.version) {
    process.stdout.write(`microdb ${VERSION}\n`);
    return;
  }
  // Before anything is opened: on success the program starts over, in place, with the same pid.
  const notApplied = applyRuntimeEnv();
  if (notApplied !== null) log("warn", `Runtime settings not applied (${notApplied}); running with the runtime's defaults`);
  const flags: Partial<Record<ConfigKey, string>> = { port: v.port, data_dir: v["data-dir"], bind: v.bind };
  let server: Server;
  try {
    const config = loadConfig({ configFile: v.config, cwd: process.cwd(), env: process.env, flags });
    server = new Server(config);
    server.start();
  } catch (e) {
    if (e instanceof ConfigError) fail(`config error: ${e.message}`);
    if (e instanceof StartupError) fail(e.message);
    throw e;
  }
  server.requestShutdown = watchForShutdown(server.config.shutdown_file, (reason, save) => server.shutdown(reason, save));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (programName() === "client") {
    process.exitCode = await runCli(rawArgs());
    return;
  }
  if (args[0] === "client") {
    process.exitCode = await runCli(rawArgs().slice(1));
    return;
  }
  if (args[0] === "check") {
    process.exitCode = runCheck(args.slice(1));
    return;
  }
  if (args[0] === "server") args.shift();
  runServer(args);
}

await main();
