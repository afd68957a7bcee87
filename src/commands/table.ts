// The command table: one entry per command, shared by every codec.
//
// An entry names its opcode, the shape of its frame (key/value required or refused, checked by the
// codec on the header, so handlers never see a malformed request) and whether it writes. Families
// of commands live in their own files; this file assembles them and derives the lookup arrays.

import { Shape } from "../protocol/binary.ts";
import type { Keyspace } from "../store/keyspace.ts";
import type { Reply } from "./reply.ts";
import { keyCommands } from "./keys.ts";
import { serverCommands } from "./server.ts";
import { stringCommands } from "./strings.ts";

/** What a command may touch besides its arguments. */
export interface CommandContext {
  readonly keyspace: Keyspace;
  /** INFO text for one section, or every section when null; undefined for an unknown section. */
  info(section: string | null): string | undefined;
  /** Records a write that changed data (AOF, and later replication): its effect, not the command. */
  log(op: number, key: string, value: Uint8Array | null): void;
  /** Why write commands are refused right now (AOF failing), or null. */
  writeError(): string | null;
  /** Resolves once a snapshot holding every earlier write is on disk. */
  save(): Promise<void>;
}

export interface CommandSpec {
  readonly name: string;
  readonly op: number;
  /** Shape.* bits, without KNOWN (added here). */
  readonly shape: number;
  readonly write: boolean;
  /**
   * `value` is a view into the receive buffer, valid only during the call; EMPTY when absent.
   * A command that must wait (SAVE) returns a promise and replies when it settles; the client's
   * later requests wait behind it, other clients do not.
   */
  run(ctx: CommandContext, key: string, value: Uint8Array, reply: Reply): void | Promise<void>;
}

export const COMMANDS: readonly CommandSpec[] = [...serverCommands, ...stringCommands, ...keyCommands];

/** Entries by opcode (undefined = unknown). */
export const BY_OP: readonly (CommandSpec | undefined)[] = (() => {
  const out: (CommandSpec | undefined)[] = new Array(256).fill(undefined);
  for (const c of COMMANDS) {
    if (out[c.op]) throw new Error(`opcode 0x${c.op.toString(16)} is used by ${out[c.op]!.name} and ${c.name}`);
    out[c.op] = c;
  }
  return out;
})();

/** Frame shapes by opcode, for the codec's header checks. */
export const SHAPES: Uint8Array = (() => {
  const out = new Uint8Array(256);
  for (const c of COMMANDS) out[c.op] = c.shape | Shape.KNOWN;
  return out;
})();

export const BY_NAME: ReadonlyMap<string, CommandSpec> = new Map(COMMANDS.map((c) => [c.name, c]));
