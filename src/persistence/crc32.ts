// CRC-32 (IEEE, the same as Bun.hash.crc32 and zlib) over a byte range, without a subarray: the
// AOF checksums every record, and for the short records of a hot write path a table loop is
// cheaper than allocating a view to hand to the native function.

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Records longer than this are checksummed by the native function. */
const NATIVE_ABOVE = 256;

export function crc32(buf: Uint8Array, start: number, end: number): number {
  if (end - start > NATIVE_ABOVE) return Bun.hash.crc32(buf.subarray(start, end));
  let c = -1;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
