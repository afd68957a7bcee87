// Binary protocol codec: encoders byte for byte, and both incremental readers with every frame split at every byte boundary.

import { describe, expect, test } from "bun:test";
import { SHAPES } from "../../../src/commands/table.ts";
import {
  EMPTY,
  ErrorCode,
  MAGIC,
  MAX_KEY,
  Op,
  PROTOCOL_VERSION,
  REQUEST_HEADER,
  RESPONSE_HEADER,
  RequestReader,
  ResponseReader,
  Shape,
  Status,
  encodeErrorPayload,
  encodeIntegerPayload,
  encodeRequest,
  encodeResponse,
  readI64,
  readU32,
  writeI64,
  writeRequestHeader,
  writeResponseHeader,
  writeU32,
  type RequestLimits,
  type RequestSink,
  type ResponseSink,
  type StatusCode,
} from "../../../src/protocol/binary.ts";
import { mulberry32 as rng } from "../../support/rng.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

const utf8 = new TextEncoder();
const bytes = (s: string): Uint8Array => utf8.encode(s);

/** Parses "db 01 11 ..." into bytes, so expected frames can be written out literally. */
function hex(s: string): Uint8Array<ArrayBuffer> {
  const parts = s.trim().split(/\s+/).filter((p) => p.length > 0);
  return new Uint8Array(parts.map((p) => {
    const n = Number.parseInt(p, 16);
    if (!/^[0-9a-f]{2}$/i.test(p) || Number.isNaN(n)) throw new Error(`bad hex byte ${p}`);
    return n;
  }));
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}


/** Bytes 0..n-1 of a recognisable pattern (so a shifted or truncated copy is caught). */
function pattern(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/**
 * A request frame built by hand (independent of the encoder under test), so malformed headers
 * can be produced: any magic, version, opcode, flags, and a claimed value length that may differ
 * from the bytes actually appended.
 */
function rawRequest(o: {
  magic?: number; version?: number; op: number; flags?: number;
  key?: Uint8Array; value?: Uint8Array; claimValueLen?: number;
}): Uint8Array {
  const key = o.key ?? EMPTY;
  const value = o.value ?? EMPTY;
  const out = new Uint8Array(9 + key.length + value.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, o.magic ?? 0xdb);
  dv.setUint8(1, o.version ?? 1);
  dv.setUint8(2, o.op);
  dv.setUint8(3, o.flags ?? 0);
  dv.setUint8(4, key.length);
  dv.setUint32(5, o.claimValueLen ?? value.length, false);
  out.set(key, 9);
  out.set(value, 9 + key.length);
  return out;
}

function rawResponse(status: number, payload: Uint8Array = EMPTY, magic = 0xdb): Uint8Array {
  const out = new Uint8Array(6 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, magic);
  dv.setUint8(1, status);
  dv.setUint32(2, payload.length, false);
  out.set(payload, 6);
  return out;
}

type ReqEvent =
  | { kind: "frame"; op: number; key: Uint8Array; value: Uint8Array }
  | { kind: "error"; code: number; message: string; fatal: boolean };

const frame = (op: number, key: Uint8Array = EMPTY, value: Uint8Array = EMPTY): ReqEvent => ({ kind: "frame", op, key, value });

/** Records every callback, copying the views (they are only valid during the call). */
class RequestRecorder implements RequestSink {
  readonly events: ReqEvent[] = [];
  private frames = 0;
  /**
   * onRequest returns false (pause) when `pauseAfter` returns true for the 1-based frame number;
   * onRequestError returns false for a non-fatal error when `pauseOnError` is set.
   */
  constructor(private readonly pauseAfter: (n: number) => boolean = () => false, private readonly pauseOnError = false) {}

  onRequest(op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number): boolean {
    this.events.push({
      kind: "frame",
      op,
      key: buf.slice(keyStart, keyStart + keyLen),
      value: buf.slice(keyStart + keyLen, keyStart + keyLen + valueLen),
    });
    this.frames++;
    return !this.pauseAfter(this.frames);
  }

  onRequestError(code: number, message: string, fatal: boolean): boolean {
    this.events.push({ kind: "error", code, message, fatal });
    return !this.pauseOnError;
  }

  get frameEvents(): ReqEvent[] {
    return this.events.filter((e) => e.kind === "frame");
  }
}

function sameBytes(buf: Uint8Array, start: number, len: number, want: Uint8Array): boolean {
  if (len !== want.length) return false;
  if (start < 0 || start + len > buf.length) return false;
  return Buffer.from(buf.buffer, buf.byteOffset + start, len).equals(want);
}

/**
 * Checks each callback against the expected events as it happens (native compare, no copies), so a
 * stream can be re-parsed tens of thousands of times quickly. Records problems instead of throwing.
 */
class RequestVerifier implements RequestSink {
  private i = 0;
  readonly problems: string[] = [];
  /** pauseEach: every onRequest / non-fatal onRequestError returns false (pause). */
  constructor(private readonly want: readonly ReqEvent[], private readonly label: string, private readonly pauseEach = false) {}

  onRequest(op: number, buf: Uint8Array, keyStart: number, keyLen: number, valueLen: number): boolean {
    const w = this.want[this.i];
    if (
      !w || w.kind !== "frame" || w.op !== op ||
      !sameBytes(buf, keyStart, keyLen, w.key) || !sameBytes(buf, keyStart + keyLen, valueLen, w.value)
    ) {
      this.problems.push(`${this.label}: event ${this.i}: got frame op=0x${op.toString(16)} key=${keyLen}B value=${valueLen}B`);
    }
    this.i++;
    return !this.pauseEach;
  }

  onRequestError(code: number, message: string, fatal: boolean): boolean {
    const w = this.want[this.i];
    if (!w || w.kind !== "error" || w.code !== code || w.fatal !== fatal || w.message !== message) {
      this.problems.push(`${this.label}: event ${this.i}: got error ${code} ${JSON.stringify(message)} fatal=${fatal}`);
    }
    this.i++;
    return !this.pauseEach;
  }

  finish(): string[] {
    if (this.i !== this.want.length) this.problems.push(`${this.label}: got ${this.i} events, want ${this.want.length}`);
    return this.problems;
  }
}

const BIG: RequestLimits = { maxValue: 1 << 20, shapes: SHAPES };
const SMALL: RequestLimits = { maxValue: 1000, shapes: SHAPES };

/** Feeds `chunks`, resuming whenever the reader pauses (and failing, not hanging, if resume() makes no progress). */
function feedAll(reader: RequestReader, chunks: Iterable<Uint8Array>): void {
  for (const c of chunks) {
    reader.feed(c);
    // Each resume() that pauses again has delivered a frame of at least 9 held-back bytes.
    let budget = reader.buffered / REQUEST_HEADER + 2;
    while (reader.isPaused) {
      if (budget-- <= 0) throw new Error(`resume() makes no progress (${reader.buffered} bytes held)`);
      reader.resume();
    }
  }
}

function* splits(stream: Uint8Array, at: readonly number[]): Generator<Uint8Array> {
  let prev = 0;
  for (const p of at) {
    yield stream.subarray(prev, p);
    prev = p;
  }
  yield stream.subarray(prev);
}

function* bytewise(stream: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < stream.length; i++) yield stream.subarray(i, i + 1);
}

function* randomChunks(stream: Uint8Array, seed: number, maxChunk: number): Generator<Uint8Array> {
  const r = rng(seed);
  let pos = 0;
  while (pos < stream.length) {
    const n = 1 + Math.floor(r() * maxChunk);
    yield stream.subarray(pos, pos + n);
    pos += n;
  }
}

/** Parses `stream` split in two at every byte boundary in [from, to], checking every result against `want`. */
function everySplit(
  stream: Uint8Array, want: readonly ReqEvent[], limits: RequestLimits, pauseEach = false,
  from = 0, to = stream.length,
): { problems: string[]; runs: number } {
  const problems: string[] = [];
  let runs = 0;
  for (let k = from; k <= to; k++) {
    const v = new RequestVerifier(want, `split at ${k}`, pauseEach);
    const reader = new RequestReader(limits, v);
    feedAll(reader, splits(stream, [k]));
    problems.push(...v.finish());
    if (!reader.isDead && reader.buffered !== 0) problems.push(`split at ${k}: ${reader.buffered} bytes left buffered`);
    runs++;
    if (problems.length > 10) break;
  }
  return { problems, runs };
}

// ---------------------------------------------------------------------------------------------
// Constants and encoders

describe("wire constants", () => {
  test("match the documented wire values", () => {
    expect([MAGIC, PROTOCOL_VERSION, REQUEST_HEADER, RESPONSE_HEADER, MAX_KEY]).toEqual([0xdb, 1, 9, 6, 255]);
    // Subsets: later features may add opcodes and error codes, but these values are on the wire.
    expect(Op).toMatchObject({ PING: 0x01, GET: 0x10, SET: 0x11, DELETE: 0x12, EXISTS: 0x13, DBSIZE: 0x40, INFO: 0x41 });
    expect(Status).toEqual({ OK: 0, VALUE: 1, NIL: 2, INTEGER: 3, ERROR: 4, STRING: 5, ARRAY: 6 });
    expect(ErrorCode).toMatchObject({
      BAD_MAGIC: 1, BAD_VERSION: 2, UNKNOWN_OPCODE: 3, KEY_TOO_LONG: 4, VALUE_TOO_LARGE: 5,
      BAD_ARGUMENTS: 6, BAD_FLAGS: 7, MAX_CLIENTS: 8, INTERNAL: 9,
    });
    const ops: number[] = Object.values(Op);
    expect(new Set(ops).size).toBe(ops.length);
    expect(ops.includes(0x00)).toBe(false);
    const codes: number[] = Object.values(ErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
  });

  test("SHAPES knows exactly the client opcodes (Op minus the log-only ones), with the documented key/value rules", () => {
    const logOnly = new Set<number>([Op.PEXPIREAT, Op.PERSIST, Op.FLUSHALL]);
    const ops = new Set<number>(Object.values(Op).filter((op) => !logOnly.has(op)));
    const mismatched: number[] = [];
    for (let op = 0; op < 256; op++) if ((SHAPES[op] !== 0) !== ops.has(op)) mismatched.push(op);
    expect(mismatched).toEqual([]);
    for (let op = 0x80; op <= 0xef; op++) expect({ op, shape: SHAPES[op] }).toEqual({ op, shape: 0 });
    const K = Shape.KEY_ALLOWED | Shape.KEY_REQUIRED;
    expect(SHAPES[0x00]).toBe(0);
    expect(SHAPES[0x01]).toBe(Shape.KNOWN | Shape.VALUE_ALLOWED);
    expect(SHAPES[0x10]).toBe(Shape.KNOWN | K);
    expect(SHAPES[0x11]).toBe(Shape.KNOWN | K | Shape.VALUE_ALLOWED);
    expect(SHAPES[0x12]).toBe(Shape.KNOWN | K);
    expect(SHAPES[0x13]).toBe(Shape.KNOWN | K);
    expect(SHAPES[0x40]).toBe(Shape.KNOWN);
    expect(SHAPES[0x41]).toBe(Shape.KNOWN | Shape.VALUE_ALLOWED);
    expect(SHAPES[0x42]).toBe(Shape.KNOWN);
    expect(SHAPES[0xf0]).toBe(Shape.KNOWN | Shape.VALUE_ALLOWED | Shape.VALUE_REQUIRED);
    for (const op of logOnly) expect(SHAPES[op]).toBe(0);
  });
});

describe("request encoders", () => {
  test("encodeRequest: SET foo bar", () => {
    expect(toHex(encodeRequest(Op.SET, bytes("foo"), bytes("bar")))).toBe(toHex(hex("db 01 11 00 03 00 00 00 03 66 6f 6f 62 61 72")));
  });

  test("encodeRequest: PING, GET, DELETE, DBSIZE, PING with a value, INFO with a section", () => {
    expect(encodeRequest(Op.PING, null, null)).toEqual(hex("db 01 01 00 00 00 00 00 00"));
    expect(encodeRequest(Op.GET, bytes("k"), null)).toEqual(hex("db 01 10 00 01 00 00 00 00 6b"));
    expect(encodeRequest(Op.DELETE, bytes("ab"), EMPTY)).toEqual(hex("db 01 12 00 02 00 00 00 00 61 62"));
    expect(encodeRequest(Op.DBSIZE, null, null)).toEqual(hex("db 01 40 00 00 00 00 00 00"));
    expect(encodeRequest(Op.PING, null, bytes("hi"))).toEqual(hex("db 01 01 00 00 00 00 00 02 68 69"));
    expect(encodeRequest(Op.INFO, EMPTY, bytes("all"))).toEqual(hex("db 01 41 00 00 00 00 00 03 61 6c 6c"));
  });

  test("encodeRequest: binary key and value are copied verbatim", () => {
    const key = hex("00 ff db 01");
    const value = hex("ff 00 00 db");
    expect(encodeRequest(Op.SET, key, value)).toEqual(hex("db 01 11 00 04 00 00 00 04 00 ff db 01 ff 00 00 db"));
  });

  test("encodeRequest: value length uses all four bytes, big-endian (70,000 = 0x00011170)", () => {
    const value = pattern(70_000, 1);
    const out = encodeRequest(Op.SET, bytes("k"), value);
    expect(out.length).toBe(9 + 1 + 70_000);
    expect(out.subarray(0, 10)).toEqual(hex("db 01 11 00 01 00 01 11 70 6b"));
    expect(out.subarray(10)).toEqual(value);
  });

  test("encodeRequest: a 255-byte key is accepted, 256 bytes throws", () => {
    const ok = encodeRequest(Op.GET, new Uint8Array(255).fill(0x61), null);
    expect(ok.subarray(0, 9)).toEqual(hex("db 01 10 00 ff 00 00 00 00"));
    expect(ok.length).toBe(9 + 255);
    expect(() => encodeRequest(Op.GET, new Uint8Array(256), null)).toThrow(RangeError);
    expect(() => encodeRequest(Op.SET, new Uint8Array(1000), bytes("v"))).toThrow(/1000 bytes; the limit is 255/);
  });

  test("writeRequestHeader writes 9 bytes at the offset and touches nothing else", () => {
    const buf = new Uint8Array(16).fill(0xee);
    expect(writeRequestHeader(buf, 3, 0x12, 0x80, 7, 0xdeadbeef)).toBe(12);
    expect(buf).toEqual(hex("ee ee ee db 01 12 80 07 de ad be ef ee ee ee ee"));
  });
});

describe("response encoders", () => {
  test("OK, NIL, VALUE, STRING", () => {
    expect(encodeResponse(Status.OK)).toEqual(hex("db 00 00 00 00 00"));
    expect(encodeResponse(Status.NIL)).toEqual(hex("db 02 00 00 00 00"));
    expect(encodeResponse(Status.VALUE, bytes("bar"))).toEqual(hex("db 01 00 00 00 03 62 61 72"));
    expect(encodeResponse(Status.VALUE, EMPTY)).toEqual(hex("db 01 00 00 00 00"));
    expect(encodeResponse(Status.VALUE, hex("00 ff db"))).toEqual(hex("db 01 00 00 00 03 00 ff db"));
    expect(encodeResponse(Status.STRING, bytes("PONG"))).toEqual(hex("db 05 00 00 00 04 50 4f 4e 47"));
  });

  test("INTEGER: i64 big-endian, positive, negative and beyond 32 bits", () => {
    const cases: [number, string][] = [
      [0, "00 00 00 00 00 00 00 00"],
      [42, "00 00 00 00 00 00 00 2a"],
      [-1, "ff ff ff ff ff ff ff ff"],
      [-42, "ff ff ff ff ff ff ff d6"],
      [0x7fffffff, "00 00 00 00 7f ff ff ff"],
      [0x80000000, "00 00 00 00 80 00 00 00"],
      [0xffffffff, "00 00 00 00 ff ff ff ff"],
      [2 ** 32, "00 00 00 01 00 00 00 00"],
      [2 ** 32 + 5, "00 00 00 01 00 00 00 05"],
      [-(2 ** 32), "ff ff ff ff 00 00 00 00"],
      [-(2 ** 32) - 1, "ff ff ff fe ff ff ff ff"],
      [-(2 ** 31), "ff ff ff ff 80 00 00 00"],
      [Number.MAX_SAFE_INTEGER, "00 1f ff ff ff ff ff ff"],
      [Number.MIN_SAFE_INTEGER, "ff e0 00 00 00 00 00 01"],
    ];
    for (const [n, want] of cases) {
      expect({ n, bytes: toHex(encodeIntegerPayload(n)) }).toEqual({ n, bytes: want });
      expect({ n, frame: toHex(encodeResponse(Status.INTEGER, encodeIntegerPayload(n))) }).toEqual({ n, frame: `db 03 00 00 00 08 ${want}` });
      expect({ n, back: readI64(hex(want), 0) }).toEqual({ n, back: n });
    }
  });

  test("writeI64/readI64 round trip at an offset, many values", () => {
    const values = [0, 1, -1, 255, 256, -256, 65535, -65536, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1,
      -(2 ** 32) + 1, 2 ** 40 + 12345, -(2 ** 40) - 12345, 2 ** 52, -(2 ** 52), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const r = rng(7);
    for (let i = 0; i < 200; i++) values.push(Math.floor((r() * 2 - 1) * Number.MAX_SAFE_INTEGER));
    const buf = new Uint8Array(13).fill(0xaa);
    for (const n of values) {
      expect(writeI64(buf, 3, n)).toBe(11);
      expect(buf[2]).toBe(0xaa);
      expect(buf[11]).toBe(0xaa);
      expect({ n, back: readI64(buf, 3) }).toEqual({ n, back: n });
      // And it agrees with DataView's own big-endian i64.
      expect(new DataView(buf.buffer).getBigInt64(3, false)).toBe(BigInt(n));
    }
  });

  test("writeU32/readU32: big-endian, unsigned above 2^31", () => {
    const buf = new Uint8Array(6);
    writeU32(buf, 1, 0xfedcba98);
    expect(buf).toEqual(hex("00 fe dc ba 98 00"));
    expect(readU32(buf, 1)).toBe(0xfedcba98);
    writeU32(buf, 2, 0xffffffff);
    expect(readU32(buf, 2)).toBe(4294967295);
    expect(readU32(hex("00 01 11 70"), 0)).toBe(70_000);
  });

  test("ERROR: u16 BE code then the UTF-8 message", () => {
    expect(encodeResponse(Status.ERROR, encodeErrorPayload(ErrorCode.BAD_ARGUMENTS, "ERR x")))
      .toEqual(hex("db 04 00 00 00 07 00 06 45 52 52 20 78"));
    expect(encodeErrorPayload(0x1234, "é€")).toEqual(hex("12 34 c3 a9 e2 82 ac"));
    expect(encodeErrorPayload(ErrorCode.INTERNAL, "")).toEqual(hex("00 09"));
  });

  test("writeResponseHeader writes 6 bytes at the offset and touches nothing else", () => {
    const buf = new Uint8Array(10).fill(0xee);
    expect(writeResponseHeader(buf, 2, Status.VALUE, 0x01020304)).toBe(8);
    expect(buf).toEqual(hex("ee ee db 01 01 02 03 04 ee ee"));
  });
});

// ---------------------------------------------------------------------------------------------
// RequestReader: a mixed stream, every chunking

describe("RequestReader: mixed stream", () => {
  const binValue = hex("00 ff 00 db 01 ff 00");
  const bigValue = pattern(70_000, 42);
  const want: ReqEvent[] = [
    frame(Op.PING),
    frame(Op.SET, bytes("bin"), binValue),
    frame(Op.GET, bytes("bin")),
    frame(Op.DELETE, hex("00 ff")),
    frame(Op.SET, bytes("big"), bigValue),
    frame(Op.SET, bytes("empty"), EMPTY),
    frame(Op.PING, EMPTY, bytes("echo")),
    frame(Op.DBSIZE),
  ];
  const stream = concat(want.map((e) => (e.kind === "frame" ? rawRequest({ op: e.op, key: e.key, value: e.value }) : EMPTY)));

  test("the stream is what encodeRequest makes, too", () => {
    const encoded = concat(want.map((e) => (e.kind === "frame" ? encodeRequest(e.op, e.key, e.value) : EMPTY)));
    expect(Buffer.from(encoded).equals(stream)).toBe(true);
  });

  test("fed whole: exactly those frames, in order", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(BIG, rec);
    reader.feed(stream);
    expect(rec.events.length).toBe(want.length);
    expect(rec.events).toEqual(want);
    expect(reader.buffered).toBe(0);
    expect(reader.isDead).toBe(false);
    expect(reader.isPaused).toBe(false);
  });

  // Every boundary 0..length, in eight parts so each test stays short (a split inside the 70,000-byte
  // frame makes the reader assemble it, which is most of the cost).
  const PARTS = 8;
  const share = Math.ceil((stream.length + 1) / PARTS);
  for (let part = 0; part < PARTS; part++) {
    const from = part * share;
    const to = Math.min(stream.length, from + share - 1);
    test(`split in two at every byte boundary (${from}..${to} of ${stream.length})`, () => {
      const { problems, runs } = everySplit(stream, want, BIG, false, from, to);
      expect(problems).toEqual([]);
      expect(runs).toBe(to - from + 1);
    });
  }

  test("fed one byte at a time", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(BIG, rec);
    let fedBeforeLast = 0;
    for (const c of bytewise(stream)) {
      reader.feed(c);
      fedBeforeLast++;
      // Nothing is delivered early: frames arrive only once their last byte has.
      if (fedBeforeLast === stream.length - 1) expect(rec.events.length).toBe(want.length - 1);
    }
    expect(rec.events).toEqual(want);
    expect(reader.buffered).toBe(0);
  });

  test("random chunkings (small, medium and large chunks)", () => {
    const problems: string[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const maxChunk = [3, 17, 600, 5000, 100_000][seed % 5]!;
      const v = new RequestVerifier(want, `seed ${seed}`);
      const reader = new RequestReader(BIG, v);
      feedAll(reader, randomChunks(stream, seed, maxChunk));
      problems.push(...v.finish());
      if (reader.buffered !== 0) problems.push(`seed ${seed}: ${reader.buffered} left buffered`);
    }
    expect(problems).toEqual([]);
  });

  test("a frame split mid-way is held back until complete, then delivered", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(BIG, rec);
    const set = rawRequest({ op: Op.SET, key: bytes("k"), value: bytes("hello") });
    reader.feed(set.subarray(0, 4));
    expect(reader.buffered).toBe(4);
    reader.feed(set.subarray(4, 12));
    expect(reader.buffered).toBe(12);
    expect(rec.events).toEqual([]);
    reader.feed(set.subarray(12));
    expect(rec.events).toEqual([frame(Op.SET, bytes("k"), bytes("hello"))]);
    expect(reader.buffered).toBe(0);
  });

  test("the views passed to onRequest point at the frame's bytes", () => {
    const got: { keyStart: number; keyLen: number; valueLen: number; head: number }[] = [];
    const reader = new RequestReader(BIG, {
      onRequest(_op, buf, keyStart, keyLen, valueLen) {
        got.push({ keyStart, keyLen, valueLen, head: buf[keyStart - 9]! });
        return true;
      },
      onRequestError() {
        throw new Error("unexpected error");
      },
    });
    reader.feed(concat([rawRequest({ op: Op.GET, key: bytes("ab") }), rawRequest({ op: Op.SET, key: bytes("c"), value: bytes("de") })]));
    expect(got).toEqual([
      { keyStart: 9, keyLen: 2, valueLen: 0, head: 0xdb },
      { keyStart: 11 + 9, keyLen: 1, valueLen: 2, head: 0xdb },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// RequestReader: header checks

describe("RequestReader: header checks", () => {
  const ping = rawRequest({ op: Op.PING });
  const get = rawRequest({ op: Op.GET, key: bytes("next") });

  function run(stream: Uint8Array, limits: RequestLimits = SMALL): { rec: RequestRecorder; reader: RequestReader } {
    const rec = new RequestRecorder();
    const reader = new RequestReader(limits, rec);
    reader.feed(stream);
    return { rec, reader };
  }

  /** The same stream at every split and byte by byte must give the same events as fed whole. */
  function expectChunkingInvariant(stream: Uint8Array, want: ReqEvent[], limits: RequestLimits = SMALL): void {
    const { problems } = everySplit(stream, want, limits);
    expect(problems).toEqual([]);
    const rec = new RequestRecorder();
    feedAll(new RequestReader(limits, rec), bytewise(stream));
    expect(rec.events).toEqual(want);
  }

  test("unknown opcode: non-fatal error, body skipped, next frame parsed", () => {
    // The refused body is made of valid PING frames: a reader that re-synced instead of skipping
    // would deliver them.
    const body = concat([ping, ping, ping]);
    const stream = concat([rawRequest({ op: 0x7f, key: bytes("abc"), value: body }), get]);
    const { rec, reader } = run(stream);
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.UNKNOWN_OPCODE, message: "ERR unknown opcode 0x7f", fatal: false },
      frame(Op.GET, bytes("next")),
    ]);
    expect(reader.isDead).toBe(false);
    expect(reader.buffered).toBe(0);
    expectChunkingInvariant(stream, rec.events);
  });

  test("unknown opcode whose body arrives split across many chunks", () => {
    const body = pattern(5000, 3);
    const stream = concat([rawRequest({ op: 0xe7, key: bytes("kk"), value: body }), ping, get]);
    const want: ReqEvent[] = [
      { kind: "error", code: ErrorCode.UNKNOWN_OPCODE, message: "ERR unknown opcode 0xe7", fatal: false },
      frame(Op.PING),
      frame(Op.GET, bytes("next")),
    ];
    for (const maxChunk of [1, 7, 100, 999]) {
      const rec = new RequestRecorder();
      const reader = new RequestReader(SMALL, rec);
      let maxBuffered = 0;
      for (const c of randomChunks(stream, maxChunk, maxChunk)) {
        reader.feed(c);
        maxBuffered = Math.max(maxBuffered, reader.buffered);
      }
      expect(rec.events).toEqual(want);
      // Only partial headers / small frames are ever held, never the refused body.
      expect(maxBuffered).toBeLessThan(REQUEST_HEADER + 6);
    }
    expectChunkingInvariant(stream, want);
  });

  test("every opcode outside the table (0x00, the reserved range, the gaps) is unknown", () => {
    const unknown: number[] = [];
    for (let op = 0; op < 256; op++) if (SHAPES[op] === 0) unknown.push(op);
    expect(unknown).toContain(0x00);
    expect(unknown).toContain(0x80);
    expect(unknown).toContain(0xef);
    expect(unknown.length).toBeGreaterThan(200);
    for (const op of unknown) {
      const { rec } = run(concat([rawRequest({ op, key: bytes("k"), value: bytes("v") }), ping]));
      expect(rec.events).toEqual([
        { kind: "error", code: ErrorCode.UNKNOWN_OPCODE, message: `ERR unknown opcode 0x${op.toString(16).padStart(2, "0")}`, fatal: false },
        frame(Op.PING),
      ]);
    }
  });

  test("value over maxValue: VALUE_TOO_LARGE, body skipped without being buffered, next frame parsed", () => {
    const big = pattern(5000, 9);
    const header = rawRequest({ op: Op.SET, key: bytes("k"), claimValueLen: 5000 });
    const rec = new RequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(header);
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.VALUE_TOO_LARGE, message: "ERR value is 5000 bytes; max_value_size is 1000", fatal: false },
    ]);
    const rest = concat([big, get]); // the header above already carries the key byte
    for (let off = 0; off < rest.length; off += 100) {
      reader.feed(rest.subarray(off, off + 100));
      expect(reader.buffered).toBeLessThan(REQUEST_HEADER + 4 + 1);
    }
    expect(rec.events.slice(1)).toEqual([frame(Op.GET, bytes("next"))]);
    expect(reader.buffered).toBe(0);
    expect(reader.isDead).toBe(false);
    const message = (rec.events[0] as { message: string }).message;
    expect(message).toContain("5000");
    expect(message).toContain("1000");
    expectChunkingInvariant(concat([header, rest]), rec.events);
  });

  test("a 4 GiB value claim is refused on the header and costs nothing", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(rawRequest({ op: Op.SET, key: bytes("k"), claimValueLen: 0xffffffff }));
    for (let i = 0; i < 50; i++) reader.feed(new Uint8Array(10_000).fill(0xdb));
    expect(reader.buffered).toBe(0);
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.VALUE_TOO_LARGE, message: "ERR value is 4294967295 bytes; max_value_size is 1000", fatal: false },
    ]);
  });

  test("a value of exactly maxValue is accepted; one byte more is refused", () => {
    const at = pattern(1000, 5);
    const over = pattern(1001, 6);
    const { rec } = run(concat([
      rawRequest({ op: Op.SET, key: bytes("a"), value: at }),
      rawRequest({ op: Op.SET, key: bytes("b"), value: over }),
      ping,
    ]));
    expect(rec.events).toEqual([
      frame(Op.SET, bytes("a"), at),
      { kind: "error", code: ErrorCode.VALUE_TOO_LARGE, message: "ERR value is 1001 bytes; max_value_size is 1000", fatal: false },
      frame(Op.PING),
    ]);
  });

  test("non-zero flags: BAD_FLAGS, body skipped, next frame parsed", () => {
    const stream = concat([rawRequest({ op: Op.GET, flags: 0x80, key: bytes("key") }), get]);
    const { rec } = run(stream);
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.BAD_FLAGS, message: "ERR unknown flags 0x80 for opcode 0x10", fatal: false },
      frame(Op.GET, bytes("next")),
    ]);
    const { rec: rec2 } = run(concat([rawRequest({ op: Op.SET, flags: 0x01, key: bytes("k"), value: bytes("v") }), ping]));
    expect(rec2.events[0]).toEqual({ kind: "error", code: ErrorCode.BAD_FLAGS, message: "ERR unknown flags 0x01 for opcode 0x11", fatal: false });
    expect(rec2.events[1]).toEqual(frame(Op.PING));
    expectChunkingInvariant(stream, rec.events);
  });

  test("shape violations: BAD_ARGUMENTS with a readable message, body skipped", () => {
    const cases: [Uint8Array, string][] = [
      [rawRequest({ op: Op.GET }), "ERR opcode 0x10 needs a key (1..255 bytes)"],
      [rawRequest({ op: Op.DELETE }), "ERR opcode 0x12 needs a key (1..255 bytes)"],
      [rawRequest({ op: Op.SET, value: bytes("v") }), "ERR opcode 0x11 needs a key (1..255 bytes)"],
      [rawRequest({ op: Op.DBSIZE, key: bytes("abc") }), "ERR opcode 0x40 takes no key"],
      [rawRequest({ op: Op.PING, key: bytes("x") }), "ERR opcode 0x01 takes no key"],
      [rawRequest({ op: Op.GET, key: bytes("k"), value: bytes("v") }), "ERR opcode 0x10 takes no value"],
      [rawRequest({ op: Op.DBSIZE, value: get }), "ERR opcode 0x40 takes no value"],
      [rawRequest({ op: Op.EXISTS, key: bytes("k"), value: ping }), "ERR opcode 0x13 takes no value"],
    ];
    for (const [bad, message] of cases) {
      const stream = concat([bad, get]);
      const { rec, reader } = run(stream);
      expect(rec.events).toEqual([
        { kind: "error", code: ErrorCode.BAD_ARGUMENTS, message, fatal: false },
        frame(Op.GET, bytes("next")),
      ]);
      expect(reader.buffered).toBe(0);
      expectChunkingInvariant(stream, rec.events);
    }
  });

  test("VALUE_REQUIRED is enforced (custom shape table)", () => {
    const shapes = SHAPES.slice();
    shapes[Op.SET] = Shape.KNOWN | Shape.KEY_ALLOWED | Shape.KEY_REQUIRED | Shape.VALUE_ALLOWED | Shape.VALUE_REQUIRED;
    const { rec } = run(concat([rawRequest({ op: Op.SET, key: bytes("k") }), rawRequest({ op: Op.SET, key: bytes("k"), value: bytes("v") })]), { maxValue: 10, shapes });
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.BAD_ARGUMENTS, message: "ERR opcode 0x11 needs a value", fatal: false },
      frame(Op.SET, bytes("k"), bytes("v")),
    ]);
    // And the default table does not require one.
    expect(run(rawRequest({ op: Op.SET, key: bytes("k") })).rec.events).toEqual([frame(Op.SET, bytes("k"), EMPTY)]);
  });

  test("several refused frames in a row, interleaved with good ones, keep their order", () => {
    const stream = concat([
      ping,
      rawRequest({ op: 0x99, value: pattern(300, 1) }),
      rawRequest({ op: Op.SET, key: bytes("k"), value: pattern(2000, 2) }),
      rawRequest({ op: Op.GET }),
      get,
      rawRequest({ op: Op.PING, flags: 2 }),
      ping,
    ]);
    const { rec } = run(stream);
    expect(rec.events.map((e) => (e.kind === "frame" ? `frame ${e.op}` : `error ${e.code}`))).toEqual([
      `frame ${Op.PING}`,
      `error ${ErrorCode.UNKNOWN_OPCODE}`,
      `error ${ErrorCode.VALUE_TOO_LARGE}`,
      `error ${ErrorCode.BAD_ARGUMENTS}`,
      `frame ${Op.GET}`,
      `error ${ErrorCode.BAD_FLAGS}`,
      `frame ${Op.PING}`,
    ]);
    expect(rec.events.every((e) => e.kind === "frame" || !e.fatal)).toBe(true);
    expectChunkingInvariant(stream, rec.events);
  });

  test("bad magic: fatal BAD_MAGIC, nothing after it is delivered, reader is dead", () => {
    const stream = concat([ping, rawRequest({ magic: 0xda, op: Op.PING }), get]);
    const { rec, reader } = run(stream);
    expect(rec.events).toEqual([
      frame(Op.PING),
      { kind: "error", code: ErrorCode.BAD_MAGIC, message: "ERR Protocol error: bad magic byte 0xda (expected 0xdb)", fatal: true },
    ]);
    expect(reader.isDead).toBe(true);
    reader.feed(get);
    reader.feed(ping);
    expect(rec.events.length).toBe(2);
    expectChunkingInvariant(stream, rec.events);
  });

  test("bad magic right after a refused body is still caught (skip ends exactly at the body)", () => {
    const stream = concat([rawRequest({ op: 0x77, value: bytes("xyz") }), hex("00 01 01 00 00 00 00 00 00"), ping]);
    const { rec, reader } = run(stream);
    expect(rec.events.map((e) => (e.kind === "error" ? [e.code, e.fatal] : "frame"))).toEqual([
      [ErrorCode.UNKNOWN_OPCODE, false],
      [ErrorCode.BAD_MAGIC, true],
    ]);
    expect(reader.isDead).toBe(true);
  });

  test("bad version: fatal BAD_VERSION naming both versions", () => {
    const stream = concat([rawRequest({ version: 2, op: Op.PING }), ping]);
    const { rec, reader } = run(stream);
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.BAD_VERSION, message: "ERR Protocol error: unsupported protocol version 2 (this server speaks 1)", fatal: true },
    ]);
    expect(reader.isDead).toBe(true);
    reader.feed(ping);
    expect(rec.events.length).toBe(1);
    expectChunkingInvariant(stream, rec.events);
  });

  test("a bad magic byte is judged as soon as it arrives, without waiting for a whole header", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(concat([ping, hex("00")]));
    expect(rec.events).toEqual([
      frame(Op.PING),
      { kind: "error", code: ErrorCode.BAD_MAGIC, message: "ERR Protocol error: bad magic byte 0x00 (expected 0xdb)", fatal: true },
    ]);
    expect(reader.isDead).toBe(true);
  });

  test("a bad version is judged as soon as its byte arrives with the magic", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(hex("db 07"));
    expect(rec.events).toEqual([
      { kind: "error", code: ErrorCode.BAD_VERSION, message: "ERR Protocol error: unsupported protocol version 7 (this server speaks 1)", fatal: true },
    ]);
    expect(reader.isDead).toBe(true);
  });

  test("a good partial header is held back without an error", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(hex("db"));
    reader.feed(hex("01 10 00"));
    expect(rec.events).toEqual([]);
    expect(reader.buffered).toBe(4);
    reader.feed(hex("01 00 00 00 00 6b"));
    expect(rec.events).toEqual([frame(Op.GET, bytes("k"))]);
  });

  test("magic and version are checked before the opcode", () => {
    expect(run(rawRequest({ magic: 0, op: 0x00 })).rec.events).toEqual([
      { kind: "error", code: ErrorCode.BAD_MAGIC, message: "ERR Protocol error: bad magic byte 0x00 (expected 0xdb)", fatal: true },
    ]);
    expect(run(rawRequest({ version: 0, op: 0x00 })).rec.events.map((e) => (e.kind === "error" ? e.code : -1))).toEqual([ErrorCode.BAD_VERSION]);
  });
});

// ---------------------------------------------------------------------------------------------
// RequestReader: pause and resume

describe("RequestReader: pause/resume", () => {
  const frames: ReqEvent[] = [
    frame(Op.PING),
    frame(Op.SET, bytes("a"), bytes("1")),
    frame(Op.GET, bytes("a")),
    frame(Op.SET, bytes("b"), pattern(3000, 4)),
    frame(Op.DELETE, bytes("a")),
  ];
  const encoded = frames.map((e) => (e.kind === "frame" ? rawRequest({ op: e.op, key: e.key, value: e.value }) : EMPTY));
  const stream = concat(encoded);

  test("stops after the frame whose onRequest returned false, buffers further feeds, resume() continues in order", () => {
    const rec = new RequestRecorder((n) => n === 2);
    const reader = new RequestReader(BIG, rec);
    reader.feed(stream);
    expect(rec.events).toEqual(frames.slice(0, 2));
    expect(reader.isPaused).toBe(true);
    const rest = stream.length - encoded[0]!.length - encoded[1]!.length;
    expect(reader.buffered).toBe(rest);

    const extra = rawRequest({ op: Op.EXISTS, key: bytes("z") });
    reader.feed(extra);
    reader.feed(ping());
    expect(rec.events.length).toBe(2);
    expect(reader.isPaused).toBe(true);
    expect(reader.buffered).toBe(rest + extra.length + 9);

    reader.resume();
    expect(reader.isPaused).toBe(false);
    expect(rec.events).toEqual([...frames, frame(Op.EXISTS, bytes("z")), frame(Op.PING)]);
    expect(reader.buffered).toBe(0);

    // Still usable afterwards.
    reader.feed(ping());
    expect(rec.events.length).toBe(frames.length + 3);
  });

  function ping(): Uint8Array {
    return rawRequest({ op: Op.PING });
  }

  test("resume() with an incomplete frame held back: it completes on the next feed", () => {
    const rec = new RequestRecorder((n) => n === 1);
    const reader = new RequestReader(BIG, rec);
    const cut = encoded[0]!.length + encoded[1]!.length + 5; // mid-way through frame 3's header
    reader.feed(stream.subarray(0, cut));
    expect(rec.events.length).toBe(1);
    expect(reader.isPaused).toBe(true);
    reader.resume();
    expect(rec.events).toEqual(frames.slice(0, 2));
    expect(reader.isPaused).toBe(false);
    expect(reader.buffered).toBe(5);
    reader.feed(stream.subarray(cut, cut + 2000));
    reader.feed(stream.subarray(cut + 2000));
    expect(rec.events).toEqual(frames);
  });

  test("pausing again during resume() stops again", () => {
    const rec = new RequestRecorder(() => true);
    const reader = new RequestReader(BIG, rec);
    reader.feed(stream);
    for (let i = 1; i <= frames.length; i++) {
      expect(rec.events.length).toBe(i);
      expect(reader.isPaused).toBe(true);
      reader.resume();
    }
    expect(rec.events).toEqual(frames);
    expect(reader.isPaused).toBe(false);
    expect(reader.buffered).toBe(0);
  });

  test("resume() when not paused does nothing", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(BIG, rec);
    reader.feed(stream.subarray(0, 20));
    const before = rec.events.length;
    const buffered = reader.buffered;
    reader.resume();
    expect(rec.events.length).toBe(before);
    expect(reader.buffered).toBe(buffered);
  });

  test("errors for refused frames held while paused are reported on resume, in order", () => {
    const rec = new RequestRecorder((n) => n === 1);
    const reader = new RequestReader(SMALL, rec);
    reader.feed(concat([ping(), rawRequest({ op: 0x55, value: pattern(2500, 1) }), rawRequest({ op: Op.GET, key: bytes("q") })]));
    expect(rec.events.length).toBe(1);
    reader.resume();
    expect(rec.events).toEqual([
      frame(Op.PING),
      { kind: "error", code: ErrorCode.UNKNOWN_OPCODE, message: "ERR unknown opcode 0x55", fatal: false },
      frame(Op.GET, bytes("q")),
    ]);
  });

  test("a refused body only partly held while paused is skipped across the resume", () => {
    const rec = new RequestRecorder((n) => n === 1);
    const reader = new RequestReader(SMALL, rec);
    const refused = rawRequest({ op: 0x55, value: pattern(2500, 1) });
    const tail = concat([refused, rawRequest({ op: Op.GET, key: bytes("q") })]);
    reader.feed(concat([ping(), tail.subarray(0, 100)]));
    reader.resume();
    expect(reader.isPaused).toBe(false);
    expect(reader.buffered).toBe(0);
    reader.feed(tail.subarray(100, 1500));
    reader.feed(tail.subarray(1500));
    expect(rec.events.map((e) => e.kind)).toEqual(["frame", "error", "frame"]);
    expect(rec.events[2]).toEqual(frame(Op.GET, bytes("q")));
  });

  test("onRequestError returning false pauses after the refused header; the body is skipped, not held", () => {
    const rec = new RequestRecorder(() => false, true);
    const reader = new RequestReader(SMALL, rec);
    const body = concat([ping(), ping(), ping()]); // looks like frames: must not be parsed as such
    const refused = rawRequest({ op: 0x55, value: body });
    const next = rawRequest({ op: Op.GET, key: bytes("q") });
    reader.feed(concat([ping(), refused, next]));
    expect(rec.events).toEqual([
      frame(Op.PING),
      { kind: "error", code: ErrorCode.UNKNOWN_OPCODE, message: "ERR unknown opcode 0x55", fatal: false },
    ]);
    expect(reader.isPaused).toBe(true);
    expect(reader.buffered).toBe(next.length); // the refused body is skipped, never held
    reader.resume();
    expect(rec.events.slice(2)).toEqual([frame(Op.GET, bytes("q"))]);
    expect(reader.isPaused).toBe(false);
    expect(reader.buffered).toBe(0);
  });

  test("pausing on an error whose body has not arrived yet: the body is skipped as it streams in after resume", () => {
    const rec = new RequestRecorder(() => false, true);
    const reader = new RequestReader(SMALL, rec);
    const frameBytes = concat([rawRequest({ op: Op.SET, key: bytes("k"), claimValueLen: 4000 }), pattern(4000, 8)]);
    reader.feed(frameBytes.subarray(0, REQUEST_HEADER));
    expect(rec.events.map((e) => (e.kind === "error" ? e.code : -1))).toEqual([ErrorCode.VALUE_TOO_LARGE]);
    expect(reader.isPaused).toBe(true);
    expect(reader.buffered).toBe(0);
    reader.resume();
    expect(reader.isPaused).toBe(false);
    const rest = concat([frameBytes.subarray(REQUEST_HEADER), rawRequest({ op: Op.GET, key: bytes("q") })]);
    for (let off = 0; off < rest.length; off += 250) {
      reader.feed(rest.subarray(off, off + 250));
      expect(reader.buffered).toBeLessThan(REQUEST_HEADER + 5);
    }
    expect(rec.events.slice(1)).toEqual([frame(Op.GET, bytes("q"))]);
  });

  test("a fatal error does not pause: the reader is dead instead", () => {
    const rec = new RequestRecorder(() => false, true);
    const reader = new RequestReader(SMALL, rec);
    reader.feed(concat([ping(), rawRequest({ version: 9, op: Op.PING }), ping()]));
    expect(rec.events.map((e) => e.kind)).toEqual(["frame", "error"]);
    expect(reader.isDead).toBe(true);
    expect(reader.isPaused).toBe(false);
  });

  test("pausing after every frame and every error, stream with refused frames split at every byte boundary", () => {
    const mixed = concat([
      ping(),
      rawRequest({ op: 0x99, key: bytes("zz"), value: concat([ping(), ping()]) }),
      rawRequest({ op: Op.SET, key: bytes("k"), value: pattern(900, 3) }),
      rawRequest({ op: Op.SET, key: bytes("k"), value: pattern(1500, 4) }),
      rawRequest({ op: Op.GET }),
      rawRequest({ op: Op.GET, key: bytes("k") }),
      rawRequest({ op: Op.DBSIZE, flags: 4 }),
      ping(),
    ]);
    const whole = new RequestRecorder();
    new RequestReader(SMALL, whole).feed(mixed);
    expect(whole.events.map((e) => (e.kind === "frame" ? `frame ${e.op}` : `error ${e.code}`))).toEqual([
      `frame ${Op.PING}`,
      `error ${ErrorCode.UNKNOWN_OPCODE}`,
      `frame ${Op.SET}`,
      `error ${ErrorCode.VALUE_TOO_LARGE}`,
      `error ${ErrorCode.BAD_ARGUMENTS}`,
      `frame ${Op.GET}`,
      `error ${ErrorCode.BAD_FLAGS}`,
      `frame ${Op.PING}`,
    ]);
    const { problems, runs } = everySplit(mixed, whole.events, SMALL, true);
    expect(problems).toEqual([]);
    expect(runs).toBe(mixed.length + 1);
  });

  test("pausing after every frame, stream split at every byte boundary", () => {
    const { problems } = everySplit(stream, frames, BIG, true);
    expect(problems).toEqual([]);
  });

  test("a dead reader cannot be resumed into delivering", () => {
    const rec = new RequestRecorder((n) => n === 1);
    const reader = new RequestReader(BIG, rec);
    reader.feed(concat([ping(), rawRequest({ magic: 1, op: 1 }), ping()]));
    reader.resume();
    expect(rec.events.map((e) => e.kind)).toEqual(["frame", "error"]);
    expect(reader.isDead).toBe(true);
    reader.resume();
    reader.feed(ping());
    expect(rec.events.length).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// ResponseReader

type RespEvent = { kind: "response"; status: number; payload: Uint8Array } | { kind: "error"; message: string };

class ResponseRecorder implements ResponseSink {
  readonly events: RespEvent[] = [];
  onResponse(status: number, buf: Uint8Array, payloadStart: number, payloadLen: number): void {
    this.events.push({ kind: "response", status, payload: buf.slice(payloadStart, payloadStart + payloadLen) });
  }
  onResponseError(message: string): void {
    this.events.push({ kind: "error", message });
  }
}

class ResponseVerifier implements ResponseSink {
  private i = 0;
  readonly problems: string[] = [];
  constructor(private readonly want: readonly RespEvent[], private readonly label: string) {}
  onResponse(status: number, buf: Uint8Array, payloadStart: number, payloadLen: number): void {
    const w = this.want[this.i];
    if (!w || w.kind !== "response" || w.status !== status || !sameBytes(buf, payloadStart, payloadLen, w.payload)) {
      this.problems.push(`${this.label}: event ${this.i}: got status ${status} payload ${payloadLen}B`);
    }
    this.i++;
  }
  onResponseError(message: string): void {
    const w = this.want[this.i];
    if (!w || w.kind !== "error" || w.message !== message) this.problems.push(`${this.label}: event ${this.i}: got error ${message}`);
    this.i++;
  }
  finish(): string[] {
    if (this.i !== this.want.length) this.problems.push(`${this.label}: got ${this.i} events, want ${this.want.length}`);
    return this.problems;
  }
}

describe("ResponseReader", () => {
  const resp = (status: StatusCode, payload: Uint8Array = EMPTY): RespEvent => ({ kind: "response", status, payload });
  const want: RespEvent[] = [
    resp(Status.OK),
    resp(Status.STRING, bytes("PONG")),
    resp(Status.VALUE, hex("00 ff db 01 00 ff")),
    resp(Status.NIL),
    resp(Status.INTEGER, hex("ff ff ff ff ff ff ff fe")),
    resp(Status.ERROR, encodeErrorPayload(ErrorCode.BAD_ARGUMENTS, "ERR wrong")),
    resp(Status.VALUE, pattern(20_000, 77)), // over the reader's initial 16 KiB buffer
    resp(Status.VALUE, EMPTY),
    resp(Status.INTEGER, encodeIntegerPayload(2 ** 40)),
  ];
  const stream = concat(want.map((e) => (e.kind === "response" ? rawResponse(e.status, e.payload) : EMPTY)));
  const LIMIT = 1 << 20;

  test("the stream is what encodeResponse makes, too", () => {
    const encoded = concat(want.map((e) => (e.kind === "response" ? encodeResponse(e.status as StatusCode, e.payload) : EMPTY)));
    expect(Buffer.from(encoded).equals(stream)).toBe(true);
  });

  test("fed whole: exactly those responses, in order", () => {
    const rec = new ResponseRecorder();
    const reader = new ResponseReader(LIMIT, rec);
    reader.feed(stream);
    expect(rec.events).toEqual(want);
    expect(reader.buffered).toBe(0);
    expect(reader.isDead).toBe(false);
  });

  test("split in two at every byte boundary", () => {
    const problems: string[] = [];
    for (let k = 0; k <= stream.length && problems.length < 10; k++) {
      const v = new ResponseVerifier(want, `split at ${k}`);
      const reader = new ResponseReader(LIMIT, v);
      reader.feed(stream.subarray(0, k));
      reader.feed(stream.subarray(k));
      problems.push(...v.finish());
      if (reader.buffered !== 0) problems.push(`split at ${k}: ${reader.buffered} left buffered`);
    }
    expect(problems).toEqual([]);
  });

  test("fed one byte at a time, and in random chunks", () => {
    const rec = new ResponseRecorder();
    const reader = new ResponseReader(LIMIT, rec);
    for (const c of bytewise(stream)) reader.feed(c);
    expect(rec.events).toEqual(want);
    const problems: string[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const v = new ResponseVerifier(want, `seed ${seed}`);
      const r = new ResponseReader(LIMIT, v);
      for (const c of randomChunks(stream, seed, [2, 13, 700, 9000][seed % 4]!)) r.feed(c);
      problems.push(...v.finish());
    }
    expect(problems).toEqual([]);
  });

  test("bad magic is fatal: error reported once, nothing after it delivered", () => {
    const rec = new ResponseRecorder();
    const reader = new ResponseReader(LIMIT, rec);
    reader.feed(concat([rawResponse(Status.OK), rawResponse(Status.OK, EMPTY, 0x00), rawResponse(Status.NIL)]));
    expect(rec.events).toEqual([resp(Status.OK), { kind: "error", message: "bad magic byte 0x00 in a reply (expected 0xdb)" }]);
    expect(reader.isDead).toBe(true);
    reader.feed(rawResponse(Status.OK));
    expect(rec.events.length).toBe(2);
  });

  test("unknown status is fatal; every known status is accepted", () => {
    const rec = new ResponseRecorder();
    const reader = new ResponseReader(LIMIT, rec);
    reader.feed(concat([0, 1, 2, 3, 4, 5].map((s) => rawResponse(s))));
    expect(rec.events.map((e) => (e.kind === "response" ? e.status : -1))).toEqual([0, 1, 2, 3, 4, 5]);
    reader.feed(concat([rawResponse(0x07, bytes("x")), rawResponse(Status.OK)]));
    expect(rec.events.slice(6)).toEqual([{ kind: "error", message: "unknown reply status 0x07" }]);
    expect(reader.isDead).toBe(true);

    const rec2 = new ResponseRecorder();
    new ResponseReader(LIMIT, rec2).feed(rawResponse(0xff));
    expect(rec2.events).toEqual([{ kind: "error", message: "unknown reply status 0xff" }]);
  });

  test("payload over maxPayload is fatal on the header, before the payload is buffered", () => {
    const rec = new ResponseRecorder();
    const reader = new ResponseReader(100, rec);
    const ok = rawResponse(Status.VALUE, pattern(100, 1));
    const over = rawResponse(Status.VALUE, pattern(101, 2));
    reader.feed(ok);
    expect(rec.events).toEqual([resp(Status.VALUE, pattern(100, 1))]);
    reader.feed(over.subarray(0, 6));
    expect(rec.events.slice(1)).toEqual([{ kind: "error", message: "reply payload of 101 bytes is over the client's limit of 100" }]);
    expect(reader.isDead).toBe(true);
    reader.feed(over.subarray(6));
    reader.feed(ok);
    expect(rec.events.length).toBe(2);
    expect(reader.buffered).toBeLessThanOrEqual(RESPONSE_HEADER);
  });

  test("a header split across feeds is checked once complete", () => {
    const rec = new ResponseRecorder();
    const reader = new ResponseReader(LIMIT, rec);
    const bad = rawResponse(0x09);
    for (let i = 0; i < 5; i++) reader.feed(bad.subarray(i, i + 1));
    expect(rec.events).toEqual([]);
    expect(reader.buffered).toBe(5);
    reader.feed(bad.subarray(5));
    expect(rec.events).toEqual([{ kind: "error", message: "unknown reply status 0x09" }]);
  });
});

describe("RequestReader: early judgement across chunks", () => {
  test("a bad version is fatal as soon as its byte arrives, even in a later chunk than the magic", () => {
    const rec = new RequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(new Uint8Array([MAGIC]));
    expect(reader.isDead).toBe(false);
    reader.feed(new Uint8Array([0x02]));
    expect(reader.isDead).toBe(true);
    expect(rec.events.map((e) => (e.kind === "error" ? e.code : -1))).toEqual([ErrorCode.BAD_VERSION]);
  });
});

/** Records each prefetch call's keys and the frame count when it came. */
class PrefetchRequestRecorder extends RequestRecorder {
  readonly calls: { at: number; keys: string[] }[] = [];
  prefetch(kb: Uint8Array, starts: Int32Array, lens: Int32Array, n: number): void {
    const keys: string[] = [];
    for (let k = 0; k < n; k++) keys.push(Buffer.from(kb.subarray(starts[k]!, starts[k]! + lens[k]!)).toString("latin1"));
    this.calls.push({ at: this.events.length, keys });
  }
}

describe("RequestReader: keys of a pipelined read are announced before its frames run", () => {
  const key = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
  const get = (k: string) => encodeRequest(Op.GET, key(k), null);
  const set = (k: string, v: Uint8Array) => encodeRequest(Op.SET, key(k), v);

  test("whole frames: every key in order, once, before the first frame; at most 32", () => {
    const rec = new PrefetchRequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(concat([set("a", pattern(100, 1)), get("\xff\r\n"), get("c")]));
    reader.feed(concat(Array.from({ length: 40 }, (_, i) => get(`k${i}`))));
    expect(rec.calls).toEqual([
      { at: 0, keys: ["a", "\xff\r\n", "c"] },
      { at: 3, keys: Array.from({ length: 32 }, (_, i) => `k${i}`) },
    ]);
    expect(rec.events.length).toBe(43);
  });

  test("a single frame, a frame without a key, an incomplete frame or bad magic ends the search", () => {
    const rec = new PrefetchRequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    reader.feed(get("x"));
    reader.feed(concat([encodeRequest(Op.PING, null, null), get("a"), get("b")]));
    const tail = get("d");
    reader.feed(concat([get("c1"), get("c2"), tail.subarray(0, 5)]));
    reader.feed(concat([tail.subarray(5), get("e")]));
    expect(rec.calls).toEqual([{ at: 4, keys: ["c1", "c2"] }]);
    expect(rec.events.filter((e) => e.kind === "frame").length).toBe(8);
    const held = get("h");
    reader.feed(held.subarray(0, 3));
    reader.feed(concat([held.subarray(3), get("h1"), get("h2")]));
    expect(rec.calls.at(-1)).toEqual({ at: 9, keys: ["h1", "h2"] });
    reader.feed(concat([get("f"), get("g"), new Uint8Array([0x00, 1, 0x10, 0, 1, 0, 0, 0, 0, 0x41])]));
    expect(rec.calls.length).toBe(3);
    expect(rec.calls[2]!.keys).toEqual(["f", "g"]);
  });

  test("bytes that are a refused frame's body still being skipped are not searched", () => {
    const rec = new PrefetchRequestRecorder();
    const reader = new RequestReader(SMALL, rec);
    // GET takes no value: this header is refused and its 21 body bytes are skipped as they come.
    reader.feed(rawRequest({ op: Op.GET, key: key("k"), claimValueLen: 20 }).subarray(0, REQUEST_HEADER));
    reader.feed(concat([get("a"), get("b"), new Uint8Array(1)]));
    reader.feed(concat([get("c"), get("d")]));
    expect(rec.calls).toEqual([{ at: 1, keys: ["c", "d"] }]);
    expect(rec.events.map((e) => e.kind)).toEqual(["error", "frame", "frame"]);
  });
});
