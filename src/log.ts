// Server log lines in Redis's shape ("pid:role date level message") on stdout/stderr, so that
// operators can read microdb's log with the habits they have from Redis.

export type LogLevel = "info" | "warn" | "error";

const MARK: Record<LogLevel, string> = { info: "*", warn: "#", error: "!" };

let roleChar = "M";

/** Role letter shown in every line: M master, S slave, C child/tool. */
export function setLogRole(role: "M" | "S" | "C"): void {
  roleChar = role;
}

function stamp(): string {
  const d = new Date();
  return d.toISOString().replace("T", " ").replace("Z", "");
}

export function log(level: LogLevel, message: string): void {
  const line = `${process.pid}:${roleChar} ${stamp()} ${MARK[level]} ${message}\n`;
  if (level === "info") process.stdout.write(line);
  else process.stderr.write(line);
}
