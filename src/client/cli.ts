// `microdb client [--raw] [-a PASSWORD] HOST:PORT COMMAND [ARGS...]`: runs one command and prints
// the reply the way redis-cli does (OK, "quoted value", (nil), (integer) N, numbered arrays,
// (error) ...). Any server command works (it travels as a binary CALL frame); `delete` is kept as
// a name for DEL. Arguments are raw bytes, so any byte can be stored and is shown escaped (\xNN)
// unless --raw is given. Exit code 0 on a reply, 1 on an error reply, a refused connection or bad
// usage.

import { parseHostPort } from "../config.ts";
import { Client, MicrodbError, ServerError, fromBytes, type ReplyValue } from "./client.ts";

const USAGE = "usage: microdb client [--raw] [-a PASSWORD] HOST:PORT COMMAND [ARGS...]\n" +
  "e.g. set KEY VALUE, get KEY, delete KEY, exists KEY, dbsize, info [section], save, or any other command\n";

const ALIASES: Record<string, string> = { delete: "del" };
/** Commands whose text reply redis-cli prints raw, not quoted. */
const RAW_TEXT = new Set(["info", "client"]);
const NEWLINE = new Uint8Array([0x0a]);

/** Runs the CLI on raw argument bytes; returns the exit code. */
export async function runCli(argv: Uint8Array[]): Promise<number> {
  const args = [...argv];
  let raw = false;
  let password: Uint8Array | undefined;
  for (;;) {
    const flag = args[0] ? fromBytes(args[0]) : "";
    if (flag === "--raw") {
      raw = true;
      args.shift();
    } else if (flag === "-a" && args.length > 1) {
      password = args[1];
      args.splice(0, 2);
    } else break;
  }
  if (args.length < 2) return usage("missing HOST:PORT or COMMAND");
  const addrText = fromBytes(args[0]!);
  const addr = parseHostPort(addrText);
  if (!addr) return usage(`"${addrText}" is not HOST:PORT`);
  const name = fromBytes(args[1]!).toLowerCase();
  const command = [new TextEncoder().encode(ALIASES[name] ?? name), ...args.slice(2)];

  let client: Client;
  try {
    client = await Client.connect(addr.host, addr.port, { password });
  } catch (e) {
    if (e instanceof ServerError) {
      process.stdout.write(`(error) ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`Error: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const reply = await client.command(...command);
    process.stdout.write(format(reply, raw, RAW_TEXT.has(name)));
    return 0;
  } catch (e) {
    if (e instanceof ServerError) {
      process.stdout.write(raw ? `${e.message}\n` : `(error) ${e.message}\n`);
    } else if (e instanceof MicrodbError) {
      process.stderr.write(`Error: ${e.message}\n`);
    } else {
      throw e;
    }
    return 1;
  } finally {
    client.close();
  }
}

/** redis-cli's layout: one line per value, arrays numbered and indented. */
function format(v: ReplyValue, raw: boolean, rawText: boolean, indent = 0): string | Uint8Array {
  if (v instanceof Uint8Array) {
    if (raw) return Buffer.concat([v, NEWLINE]);
    if (rawText) return fromBytes(v).endsWith("\n") ? fromBytes(v) : `${fromBytes(v)}\n`;
    return `${quote(v)}\n`;
  }
  if (v === null) return raw ? "\n" : "(nil)\n";
  if (typeof v === "number") return raw ? `${v}\n` : `(integer) ${v}\n`;
  if (typeof v === "string") return `${v}\n`;
  if (v instanceof ServerError) return raw ? `${v.message}\n` : `(error) ${v.message}\n`;
  if (v.length === 0) return raw ? "" : "(empty array)\n";
  const parts: (string | Uint8Array)[] = [];
  const width = String(v.length).length;
  v.forEach((item, i) => {
    const label = raw ? "" : `${String(i + 1).padStart(width)}) `;
    const prefix = i === 0 ? label : " ".repeat(indent) + label;
    const body = format(item, raw, rawText, indent + label.length);
    parts.push(prefix, body);
  });
  return Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
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
