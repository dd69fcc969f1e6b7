// The two envelopes on the message path (PUBLISH without a budget split, UNICAST) written straight into one
// Buffer: the same msgpack bytes a Packr produces for the array, at a fraction of its cost per message. Everything
// else (and budget shares) goes through msgpackr. Decoding is msgpackr's either way.

/** Bytes of a msgpack header that carries `n` in 1, 2 or 4 bytes after its type byte (str 8/16/32, bin, uint). */
const sizedHeader = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
/** Bytes of a msgpack str header for `n` bytes of UTF-8 (fixstr below 32). */
const strHeader = (n: number): number => (n < 32 ? 1 : sizedHeader(n));
/** Bytes of a non-negative integer (seq): fixint, uint8/16/32, or a float64 past 2^32. */
export const uintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x100000000 ? sizedHeader(v) : 9);

/** Writes a type byte (`c8`, `c16` or `c32` by the size of `n`) and `n` big-endian in 1, 2 or 4 bytes. */
function writeSized(buf: Buffer, at: number, n: number, c8: number, c16: number, c32: number): number {
  if (n < 0x100) {
    buf[at] = c8;
    buf[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    buf[at] = c16;
    buf.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  buf[at] = c32;
  buf.writeUInt32BE(n, at + 1);
  return at + 5;
}

function writeStr(buf: Buffer, at: number, text: string, n: number): number {
  if (n < 32) buf[at++] = 0xa0 | n;
  else at = writeSized(buf, at, n, 0xd9, 0xda, 0xdb);
  return at + buf.write(text, at, n, 'utf8');
}

function writeBin(buf: Buffer, at: number, bytes: Uint8Array): number {
  at = writeSized(buf, at, bytes.length, 0xc4, 0xc5, 0xc6);
  buf.set(bytes, at);
  return at + bytes.length;
}

export function writeUint(buf: Buffer, at: number, v: number): number {
  if (v < 0x80) {
    buf[at] = v;
    return at + 1;
  }
  if (v < 0x100000000) return writeSized(buf, at, v, 0xcc, 0xcd, 0xce);
  buf[at] = 0xcb;
  buf.writeDoubleBE(v, at + 1);
  return at + 9;
}

/**
 * `[kind, node, seq, text, msg, publisher]` (UNICAST) or, with `budget` -1, `[kind, node, seq, text, msg, -1,
 * publisher]` (PUBLISH); the publisher is a str, or nil for the server. `seq` is a non-negative integer; `kind` a
 * positive fixint.
 */
export function writeDataEnvelope(
  kind: number,
  node: string,
  seq: number,
  text: string,
  msg: Uint8Array,
  uncappedPublish: boolean,
  publisher: string | null,
): Buffer {
  const nodeBytes = Buffer.byteLength(node, 'utf8');
  const textBytes = Buffer.byteLength(text, 'utf8');
  const publisherBytes = publisher === null ? 0 : Buffer.byteLength(publisher, 'utf8');
  const publisherSize = publisher === null ? 1 : strHeader(publisherBytes) + publisherBytes;
  const size =
    2 + strHeader(nodeBytes) + nodeBytes + uintSize(seq) + strHeader(textBytes) + textBytes + sizedHeader(msg.length) + msg.length + (uncappedPublish ? 1 : 0) + publisherSize;
  const buf = Buffer.allocUnsafe(size);
  buf[0] = 0x90 | (uncappedPublish ? 7 : 6);
  buf[1] = kind;
  let at = writeStr(buf, 2, node, nodeBytes);
  at = writeUint(buf, at, seq);
  at = writeStr(buf, at, text, textBytes);
  at = writeBin(buf, at, msg);
  if (uncappedPublish) buf[at++] = 0xff; // -1: negative fixint
  if (publisher === null) buf[at++] = 0xc0; // nil: the server
  else writeStr(buf, at, publisher, publisherBytes);
  return buf;
}
