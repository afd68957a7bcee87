// A raw TCP connection for e2e tests that must send bytes no well-behaved client would.

import type { Socket } from "bun";
import { ResponseReader } from "../../src/protocol/binary.ts";

export interface Frame {
  status: number;
  payload: Uint8Array;
}

export interface RawConnection {
  send(bytes: Uint8Array): void;
  /** Waits until `n` response frames have arrived in total and returns them all. */
  frames(n: number, timeoutMs?: number): Promise<Frame[]>;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  close(): void;
}

export async function rawConnect(port: number): Promise<RawConnection> {
  const got: Frame[] = [];
  let closed = false;
  let onClose!: () => void;
  const closedP = new Promise<void>((r) => (onClose = r));
  const queue: Uint8Array[] = [];
  let sock!: Socket<undefined>;
  const reader = new ResponseReader(0xffff_ffff, {
    onResponse: (status, buf, start, len) => got.push({ status, payload: buf.slice(start, start + len) }),
    onResponseError: (m) => {
      throw new Error(`bad reply: ${m}`);
    },
  });
  const pump = () => {
    while (queue.length > 0) {
      const c = queue[0]!;
      const n = sock.write(c);
      if (n < 0) return;
      if (n < c.length) {
        queue[0] = c.subarray(n);
        return;
      }
      queue.shift();
    }
  };
  sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, chunk) => reader.feed(chunk),
      drain: pump,
      close: () => {
        closed = true;
        onClose();
      },
      error: () => {
        closed = true;
        onClose();
      },
    },
  });
  return {
    send(bytes) {
      queue.push(bytes);
      if (queue.length === 1) pump();
    },
    async frames(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (got.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} frames, got ${got.length} (closed=${closed})`);
        if (closed && got.length < n) {
          await Bun.sleep(20);
          if (got.length < n) throw new Error(`connection closed after ${got.length} of ${n} frames`);
        }
        await Bun.sleep(2);
      }
      return got.slice(0, n);
    },
    closed: closedP,
    get isClosed() {
      return closed;
    },
    close() {
      sock.end();
    },
  };
}
