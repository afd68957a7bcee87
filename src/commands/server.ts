// Server commands: PING, INFO and SAVE.

import { ErrorCode, Op, Shape } from "../protocol/binary.ts";
import type { CommandSpec } from "./table.ts";

const utf8 = new TextDecoder();

export const serverCommands: CommandSpec[] = [
  {
    name: "ping",
    op: Op.PING,
    // PING with a value echoes it, as Redis's PING message does.
    shape: Shape.VALUE_ALLOWED,
    write: false,
    run(_ctx, _key, value, reply) {
      if (value.length === 0) reply.status("PONG");
      else reply.value(value.slice());
    },
  },
  {
    name: "info",
    op: Op.INFO,
    // The value, if any, names a section (see info.ts: server, clients, memory, stats, replication,
    // keyspace; all/everything/default for every one).
    shape: Shape.VALUE_ALLOWED,
    write: false,
    run(ctx, _key, value, reply) {
      const section = value.length === 0 ? null : utf8.decode(value).toLowerCase();
      const text = ctx.info(section);
      if (text === undefined) reply.error(ErrorCode.BAD_ARGUMENTS, `ERR unknown INFO section "${section}"`);
      else reply.text(text);
    },
  },
  {
    name: "save",
    op: Op.SAVE,
    shape: 0,
    write: false,
    async run(ctx, _key, _value, reply) {
      try {
        await ctx.save();
        reply.ok();
      } catch (e) {
        reply.error(ErrorCode.SAVE_FAILED, `ERR ${(e as Error).message}`);
      }
    },
  },
];
