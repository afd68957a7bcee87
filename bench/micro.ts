// Micro benchmarks (mitata): binary and RESP parse and encode, keyspace get/set.
// Run: npm run bench:micro. Figures per operation; the README keeps the latest run.

import { bench, group, run, do_not_optimize } from "mitata";
import { BinaryReply } from "../src/server/binary-reply.ts";
import { SHAPES } from "../src/commands/table.ts";
import { Op, RequestReader, encodeRequest, type RequestSink } from "../src/protocol/binary.ts";
import { Output } from "../src/protocol/output.ts";
import { RespReader } from "../src/protocol/resp.ts";
import { RespReply } from "../src/server/resp-reply.ts";
import { Keyspace } from "../src/store/keyspace.ts";
import { keyFromBytes } from "../src/store/keys.ts";

const FRAMES = 1000;
const value16 = new Uint8Array(16).fill(0x76);
const value1k = new Uint8Array(1024).fill(0x76);

function batch(op: number, value: Uint8Array | null): Uint8Array {
  const frames = Array.from({ length: FRAMES }, (_, i) => encodeRequest(op, new TextEncoder().encode(`key:${i % 1000}`), value));
  return Buffer.concat(frames);
}

let seen = 0;
const sink: RequestSink = {
  onRequest(_op, buf, keyStart, keyLen) {
    seen += keyFromBytes(buf, keyStart, keyLen).length;
    return true;
  },
  onRequestError() {
    throw new Error("unexpected");
  },
};
const limits = { maxValue: 512 * 1024 * 1024, shapes: SHAPES };
const getBatch = batch(Op.GET, null);
const set16Batch = batch(Op.SET, value16);
const set1kBatch = batch(Op.SET, value1k);

group(`parse: one batch of ${FRAMES} frames (divide by ${FRAMES} for ns/frame)`, () => {
  bench("GET frame", () => new RequestReader(limits, sink).feed(getBatch));
  bench("SET frame, 16 B value", () => new RequestReader(limits, sink).feed(set16Batch));
  bench("SET frame, 1 KiB value", () => new RequestReader(limits, sink).feed(set1kBatch));
});

function respBatch(cmd: string, value: string | null): Uint8Array {
  const parts: string[] = [];
  for (let i = 0; i < FRAMES; i++) {
    const key = `key:${i % 1000}`;
    const args = value === null ? [cmd, key] : [cmd, key, value];
    parts.push(`*${args.length}\r\n` + args.map((a) => `$${a.length}\r\n${a}\r\n`).join(""));
  }
  return new TextEncoder().encode(parts.join(""));
}
const respSink = { onCommand: () => true, onProtocolError: () => { throw new Error("unexpected"); } };
const respGet = respBatch("GET", null);
const respSet16 = respBatch("SET", "v".repeat(16));
group(`RESP parse: one batch of ${FRAMES} commands (divide by ${FRAMES} for ns/command)`, () => {
  bench("GET command", () => new RespReader(limits.maxValue, respSink).feed(respGet));
  bench("SET command, 16 B value", () => new RespReader(limits.maxValue, respSink).feed(respSet16));
});

const out = new Output();
const resp = new RespReply(out);
const reply = new BinaryReply(out);
group(`encode: ${FRAMES} replies (divide by ${FRAMES} for ns/reply)`, () => {
  bench("OK reply", () => {
    out.len = 0;
    for (let i = 0; i < FRAMES; i++) reply.ok();
  });
  bench("VALUE reply, 16 B", () => {
    out.len = 0;
    for (let i = 0; i < FRAMES; i++) reply.value(value16);
  });
  bench("VALUE reply, 1 KiB", () => {
    out.len = 0;
    for (let i = 0; i < FRAMES; i++) reply.value(value1k);
  });
  bench("RESP +OK", () => {
    out.len = 0;
    for (let i = 0; i < FRAMES; i++) resp.ok();
  });
  bench("RESP bulk reply, 16 B", () => {
    out.len = 0;
    for (let i = 0; i < FRAMES; i++) resp.value(value16);
  });
  bench("INTEGER reply", () => {
    out.len = 0;
    for (let i = 0; i < FRAMES; i++) reply.integer(i);
  });
});

const ks = new Keyspace();
const keys = Array.from({ length: 100_000 }, (_, i) => `key:${i}`);
for (const k of keys) ks.set(k, value16);
let n = 0;
group("keyspace (100k keys)", () => {
  bench("get (hit)", () => do_not_optimize(ks.get(keys[n++ % keys.length]!)));
  bench("get (miss)", () => do_not_optimize(ks.get(`absent:${n++ & 1023}`)));
  bench("set 16 B (overwrite, copies the value)", () => ks.set(keys[n++ % keys.length]!, value16));
});

await run({ colors: false });
if (seen === 0) throw new Error("parser did not run");
