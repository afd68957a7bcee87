// Keyspace commands: DEL, UNLINK, EXISTS, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, PERSIST,
// KEYS, SCAN, DBSIZE, FLUSHALL, FLUSHDB, TYPE — Redis 7's semantics and error texts.

import { ErrorCode, Op } from "../protocol/binary.ts";
import { keyToBytes } from "../store/keys.ts";
import { globMatcher } from "./glob.ts";
import { ERR_NOT_INT, ERR_SYNTAX, expireKey, validExpiry } from "./strings.ts";
import type { Args } from "./args.ts";
import type { Reply } from "./reply.ts";
import type { CommandContext, CommandSpec } from "./table.ts";

/** EXPIRE / PEXPIRE (relative) and EXPIREAT / PEXPIREAT (absolute), with NX XX GT LT. */
function expire(ctx: CommandContext, args: Args, reply: Reply, unitMs: number, name: string, absolute = false): void {
  const key = args.key(1);
  const n = args.int(2);
  if (n === null) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOT_INT);
  const ks = ctx.keyspace;
  const at = absolute ? n * unitMs : ks.now() + n * unitMs;
  if (!validExpiry(at)) return reply.error(ErrorCode.BAD_ARGUMENTS, `ERR invalid expire time in '${name}' command`);
  let nx = false, xx = false, gt = false, lt = false;
  for (let i = 3; i < args.length; i++) {
    const o = args.lower(i);
    if (o === "nx") nx = true;
    else if (o === "xx") xx = true;
    else if (o === "gt") gt = true;
    else if (o === "lt") lt = true;
    else return reply.error(ErrorCode.BAD_ARGUMENTS, `ERR Unsupported option ${args.text(i)}`);
  }
  if (nx && (xx || gt || lt)) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR NX and XX, GT or LT options at the same time are not compatible");
  if (gt && lt) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR GT and LT options at the same time are not compatible");
  const current = ks.expireAt(key);
  if (current < 0) return reply.integer(0);
  if ((nx && current > 0) || (xx && current === 0)) return reply.integer(0);
  // A key without an expiry counts as infinite for GT and LT.
  if ((gt && (current === 0 || at <= current)) || (lt && current !== 0 && at >= current)) return reply.integer(0);
  if (at <= ks.now()) {
    ks.delete(key);
    ctx.log(Op.DELETE, key, null);
  } else {
    expireKey(ctx, key, at);
  }
  reply.integer(1);
}

function del(ctx: CommandContext, args: Args, reply: Reply): void {
  let n = 0;
  for (let i = 1; i < args.length; i++) {
    const key = args.key(i);
    if (ctx.keyspace.delete(key)) {
      ctx.log(Op.DELETE, key, null);
      n++;
    }
  }
  reply.integer(n);
}

function flush(ctx: CommandContext, args: Args, reply: Reply): void {
  if (args.length > 2 || (args.length === 2 && !["async", "sync"].includes(args.lower(1)))) {
    return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_SYNTAX);
  }
  ctx.keyspace.clear();
  ctx.log(Op.FLUSHALL, "", null);
  reply.ok();
}

function ttl(ctx: CommandContext, args: Args, reply: Reply, unitMs: number): void {
  const at = ctx.keyspace.expireAt(args.key(1));
  if (at < 0) return reply.integer(-2);
  if (at === 0) return reply.integer(-1);
  const left = Math.max(0, at - ctx.keyspace.now());
  reply.integer(unitMs === 1 ? left : Math.round(left / 1000));
}

export const keyCommands: CommandSpec[] = [
  { name: "del", arity: -2, flags: ["write"], keys: [1, -1, 1], run: del },
  // UNLINK frees memory in the background in Redis; here deleting is already cheap.
  { name: "unlink", arity: -2, flags: ["write", "fast"], keys: [1, -1, 1], run: del },
  {
    name: "exists",
    arity: -2,
    flags: ["readonly", "fast"],
    keys: [1, -1, 1],
    run(ctx, args, reply) {
      let n = 0;
      for (let i = 1; i < args.length; i++) if (ctx.keyspace.has(args.key(i))) n++;
      reply.integer(n);
    },
  },
  { name: "expire", arity: -3, flags: ["write", "fast"], keys: [1, 1, 1], run: (ctx, a, r) => expire(ctx, a, r, 1000, "expire") },
  { name: "pexpire", arity: -3, flags: ["write", "fast"], keys: [1, 1, 1], run: (ctx, a, r) => expire(ctx, a, r, 1, "pexpire") },
  { name: "ttl", arity: 2, flags: ["readonly", "fast"], keys: [1, 1, 1], run: (ctx, a, r) => ttl(ctx, a, r, 1000) },
  { name: "pttl", arity: 2, flags: ["readonly", "fast"], keys: [1, 1, 1], run: (ctx, a, r) => ttl(ctx, a, r, 1) },
  {
    name: "persist",
    arity: 2,
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      const key = args.key(1);
      if (!ctx.keyspace.persist(key)) return reply.integer(0);
      ctx.log(Op.PERSIST, key, null);
      reply.integer(1);
    },
  },
  {
    name: "type",
    arity: 2,
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    run(ctx, args, reply) {
      reply.status(ctx.keyspace.has(args.key(1)) ? "string" : "none");
    },
  },
  {
    name: "keys",
    arity: 2,
    flags: ["readonly"],
    keys: [0, 0, 0],
    run(ctx, args, reply) {
      const match = globMatcher(args.bytes(1));
      const found: string[] = [];
      for (const k of ctx.keyspace.keys()) if (match(k)) found.push(k);
      reply.array(found.length);
      for (const k of found) reply.value(keyToBytes(k));
    },
  },
  {
    name: "scan",
    arity: -2,
    flags: ["readonly"],
    keys: [0, 0, 0],
    run(ctx, args, reply) {
      const cursor = args.int(1);
      if (cursor === null || cursor < 0) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR invalid cursor");
      let count = 10;
      let match: ((k: string) => boolean) | null = null;
      for (let i = 2; i < args.length; i++) {
        const o = args.lower(i);
        if (o === "count" && i + 1 < args.length) {
          const n = args.int(++i);
          if (n === null) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOT_INT);
          if (n < 1) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_SYNTAX);
          count = n;
        } else if (o === "match" && i + 1 < args.length) {
          match = globMatcher(args.bytes(++i));
        } else if (o === "type" && i + 1 < args.length) {
          const t = args.lower(++i);
          if (t !== "string") match = () => false;
        } else return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_SYNTAX);
      }
      // A cursor is a live keyspace walk kept by the server: keys present for the whole scan are
      // returned (twice at most, if the index was rebuilt meanwhile); keys added or removed
      // meanwhile may or may not be; the scan always ends (Redis's promise).
      const it = cursor === 0 ? ctx.keyspace.keys() : ctx.scanCursor(cursor);
      if (it === undefined) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR invalid cursor");
      const found: string[] = [];
      let done = false;
      for (let n = 0; n < count; n++) {
        const r = it.next();
        if (r.done) {
          done = true;
          break;
        }
        if (match === null || match(r.value)) found.push(r.value);
      }
      reply.array(2);
      let next = 0;
      if (done) {
        if (cursor !== 0) ctx.endScanCursor(cursor);
      } else {
        next = cursor !== 0 ? cursor : ctx.storeScanCursor(it);
      }
      reply.value(new TextEncoder().encode(String(next)));
      reply.array(found.length);
      for (const k of found) reply.value(keyToBytes(k));
    },
  },
  {
    name: "dbsize",
    arity: 1,
    flags: ["readonly", "fast"],
    keys: [0, 0, 0],
    run(ctx, _args, reply) {
      reply.integer(ctx.keyspace.size);
    },
  },
  { name: "flushall", arity: -1, flags: ["write"], keys: [0, 0, 0], run: flush },
  // One database, so FLUSHDB is FLUSHALL.
  { name: "flushdb", arity: -1, flags: ["write"], keys: [0, 0, 0], run: flush },
  { name: "expireat", arity: -3, flags: ["write", "fast"], keys: [1, 1, 1], run: (ctx, a, r) => expire(ctx, a, r, 1000, "expireat", true) },
  { name: "pexpireat", arity: -3, flags: ["write", "fast"], keys: [1, 1, 1], run: (ctx, a, r) => expire(ctx, a, r, 1, "pexpireat", true) },
];
