// The command table: one entry per command, shared by both protocols.
//
// An entry has Redis's shape — name, arity (N: exactly N arguments counting the name; -N: at
// least N), flags and key positions — so arity, key-length and write checks happen once, here,
// before any handler runs, and COMMAND can describe the table to redis-cli. Families of commands
// live in their own files. The binary protocol's fixed opcodes map onto entries by name
// (BINARY_OPS); its CALL opcode reaches any entry with a full argument list.

import type { Config } from "../config.ts";
import { Op, Shape, type ErrorCodeValue } from "../protocol/binary.ts";
import type { ReplicaInfo, StreamTarget } from "../replication/master.ts";
import type { LinkState } from "../replication/replica.ts";
import type { Keyspace } from "../store/keyspace.ts";
import { Args } from "./args.ts";
import type { Reply } from "./reply.ts";
import { keyCommands } from "./keys.ts";
import { replicationCommands } from "./replication.ts";
import { serverCommands } from "./server.ts";
import { stringCommands } from "./strings.ts";

export type Flag = "write" | "readonly" | "admin" | "noauth" | "fast" | "loading" | "stale";

/** Per-connection state commands may read or change. */
export interface Session {
  readonly id: number;
  readonly addr: string;
  readonly laddr: string;
  readonly createdAt: number;
  readonly protocol: "binary" | "resp";
  /** RESP version in use (2 until HELLO 3). */
  readonly resp: 2 | 3;
  /** Switches a RESP connection to RESP2 or RESP3 (HELLO); false for the binary protocol. */
  setResp(version: 2 | 3): boolean;
  name: string;
  libName: string;
  libVersion: string;
  authenticated: boolean;
  lastCommand: string;
  /** Close the connection after this reply (QUIT). */
  closeAfterReply(): void;
  /** This connection as a replication stream target (REPLICATE). */
  streamTarget(): StreamTarget;
}

export type RoleView =
  | { role: "master"; offset: number; replicas: ReplicaInfo[] }
  | { role: "slave"; host: string; port: number; state: LinkState; offset: number };

/** Replication as commands see it. */
export interface ReplicationControl {
  role(): RoleView;
  /** REPLICAOF HOST PORT: follow that master; returns the status line. */
  replicaOf(host: string, port: number): string;
  /** REPLICAOF NO ONE: become a master, keeping the data; returns the status line. */
  promote(): string;
  /** Why this node cannot serve REPLICATE now (it is a replica itself), or null. */
  refuseReplica(): string | null;
  /** REPLICATE: `start` gets the status line before any stream byte; a promise while a full sync waits. */
  attach(target: StreamTarget, replid: string, offset: number, port: number, start: (status: string) => void): Promise<void> | void;
  ack(target: StreamTarget, offset: number): void;
}

/** Why writes are refused (AOF failing, read-only replica), as an error code and text. */
export interface WriteRefusal {
  code: ErrorCodeValue;
  message: string;
}

/** What a command may touch besides its arguments. */
export interface CommandContext {
  readonly keyspace: Keyspace;
  readonly config: Config & { source: string | null };
  /** INFO text for one section, or every section when null; undefined for an unknown section. */
  info(section: string | null): string | undefined;
  /** Records a write that changed data (AOF, and later replication): its effect, not the command. */
  log(op: number, key: string, value: Uint8Array | null): void;
  /** log with key and value given in place (no key string, no view). */
  logBytes(op: number, kb: Uint8Array, ko: number, kl: number, vb: Uint8Array, vo: number, vl: number): void;
  /** Why write commands are refused right now (AOF failing, read-only replica), or null. */
  writeError(): WriteRefusal | null;
  readonly replication: ReplicationControl;
  /** Resolves once a snapshot holding every earlier write is on disk. */
  save(): Promise<void>;
  /** Starts a snapshot; null when started, else why not (one is running, a replica has no files). */
  bgsave(): string | null;
  /** Unix time (s) of the last successful snapshot. */
  lastSave(): number;
  /** Graceful shutdown; `save` false skips the final snapshot. */
  shutdown(save: boolean): void;
  sessions(): Iterable<Session>;
  /** The server's SCAN cursors: a live iterator per cursor id. */
  scanCursor(id: number): Iterator<string> | undefined;
  storeScanCursor(it: Iterator<string>): number;
  endScanCursor(id: number): void;
}

export interface CommandSpec {
  readonly name: string;
  readonly arity: number;
  readonly flags: readonly Flag[];
  /** Positions of key arguments (Redis's first key, last key, step; 0 = none; -1 = last). */
  readonly keys: readonly [first: number, last: number, step: number];
  /**
   * Arguments are views valid during the call only. A command that must wait (SAVE) returns a
   * promise and replies when it settles; the client's later requests wait behind it.
   */
  run(ctx: CommandContext, args: Args, reply: Reply, session: Session): void | Promise<void>;
}

export const COMMANDS: readonly CommandSpec[] = [...serverCommands, ...stringCommands, ...keyCommands, ...replicationCommands];

export const BY_NAME: ReadonlyMap<string, CommandSpec> = (() => {
  const m = new Map<string, CommandSpec>();
  for (const c of COMMANDS) {
    if (m.has(c.name)) throw new Error(`command ${c.name} is defined twice`);
    m.set(c.name, c);
  }
  return m;
})();

/** Commands with names of up to 6 bytes, by Args.shortCode of their name. */
const BY_SHORT_CODE: ReadonlyMap<number, CommandSpec> = (() => {
  const m = new Map<number, CommandSpec>();
  const args = new Args();
  for (const c of COMMANDS) {
    if (c.name.length > 6) continue;
    args.reset();
    args.push(new TextEncoder().encode(c.name), 0, c.name.length);
    m.set(args.shortCode(0), c);
  }
  return m;
})();

/** The command args[0] names (case-insensitive), or undefined. */
export function lookupCommand(args: Args): CommandSpec | undefined {
  const code = args.shortCode(0);
  return code >= 0 ? BY_SHORT_CODE.get(code) : BY_NAME.get(args.lower(0));
}

const WRITES = new Set(COMMANDS.filter((c) => c.flags.includes("write")));

export function isWrite(spec: CommandSpec): boolean {
  return WRITES.has(spec);
}

const KEY = Shape.KEY_ALLOWED | Shape.KEY_REQUIRED;

/** The binary protocol's fixed opcodes: each is a command with a key and/or a value. */
export const BINARY_OPS: readonly { op: number; name: string; shape: number }[] = [
  { op: Op.PING, name: "ping", shape: Shape.VALUE_ALLOWED },
  { op: Op.GET, name: "get", shape: KEY },
  // An empty value is a valid value, so SET allows but does not require one.
  { op: Op.SET, name: "set", shape: KEY | Shape.VALUE_ALLOWED },
  { op: Op.DELETE, name: "del", shape: KEY },
  { op: Op.EXISTS, name: "exists", shape: KEY },
  { op: Op.DBSIZE, name: "dbsize", shape: 0 },
  { op: Op.INFO, name: "info", shape: Shape.VALUE_ALLOWED },
  { op: Op.SAVE, name: "save", shape: 0 },
  { op: Op.CALL, name: "", shape: Shape.VALUE_ALLOWED | Shape.VALUE_REQUIRED },
];

/** Entries by opcode (undefined = unknown; CALL maps to undefined and is resolved by name). */
export const BY_OP: readonly (CommandSpec | undefined)[] = (() => {
  const out: (CommandSpec | undefined)[] = new Array(256).fill(undefined);
  for (const b of BINARY_OPS) if (b.name) out[b.op] = BY_NAME.get(b.name)!;
  return out;
})();

/** Frame shapes by opcode, for the codec's header checks. */
export const SHAPES: Uint8Array = (() => {
  const out = new Uint8Array(256);
  for (const b of BINARY_OPS) out[b.op] = b.shape | Shape.KNOWN;
  return out;
})();

/** Redis's error for a wrong argument count. */
export function arityError(name: string): string {
  return `ERR wrong number of arguments for '${name}' command`;
}

export function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity >= 0 ? argc === spec.arity : argc >= -spec.arity;
}
