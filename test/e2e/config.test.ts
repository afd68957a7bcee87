// E2e: configuration as the compiled binary sees it — file < environment < flag, --help and
// --version, and bad settings that stop start-up with exit 1 and one file:line message.

import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/client/client.ts";
import { VERSION } from "../../src/version.ts";
import { BINARY, cleanup, probeFreePort, run, startServer, tempDir } from "./harness.ts";

async function infoField(port: number, field: string): Promise<string> {
  const c = await connect("127.0.0.1", port);
  const info = await c.info();
  c.close();
  return new RegExp(`^${field}:(.*)$`, "m").exec(info)?.[1]?.trim() ?? "";
}

describe("config", () => {
  test("microdb.conf < MICRODB_* environment < flags", async () => {
    const dir = tempDir();
    const filePort = probeFreePort();
    const envPort = probeFreePort();
    writeFileSync(join(dir, "microdb.conf"), `# test config\n\nport=${filePort}\ndata_dir=./from-file\nmax_clients=111\nmax_value_size=1mb\n`);
    // File only.
    let s = await startServer({ cwd: dir, port0: false });
    expect(s.port).toBe(filePort);
    expect(await infoField(s.port, "maxclients")).toBe("111");
    expect(s.output()).toContain(`data_dir=${join(dir, "from-file")}`);
    await s.stop();
    // Environment over file.
    s = await startServer({ cwd: dir, port0: false, env: { MICRODB_PORT: String(envPort), MICRODB_MAX_CLIENTS: "222", MICRODB_DATA_DIR: "./from-env" } });
    expect(s.port).toBe(envPort);
    expect(await infoField(s.port, "maxclients")).toBe("222");
    expect(await infoField(s.port, "max_value_size")).toBe("1048576"); // still from the file
    expect(s.output()).toContain(`data_dir=${join(dir, "from-env")}`);
    await s.stop();
    // Flags over both.
    s = await startServer({ cwd: dir, args: ["--data-dir", "./from-flag"], env: { MICRODB_PORT: String(envPort), MICRODB_DATA_DIR: "./from-env" } });
    expect(s.port).not.toBe(envPort);
    expect(s.port).not.toBe(filePort);
    expect(s.output()).toContain(`data_dir=${join(dir, "from-flag")}`);
    expect(existsSync(join(dir, "from-flag"))).toBe(true); // created if missing
    await s.stop();
    cleanup(dir);
  });

  test("--config FILE is used instead of microdb.conf", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "microdb.conf"), "max_clients=5\n");
    writeFileSync(join(dir, "master.conf"), "max_clients=77\n");
    const s = await startServer({ cwd: dir, args: ["--config", "master.conf"] });
    expect(await infoField(s.port, "maxclients")).toBe("77");
    expect(await infoField(s.port, "config_file")).toBe("master.conf");
    await s.stop();
    cleanup(dir);
  });

  test("the start line names version, pid, port, role and data_dir, then Ready", async () => {
    const s = await startServer();
    expect(s.output()).toMatch(new RegExp(`microdb ${VERSION.replace(/\./g, "\\.")} pid=${s.pid} port=${s.port} role=master data_dir=/\\S+\\n.*Ready to accept connections`));
    expect(await s.stop()).toBe(0);
  });

  test("bad settings exit 1 with one line naming where, the key and what is expected", async () => {
    const cases: [string, Record<string, string>, string[], string][] = [
      ["port=99999\n", {}, [], 'microdb: config error: microdb.conf:1: port: expected an integer 0..65535 (0 = any free port), got "99999"\n'],
      ["# c\nbogus=1\n", {}, [], 'microdb: config error: microdb.conf:2: unknown key "bogus"'],
      ["port 6379\n", {}, [], 'microdb: config error: microdb.conf:1: expected key=value, got "port 6379"\n'],
      ["role=slave\n", {}, [], "microdb: config error: microdb.conf:1: role: role=slave needs master_addr=HOST:PORT, and none is set\n"],
      ["", { MICRODB_APPENDFSYNC: "sometimes" }, [], 'microdb: config error: environment MICRODB_APPENDFSYNC: appendfsync: expected always, everysec or no, got "sometimes"\n'],
      ["", {}, ["--port", "x"], 'microdb: config error: flag --port: port: expected an integer 0..65535 (0 = any free port), got "x"\n'],
      ["", {}, ["--config", "nope.conf"], "microdb: config error: --config nope.conf: file not found"],
      ["", {}, ["--bogus"], "microdb: Unknown option '--bogus'"],
    ];
    for (const [file, env, args, message] of cases) {
      const dir = tempDir();
      if (file) writeFileSync(join(dir, "microdb.conf"), file);
      const r = await run([BINARY, ...args], { cwd: dir, env });
      expect(r.code, message).toBe(1);
      expect(r.stderr.startsWith(message), `${r.stderr} should start with ${message}`).toBe(true);
      expect(r.stderr.trimEnd().split("\n").length).toBe(1);
      expect(r.out).not.toContain("Ready to accept connections");
      cleanup(dir);
    }
  });

  test("--help and --version", async () => {
    const v = await run([BINARY, "--version"]);
    expect(v).toMatchObject({ code: 0, out: `microdb ${VERSION}\n` });
    const h = await run([BINARY, "--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("microdb client HOST:PORT COMMAND");
  });
});
