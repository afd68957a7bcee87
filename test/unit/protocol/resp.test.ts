// RespReader: RESP2 requests (multibulk and inline) parse identically under every chunking; fatal protocol errors, memory, pause/resume.

import { describe, expect, test } from "bun:test";
import { Args } from "../../../src/commands/args.ts";
import { MAX_ARGS, MAX_INLINE, RespReader, splitInline, type RespSink } from "../../../src/protocol/resp.ts";
import { mulberry32 as rng } from "../../support/rng.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

type Part = string | Uint8Array;

/** Strings are taken as latin1 (one byte per char), so "\xff" is the byte 0xff. */
function b(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

function cat(...parts: Part[]): Uint8Array {
  const bs = parts.map((p) => (typeof p === "string" ? b(p) : p));
  let n = 0;
  for (const p of bs) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of bs) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A RESP array of bulk strings, built by hand (independently of the reader). */
function multibulk(...args: Part[]): Uint8Array {
  const parts: Part[] = [`*${args.length}\r\n`];
  for (const a of args) {
    const bytes = typeof a === "string" ? b(a) : a;
    parts.push(`$${bytes.length}\r\n`, bytes, "\r\n");
  }
  return cat(...parts);
}

function same(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== y.length) return false;
  if (x.length < 256) {
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  return Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(y.buffer, y.byteOffset, y.length));
}

function show(cmd: readonly Uint8Array[]): string {
  return JSON.stringify(cmd.map((a) => (a.length > 40 ? `<${a.length} bytes>` : Buffer.from(a).toString("latin1"))));
}

function copyArgs(args: Args): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < args.length; i++) out.push(args.bytes(i).slice());
  return out;
}

/** Records copies of every command (the views are only valid during onCommand) and every error. */
class Recorder implements RespSink {
  readonly commands: Uint8Array[][] = [];
  readonly errors: string[] = [];
  /** Return false from onCommand for these (0-based) command numbers. */
  constructor(private readonly pauseOn: ReadonlySet<number> = new Set()) {}
  onCommand(args: Args): boolean {
    this.commands.push(copyArgs(args));
    return !this.pauseOn.has(this.commands.length - 1);
  }
  onProtocolError(message: string): void {
    this.errors.push(message);
  }
  /** Commands as latin1 strings (for short, readable comparisons). */
  strings(): string[][] {
    return this.commands.map((c) => c.map((a) => Buffer.from(a).toString("latin1")));
  }
}

/**
 * Checks each command against the expected list as it arrives, without copying (fast enough to
 * run once per split point of a 70 KB stream). Records the first mismatch.
 */
class Checker implements RespSink {
  n = 0;
  problem: string | null = null;
  errors = 0;
  constructor(private readonly expected: readonly Uint8Array[][]) {}
  onCommand(args: Args): boolean {
    const want = this.expected[this.n];
    if (this.problem === null) {
      if (want === undefined) this.problem = `unexpected extra command #${this.n}: ${show(copyArgs(args))}`;
      else if (args.length !== want.length) this.problem = `command #${this.n}: ${args.length} args, want ${want.length}: ${show(copyArgs(args))}`;
      else {
        for (let i = 0; i < want.length; i++) {
          if (!same(args.bytes(i), want[i]!)) {
            this.problem = `command #${this.n} arg ${i} differs: ${show(copyArgs(args))} vs ${show(want)}`;
            break;
          }
        }
      }
    }
    this.n++;
    return true;
  }
  onProtocolError(message: string): void {
    this.errors++;
    if (this.problem === null) this.problem = `protocol error: ${message}`;
  }
  result(): string | null {
    if (this.problem !== null) return this.problem;
    if (this.n !== this.expected.length) return `${this.n} commands, want ${this.expected.length}`;
    return null;
  }
}

/** Forwards to a replaceable sink, so one reader can serve many checks. */
class SwapSink implements RespSink {
  target: RespSink = new Recorder();
  onCommand(args: Args): boolean {
    return this.target.onCommand(args);
  }
  onProtocolError(message: string): void {
    this.target.onProtocolError(message);
  }
}


const MAX_BULK = 512 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The mixed stream

/** A 70,000-byte value with CR, LF, 0x00 and 0xff scattered through it. */
const BIG = (() => {
  const v = new Uint8Array(70_000);
  const r = rng(7);
  for (let i = 0; i < v.length; i++) v[i] = Math.floor(r() * 256);
  v[0] = 0x0d;
  v[1] = 0x0a;
  v[100] = 0x00;
  v[101] = 0xff;
  v[69_998] = 0x0d;
  v[69_999] = 0x0a;
  return v;
})();
const BINARY = b("\x00\r\n\xff\r\n\x00\xff\r");

/** [wire bytes, the commands they carry (null: skipped, no command)]. */
const PIECES: [Uint8Array, Part[] | null][] = [
  [multibulk("SET", "k\r\ney", BINARY), ["SET", "k\r\ney", BINARY]],
  [b("*0\r\n"), null],
  [b("PING\r\n"), ["PING"]],
  [multibulk("SET", "e", ""), ["SET", "e", ""]],
  [b("*-1\r\n"), null],
  [b("SET a b\n"), ["SET", "a", "b"]],
  [multibulk("SET", "big", BIG), ["SET", "big", BIG]],
  [b(`SET q "double \\"quoted\\" \\x41" 'single' 'it\\'s'\r\n`), ["SET", "q", 'double "quoted" A', "single", "it's"]],
  [multibulk("GET", "\xff\x00key\x80"), ["GET", "\xff\x00key\x80"]],
  [b("  ECHO\t\t  x   \r\n"), ["ECHO", "x"]],
  [b("\r\n"), null],
  [b("\n"), null],
  [b(`ECHO "\\n\\r\\t\\b\\a\\\\\\x00\\xFf" ""\r\n`), ["ECHO", "\n\r\t\b\x07\\\x00\xff", ""]],
  [multibulk("", "", ""), ["", "", ""]],
  [b("*1\r\n$0\r\n\r\n"), [""]],
  [multibulk("DEL", "*", "$3", "\r\n"), ["DEL", "*", "$3", "\r\n"]],
  [b("PING\r\n"), ["PING"]],
];

const STREAM = cat(...PIECES.map((p) => p[0]));
/** Offset of BIG's first byte in STREAM. */
const BIG_START = (() => {
  let off = 0;
  for (const [wire, cmd] of PIECES) {
    if (cmd !== null && cmd[2] === BIG) return off + wire.length - BIG.length - 2;
    off += wire.length;
  }
  throw new Error("BIG is not in the stream");
})();
const EXPECTED: Uint8Array[][] = PIECES.flatMap(([, cmd]) => (cmd === null ? [] : [cmd.map((a) => (typeof a === "string" ? b(a) : a))]));

function feedAll(chunks: Iterable<Uint8Array>, sink: RespSink, maxBulk = MAX_BULK): RespReader {
  const r = new RespReader(maxBulk, sink);
  for (const c of chunks) r.feed(c);
  return r;
}

let scratchBuf = new Uint8Array(0);

/** Feeds through one reused scratch buffer that is scribbled over after every feed, like a socket's read buffer. */
function feedScratch(data: Uint8Array, sizes: number[], sink: RespSink): RespReader {
  const r = new RespReader(MAX_BULK, sink);
  if (scratchBuf.length < data.length) scratchBuf = new Uint8Array(data.length);
  const scratch = scratchBuf;
  let off = 0;
  for (const n of sizes) {
    scratch.set(data.subarray(off, off + n), 0);
    r.feed(scratch.subarray(0, n));
    scratch.fill(0xee, 0, n);
    off += n;
  }
  return r;
}

describe("RespReader: a mixed stream", () => {
  test("the stream's expected commands are what the pieces say (sanity of the fixture)", () => {
    expect(EXPECTED.length).toBe(13);
    expect(STREAM.length).toBeGreaterThan(70_000);
    expect(same(STREAM.subarray(BIG_START, BIG_START + BIG.length), BIG)).toBe(true);
  });

  test("in one chunk: exactly the expected argument lists, in order; *0, *-1 and empty lines are skipped", () => {
    const rec = new Recorder();
    const r = feedAll([STREAM], rec);
    expect(rec.errors).toEqual([]);
    expect(rec.commands.length).toBe(EXPECTED.length);
    for (let i = 0; i < EXPECTED.length; i++) expect(rec.commands[i]).toEqual(EXPECTED[i]!);
    expect(rec.strings()[5]).toEqual(["SET", "q", 'double "quoted" A', "single", "it's"]);
    expect(r.buffered).toBe(0);
    expect(r.isDead).toBe(false);
    expect(r.isPaused).toBe(false);
  });

  test("split in two at every byte boundary: identical results", () => {
    // Every split goes through one long-lived reader (the stream ends on a command boundary, so
    // each pass starts clean), and fresh readers take the same splits.
    const failures: string[] = [];
    const swap = new SwapSink();
    const reused = new RespReader(MAX_BULK, swap);
    for (let k = 0; k <= STREAM.length; k++) {
      // Inside the 70 KB payload every split is alike (the reader waits for the rest of the
      // value); every 13th of those is enough and keeps this test to a fraction of a second.
      const inBig = k > BIG_START + 8 && k < BIG_START + BIG.length - 8;
      if (inBig && k % 13 !== 0) continue;
      const halves = [STREAM.subarray(0, k), STREAM.subarray(k)];
      const fresh = !inBig || k % 61 === 0;
      for (const mode of fresh ? ["reused", "fresh"] : ["reused"]) {
        const sink = new Checker(EXPECTED);
        let r = reused;
        if (mode === "fresh") r = feedAll(halves, sink);
        else {
          swap.target = sink;
          for (const h of halves) reused.feed(h);
        }
        const problem = sink.result() ?? (r.buffered !== 0 ? `${r.buffered} bytes left buffered` : null);
        if (problem !== null) failures.push(`split at ${k} (${mode} reader): ${problem}`);
      }
      if (failures.length >= 5) break;
    }
    expect(failures).toEqual([]);
  });

  test("one byte at a time: identical results, and nothing is left buffered", () => {
    const rec = new Recorder();
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < STREAM.length; i++) chunks.push(STREAM.subarray(i, i + 1));
    const r = feedAll(chunks, rec);
    expect(rec.errors).toEqual([]);
    expect(rec.commands).toEqual(EXPECTED);
    expect(r.buffered).toBe(0);
  });

  test("random chunkings, through a read buffer that is overwritten after every feed: identical results", () => {
    const random = rng(42);
    const failures: string[] = [];
    for (let run = 0; run < 120; run++) {
      const sizes: number[] = [];
      // Mix tiny, medium and huge chunks; some runs are mostly 1..3 bytes.
      const style = run % 3;
      for (let left = STREAM.length; left > 0;) {
        const x = random();
        const n = Math.min(left, style === 0 ? 1 + Math.floor(x * 3) : x < 0.6 ? 1 + Math.floor(random() * 40) : x < 0.95 ? 1 + Math.floor(random() * 5000) : 1 + Math.floor(random() * 80_000));
        sizes.push(n);
        left -= n;
      }
      const sink = new Checker(EXPECTED);
      const r = feedScratch(STREAM, sizes, sink);
      const problem = sink.result() ?? (r.buffered !== 0 ? `${r.buffered} bytes left buffered` : null);
      if (problem !== null && failures.push(`run ${run} (sizes ${sizes.slice(0, 12).join(",")}...): ${problem}`) >= 5) break;
    }
    expect(failures).toEqual([]);
  });

  test("a bulk of exactly maxBulk bytes is accepted", () => {
    const rec = new Recorder();
    const r = feedAll([multibulk("SET", "k", "0123456789")], rec, 10);
    expect(rec.errors).toEqual([]);
    expect(rec.strings()).toEqual([["SET", "k", "0123456789"]]);
    expect(r.isDead).toBe(false);
  });

  test("an inline request of exactly MAX_INLINE bytes before its newline is accepted", () => {
    const rec = new Recorder();
    const line = "ECHO " + "x".repeat(MAX_INLINE - 5);
    const r = new RespReader(MAX_BULK, rec);
    const bytes = b(line);
    for (let i = 0; i < bytes.length; i += 4096) r.feed(bytes.subarray(i, i + 4096));
    expect(r.buffered).toBe(MAX_INLINE);
    expect(rec.errors).toEqual([]);
    r.feed(b("\r\nPING\r\n"));
    expect(rec.errors).toEqual([]);
    expect(rec.commands.length).toBe(2);
    expect(rec.commands[0]![1]!.length).toBe(MAX_INLINE - 5);
    expect(rec.strings()[1]).toEqual(["PING"]);
  });

  test("a multibulk header announcing MAX_ARGS arguments is not an error", () => {
    const rec = new Recorder();
    const r = feedAll([b(`*${MAX_ARGS}\r\n$1\r\na\r\n`)], rec);
    expect(rec.errors).toEqual([]);
    expect(r.isDead).toBe(false);
    expect(rec.commands).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Protocol errors

interface ErrorCase {
  name: string;
  input: Uint8Array;
  message: string;
  maxBulk?: number;
  /** Skip the byte-at-a-time feeding (too slow for the 64 KB inline case). */
  big?: boolean;
}

const P = "ERR Protocol error: ";
const ERROR_CASES: ErrorCase[] = [
  { name: "bulk length over maxBulk", input: b("*2\r\n$3\r\nSET\r\n$11\r\n01234567890\r\n"), maxBulk: 10, message: P + "invalid bulk length" },
  { name: "a 19-digit bulk length", input: b("*1\r\n$9999999999999999999\r\n"), message: P + "invalid bulk length" },
  { name: "negative bulk length", input: b("*1\r\n$-1\r\n"), message: P + "invalid bulk length" },
  { name: "negative bulk length -5", input: b("*2\r\n$3\r\nGET\r\n$-5\r\n"), message: P + "invalid bulk length" },
  { name: "non-digit bulk length", input: b("*1\r\n$abc\r\n"), message: P + "invalid bulk length" },
  { name: "digits then junk in a bulk length", input: b("*1\r\n$3x\r\nabc\r\n"), message: P + "invalid bulk length" },
  { name: "empty bulk length", input: b("*1\r\n$\r\n"), message: P + "invalid bulk length" },
  { name: "bulk length with CR not followed by LF", input: b("*1\r\n$3\rabc\r\n"), message: P + "invalid bulk length" },
  { name: "non-digit multibulk length", input: b("*x\r\n"), message: P + "invalid multibulk length" },
  { name: "digits then junk in a multibulk length", input: b("*1 \r\n"), message: P + "invalid multibulk length" },
  { name: "empty multibulk length", input: b("*\r\n"), message: P + "invalid multibulk length" },
  { name: "a lone minus as multibulk length", input: b("*-\r\n"), message: P + "invalid multibulk length" },
  { name: "multibulk length line too long", input: b("*" + "1".repeat(30) + "\r\n"), message: P + "invalid multibulk length" },
  { name: "more than MAX_ARGS arguments", input: b(`*${MAX_ARGS + 1}\r\n`), message: P + "invalid multibulk length" },
  { name: "'$' expected, got 'x'", input: b("*1\r\nx\r\n"), message: P + "expected '$', got 'x'" },
  { name: "'$' expected for the second argument, got ':'", input: b("*2\r\n$1\r\na\r\n:5\r\n"), message: P + "expected '$', got ':'" },
  { name: "unbalanced double quote", input: b('SET a "b\r\n'), message: P + "unbalanced quotes in request" },
  { name: "unbalanced single quote", input: b("SET a 'b\r\n"), message: P + "unbalanced quotes in request" },
  { name: "closing quote followed by a non-space", input: b('SET a "b"c\r\n'), message: P + "unbalanced quotes in request" },
  { name: "inline request over MAX_INLINE without a newline", input: b("x".repeat(MAX_INLINE + 1)), message: P + "too big inline request", big: true },
];

/** Feeds `chunks`, then a valid command, and checks the error contract. */
function checkFatal(c: ErrorCase, chunks: Uint8Array[], how: string): void {
  const rec = new Recorder();
  const r = new RespReader(c.maxBulk ?? MAX_BULK, rec);
  // One good command first (in its own chunk, and glued to the bad bytes' first chunk).
  r.feed(b("PING\r\n"));
  const [first, ...rest] = chunks;
  r.feed(cat("ECHO before\r\n", first ?? new Uint8Array(0)));
  for (const ch of rest) r.feed(ch);
  r.feed(b("PING\r\n"));
  r.feed(multibulk("SET", "after", "x"));
  const label = `${c.name} (${how})`;
  expect({ label, errors: rec.errors }).toEqual({ label, errors: [c.message] });
  expect({ label, commands: rec.strings() }).toEqual({ label, commands: [["PING"], ["ECHO", "before"]] });
  expect({ label, dead: r.isDead }).toEqual({ label, dead: true });
}

describe("RespReader: protocol errors are fatal, reported once, with Redis's messages", () => {
  for (const c of ERROR_CASES) {
    test(c.name, () => {
      checkFatal(c, [c.input], "one chunk");
      if (c.big) {
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < c.input.length; i += 1000) chunks.push(c.input.subarray(i, i + 1000));
        checkFatal(c, chunks, "1000-byte chunks");
      } else {
        const bytes: Uint8Array[] = [];
        for (let i = 0; i < c.input.length; i++) bytes.push(c.input.subarray(i, i + 1));
        checkFatal(c, bytes, "byte at a time");
      }
    });
  }

  test("an error inside a paused backlog is reported on resume, after the commands before it", () => {
    const rec = new Recorder(new Set([0]));
    const r = new RespReader(MAX_BULK, rec);
    r.feed(b("PING\r\nECHO a\r\n*1\r\nx\r\nPING\r\n"));
    expect(rec.strings()).toEqual([["PING"]]);
    expect(rec.errors).toEqual([]);
    expect(r.isDead).toBe(false);
    r.resume();
    expect(rec.strings()).toEqual([["PING"], ["ECHO", "a"]]);
    expect(rec.errors).toEqual([P + "expected '$', got 'x'"]);
    expect(r.isDead).toBe(true);
    r.resume();
    r.feed(b("PING\r\n"));
    expect(rec.errors.length).toBe(1);
    expect(rec.commands.length).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// Memory

/** The reader's receive buffer capacity (private; read to check that memory follows arrived bytes). */
function capacity(r: RespReader): number {
  const held = (r as unknown as { held: { buf: unknown } }).held;
  if (!(held?.buf instanceof Uint8Array)) throw new Error("RespReader no longer holds its bytes in `held.buf`: update this test");
  return held.buf.length;
}

describe("RespReader: memory", () => {
  test("a bulk header announcing a large allowed length costs memory only as its bytes arrive", () => {
    const rec = new Recorder();
    const r = new RespReader(MAX_BULK, rec);
    const LEN = 8 * 1024 * 1024;
    const header = b(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${LEN}\r\n`);
    r.feed(cat(header, new Uint8Array(1000).fill(7)));
    expect(rec.commands.length).toBe(0);
    expect(r.buffered).toBe(header.length + 1000);
    expect(capacity(r)).toBeLessThan(64 * 1024);

    r.feed(new Uint8Array(200_000).fill(7));
    expect(r.buffered).toBe(header.length + 201_000);
    expect(capacity(r)).toBeLessThan(1024 * 1024);

    // The rest in 1 MB chunks: capacity never exceeds what the command needs.
    let sent = 201_000;
    const chunk = new Uint8Array(1024 * 1024).fill(7);
    while (sent < LEN) {
      const n = Math.min(chunk.length, LEN - sent);
      r.feed(chunk.subarray(0, n));
      sent += n;
      expect(r.buffered).toBe(header.length + sent);
      expect(capacity(r)).toBeLessThanOrEqual(header.length + LEN + 2);
    }
    expect(rec.commands.length).toBe(0);
    r.feed(b("\r\nPING\r\n"));
    expect(rec.errors).toEqual([]);
    expect(rec.commands.length).toBe(2);
    const value = rec.commands[0]![2]!;
    expect(value.length).toBe(LEN);
    expect(value.every((x) => x === 7)).toBe(true);
    expect(rec.strings()[1]).toEqual(["PING"]);
    expect(r.buffered).toBe(0);
    // Once the big command is gone its buffer is not pinned.
    expect(capacity(r)).toBeLessThanOrEqual(1024 * 1024);
  });

  test("buffered is exactly the bytes of the incomplete command at the head", () => {
    const rec = new Recorder();
    const r = new RespReader(MAX_BULK, rec);
    r.feed(b("PING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhel"));
    expect(rec.strings()).toEqual([["PING"]]);
    expect(r.buffered).toBe("*2\r\n$4\r\nECHO\r\n$5\r\nhel".length);
    r.feed(b("lo\r"));
    expect(r.buffered).toBe("*2\r\n$4\r\nECHO\r\n$5\r\nhello\r".length);
    expect(rec.commands.length).toBe(1);
    r.feed(b("\nPI"));
    expect(rec.strings()).toEqual([["PING"], ["ECHO", "hello"]]);
    expect(r.buffered).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// Regressions: each of these failed before its fix (quadratic re-parse, doubled buffer, inline quotes)

/** Feeds a big bulk, then its last bytes glued to the next command; returns the buffer capacity seen during delivery. */
function capacityWhenBulkCompletes(len: number): { capacity: number; needed: number; commands: number; valueLen: number } {
  let r!: RespReader;
  let seen = 0;
  let valueLen = -1;
  let commands = 0;
  r = new RespReader(MAX_BULK, {
    onCommand(args) {
      commands++;
      if (commands === 1) {
        seen = capacity(r);
        valueLen = args.size(1);
      }
      return true;
    },
    onProtocolError() {},
  });
  const header = b(`*2\r\n$4\r\nECHO\r\n$${len}\r\n`);
  r.feed(header);
  const chunk = new Uint8Array(1024 * 1024);
  for (let sent = 0; sent < len;) {
    const n = Math.min(chunk.length, len - sent);
    r.feed(chunk.subarray(0, n));
    sent += n;
  }
  r.feed(b("\r\nPING\r\n"));
  return { capacity: seen, needed: header.length + len + 2, commands, valueLen };
}

/** A command of n one-byte arguments fed in 1460-byte reads (one TCP segment each); counts Args.push calls. */
function pushesForManyArgs(n: number): { pushes: number; args: number } {
  const parts: string[] = [`*${n}\r\n`];
  for (let i = 0; i < n; i++) parts.push("$1\r\na\r\n");
  const wire = b(parts.join(""));
  let args = -1;
  const r = new RespReader(MAX_BULK, {
    onCommand(a) {
      args = a.length;
      return true;
    },
    onProtocolError() {},
  });
  const orig = Args.prototype.push;
  let pushes = 0;
  Args.prototype.push = function (this: Args, buf: Uint8Array, start: number, len: number): void {
    pushes++;
    orig.call(this, buf, start, len);
  };
  try {
    for (let off = 0; off < wire.length; off += 1460) r.feed(wire.subarray(off, off + 1460));
  } finally {
    Args.prototype.push = orig;
  }
  return { pushes, args };
}

describe("RespReader: known bugs", () => {
  test("(control) a big bulk completed in a chunk that also carries the next command is delivered intact", () => {
    const m = capacityWhenBulkCompletes(4 * 1024 * 1024);
    expect(m.commands).toBe(2);
    expect(m.valueLen).toBe(4 * 1024 * 1024);
    expect(m.capacity).toBeGreaterThanOrEqual(m.needed);
  });

  // The final chunk of a large bulk plus following bytes (pipelining) must not double the buffer.
  test("completing a large bulk in a chunk with trailing bytes does not double the receive buffer", () => {
    const m = capacityWhenBulkCompletes(4 * 1024 * 1024);
    expect(m.capacity).toBeLessThanOrEqual(m.needed + 64 * 1024);
  });

  test("(control) a 20,000-argument command fed in 1460-byte reads parses whole", () => {
    const m = pushesForManyArgs(20_000);
    expect(m.args).toBe(20_000);
    expect(m.pushes).toBeGreaterThanOrEqual(20_000);
  });

  // An incomplete multibulk continues where it stopped: re-parsing from its first byte on every
  // read made MAX_ARGS one-byte args (7 MB) in 1460-byte reads block the loop for ~28 s.
  test("a command with many arguments is not re-parsed from its start on every read", () => {
    const m = pushesForManyArgs(20_000);
    expect(m.pushes).toBeLessThanOrEqual(2 * 20_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Pause / resume

describe("RespReader: pause and resume", () => {
  const cmds = ["PING", "ECHO 1", "ECHO 2", "ECHO 3", "ECHO 4", "ECHO 5", "ECHO 6"];
  const wire = (xs: string[]) => b(xs.map((x) => x + "\r\n").join(""));
  const want = (xs: string[]) => xs.map((x) => x.split(" "));

  test("onCommand returning false pauses; later feeds are buffered; resume continues in order", () => {
    const rec = new Recorder(new Set([1]));
    const r = new RespReader(MAX_BULK, rec);
    r.feed(wire(cmds.slice(0, 4)));
    expect(rec.strings()).toEqual(want(cmds.slice(0, 2)));
    expect(r.isPaused).toBe(true);
    expect(r.buffered).toBe(wire(cmds.slice(2, 4)).length);

    r.feed(wire(cmds.slice(4)));
    expect(rec.strings()).toEqual(want(cmds.slice(0, 2)));
    expect(r.buffered).toBe(wire(cmds.slice(2)).length);

    r.resume();
    expect(r.isPaused).toBe(false);
    expect(rec.strings()).toEqual(want(cmds));
    expect(r.buffered).toBe(0);
    expect(rec.errors).toEqual([]);
  });

  test("pausing again during resume stops there; resume when not paused does nothing", () => {
    const rec = new Recorder(new Set([0, 3]));
    const r = new RespReader(MAX_BULK, rec);
    r.feed(multibulk("PING"));
    expect(r.isPaused).toBe(true);
    r.feed(wire(cmds.slice(1)));
    expect(rec.commands.length).toBe(1);
    r.resume();
    expect(rec.strings()).toEqual(want(cmds.slice(0, 4)));
    expect(r.isPaused).toBe(true);
    r.resume();
    expect(rec.strings()).toEqual(want(cmds));
    expect(r.isPaused).toBe(false);
    r.resume();
    expect(rec.commands.length).toBe(cmds.length);
  });

  test("paused with an incomplete command behind: resume delivers what is whole, the rest completes on feed", () => {
    const rec = new Recorder(new Set([0]));
    const r = new RespReader(MAX_BULK, rec);
    const full = cat(multibulk("SET", "k", BINARY), multibulk("GET", "k"), multibulk("ECHO", BIG));
    const cut = full.length - 30_000;
    r.feed(full.subarray(0, cut));
    expect(rec.commands.length).toBe(1);
    r.resume();
    expect(rec.commands.length).toBe(2);
    expect(rec.strings()[1]).toEqual(["GET", "k"]);
    expect(r.isPaused).toBe(false);
    r.feed(full.subarray(cut));
    expect(rec.commands.length).toBe(3);
    expect(rec.commands[0]).toEqual([b("SET"), b("k"), BINARY]);
    expect(rec.commands[2]).toEqual([b("ECHO"), BIG]);
    expect(r.buffered).toBe(0);
  });

  test("pausing on every command, resuming each time, in random chunkings: the same commands as unpaused", () => {
    const random = rng(3);
    for (let run = 0; run < 20; run++) {
      const all = new Set<number>();
      for (let i = 0; i < EXPECTED.length; i++) all.add(i);
      const rec = new Recorder(all);
      const r = new RespReader(MAX_BULK, rec);
      for (let off = 0; off < STREAM.length;) {
        const n = 1 + Math.floor(random() * (random() < 0.5 ? 20 : 30_000));
        r.feed(STREAM.subarray(off, off + n));
        off += n;
        if (random() < 0.5) while (r.isPaused) r.resume();
      }
      while (r.isPaused) r.resume();
      expect(rec.errors).toEqual([]);
      expect(rec.commands).toEqual(EXPECTED);
      expect(r.buffered).toBe(0);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// splitInline

describe("splitInline", () => {
  const split = (s: string) => splitInline(b(s))?.map((a) => Buffer.from(a).toString("latin1")) ?? null;

  test("spaces and tabs separate; quotes group; escapes only inside quotes", () => {
    expect(split("")).toEqual([]);
    expect(split("   ")).toEqual([]);
    expect(split("a  b\tc")).toEqual(["a", "b", "c"]);
    expect(split(`"a b" 'c d'`)).toEqual(["a b", "c d"]);
    expect(split(`a\\nb`)).toEqual(["a\\nb"]);
    expect(split(`"\\x41\\x4a\\x4A\\xzz"`)).toEqual(["AJJxzz"]);
    expect(split(`'a\\'b' 'a\\nb'`)).toEqual(["a'b", "a\\nb"]);
    expect(split(`"" ''`)).toEqual(["", ""]);
  });

  test("unbalanced quotes give null", () => {
    expect(split(`"abc`)).toBeNull();
    expect(split(`'abc`)).toBeNull();
    expect(split(`"abc"d`)).toBeNull();
    expect(split(`'abc'd`)).toBeNull();
    expect(split(`"abc\\"`)).toBeNull();
  });

  // Redis's sdssplitargs opens a quoted section at a quote anywhere in a token (a"b c" is the one
  // argument `ab c`; a"b is unbalanced).
  test('a quote inside a token opens a quoted section, as in sdssplitargs', () => {
    expect(split(`SET k a"b c"`)).toEqual(["SET", "k", "ab c"]);
    expect(split(`SET k a'b c'`)).toEqual(["SET", "k", "ab c"]);
    expect(split(`SET k a"b`)).toBeNull();
  });
});

test("an inline line with a NUL ends there (sdssplitargs walks a C string) and never loops", () => {
  expect(splitInline(new Uint8Array([0x61, 0x20, 0x62, 0x00, 0x63]))!.map((a) => Buffer.from(a).toString())).toEqual(["a", "b"]);
  expect(splitInline(new Uint8Array([0x00, 0x61]))).toEqual([]);
});

/** Records each prefetch call's keys, and checks that the commands that follow carry them in order. */
class PrefetchRecorder extends Recorder {
  readonly calls: string[][] = [];
  /** Commands already delivered when each prefetch call came. */
  readonly callAt: number[] = [];
  private due: Uint8Array[] = [];
  readonly problems: string[] = [];
  prefetch(kb: Uint8Array, starts: Int32Array, lens: Int32Array, n: number): void {
    if (this.due.length > 0) this.problems.push(`prefetch while ${this.due.length} announced keys are still due`);
    this.due = [];
    for (let k = 0; k < n; k++) this.due.push(kb.slice(starts[k]!, starts[k]! + lens[k]!));
    this.calls.push(this.due.map((x) => Buffer.from(x).toString("latin1")));
    this.callAt.push(this.commands.length);
  }
  override onCommand(args: Args): boolean {
    const want = this.due.shift();
    if (want !== undefined && (args.length < 2 || !same(args.bytes(1), want))) {
      this.problems.push(`command #${this.commands.length}: key ${show(copyArgs(args))} was announced as ${show([want])}`);
    }
    return super.onCommand(args);
  }
}

describe("RespReader: keys of a pipelined read are announced before its commands run", () => {
  const gets = (n: number, from = 0) => cat(...Array.from({ length: n }, (_, i) => multibulk("GET", `key:${from + i}`)));

  test("a read of whole commands: every key, in order, once, before the first command", () => {
    const rec = new PrefetchRecorder();
    const r = new RespReader(MAX_BULK, rec);
    r.feed(cat(multibulk("SET", "a", "1"), multibulk("GET", "\xff\x00b\r\n"), multibulk("SET", "", BINARY, "EX", "10")));
    expect(rec.calls).toEqual([["a", "\xff\x00b\r\n", ""]]);
    expect(rec.callAt).toEqual([0]);
    expect(rec.commands.length).toBe(3);
    expect(rec.problems).toEqual([]);
  });

  test("one command per read, or the first not a plain small array with a key-sized second argument: no call", () => {
    const rec = new PrefetchRecorder();
    const r = new RespReader(MAX_BULK, rec);
    r.feed(multibulk("GET", "a"));
    r.feed(cat(b("GET a\r\n"), gets(3)));
    r.feed(cat(multibulk("PING"), gets(3)));
    r.feed(cat(multibulk("MSET", "a", "1", "b", "2", "c", "3", "d", "4"), gets(3)));
    r.feed(cat(multibulk("ECHO", "x".repeat(256)), gets(3)));
    expect(rec.calls).toEqual([]);
    expect(rec.commands.length).toBe(17);
    // A second argument too long to be a key ends the search after the keys before it.
    r.feed(cat(gets(2), multibulk("ECHO", "x".repeat(256)), gets(2)));
    expect(rec.calls).toEqual([["key:0", "key:1"]]);
    expect(rec.problems).toEqual([]);
    expect(rec.errors).toEqual([]);
  });

  test("the search stops at the first command that is incomplete, inline or malformed", () => {
    const rec = new PrefetchRecorder();
    const r = new RespReader(MAX_BULK, rec);
    const whole = gets(2);
    const next = multibulk("GET", "key:2");
    r.feed(cat(whole, next.subarray(0, next.length - 1)));
    r.feed(cat(next.subarray(next.length - 1), gets(2, 3), b("GET x\r\n"), gets(2, 5)));
    r.feed(cat(gets(2, 7), b("*2\r\n$3\r\nGET\r\n$1x\r\n")));
    expect(rec.calls).toEqual([["key:0", "key:1"], ["key:2", "key:3", "key:4"], ["key:7", "key:8"]]);
    expect(rec.commands.map((c) => Buffer.from(c[1] ?? new Uint8Array()).toString("latin1"))).toEqual(
      ["key:0", "key:1", "key:2", "key:3", "key:4", "x", "key:5", "key:6", "key:7", "key:8"],
    );
    expect(rec.errors).toEqual(["ERR Protocol error: invalid bulk length"]);
    expect(rec.problems).toEqual([]);
  });

  test("after a large bulk completes, the rest of its read is searched; a pause keeps the announced order", () => {
    const big = multibulk("SET", "big", BIG);
    const rec = new PrefetchRecorder(new Set([2]));
    const r = new RespReader(MAX_BULK, rec);
    r.feed(big.subarray(0, 1000));
    r.feed(cat(big.subarray(1000), gets(4)));
    expect(rec.calls).toEqual([["key:0", "key:1", "key:2", "key:3"]]);
    expect(rec.callAt).toEqual([1]);
    expect(r.isPaused).toBe(true);
    expect(rec.commands.length).toBe(3);
    r.resume();
    expect(rec.commands.length).toBe(5);
    expect(rec.commands[4]).toEqual([b("GET"), b("key:3")]);
    expect(rec.problems).toEqual([]);
  });

  test("at most 32 keys per read; the commands after them run as usual", () => {
    const rec = new PrefetchRecorder();
    const r = new RespReader(MAX_BULK, rec);
    r.feed(gets(50));
    expect(rec.calls.length).toBe(1);
    expect(rec.calls[0]).toEqual(Array.from({ length: 32 }, (_, i) => `key:${i}`));
    expect(rec.commands.length).toBe(50);
    expect(rec.problems).toEqual([]);
  });

  test("the mixed stream in random chunkings, through an overwritten read buffer: announced keys are the next commands' keys", () => {
    const random = rng(7);
    const getWires = (n: number) => Array.from({ length: n }, (_, i) => multibulk("GET", `key:${i}`));
    const wires = [...PIECES.map((p) => p[0]), ...getWires(40), ...PIECES.map((p) => p[0]), ...getWires(5)];
    const stream = cat(...wires);
    const ends: number[] = [];
    wires.reduce((at, w) => (ends.push(at + w.length), at + w.length), 0);
    const expected = [...EXPECTED, ...Array.from({ length: 40 }, (_, i) => [b("GET"), b(`key:${i}`)]), ...EXPECTED, ...Array.from({ length: 5 }, (_, i) => [b("GET"), b(`key:${i}`)])];
    let calls = 0;
    for (let run = 0; run < 60; run++) {
      // Cuts anywhere, and cuts between commands (where a read of whole commands starts).
      const cuts = new Set<number>([stream.length]);
      for (let i = 0; i < 12; i++) {
        cuts.add(random() < 0.5 ? 1 + Math.floor(random() * (stream.length - 1)) : ends[Math.floor(random() * ends.length)]!);
      }
      const sizes: number[] = [];
      [...cuts].sort((x, y) => x - y).reduce((at, cut) => (sizes.push(cut - at), cut), 0);
      const rec = new PrefetchRecorder();
      feedScratch(stream, sizes, rec);
      expect(rec.problems).toEqual([]);
      expect(rec.errors).toEqual([]);
      expect(rec.commands.length).toBe(expected.length);
      calls += rec.calls.length;
    }
    expect(calls).toBeGreaterThan(60);
  });
});
