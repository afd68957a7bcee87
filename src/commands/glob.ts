// Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): * ? [abc] [^a-z] [a-z] and \ escapes,
// matched byte for byte against keyspace strings (one char per byte).

/** Compiles a pattern (raw bytes) into a matcher for keyspace strings. */
export function globMatcher(pattern: Uint8Array): (s: string) => boolean {
  const p = Buffer.from(pattern).toString("latin1");
  if (p === "*") return () => true;
  return (s) => match(p, 0, s, 0);
}

function match(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === "*") {
      while (p[pi + 1] === "*") pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k <= s.length; k++) if (match(p, pi + 1, s, k)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === "?") {
      pi++;
      si++;
      continue;
    }
    if (c === "[") {
      let j = pi + 1;
      const negate = p[j] === "^";
      if (negate) j++;
      let hit = false;
      for (; j < p.length && p[j] !== "]"; j++) {
        if (p[j] === "\\" && j + 1 < p.length) {
          j++;
          if (p[j] === s[si]) hit = true;
        } else if (p[j + 1] === "-" && j + 2 < p.length && p[j + 2] !== "]") {
          let lo = p.charCodeAt(j), hi = p.charCodeAt(j + 2);
          if (lo > hi) [lo, hi] = [hi, lo];
          const x = s.charCodeAt(si);
          if (x >= lo && x <= hi) hit = true;
          j += 2;
        } else if (p[j] === s[si]) hit = true;
      }
      if (hit === negate) return false;
      pi = j + 1;
      si++;
      continue;
    }
    if (c === "\\" && pi + 1 < p.length) pi++;
    if (p[pi] !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}
