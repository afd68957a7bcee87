// Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): * ? [abc] [^a-z] [a-z] and \ escapes,
// matched byte for byte against keyspace strings (one char per byte).
//
// Matching is iterative and remembers only the last '*' to fall back to, so it takes at most
// pattern × key steps: a pattern like "a*a*a*a*b" cannot make the server spin (the exponential
// recursion Redis itself fixed in CVE-2022-36021).

/** Compiles a pattern (raw bytes) into a matcher for keyspace strings. */
export function globMatcher(pattern: Uint8Array): (s: string) => boolean {
  const p = Buffer.from(pattern).toString("latin1");
  if (p === "*") return () => true;
  return (s) => match(p, s);
}

function match(p: string, s: string): boolean {
  let pi = 0, si = 0;
  let starP = -1, starS = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === "*") {
      while (p[pi + 1] === "*") pi++;
      starP = pi++;
      starS = si;
      continue;
    }
    const step = pi < p.length ? matchOne(p, pi, s.charCodeAt(si)) : -1;
    if (step >= 0) {
      pi = step;
      si++;
    } else if (starP >= 0) {
      // Let the last '*' swallow one more character and try again from just after it.
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}

/** Matches one pattern element at pi against char c; returns the next pattern index or -1. */
function matchOne(p: string, pi: number, c: number): number {
  const ch = p[pi]!;
  if (ch === "?") return pi + 1;
  if (ch === "[") {
    let j = pi + 1;
    const negate = p[j] === "^";
    if (negate) j++;
    let hit = false;
    for (; j < p.length && p[j] !== "]"; j++) {
      if (p[j] === "\\" && j + 1 < p.length) {
        j++;
        if (p.charCodeAt(j) === c) hit = true;
      } else if (p[j + 1] === "-" && j + 2 < p.length && p[j + 2] !== "]") {
        let lo = p.charCodeAt(j), hi = p.charCodeAt(j + 2);
        if (lo > hi) [lo, hi] = [hi, lo];
        if (c >= lo && c <= hi) hit = true;
        j += 2;
      } else if (p.charCodeAt(j) === c) hit = true;
    }
    // An unterminated class runs to the end of the pattern, as in Redis.
    return hit !== negate ? Math.min(j + 1, p.length) : -1;
  }
  if (ch === "\\" && pi + 1 < p.length) return p.charCodeAt(pi + 1) === c ? pi + 2 : -1;
  return p.charCodeAt(pi) === c ? pi + 1 : -1;
}
