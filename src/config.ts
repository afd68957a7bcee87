// Server configuration: defaults < config file < MICRODB_* environment < command-line flags.
//
// Every key has one spec (default, parser, what it expects). Every source is read the same way and
// every failure names its origin exactly ("master.conf:3", "environment MICRODB_PORT", "flag --port"),
// the key, and what was expected, so a bad setting stops start-up with one readable line and nothing
// starts half-configured. Keys that later features act on (replication, threads) are validated now.

import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";

export type Role = "master" | "slave";
export type AppendFsync = "always" | "everysec" | "no";

export interface Config {
  port: number;
  bind: string;
  data_dir: string;
  snapshot_interval: number;
  snapshot_commands: number;
  role: Role;
  master_addr: string | null;
  master_auth: string;
  repl_backlog_size: number;
  threads: number;
  appendfsync: AppendFsync;
  max_value_size: number;
  max_clients: number;
  client_output_limit: number;
  shutdown_file: string;
  requirepass: string;
  busy_poll_us: number;
}

export type ConfigKey = keyof Config;

/** A setting that could not be accepted; `message` is the one line shown to the user. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Largest value length the binary protocol can carry (u32 length field). */
export const MAX_WIRE_VALUE = 0xffff_ffff;

interface KeySpec<T> {
  readonly expects: string;
  readonly fallback: () => T;
  /** Returns the parsed value, or undefined when `raw` is not acceptable. */
  readonly parse: (raw: string) => T | undefined;
}

function integer(min: number, max: number): (raw: string) => number | undefined {
  return (raw) => {
    if (!/^[0-9]+$/.test(raw)) return undefined;
    const n = Number(raw);
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
  };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1, k: 1000, kb: 1024, m: 1000 ** 2, mb: 1024 ** 2, g: 1000 ** 3, gb: 1024 ** 3,
};

/** Byte sizes as Redis writes them: a whole number with an optional k, kb, m, mb, g or gb unit. */
function size(min: number, max: number): (raw: string) => number | undefined {
  return (raw) => {
    const m = /^([0-9]+)([a-z]*)$/i.exec(raw);
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) return undefined;
    const n = Number(m[1]) * unit;
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
  };
}

function oneOf<T extends string>(...choices: T[]): (raw: string) => T | undefined {
  return (raw) => choices.find((c) => c === raw.toLowerCase());
}

/** HOST:PORT with a port in 1..65535; IPv6 hosts in brackets ([::1]:6379). */
export function parseHostPort(raw: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]\s]+)\]|([^:\s[\]]+)):([0-9]+)$/.exec(raw);
  if (!m) return undefined;
  const port = integer(1, 65535)(m[3]!);
  return port === undefined ? undefined : { host: (m[1] ?? m[2])!, port };
}

const nonEmpty = (raw: string): string | undefined => (raw.length > 0 ? raw : undefined);

const SPECS: { readonly [K in ConfigKey]: KeySpec<Config[K]> } = {
  port: { expects: "an integer 0..65535 (0 = any free port)", fallback: () => 6379, parse: integer(0, 65535) },
  bind: { expects: "an address to listen on, e.g. 127.0.0.1", fallback: () => "127.0.0.1", parse: nonEmpty },
  data_dir: { expects: "a directory path", fallback: () => "./data", parse: nonEmpty },
  snapshot_interval: { expects: "a number of seconds >= 0 (0 = off)", fallback: () => 10, parse: integer(0, 31_536_000) },
  snapshot_commands: { expects: "a number of writes >= 0 (0 = off)", fallback: () => 1000, parse: integer(0, Number.MAX_SAFE_INTEGER) },
  role: { expects: "master or slave", fallback: () => "master", parse: oneOf<Role>("master", "slave") },
  master_addr: {
    expects: "HOST:PORT of the master, e.g. 127.0.0.1:6379",
    fallback: () => null,
    parse: (raw) => (parseHostPort(raw) ? raw : undefined),
  },
  master_auth: {
    expects: "the master's requirepass (empty = none)",
    fallback: () => "",
    parse: (raw) => raw,
  },
  repl_backlog_size: {
    expects: "a size 16kb..4gb (units k, kb, m, mb, g, gb allowed)",
    fallback: () => 16 * 1024 * 1024,
    parse: size(16 * 1024, 4 * 1024 ** 3),
  },
  threads: { expects: "an integer 1..256", fallback: () => Math.min(256, availableParallelism()), parse: integer(1, 256) },
  appendfsync: { expects: "always, everysec or no", fallback: () => "everysec", parse: oneOf<AppendFsync>("always", "everysec", "no") },
  max_value_size: {
    expects: `a size 1..${MAX_WIRE_VALUE} bytes (units k, kb, m, mb, g, gb allowed)`,
    fallback: () => 512 * 1024 * 1024,
    parse: size(1, MAX_WIRE_VALUE),
  },
  max_clients: { expects: "an integer 1..1000000", fallback: () => 10_000, parse: integer(1, 1_000_000) },
  client_output_limit: {
    expects: "a size >= 1mb (units k, kb, m, mb, g, gb allowed)",
    fallback: () => 64 * 1024 * 1024,
    parse: size(1024 * 1024, Number.MAX_SAFE_INTEGER),
  },
  shutdown_file: {
    expects: "a file name, relative to the working directory",
    fallback: () => "shutdown.txt",
    parse: nonEmpty,
  },
  requirepass: {
    expects: "a password (empty = none)",
    fallback: () => "",
    parse: (raw) => raw,
  },
  // Polling keeps a core busy while requests come quickly; with one core it would take that core
  // from the very clients it waits for, so the default there is off.
  busy_poll_us: {
    expects: "microseconds 0..10000 (0 = off)",
    fallback: () => (availableParallelism() > 1 ? 50 : 0),
    parse: integer(0, 10_000),
  },
};

export const CONFIG_KEYS = Object.keys(SPECS) as ConfigKey[];

function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(SPECS, key);
}

export function defaultConfig(): Config {
  const out: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of CONFIG_KEYS) out[key] = SPECS[key].fallback();
  return out as Config;
}

/** Where a setting came from, for error messages. */
type Origins = Partial<Record<ConfigKey, string>>;

function apply(cfg: Config, origins: Origins, origin: string, key: string, raw: string): void {
  if (!isConfigKey(key)) {
    throw new ConfigError(`${origin}: unknown key "${key}" (known keys: ${CONFIG_KEYS.join(", ")})`);
  }
  const spec = SPECS[key] as KeySpec<unknown>;
  const value = spec.parse(raw);
  if (value === undefined) throw new ConfigError(`${origin}: ${key}: expected ${spec.expects}, got "${raw}"`);
  (cfg as unknown as Record<string, unknown>)[key] = value;
  origins[key] = origin;
}

/** Applies the lines of a config file (`key=value`, blank lines and `#` comments ignored). */
export function applyFile(cfg: Config, origins: Origins, name: string, text: string): void {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = `${name}:${i + 1}`;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new ConfigError(`${at}: expected key=value, got "${line}"`);
    apply(cfg, origins, at, line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
}

export interface ConfigSources {
  /** --config FILE, if given (must exist). */
  configFile?: string;
  /** Working directory, where microdb.conf is looked for. */
  cwd: string;
  env: Record<string, string | undefined>;
  /** Flag values already parsed from argv, by config key. */
  flags: Partial<Record<ConfigKey, string>>;
}

export const ENV_PREFIX = "MICRODB_";

/** Builds the configuration from all sources, in order of precedence; throws ConfigError. */
export function loadConfig(src: ConfigSources): Config & { source: string | null } {
  const cfg = defaultConfig();
  const origins: Origins = {};
  let source: string | null = null;

  if (src.configFile === "") throw new ConfigError("--config: expected a file name, got an empty one");
  if (src.configFile !== undefined) {
    const path = resolve(src.cwd, src.configFile);
    if (!existsSync(path)) throw new ConfigError(`--config ${src.configFile}: file not found (${path})`);
    source = src.configFile;
  } else if (existsSync(resolve(src.cwd, "microdb.conf"))) {
    source = "microdb.conf";
  }
  if (source !== null) {
    let text: string;
    try {
      text = readFileSync(resolve(src.cwd, source), "utf8");
    } catch (e) {
      throw new ConfigError(`${source}: cannot read: ${(e as Error).message}`);
    }
    applyFile(cfg, origins, source, text);
  }

  for (const name of Object.keys(src.env).sort()) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const raw = src.env[name];
    if (raw === undefined) continue;
    apply(cfg, origins, `environment ${name}`, name.slice(ENV_PREFIX.length).toLowerCase(), raw.trim());
  }

  for (const key of CONFIG_KEYS) {
    const raw = src.flags[key];
    if (raw !== undefined) apply(cfg, origins, `flag --${key.replace(/_/g, "-")}`, key, raw);
  }

  if (cfg.role === "slave" && cfg.master_addr === null) {
    throw new ConfigError(`${origins.role}: role: role=slave needs master_addr=HOST:PORT, and none is set`);
  }
  return { ...cfg, source };
}
