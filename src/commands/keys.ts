// Keyspace commands: DELETE, EXISTS, DBSIZE.

import { Op, Shape } from "../protocol/binary.ts";
import type { CommandSpec } from "./table.ts";

const KEY = Shape.KEY_ALLOWED | Shape.KEY_REQUIRED;

export const keyCommands: CommandSpec[] = [
  {
    name: "delete",
    op: Op.DELETE,
    shape: KEY,
    write: true,
    run(ctx, key, _value, reply) {
      const existed = ctx.keyspace.delete(key);
      if (existed) ctx.log(Op.DELETE, key, null);
      reply.integer(existed ? 1 : 0);
    },
  },
  {
    name: "exists",
    op: Op.EXISTS,
    shape: KEY,
    write: false,
    run(ctx, key, _value, reply) {
      reply.integer(ctx.keyspace.has(key) ? 1 : 0);
    },
  },
  {
    name: "dbsize",
    op: Op.DBSIZE,
    shape: 0,
    write: false,
    run(ctx, _key, _value, reply) {
      reply.integer(ctx.keyspace.size);
    },
  },
];
