// Server commands: PING, ECHO, INFO, SAVE, BGSAVE, LASTSAVE, DEBUG DIGEST, SELECT, QUIT, HELLO,
// COMMAND, CONFIG GET, CLIENT, SHUTDOWN, AUTH — what redis-cli, redis-benchmark and client libraries send,
// with Redis 7's replies and error texts.

import { createHash, timingSafeEqual } from "node:crypto";
import { CONFIG_KEYS } from "../config.ts";
import { ErrorCode } from "../protocol/binary.ts";
import { copyOf } from "../bytes.ts";
import { digest } from "../store/digest.ts";
import { VERSION } from "../version.ts";
import { globMatcher } from "./glob.ts";
import { ERR_SYNTAX } from "./strings.ts";
import type { Args } from "./args.ts";
import type { Reply } from "./reply.ts";
import { COMMANDS, type CommandContext, type CommandSpec, type Session } from "./table.ts";

/** The Redis version reported to tools that check it (the command set follows Redis 7). */
export const REDIS_COMPAT_VERSION = "7.0.0";

const ERR_NOPASS = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const ERR_WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled.";

/** Constant-time password check: both sides are hashed to equal length first. */
export function passwordMatches(given: Uint8Array, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

function auth(ctx: CommandContext, session: Session, user: string | null, pass: Uint8Array, reply: Reply): boolean {
  const required = ctx.config.requirepass;
  if (required === "") {
    reply.error(ErrorCode.BAD_ARGUMENTS, ERR_NOPASS);
    return false;
  }
  if ((user !== null && user !== "default") || !passwordMatches(pass, required)) {
    reply.error(ErrorCode.WRONGPASS, ERR_WRONGPASS);
    return false;
  }
  session.authenticated = true;
  return true;
}

/** CONFIG GET's view of the settings: microdb's own keys plus the Redis names tools ask for. */
function configView(ctx: CommandContext): [string, string][] {
  const c = ctx.config;
  // role and master_addr as they are now (REPLICAOF changes them at run time), not as started.
  const r = ctx.replication.role();
  const now: Partial<Record<string, string>> = {
    role: r.role, master_addr: r.role === "slave" ? `${r.host}:${r.port}` : "",
  };
  const own: [string, string][] = CONFIG_KEYS.filter((k) => k !== "requirepass").map((k) => [k, now[k] ?? String(c[k] ?? "")]);
  return [
    ...own,
    ["requirepass", c.requirepass],
    ["save", c.snapshot_interval > 0 && c.snapshot_commands > 0 ? `${c.snapshot_interval} ${c.snapshot_commands}` : ""],
    ["appendonly", "yes"],
    ["maxclients", String(c.max_clients)],
    ["proto-max-bulk-len", String(c.max_value_size)],
    ["dir", ctx.config.data_dir],
    ["databases", "1"],
    ["maxmemory", "0"],
    ["maxmemory-policy", "noeviction"],
    ["timeout", "0"],
  ];
}

function commandInfo(spec: CommandSpec, reply: Reply): void {
  reply.array(10);
  reply.text(spec.name);
  reply.integer(spec.arity);
  reply.array(spec.flags.length);
  for (const f of spec.flags) reply.status(f);
  reply.integer(spec.keys[0]);
  reply.integer(spec.keys[1]);
  reply.integer(spec.keys[2]);
  reply.array(0); // ACL categories
  reply.array(0); // tips
  reply.array(0); // key specs
  reply.array(0); // subcommands
}

function hello(ctx: CommandContext, args: Args, reply: Reply, session: Session): void {
  let i = 1;
  let version: number = session.resp;
  if (args.length > 1) {
    const v = args.int(1);
    if (v === null) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR Protocol version is not an integer or out of range");
    // RESP3 is offered because clients such as Bun's RedisClient open with HELLO 3 and do not fall
    // back; for this command set it changes only nil and maps. The binary protocol has no RESP.
    if (v !== 2 && !(v === 3 && session.protocol === "resp")) {
      return reply.error(ErrorCode.BAD_ARGUMENTS, "NOPROTO sorry, this protocol version is not supported.");
    }
    version = v;
    i = 2;
  }
  for (; i < args.length; i++) {
    const o = args.lower(i);
    if (o === "auth" && i + 2 < args.length) {
      if (!auth(ctx, session, args.text(i + 1), args.bytes(i + 2), reply)) return;
      i += 2;
    } else if (o === "setname" && i + 1 < args.length) {
      session.name = args.text(++i);
    } else return reply.error(ErrorCode.BAD_ARGUMENTS, `ERR Syntax error in HELLO option '${args.text(i)}'`);
  }
  if (ctx.config.requirepass !== "" && !session.authenticated) {
    return reply.error(ErrorCode.NOAUTH, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
  }
  session.setResp(version === 3 ? 3 : 2);
  reply.map(7);
  reply.text("server");
  reply.text("redis");
  reply.text("version");
  reply.text(REDIS_COMPAT_VERSION);
  reply.text("proto");
  reply.integer(version);
  reply.text("id");
  reply.integer(session.id);
  reply.text("mode");
  reply.text("standalone");
  reply.text("role");
  reply.text(ctx.replication.role().role);
  reply.text("modules");
  reply.array(0);
}

function clientCommand(ctx: CommandContext, args: Args, reply: Reply, session: Session): void {
  const sub = args.lower(1);
  const argc = args.length;
  const bad = () => reply.error(ErrorCode.BAD_ARGUMENTS, `ERR unknown subcommand or wrong number of arguments for '${args.text(1)}'. Try CLIENT HELP.`);
  switch (sub) {
    case "setname":
      if (argc !== 3) return bad();
      if (/[\s]/.test(args.text(2))) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR Client names cannot contain spaces, newlines or special characters.");
      session.name = args.text(2);
      return reply.ok();
    case "getname":
      if (argc !== 2) return bad();
      return session.name ? reply.text(session.name) : reply.nil();
    case "id":
      if (argc !== 2) return bad();
      return reply.integer(session.id);
    case "setinfo": {
      if (argc !== 4) return bad();
      const attr = args.lower(2);
      if (/[\s]/.test(args.text(3))) {
        return reply.error(ErrorCode.BAD_ARGUMENTS, `ERR ${args.text(2)} cannot contain spaces, newlines or special characters.`);
      }
      if (attr === "lib-name") session.libName = args.text(3);
      else if (attr === "lib-ver") session.libVersion = args.text(3);
      else return reply.error(ErrorCode.BAD_ARGUMENTS, `ERR Unrecognized option '${args.text(2)}'`);
      return reply.ok();
    }
    case "list": {
      const now = Date.now();
      const lines: string[] = [];
      for (const s of ctx.sessions()) {
        lines.push(`id=${s.id} addr=${s.addr} laddr=${s.laddr} fd=-1 name=${s.name} age=${Math.floor((now - s.createdAt) / 1000)} idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=${s.lastCommand} user=default redir=-1 resp=2 lib-name=${s.libName} lib-ver=${s.libVersion} proto=${s.protocol}`);
      }
      return reply.text(lines.join("\n") + "\n");
    }
    case "info":
      return reply.text(`id=${session.id} addr=${session.addr} name=${session.name} db=0 cmd=client|info user=default resp=2\n`);
    default:
      return bad();
  }
}

export const serverCommands: CommandSpec[] = [
  {
    name: "ping",
    arity: -1,
    flags: ["fast", "stale"],
    keys: [0, 0, 0],
    run(_ctx, args, reply) {
      if (args.length > 2) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR wrong number of arguments for 'ping' command");
      if (args.length === 2) reply.value(copyOf(args.bytes(1)));
      else reply.status("PONG");
    },
  },
  {
    name: "echo",
    arity: 2,
    flags: ["fast"],
    keys: [0, 0, 0],
    run: (_ctx, args, reply) => reply.value(copyOf(args.bytes(1))),
  },
  {
    name: "info",
    arity: -1,
    flags: ["stale"],
    keys: [0, 0, 0],
    run(ctx, args, reply) {
      // INFO [section]: server, clients, memory, persistence, stats, replication, keyspace;
      // all / everything / default for every one.
      // INFO a b c (Redis 7) joins the sections; an unknown one adds nothing.
      if (args.length === 1) return reply.text(ctx.info(null) ?? "");
      const parts: string[] = [];
      for (let i = 1; i < args.length; i++) {
        const text = ctx.info(args.lower(i));
        if (text !== undefined && !parts.includes(text)) parts.push(text);
      }
      reply.text(parts.join("\r\n"));
    },
  },
  {
    name: "save",
    arity: 1,
    flags: ["admin"],
    keys: [0, 0, 0],
    async run(ctx, _args, reply) {
      try {
        await ctx.save();
        reply.ok();
      } catch (e) {
        reply.error(ErrorCode.SAVE_FAILED, `ERR ${(e as Error).message}`);
      }
    },
  },
  {
    name: "bgsave",
    arity: -1,
    flags: ["admin"],
    keys: [0, 0, 0],
    run(ctx, _args, reply) {
      const refused = ctx.bgsave();
      if (refused === null) reply.status("Background saving started");
      else reply.error(ErrorCode.BAD_ARGUMENTS, refused);
    },
  },
  {
    name: "lastsave",
    arity: 1,
    flags: ["fast"],
    keys: [0, 0, 0],
    run: (ctx, _args, reply) => reply.integer(ctx.lastSave()),
  },
  {
    // DEBUG DIGEST only: a fingerprint of the dataset, to compare a master with its replicas.
    name: "debug",
    arity: -2,
    flags: ["admin", "stale"],
    keys: [0, 0, 0],
    run(ctx, args, reply) {
      if (args.lower(1) === "digest" && args.length === 2) return reply.status(digest(ctx.keyspace));
      reply.error(ErrorCode.BAD_ARGUMENTS, `ERR unknown subcommand '${args.text(1).slice(0, 128)}'. microdb supports DEBUG DIGEST only.`);
    },
  },
  {
    name: "select",
    arity: 2,
    flags: ["fast"],
    keys: [0, 0, 0],
    run(_ctx, args, reply) {
      const db = args.int(1);
      if (db === null) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR value is not an integer or out of range");
      if (db !== 0) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR DB index is out of range");
      reply.ok();
    },
  },
  {
    name: "quit",
    arity: -1,
    flags: ["noauth", "fast"],
    keys: [0, 0, 0],
    run(_ctx, _args, reply, session) {
      reply.ok();
      session.closeAfterReply();
    },
  },
  {
    name: "auth",
    arity: -2,
    flags: ["noauth", "fast"],
    keys: [0, 0, 0],
    run(ctx, args, reply, session) {
      if (args.length > 3) return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_SYNTAX);
      const user = args.length === 3 ? args.text(1) : null;
      if (auth(ctx, session, user, args.bytes(args.length - 1), reply)) reply.ok();
    },
  },
  { name: "hello", arity: -1, flags: ["noauth", "fast"], keys: [0, 0, 0], run: hello },
  {
    name: "command",
    arity: -1,
    flags: ["stale"],
    keys: [0, 0, 0],
    run(_ctx, args, reply) {
      const sub = args.length > 1 ? args.lower(1) : "";
      if (sub === "") {
        reply.array(COMMANDS.length);
        for (const c of COMMANDS) commandInfo(c, reply);
      } else if (sub === "count") {
        reply.integer(COMMANDS.length);
      } else if (sub === "docs") {
        // No documentation to offer; redis-cli works without it.
        reply.array(0);
      } else if (sub === "info") {
        reply.array(args.length - 2);
        for (let i = 2; i < args.length; i++) {
          const c = COMMANDS.find((x) => x.name === args.lower(i));
          if (c) commandInfo(c, reply);
          else reply.nil();
        }
      } else {
        reply.error(ErrorCode.BAD_ARGUMENTS, `ERR unknown subcommand '${args.text(1)}'. Try COMMAND HELP.`);
      }
    },
  },
  {
    name: "config",
    arity: -2,
    flags: ["admin"],
    keys: [0, 0, 0],
    run(ctx, args, reply) {
      const sub = args.lower(1);
      if (sub === "get" && args.length >= 3) {
        const view = configView(ctx);
        const out: [string, string][] = [];
        for (let i = 2; i < args.length; i++) {
          const m = globMatcher(args.bytes(i));
          for (const kv of view) if (m(kv[0]) && !out.some((o) => o[0] === kv[0])) out.push(kv);
        }
        reply.map(out.length);
        for (const [k, v] of out) {
          reply.text(k);
          reply.text(v);
        }
      } else if (sub === "resetstat") {
        reply.ok();
      } else {
        reply.error(ErrorCode.BAD_ARGUMENTS, `ERR unknown subcommand or wrong number of arguments for '${args.text(1)}'. microdb supports CONFIG GET only; settings come from the config file and environment.`);
      }
    },
  },
  { name: "client", arity: -2, flags: ["admin"], keys: [0, 0, 0], run: clientCommand },
  {
    name: "shutdown",
    arity: -1,
    flags: ["admin"],
    keys: [0, 0, 0],
    run(ctx, args, reply) {
      let save = true;
      for (let i = 1; i < args.length; i++) {
        const o = args.lower(i);
        if (o === "nosave") save = false;
        else if (o === "save") save = true;
        // A shutdown here is never left half-way waiting, so there is nothing to abort.
        else if (o === "abort") return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR No shutdown in progress.");
        else if (o !== "now" && o !== "force") return reply.error(ErrorCode.BAD_ARGUMENTS, ERR_SYNTAX);
      }
      // Like Redis, no reply: the connection closes when the server exits.
      ctx.shutdown(save);
    },
  },
];
