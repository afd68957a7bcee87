// String commands: GET and SET.

import { Op, Shape } from "../protocol/binary.ts";
import type { CommandSpec } from "./table.ts";

const KEY = Shape.KEY_ALLOWED | Shape.KEY_REQUIRED;

export const stringCommands: CommandSpec[] = [
  {
    name: "get",
    op: Op.GET,
    shape: KEY,
    write: false,
    run(ctx, key, _value, reply) {
      const v = ctx.keyspace.get(key);
      if (v === undefined) reply.nil();
      else reply.value(v);
    },
  },
  {
    name: "set",
    op: Op.SET,
    // An empty value is a valid value, so SET allows but does not require one.
    shape: KEY | Shape.VALUE_ALLOWED,
    write: true,
    run(ctx, key, value, reply) {
      ctx.keyspace.set(key, value);
      ctx.log(Op.SET, key, value);
      reply.ok();
    },
  },
];
