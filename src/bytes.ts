// Byte copying shared by the codecs and the keyspace.

/** Copies src[start, start + len) to dst at `at`: a loop for short runs, where the native call costs more. */
export function copyBytes(src: Uint8Array, start: number, len: number, dst: Uint8Array, at: number): void {
  if (len <= 32) {
    for (let i = 0; i < len; i++) dst[at + i] = src[start + i]!;
  } else {
    dst.set(start === 0 && len === src.length ? src : src.subarray(start, start + len), at);
  }
}

/**
 * A copy that owns its bytes. Buffer#slice (and so slice() on the views Bun's socket chunks give)
 * shares memory; this never does.
 */
export function copyOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
