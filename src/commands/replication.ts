// Replication commands: REPLICAOF / SLAVEOF (re-point or promote at run time), ROLE, and the two
// commands of the link itself, REPLICATE (a replica asks for the stream; binary protocol only,
// as the stream is raw binary records) and REPLCONF ACK (a replica's offset; never answered).

import { ErrorCode } from "../protocol/binary.ts";
import type { Args } from "./args.ts";
import type { Reply } from "./reply.ts";
import type { CommandContext, CommandSpec, Session } from "./table.ts";

function replicaOf(ctx: CommandContext, args: Args, reply: Reply): void {
  if (args.lower(1) === "no" && args.lower(2) === "one") return reply.status(ctx.replication.promote());
  const port = args.int(2);
  if (port === null || port < 1 || port > 65535) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR Invalid master port");
  reply.status(ctx.replication.replicaOf(args.text(1), port));
}

function replicate(ctx: CommandContext, args: Args, reply: Reply, session: Session): Promise<void> | void {
  if (session.protocol !== "binary") {
    return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR REPLICATE is spoken on the binary protocol (docs/protocol.md); Redis's PSYNC is not supported");
  }
  const replid = args.text(1);
  const offset = args.int(2);
  const port = args.int(3);
  if (replid !== "?" && !/^[0-9a-f]{40}$/.test(replid)) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR REPLICATE: replication id must be 40 hex digits or ?");
  if (offset === null || offset < -1) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR REPLICATE: offset must be an integer >= -1");
  if (port === null || port < 0 || port > 65535) return reply.error(ErrorCode.BAD_ARGUMENTS, "ERR REPLICATE: port must be 0..65535");
  const refused = ctx.replication.refuseReplica();
  if (refused !== null) return reply.error(ErrorCode.BAD_ARGUMENTS, refused);
  return ctx.replication.attach(session.streamTarget(), replid, offset, port, (status) => reply.status(status));
}

function role(ctx: CommandContext, reply: Reply): void {
  const r = ctx.replication.role();
  if (r.role === "master") {
    reply.array(3);
    reply.text("master");
    reply.integer(r.offset);
    reply.array(r.replicas.length);
    for (const s of r.replicas) {
      reply.array(3);
      reply.text(s.ip);
      reply.text(String(s.port));
      reply.text(String(s.offset));
    }
    return;
  }
  reply.array(5);
  reply.text("slave");
  reply.text(r.host);
  reply.integer(r.port);
  reply.text(r.state);
  reply.integer(r.offset);
}

export const replicationCommands: CommandSpec[] = [
  { name: "replicaof", arity: 3, flags: ["admin", "stale"], keys: [0, 0, 0], run: replicaOf },
  { name: "slaveof", arity: 3, flags: ["admin", "stale"], keys: [0, 0, 0], run: replicaOf },
  { name: "role", arity: 1, flags: ["fast", "stale"], keys: [0, 0, 0], run: (ctx, _args, reply) => role(ctx, reply) },
  { name: "replicate", arity: 4, flags: ["admin"], keys: [0, 0, 0], run: replicate },
  {
    name: "replconf",
    arity: -1,
    flags: ["admin", "stale"],
    keys: [0, 0, 0],
    run(ctx, args, reply, session) {
      if (args.lower(1) === "ack" && args.length === 3) {
        const offset = args.int(2);
        if (offset !== null) ctx.replication.ack(session.streamTarget(), offset);
        return;
      }
      reply.ok();
    },
  },
];
