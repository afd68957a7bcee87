// String commands: GET, SET (EX, PX, NX, XX, GET, KEEPTTL), SETNX, SETEX, PSETEX, GETSET, GETDEL, MGET, MSET,
// INCR, INCRBY, DECR, DECRBY, APPEND, STRLEN — Redis 7's semantics and error texts. Writes are
// logged as their effect (SET, PEXPIREAT, DELETE), so replaying the log is deterministic.

import { ErrorCode, Op } from "../protocol/binary.ts";
import type { Args } from "./args.ts";
import type { Reply } from "./reply.ts";
import type { CommandContext, CommandSpec } from "./table.ts";

export const ERR_NOT_INT = "ERR value is not an integer or out of range";
export const ERR_SYNTAX = "ERR syntax error";
const ERR_OVERFLOW = "ERR increment or decrement would overflow";

const utf8 = new TextEncoder();

/** Latest expiry accepted (year 9999): later times are almost certainly a unit mistake. */
export const MAX_EXPIRY_MS = 253_402_300_799_999;

export function validExpiry(at: number): boolean {
  return Number.isSafeInteger(at) && at <= MAX_EXPIRY_MS;
}

/** Replies with the value of the key in args[i], or nil: the hot read, with no key string or view made. */
function replyValueOf(ctx: CommandContext, args: Args, i: number, reply: Reply): void {
  const ks = ctx.keyspace;
  if (!ks.peek(args.bufOf(i), args.startOf(i), args.size(i))) reply.nil();
  else if (ks.hitLarge) reply.value(ks.hitBuf);
  else reply.valueAt(ks.hitBuf, ks.hitOff, ks.hitLen);
}

/**
 * Stores a value (the keyspace and the log each copy it, so a view of the receive buffer is fine)
 * and logs it; with keepTtl an existing expiry stays and is logged again.
 */
export function store(ctx: CommandContext, key: string, value: Uint8Array, keepTtl: boolean): void {
  const ks = ctx.keyspace;
  // A TTL that has already run out is not kept: the key expires (and is logged) first.
  if (keepTtl) ks.get(key);
  ks.set(key, value, keepTtl);
  ctx.log(Op.SET, key, value);
  if (keepTtl) {
    const at = ks.expireAt(key);
    if (at > 0) ctx.log(Op.PEXPIREAT, key, encodeMs(at));
  }
}

/** Sets an absolute expiry and logs it. */
export function expireKey(ctx: CommandContext, key: string, at: number): void {
  ctx.keyspace.setExpire(key, at);
  ctx.log(Op.PEXPIREAT, key, encodeMs(at));
}

export function encodeMs(at: number): Uint8Array {
  return utf8.encode(String(at));
}

function incrBy(ctx: CommandContext, key: string, by: number, reply: Reply): void {
  const current = ctx.keyspace.get(key);
  let n = 0;
  if (current !== undefined) {
    const parsed = parseIntBytes(current);
    if (parsed === null) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOT_INT);
    n = parsed;
  }
  const next = n + by;
  if (!Number.isSafeInteger(next)) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_OVERFLOW);
  store(ctx, key, utf8.encode(String(next)), true);
  reply.integer(next);
}

/** A stored value as a whole number (Redis: no spaces, no leading zeros), or null. */
export function parseIntBytes(v: Uint8Array): number | null {
  if (v.length === 0 || v.length > 20) return null;
  const s = String.fromCharCode(...v);
  if (!/^-?(0|[1-9][0-9]*)$/.test(s) || s === "-0") return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** SETEX / PSETEX key ttl value. */
function setWithTtl(ctx: CommandContext, args: Args, reply: Reply, unitMs: number, name: string): void {
  const n = args.int(2);
  if (n === null) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOT_INT);
  const at = ctx.keyspace.now() + n * unitMs;
  if (n <= 0 || !validExpiry(at)) return reply.error(ErrorCode.BAD_ARGUMENTS, `ERR invalid expire time in '${name}' command`);
  const key = args.key(1);
  store(ctx, key, args.bytes(3), false);
  expireKey(ctx, key, at);
  reply.ok();
}

function intArg(args: Args, i: number, reply: Reply): number | null {
  const n = args.int(i);
  if (n === null) reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOT_INT);
  return n;
}

/**
 * SET with options (NX, XX, GET, EX/PX/EXAT/PXAT, KEEPTTL). Kept out of SET's run: its closure
 * would make every plain SET allocate a scope for the variables it captures.
 */
function setWithOptions(ctx: CommandContext, args: Args, reply: Reply): void {
  const key = args.key(1);
  let nx = false, xx = false, get = false, keepTtl = false;
  let expireAt = 0;
  for (let i = 3; i < args.length; i++) {
    const opt = args.lower(i);
    if (opt === "nx" && !xx) nx = true;
    else if (opt === "xx" && !nx) xx = true;
    else if (opt === "get") get = true;
    else if (opt === "keepttl" && expireAt === 0) keepTtl = true;
    else if ((opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") && expireAt === 0 && !keepTtl && i + 1 < args.length) {
      const n = args.int(++i);
      if (n === null) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOT_INT);
      if (n <= 0) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR invalid expire time in 'set' command");
      const now = ctx.keyspace.now();
      expireAt = opt === "ex" ? now + n * 1000 : opt === "px" ? now + n : opt === "exat" ? n * 1000 : n;
      if (!validExpiry(expireAt)) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR invalid expire time in 'set' command");
    } else return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_SYNTAX);
  }
  if (!nx && !xx && !get) {
    // The common case needs no look at the old value.
    store(ctx, key, args.bytes(2), keepTtl);
    if (expireAt > 0) expireKey(ctx, key, expireAt);
    return reply.ok();
  }
  const old = ctx.keyspace.get(key);
  const reply0 = () => (get ? (old === undefined ? reply.nil() : reply.value(old)) : reply.nil());
  if ((nx && old !== undefined) || (xx && old === undefined)) return reply0();
  store(ctx, key, args.bytes(2), keepTtl);
  if (expireAt > 0) expireKey(ctx, key, expireAt);
  if (get) reply0();
  else reply.ok();
}

export const stringCommands: CommandSpec[] = [
  {
    name: "get",
    arity: 2,
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      replyValueOf(ctx, args, 1, reply);
    },
  },
  {
    name: "set",
    arity: -3,
    flags: ["write"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      if (args.length === 3) {
        // Plain SET, the hot write: key and value go from the receive buffer to the keyspace and
        // the log without a key string or a view.
        const kb = args.bufOf(1), ko = args.startOf(1), kl = args.size(1);
        const vb = args.bufOf(2), vo = args.startOf(2), vl = args.size(2);
        ctx.keyspace.setBytes(kb, ko, kl, vb, vo, vl);
        ctx.logBytes(Op.SET, kb, ko, kl, vb, vo, vl);
        return reply.ok();
      }
      setWithOptions(ctx, args, reply);
    },
  },
  {
    name: "setnx",
    arity: 3,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const key = args.key(1);
      if (ctx.keyspace.has(key)) return reply.integer(0);
      store(ctx, key, args.bytes(2), false);
      reply.integer(1);
    },
  },
  {
    name: "setex",
    arity: 4,
    flags: ["write"],
    keys: [1, 1, 1],
    run: (ctx, args, reply) => setWithTtl(ctx, args, reply, 1000, "setex"),
  },
  {
    name: "psetex",
    arity: 4,
    flags: ["write"],
    keys: [1, 1, 1],
    run: (ctx, args, reply) => setWithTtl(ctx, args, reply, 1, "psetex"),
  },
  {
    name: "getset",
    arity: 3,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const key = args.key(1);
      const old = ctx.keyspace.get(key);
      store(ctx, key, args.bytes(2), false);
      if (old === undefined) reply.nil();
      else reply.value(old);
    },
  },
  {
    name: "getdel",
    arity: 2,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const key = args.key(1);
      const old = ctx.keyspace.get(key);
      if (old === undefined) return reply.nil();
      ctx.keyspace.delete(key);
      ctx.log(Op.DELETE, key, null);
      reply.value(old);
    },
  },
  {
    name: "mget",
    arity: -2,
    flags: ["readonly", "fast"],
    keys: [1, -1, 1],
    run(ctx, args, reply) {
      reply.array(args.length - 1);
      for (let i = 1; i < args.length; i++) replyValueOf(ctx, args, i, reply);
    },
  },
  {
    name: "mset",
    arity: -3,
    flags: ["write"],
    keys: [1, -1, 2],
    run(ctx, args, reply) {
      if (args.length % 2 === 0) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR wrong number of arguments for 'mset' command");
      for (let i = 1; i < args.length; i += 2) store(ctx, args.key(i), args.bytes(i + 1), false);
      reply.ok();
    },
  },
  {
    name: "incr",
    arity: 2,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run: (ctx, args, reply) => incrBy(ctx, args.key(1), 1, reply),
  },
  {
    name: "decr",
    arity: 2,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run: (ctx, args, reply) => incrBy(ctx, args.key(1), -1, reply),
  },
  {
    name: "incrby",
    arity: 3,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const by = intArg(args, 2, reply);
      if (by !== null) incrBy(ctx, args.key(1), by, reply);
    },
  },
  {
    name: "decrby",
    arity: 3,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const by = intArg(args, 2, reply);
      if (by !== null) incrBy(ctx, args.key(1), -by, reply);
    },
  },
  {
    name: "append",
    arity: 3,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const key = args.key(1);
      const old = ctx.keyspace.get(key);
      const add = args.bytes(2);
      const limit = ctx.config.max_value_size;
      if ((old?.length ?? 0) + add.length > limit) {
        return reply.error(ErrorCode.VALUE_TOO_LARGE, `ERR string exceeds maximum allowed size (max_value_size is ${limit})`);
      }
      let next: Uint8Array;
      if (old === undefined) next = add;
      else {
        next = new Uint8Array(old.length + add.length);
        next.set(old, 0);
        next.set(add, old.length);
      }
      store(ctx, key, next, true);
      reply.integer(next.length);
    },
  },
  {
    name: "strlen",
    arity: 2,
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      reply.integer(ctx.keyspace.get(args.key(1))?.length ?? 0);
    },
  },
];
