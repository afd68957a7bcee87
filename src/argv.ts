// Command-line arguments as the bytes the user typed. process.argv decodes them as UTF-8, which
// turns invalid sequences into U+FFFD; on Linux /proc/self/cmdline still has the exact bytes, so
// `microdb client … set key $'\xff'` stores 0xFF.

import { readFileSync } from "node:fs";

/** The user's arguments (after the program name) as raw bytes; UTF-8 of process.argv elsewhere. */
export function rawArgs(): Uint8Array[] {
  const text = process.argv.slice(2);
  try {
    const parts = readNulList("/proc/self/cmdline");
    if (parts.length >= text.length) {
      const raw = parts.slice(parts.length - text.length);
      // Trust the raw bytes only where they agree with what the runtime could decode.
      const decoder = new TextDecoder();
      if (raw.every((b, i) => text[i]!.includes("\uFFFD") || decoder.decode(b) === text[i])) return raw;
    }
  } catch {
    // No /proc (not Linux): fall through.
  }
  return text.map((t) => new TextEncoder().encode(t));
}

/** A /proc file of NUL-terminated strings (cmdline, environ) as the raw bytes of each. */
export function readNulList(path: string): Uint8Array[] {
  const all = readFileSync(path);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i] === 0) {
      parts.push(all.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

/** The name the program was started as ("client" for the ./client link). */
export function programName(): string {
  const argv0 = process.argv0 || "microdb";
  return argv0.slice(argv0.lastIndexOf("/") + 1);
}
