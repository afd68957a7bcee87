// E2e: a client that sends requests but does not read its replies. The server stops reading from
// it once client_output_limit of replies wait, so its memory does not follow the 1 GiB of replies
// asked for; when the client reads, `drain` sends the rest and every reply arrives, in order.

import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { connect } from "../../src/client/client.ts";
import { Op, ResponseReader, Status, encodeRequest } from "../../src/protocol/binary.ts";
import { startServer } from "./harness.ts";

test("unread replies past client_output_limit pause the client instead of growing the server", async () => {
  const s = await startServer({ env: { MICRODB_CLIENT_OUTPUT_LIMIT: "1mb" } });
  const c = await connect("127.0.0.1", s.port);
  const value = new Uint8Array(512 * 1024).map((_, i) => i & 0xff);
  await c.set("big", value);
  const before = s.rss();

  const count = 2000; // 2000 x 512 KiB = 1 GiB of replies
  const frames = new Uint8Array(count * 12);
  const get = encodeRequest(Op.GET, new TextEncoder().encode("big"), null);
  for (let i = 0; i < count; i++) frames.set(get, i * get.length);

  let got = 0;
  let bad = 0;
  const reader = new ResponseReader(0xffff_ffff, {
    onResponse(status, buf, start, len) {
      if (status !== Status.VALUE || len !== value.length || buf[start + 1000] !== (1000 & 0xff)) bad++;
      got++;
    },
    onResponseError() {
      bad++;
    },
  });
  let sock!: Socket<undefined>;
  let pending = frames.subarray(0, count * get.length);
  sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: s.port,
    socket: {
      open: (so) => so.pause(), // do not read replies yet
      data: (_s, chunk) => reader.feed(chunk),
      drain: (so) => {
        const n = so.write(pending);
        pending = pending.subarray(Math.max(0, n));
      },
    },
  });
  const n = sock.write(pending);
  pending = pending.subarray(Math.max(0, n));
  await Bun.sleep(800);
  const grown = s.rss() - before;
  expect(grown).toBeLessThan(64 * 1024 * 1024);
  expect(got).toBe(0);

  sock.resume();
  const deadline = Date.now() + 20_000;
  while (got < count && Date.now() < deadline) await Bun.sleep(20);
  expect({ got, bad }).toEqual({ got: count, bad: 0 });
  expect(await c.ping()).toBe("PONG");
  sock.end();
  c.close();
  await s.stop();
}, 30_000);
