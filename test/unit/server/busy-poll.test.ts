// BusyPoll: the window restarts on reads and on replies, a hit is a read found by a zero-timeout
// poll (never the read that starts polling), and polling ends once the window passes quietly.
// Windows of 50 ms against sleeps of 30 ms leave 20 ms for a slow timer on a loaded machine.

import { expect, test } from "bun:test";
import { BusyPoll } from "../../../src/server/busy-poll.ts";

test("the read that starts polling is not a hit; a read within the window is", async () => {
  const p = new BusyPoll(50_000);
  p.afterRead();
  expect(p.hits).toBe(0);
  await Bun.sleep(10);
  p.afterRead();
  expect(p.hits).toBe(1);
  // Two reads in a row without a poll between them (one epoll batch): one wake-up saved, not two.
  p.afterRead();
  expect(p.hits).toBe(1);
  await Bun.sleep(120); // let the window pass and polling stop before the next test
});

test("a read after the window has passed quietly is not a hit: polling stopped", async () => {
  const p = new BusyPoll(50_000);
  p.afterRead();
  await Bun.sleep(120);
  p.afterRead();
  expect(p.hits).toBe(0);
  await Bun.sleep(120);
});

test("replies restart the window: a reply sent late (after an fsync, say) keeps the loop polling", async () => {
  const p = new BusyPoll(50_000);
  p.afterRead();
  await Bun.sleep(30);
  p.afterReply();
  await Bun.sleep(30);
  // 60 ms after the read but 30 after the reply: still polling.
  p.afterRead();
  expect(p.hits).toBe(1);
  await Bun.sleep(120);
});

test("while replies wait for an fsync the loop polls past the window, up to the cap", async () => {
  let waiting = true;
  const p = new BusyPoll(1000, () => waiting, 200);
  p.afterRead();
  await Bun.sleep(50);
  // 50 ms after the read, far past the 1 ms window, but a reply still waits: polling.
  p.afterRead();
  expect(p.hits).toBe(1);
  await Bun.sleep(400);
  // Past the 200 ms cap even though the wait goes on (a stuck disk must not keep a core busy).
  p.afterRead();
  expect(p.hits).toBe(1);
  waiting = false;
  await Bun.sleep(50);
  p.afterRead();
  expect(p.hits).toBe(1);
  await Bun.sleep(20);
});
