// Unit tests for src/config.ts: defaults, config-file discovery, precedence, file syntax, every error message, parseHostPort.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import {
  CONFIG_KEYS,
  ConfigError,
  type ConfigKey,
  type ConfigSources,
  loadConfig,
  MAX_WIRE_VALUE,
  parseHostPort,
} from "../../src/config.ts";

const KNOWN_KEYS =
  "port, bind, data_dir, snapshot_interval, snapshot_commands, role, master_addr, master_auth, " +
  "repl_backlog_size, threads, appendfsync, " +
  "max_value_size, max_clients, client_output_limit, shutdown_file, requirepass, busy_poll_us";

const PORT_EXPECTS = "an integer 0..65535 (0 = any free port)";
const SIZE_EXPECTS = "a size 1..4294967295 bytes (units k, kb, m, mb, g, gb allowed)";
const OUTPUT_EXPECTS = "a size >= 1mb (units k, kb, m, mb, g, gb allowed)";
const ADDR_EXPECTS = "HOST:PORT of the master, e.g. 127.0.0.1:6379";

let dir = "";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "microdb-config-test-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `name` (relative to the temp dir) with `text` and returns its full path. */
function writeConf(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** loadConfig with the temp dir as cwd and an isolated (empty unless given) environment. */
function load(over: Partial<ConfigSources> = {}): ReturnType<typeof loadConfig> {
  return loadConfig({ cwd: dir, env: {}, flags: {}, ...over });
}

/** Runs `fn`, requires it to throw a ConfigError, and returns that error's message. */
function configErrorOf(fn: () => unknown): string {
  let caught: unknown = undefined;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (caught === undefined) throw new Error("expected a ConfigError, but nothing was thrown");
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as ConfigError).name).toBe("ConfigError");
  return (caught as ConfigError).message;
}

/** The message loading a microdb.conf with `text` fails with. */
function fileError(text: string): string {
  writeConf("microdb.conf", text);
  return configErrorOf(() => load());
}

/** The message setting `key` to `raw` fails with, from the config file (line 1 of microdb.conf). */
function fileValueError(key: ConfigKey, raw: string): string {
  return fileError(`${key}=${raw}\n`);
}

/** The value `key` gets from a microdb.conf line `key=raw`. */
function fileValue<K extends ConfigKey>(key: K, raw: string): ReturnType<typeof loadConfig>[K] {
  writeConf("microdb.conf", `${key}=${raw}\n`);
  return load()[key];
}

describe("defaults", () => {
  test("every key has its documented default and source is null without microdb.conf", () => {
    const cfg = load();
    expect(cfg).toEqual({
      port: 6379,
      bind: "127.0.0.1",
      data_dir: "./data",
      snapshot_interval: 10,
      snapshot_commands: 1000,
      role: "master",
      master_addr: null,
      master_auth: "",
      repl_backlog_size: 16 * 1024 * 1024,
      threads: Math.min(256, availableParallelism()),
      appendfsync: "everysec",
      max_value_size: 536870912,
      max_clients: 10000,
      client_output_limit: 64 * 1024 * 1024,
      shutdown_file: "shutdown.txt",
      requirepass: "",
      busy_poll_us: availableParallelism() > 1 ? 50 : 0,
      source: null,
    });
  });

  test("threads defaults to the CPU count, which is at least 1 and at most 256", () => {
    const threads = load().threads;
    expect(threads).toBe(Math.min(256, availableParallelism()));
    expect(threads).toBeGreaterThanOrEqual(1);
    expect(threads).toBeLessThanOrEqual(256);
  });

  test("MAX_WIRE_VALUE is the u32 maximum and CONFIG_KEYS lists every key in order", () => {
    expect(MAX_WIRE_VALUE).toBe(4294967295);
    expect(CONFIG_KEYS.join(", ")).toBe(KNOWN_KEYS);
  });

  test("process.env is not consulted: only the env passed in counts", () => {
    const saved = process.env["MICRODB_PORT"];
    process.env["MICRODB_PORT"] = "1234";
    try {
      expect(load().port).toBe(6379);
    } finally {
      if (saved === undefined) delete process.env["MICRODB_PORT"];
      else process.env["MICRODB_PORT"] = saved;
    }
  });

  test("environment variables without the MICRODB_ prefix are ignored", () => {
    const cfg = load({ env: { PORT: "1", PATH: "/usr/bin", microdb_port: "2", HOME: "/root" } });
    expect(cfg.port).toBe(6379);
  });

  test("an environment variable whose value is undefined is skipped", () => {
    expect(load({ env: { MICRODB_PORT: undefined } }).port).toBe(6379);
  });
});

describe("config file discovery", () => {
  test("microdb.conf in cwd is read when present and becomes the source", () => {
    writeConf("microdb.conf", "port=7000\n");
    const cfg = load();
    expect(cfg.port).toBe(7000);
    expect(cfg.source).toBe("microdb.conf");
  });

  test("microdb.conf is looked for in cwd, not elsewhere", () => {
    mkdirSync(join(dir, "sub"));
    writeConf("microdb.conf", "port=7000\n");
    const cfg = loadConfig({ cwd: join(dir, "sub"), env: {}, flags: {} });
    expect(cfg.port).toBe(6379);
    expect(cfg.source).toBeNull();
  });

  test("--config FILE is read instead of microdb.conf", () => {
    writeConf("microdb.conf", "port=7000\nbind=10.0.0.1\n");
    writeConf("other.conf", "port=7001\n");
    const cfg = load({ configFile: "other.conf" });
    expect(cfg.port).toBe(7001);
    expect(cfg.bind).toBe("127.0.0.1"); // nothing from microdb.conf leaks in
    expect(cfg.source).toBe("other.conf");
  });

  test("--config FILE is resolved against cwd; an absolute path works too", () => {
    mkdirSync(join(dir, "conf"));
    writeConf("conf/a.conf", "port=7002\n");
    expect(load({ configFile: "conf/a.conf" }).port).toBe(7002);
    const abs = writeConf("b.conf", "port=7003\n");
    const cfg = loadConfig({ configFile: abs, cwd: tmpdir(), env: {}, flags: {} });
    expect(cfg.port).toBe(7003);
    expect(cfg.source).toBe(abs);
  });

  test("--config FILE that does not exist is an error naming the file and its full path", () => {
    writeConf("microdb.conf", "port=7000\n"); // must not be used as a fallback
    expect(configErrorOf(() => load({ configFile: "missing.conf" }))).toBe(
      `--config missing.conf: file not found (${join(dir, "missing.conf")})`,
    );
  });

  test("a --config path that cannot be read (a directory) is an error naming it", () => {
    mkdirSync(join(dir, "confdir"));
    let readMessage = "";
    try {
      readFileSync(join(dir, "confdir"), "utf8");
    } catch (e) {
      readMessage = (e as Error).message;
    }
    expect(readMessage).not.toBe("");
    expect(configErrorOf(() => load({ configFile: "confdir" }))).toBe(`confdir: cannot read: ${readMessage}`);
  });

  test("errors in a --config file name that file (as given) and the line", () => {
    writeConf("m.conf", "port=1\nport=x\n");
    expect(configErrorOf(() => load({ configFile: "m.conf" }))).toBe(
      `m.conf:2: port: expected ${PORT_EXPECTS}, got "x"`,
    );
  });

  test("an empty microdb.conf is fine and still reported as the source", () => {
    writeConf("microdb.conf", "");
    const cfg = load();
    expect(cfg.source).toBe("microdb.conf");
    expect(cfg.port).toBe(6379);
  });
});

describe("precedence", () => {
  test("file < env < flags for port", () => {
    writeConf("microdb.conf", "port=1001\n");
    expect(load().port).toBe(1001);
    expect(load({ env: { MICRODB_PORT: "1002" } }).port).toBe(1002);
    expect(load({ env: { MICRODB_PORT: "1002" }, flags: { port: "1003" } }).port).toBe(1003);
    expect(load({ flags: { port: "1003" } }).port).toBe(1003);
  });

  test("file < env < flags for data_dir", () => {
    writeConf("microdb.conf", "data_dir=/from/file\n");
    expect(load().data_dir).toBe("/from/file");
    expect(load({ env: { MICRODB_DATA_DIR: "/from/env" } }).data_dir).toBe("/from/env");
    expect(load({ env: { MICRODB_DATA_DIR: "/from/env" }, flags: { data_dir: "/from/flag" } }).data_dir).toBe(
      "/from/flag",
    );
  });

  test("--config file < env < flags as well", () => {
    writeConf("x.conf", "snapshot_interval=5\n");
    expect(load({ configFile: "x.conf" }).snapshot_interval).toBe(5);
    expect(load({ configFile: "x.conf", env: { MICRODB_SNAPSHOT_INTERVAL: "6" } }).snapshot_interval).toBe(6);
    expect(
      load({ configFile: "x.conf", env: { MICRODB_SNAPSHOT_INTERVAL: "6" }, flags: { snapshot_interval: "7" } })
        .snapshot_interval,
    ).toBe(7);
  });

  test("keys from different sources combine", () => {
    writeConf("microdb.conf", "port=2001\nbind=0.0.0.0\n");
    const cfg = load({
      env: { MICRODB_DATA_DIR: "/var/lib/microdb", MICRODB_APPENDFSYNC: "always" },
      flags: { threads: "3", max_clients: "50" },
    });
    expect(cfg.port).toBe(2001);
    expect(cfg.bind).toBe("0.0.0.0");
    expect(cfg.data_dir).toBe("/var/lib/microdb");
    expect(cfg.appendfsync).toBe("always");
    expect(cfg.threads).toBe(3);
    expect(cfg.max_clients).toBe(50);
    expect(cfg.snapshot_commands).toBe(1000); // untouched key keeps its default
    expect(cfg.source).toBe("microdb.conf");
  });

  test("environment keys are case-insensitive after the prefix and values are trimmed", () => {
    expect(load({ env: { MICRODB_Port: " 4000 " } }).port).toBe(4000);
  });

  test("role=slave from the file with master_addr from a flag is accepted", () => {
    writeConf("microdb.conf", "role=slave\n");
    const cfg = load({ flags: { master_addr: "10.0.0.5:6380" } });
    expect(cfg.role).toBe("slave");
    expect(cfg.master_addr).toBe("10.0.0.5:6380");
  });

  test("a flag can turn a slave from the file back into a master without master_addr", () => {
    writeConf("microdb.conf", "role=slave\n");
    expect(load({ flags: { role: "master" } }).role).toBe("master");
  });
});

describe("file syntax", () => {
  test("blank lines and # comments (also indented) are ignored", () => {
    writeConf(
      "microdb.conf",
      "# a comment\n\n   \n   # indented comment with = sign\n\t#tab comment\nport=3000\n\n# port=1\n",
    );
    expect(load().port).toBe(3000);
  });

  test("spaces around key and value are trimmed", () => {
    writeConf("microdb.conf", "   port   =   3001   \n\tbind\t=\t10.1.2.3\t\n");
    const cfg = load();
    expect(cfg.port).toBe(3001);
    expect(cfg.bind).toBe("10.1.2.3");
  });

  test("CRLF line endings work", () => {
    writeConf("microdb.conf", "# comment\r\nport=3002\r\n\r\ndata_dir=/crlf\r\n");
    const cfg = load();
    expect(cfg.port).toBe(3002);
    expect(cfg.data_dir).toBe("/crlf");
  });

  test("CRLF line numbers in error messages count lines correctly", () => {
    expect(fileError("port=1\r\n\r\n# c\r\nport=bad\r\n")).toBe(`microdb.conf:4: port: expected ${PORT_EXPECTS}, got "bad"`);
  });

  test("a file without a trailing newline works", () => {
    writeConf("microdb.conf", "port=3003");
    expect(load().port).toBe(3003);
  });

  test("the last occurrence of a key wins", () => {
    writeConf("microdb.conf", "port=3004\nport=3005\nport=3006\n");
    expect(load().port).toBe(3006);
  });

  test("only the first = separates key and value", () => {
    writeConf("microdb.conf", "data_dir=/a=b\n");
    expect(load().data_dir).toBe("/a=b");
  });

  test("enumerated values are case-insensitive", () => {
    writeConf("microdb.conf", "role=SLAVE\nmaster_addr=h:1\nappendfsync=No\n");
    const cfg = load();
    expect(cfg.role).toBe("slave");
    expect(cfg.appendfsync).toBe("no");
  });
});

describe("file errors", () => {
  test("unknown key names file:line, the key and the known keys", () => {
    expect(fileError("port=1\n\nprot=2\n")).toBe(`microdb.conf:3: unknown key "prot" (known keys: ${KNOWN_KEYS})`);
  });

  test.each(["constructor", "toString", "__proto__", "hasOwnProperty"])("Object prototype name %p is an unknown key", (key) => {
    expect(fileError(`${key}=1\n`)).toBe(`microdb.conf:1: unknown key "${key}" (known keys: ${KNOWN_KEYS})`);
  });

  test("keys in a file are case-sensitive", () => {
    expect(fileError("PORT=1\n")).toBe(`microdb.conf:1: unknown key "PORT" (known keys: ${KNOWN_KEYS})`);
  });

  test("a line without = is an error naming file:line and the (trimmed) line", () => {
    expect(fileError("# header\n  just some words  \n")).toBe(
      `microdb.conf:2: expected key=value, got "just some words"`,
    );
  });

  test("a line starting with = (empty key) is an error", () => {
    expect(fileError("=6379\n")).toBe(`microdb.conf:1: expected key=value, got "=6379"`);
  });

  test("an empty value is rejected with the key's expectation", () => {
    expect(fileError("data_dir=\n")).toBe(`microdb.conf:1: data_dir: expected a directory path, got ""`);
  });

  test("the first bad line stops loading", () => {
    expect(fileError("port=abc\nprot=1\n")).toBe(`microdb.conf:1: port: expected ${PORT_EXPECTS}, got "abc"`);
  });
});

describe("value validation", () => {
  test.each(["abc", "-1", "65536", "1.5", "", "0x10", "+1", "1e3", "80 80", "1.0", "80.", "-0"])("port %p is rejected", (raw) => {
    expect(fileValueError("port", raw)).toBe(`microdb.conf:1: port: expected ${PORT_EXPECTS}, got "${raw}"`);
  });

  test("port accepts 0, 1 and 65535", () => {
    expect(fileValue("port", "0")).toBe(0);
    expect(fileValue("port", "1")).toBe(1);
    expect(fileValue("port", "65535")).toBe(65535);
  });

  test("bad role", () => {
    expect(fileValueError("role", "primary")).toBe(`microdb.conf:1: role: expected master or slave, got "primary"`);
  });

  test("bad appendfsync", () => {
    expect(fileValueError("appendfsync", "sometimes")).toBe(
      `microdb.conf:1: appendfsync: expected always, everysec or no, got "sometimes"`,
    );
  });

  test("appendfsync accepts always, everysec and no", () => {
    expect(fileValue("appendfsync", "always")).toBe("always");
    expect(fileValue("appendfsync", "everysec")).toBe("everysec");
    expect(fileValue("appendfsync", "no")).toBe("no");
  });

  test.each(["10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", ":6379", "10.0.0.1:", "::1:6379", "host:port"])(
    "master_addr %p is rejected",
    (raw) => {
      expect(fileValueError("master_addr", raw)).toBe(`microdb.conf:1: master_addr: expected ${ADDR_EXPECTS}, got "${raw}"`);
    },
  );

  test("master_addr is kept as written", () => {
    expect(fileValue("master_addr", "[::1]:6380")).toBe("[::1]:6380");
    expect(fileValue("master_addr", "db.example.com:65535")).toBe("db.example.com:65535");
  });

  test.each(["0", "257", "-2", "four"])("threads %p is rejected", (raw) => {
    expect(fileValueError("threads", raw)).toBe(`microdb.conf:1: threads: expected an integer 1..256, got "${raw}"`);
  });

  test("threads accepts 1 and 256", () => {
    expect(fileValue("threads", "1")).toBe(1);
    expect(fileValue("threads", "256")).toBe(256);
  });

  test.each(["0", "4294967296", "5gb", "5g", "1tb", "1.5mb", "mb", "1 mb", "-1"])("max_value_size %p is rejected", (raw) => {
    expect(fileValueError("max_value_size", raw)).toBe(
      `microdb.conf:1: max_value_size: expected ${SIZE_EXPECTS}, got "${raw}"`,
    );
  });

  test.each([
    ["1", 1],
    ["4294967295", 4294967295],
    ["1k", 1000],
    ["1kb", 1024],
    ["1m", 1_000_000],
    ["1mb", 1048576],
    ["1MB", 1048576],
    ["1g", 1_000_000_000],
    ["2gb", 2147483648],
    ["4g", 4_000_000_000],
  ] as const)("max_value_size %p is accepted as %p", (raw, bytes) => {
    expect(fileValue("max_value_size", raw)).toBe(bytes);
  });

  test.each(["1048575", "1023kb", "1000k", "1m", "0"])("client_output_limit %p (below 1mb) is rejected", (raw) => {
    expect(fileValueError("client_output_limit", raw)).toBe(
      `microdb.conf:1: client_output_limit: expected ${OUTPUT_EXPECTS}, got "${raw}"`,
    );
  });

  test("client_output_limit accepts exactly 1mb and large sizes", () => {
    expect(fileValue("client_output_limit", "1mb")).toBe(1048576);
    expect(fileValue("client_output_limit", "1048576")).toBe(1048576);
    expect(fileValue("client_output_limit", "1024kb")).toBe(1048576);
    expect(fileValue("client_output_limit", "16gb")).toBe(16 * 1024 ** 3);
  });

  test("busy_poll_us bounds 0..10000", () => {
    expect(fileValue("busy_poll_us", "0")).toBe(0);
    expect(fileValue("busy_poll_us", "10000")).toBe(10000);
    for (const raw of ["10001", "-1", "50us", "0.5"]) {
      expect(fileValueError("busy_poll_us", raw)).toBe(
        `microdb.conf:1: busy_poll_us: expected microseconds 0..10000 (0 = off), got "${raw}"`,
      );
    }
  });

  test("max_clients bounds 1..1000000", () => {
    expect(fileValue("max_clients", "1")).toBe(1);
    expect(fileValue("max_clients", "1000000")).toBe(1000000);
    expect(fileValueError("max_clients", "0")).toBe(`microdb.conf:1: max_clients: expected an integer 1..1000000, got "0"`);
    expect(fileValueError("max_clients", "1000001")).toBe(
      `microdb.conf:1: max_clients: expected an integer 1..1000000, got "1000001"`,
    );
  });

  test("snapshot_interval bounds 0..31536000", () => {
    expect(fileValue("snapshot_interval", "0")).toBe(0);
    expect(fileValue("snapshot_interval", "31536000")).toBe(31536000);
    expect(fileValueError("snapshot_interval", "31536001")).toBe(
      `microdb.conf:1: snapshot_interval: expected a number of seconds >= 0 (0 = off), got "31536001"`,
    );
  });

  test("snapshot_commands accepts 0 and rejects non-numbers and unsafe integers", () => {
    expect(fileValue("snapshot_commands", "0")).toBe(0);
    expect(fileValue("snapshot_commands", "9007199254740991")).toBe(Number.MAX_SAFE_INTEGER);
    expect(fileValueError("snapshot_commands", "9007199254740992")).toBe(
      `microdb.conf:1: snapshot_commands: expected a number of writes >= 0 (0 = off), got "9007199254740992"`,
    );
    expect(fileValueError("snapshot_commands", "lots")).toBe(
      `microdb.conf:1: snapshot_commands: expected a number of writes >= 0 (0 = off), got "lots"`,
    );
  });

  test("empty bind is rejected", () => {
    expect(configErrorOf(() => load({ flags: { bind: "" } }))).toBe(
      `flag --bind: bind: expected an address to listen on, e.g. 127.0.0.1, got ""`,
    );
  });
});

describe("role=slave needs master_addr", () => {
  test("role=slave in a file without master_addr names the file:line where role was set", () => {
    writeConf("m.conf", "port=6380\nrole=slave\n");
    expect(configErrorOf(() => load({ configFile: "m.conf" }))).toBe(
      "m.conf:2: role: role=slave needs master_addr=HOST:PORT, and none is set",
    );
  });

  test("the message names the last place role was set", () => {
    writeConf("microdb.conf", "role=slave\n");
    expect(configErrorOf(() => load({ env: { MICRODB_ROLE: "slave" } }))).toBe(
      "environment MICRODB_ROLE: role: role=slave needs master_addr=HOST:PORT, and none is set",
    );
    expect(configErrorOf(() => load({ flags: { role: "slave" } }))).toBe(
      "flag --role: role: role=slave needs master_addr=HOST:PORT, and none is set",
    );
  });

  test("role=slave with master_addr is accepted", () => {
    writeConf("m.conf", "role=slave\nmaster_addr=127.0.0.1:6379\n");
    const cfg = load({ configFile: "m.conf" });
    expect(cfg.role).toBe("slave");
    expect(cfg.master_addr).toBe("127.0.0.1:6379");
  });

  test("master_addr without role=slave is allowed and kept", () => {
    const cfg = load({ env: { MICRODB_MASTER_ADDR: "h:1" } });
    expect(cfg.role).toBe("master");
    expect(cfg.master_addr).toBe("h:1");
  });
});

describe("environment and flag errors", () => {
  test("an unknown MICRODB_FOO environment variable is an error naming it", () => {
    expect(configErrorOf(() => load({ env: { MICRODB_FOO: "1" } }))).toBe(
      `environment MICRODB_FOO: unknown key "foo" (known keys: ${KNOWN_KEYS})`,
    );
  });

  test("a bad environment value names the variable and the trimmed value", () => {
    expect(configErrorOf(() => load({ env: { MICRODB_PORT: " 99999 " } }))).toBe(
      `environment MICRODB_PORT: port: expected ${PORT_EXPECTS}, got "99999"`,
    );
  });

  test("environment variables are checked in sorted order, so the first error is deterministic", () => {
    expect(configErrorOf(() => load({ env: { MICRODB_THREADS: "0", MICRODB_PORT: "x" } }))).toBe(
      `environment MICRODB_PORT: port: expected ${PORT_EXPECTS}, got "x"`,
    );
  });

  test("a bad env value is an error even when a flag would override it", () => {
    expect(configErrorOf(() => load({ env: { MICRODB_PORT: "x" }, flags: { port: "1" } }))).toBe(
      `environment MICRODB_PORT: port: expected ${PORT_EXPECTS}, got "x"`,
    );
  });

  test("a bad --port flag names flag --port", () => {
    expect(configErrorOf(() => load({ flags: { port: "http" } }))).toBe(
      `flag --port: port: expected ${PORT_EXPECTS}, got "http"`,
    );
  });

  test("a bad --data-dir flag names flag --data-dir (underscores become dashes)", () => {
    expect(configErrorOf(() => load({ flags: { data_dir: "" } }))).toBe(
      `flag --data-dir: data_dir: expected a directory path, got ""`,
    );
  });

  test("a bad --max-value-size flag names flag --max-value-size", () => {
    expect(configErrorOf(() => load({ flags: { max_value_size: "5gb" } }))).toBe(
      `flag --max-value-size: max_value_size: expected ${SIZE_EXPECTS}, got "5gb"`,
    );
  });

  test("a bad file value is reported before env and flags are looked at", () => {
    writeConf("microdb.conf", "port=bad\n");
    expect(configErrorOf(() => load({ env: { MICRODB_PORT: "1" }, flags: { port: "2" } }))).toBe(
      `microdb.conf:1: port: expected ${PORT_EXPECTS}, got "bad"`,
    );
  });
});

describe("parseHostPort", () => {
  test("host:port", () => {
    expect(parseHostPort("127.0.0.1:6379")).toEqual({ host: "127.0.0.1", port: 6379 });
    expect(parseHostPort("db.example.com:1")).toEqual({ host: "db.example.com", port: 1 });
    expect(parseHostPort("localhost:65535")).toEqual({ host: "localhost", port: 65535 });
  });

  test("bracketed IPv6 host", () => {
    expect(parseHostPort("[::1]:6379")).toEqual({ host: "::1", port: 6379 });
    expect(parseHostPort("[fe80::1%eth0]:7000")).toEqual({ host: "fe80::1%eth0", port: 7000 });
  });

  test.each(["localhost", "localhost:", "[::1]", "[::1]:", "127.0.0.1:abc"])("missing port %p is rejected", (raw) => {
    expect(parseHostPort(raw)).toBeUndefined();
  });

  test.each([":6379", ""])("empty host %p is rejected", (raw) => {
    expect(parseHostPort(raw)).toBeUndefined();
  });

  test.each(["h:0", "h:65536", "h:70000", "h:-1", "h:99999999999999999999"])("port out of range %p is rejected", (raw) => {
    expect(parseHostPort(raw)).toBeUndefined();
  });

  test.each(["::1:6379", "a b:1", " h:1", "h:1 ", "h:1:2", "[]:6379", "]:6379", "[a]b:6379", "[ ]:6379"])("malformed %p is rejected", (raw) => {
    expect(parseHostPort(raw)).toBeUndefined();
  });
});

test("an empty --config is an error that names --config", () => {
  expect(() => loadConfig({ configFile: "", cwd: tmpdir(), env: {}, flags: {} })).toThrow(
    new ConfigError("--config: expected a file name, got an empty one"),
  );
});
