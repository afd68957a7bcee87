// `microdb client [--raw] HOST:PORT COMMAND [ARGS...]`: runs one command and prints the reply the
// way redis-cli does (OK, "quoted value", (nil), (integer) N, (error) ...). Arguments are raw
// bytes, so any byte can be stored and is shown escaped (\xNN) unless --raw is given.
// Exit code 0 on a reply, 1 on an error reply, a refused connection or bad usage.

import { parseHostPort } from "../config.ts";
import { Op } from "../protocol/binary.ts";
import { Client, ConnectionError, MicrodbError, ServerError, fromBytes } from "./client.ts";

const USAGE = "usage: microdb client [--raw] HOST:PORT COMMAND [ARGS...]\n" +
  "commands: ping [message], get KEY, set KEY VALUE, delete KEY (or del), exists KEY, dbsize, info [section], save\n";

const NEWLINE = new Uint8Array([0x0a]);

type Printable = { kind: "ok" } | { kind: "value"; bytes: Uint8Array | null } | { kind: "integer"; n: number } |
  { kind: "status"; text: string } | { kind: "text"; text: string };

interface CliCommand {
  readonly args: [min: number, max: number];
  run(c: Client, a: Uint8Array[]): Promise<Printable>;
}

const COMMANDS: Record<string, CliCommand> = {
  ping: {
    args: [0, 1],
    run: async (c, a) => (a[0] ? { kind: "value", bytes: await pingEcho(c, a[0]) } : { kind: "status", text: await c.ping() }),
  },
  get: { args: [1, 1], run: async (c, a) => ({ kind: "value", bytes: await c.get(a[0]!) }) },
  set: { args: [2, 2], run: async (c, a) => (await c.set(a[0]!, a[1]!), { kind: "ok" }) },
  delete: { args: [1, 1], run: async (c, a) => ({ kind: "integer", n: await c.delete(a[0]!) }) },
  exists: { args: [1, 1], run: async (c, a) => ({ kind: "integer", n: (await c.exists(a[0]!)) ? 1 : 0 }) },
  dbsize: { args: [0, 0], run: async (c) => ({ kind: "integer", n: await c.dbsize() }) },
  info: { args: [0, 1], run: async (c, a) => ({ kind: "text", text: await c.info(a[0] ? fromBytes(a[0]) : undefined) }) },
  save: { args: [0, 0], run: async (c) => (await c.save(), { kind: "ok" }) },
};
const ALIASES: Record<string, string> = { del: "delete" };

async function pingEcho(c: Client, message: Uint8Array): Promise<Uint8Array> {
  return (await c.call(Op.PING, null, message)).payload;
}

/** Runs the CLI on raw argument bytes; returns the exit code. */
export async function runCli(argv: Uint8Array[]): Promise<number> {
  const args = [...argv];
  let raw = false;
  if (args[0] && fromBytes(args[0]) === "--raw") {
    raw = true;
    args.shift();
  }
  if (args.length < 2) return usage("missing HOST:PORT or COMMAND");
  const addrText = fromBytes(args[0]!);
  const addr = parseHostPort(addrText);
  if (!addr) return usage(`"${addrText}" is not HOST:PORT`);
  const name = fromBytes(args[1]!).toLowerCase();
  const cmd = COMMANDS[ALIASES[name] ?? name];
  if (!cmd) return usage(`unknown command "${name}"`);
  const rest = args.slice(2);
  if (rest.length < cmd.args[0] || rest.length > cmd.args[1]) return usage(`wrong number of arguments for "${name}"`);

  let client: Client;
  try {
    client = await Client.connect(addr.host, addr.port);
  } catch (e) {
    process.stderr.write(`Error: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const reply = await cmd.run(client, rest);
    process.stdout.write(format(reply, raw));
    return 0;
  } catch (e) {
    if (e instanceof ServerError) {
      process.stdout.write(raw ? `${e.message}\n` : `(error) ${e.message}\n`);
    } else if (e instanceof ConnectionError || e instanceof MicrodbError) {
      process.stderr.write(`Error: ${e.message}\n`);
    } else {
      throw e;
    }
    return 1;
  } finally {
    client.close();
  }
}

function format(r: Printable, raw: boolean): string | Uint8Array {
  switch (r.kind) {
    case "ok":
      return "OK\n";
    case "status":
      return `${r.text}\n`;
    case "text":
      return r.text.endsWith("\n") ? r.text : `${r.text}\n`;
    case "integer":
      return raw ? `${r.n}\n` : `(integer) ${r.n}\n`;
    case "value":
      if (r.bytes === null) return raw ? "\n" : "(nil)\n";
      return raw ? Buffer.concat([r.bytes, NEWLINE]) : `${quote(r.bytes)}\n`;
  }
}

/** redis-cli's quoting: printable ASCII as is, the usual escapes, every other byte as \xNN. */
export function quote(bytes: Uint8Array): string {
  let s = '"';
  for (const b of bytes) {
    switch (b) {
      case 0x5c: s += "\\\\"; break;
      case 0x22: s += '\\"'; break;
      case 0x0a: s += "\\n"; break;
      case 0x0d: s += "\\r"; break;
      case 0x09: s += "\\t"; break;
      case 0x07: s += "\\a"; break;
      case 0x08: s += "\\b"; break;
      default:
        s += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
    }
  }
  return s + '"';
}

function usage(problem: string): number {
  process.stderr.write(`microdb client: ${problem}\n${USAGE}`);
  return 1;
}
