// The two envelopes on the message path (PUBLISH without a budget split, UNICAST) written straight into one
// Buffer: the same msgpack bytes a Packr produces for the array, at a fraction of its cost per message. Everything
// else (and budget shares) goes through msgpackr. Decoding is msgpackr's either way.

/** Bytes of a msgpack str header for `n` bytes of UTF-8. */
const strHeader = (n: number): number => (n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
/** Bytes of a msgpack bin header for `n` bytes. */
const binHeader = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
/** Bytes of a non-negative integer (seq): fixint, uint8/16/32, or a float64 past 2^32. */
const uintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < 0x100000000 ? 5 : 9);

function writeStr(buf: Buffer, at: number, text: string, n: number): number {
  if (n < 32) buf[at++] = 0xa0 | n;
  else if (n < 0x100) {
    buf[at++] = 0xd9;
    buf[at++] = n;
  } else if (n < 0x10000) {
    buf[at++] = 0xda;
    buf.writeUInt16BE(n, at);
    at += 2;
  } else {
    buf[at++] = 0xdb;
    buf.writeUInt32BE(n, at);
    at += 4;
  }
  return at + buf.write(text, at, n, 'utf8');
}

function writeBin(buf: Buffer, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n < 0x100) {
    buf[at++] = 0xc4;
    buf[at++] = n;
  } else if (n < 0x10000) {
    buf[at++] = 0xc5;
    buf.writeUInt16BE(n, at);
    at += 2;
  } else {
    buf[at++] = 0xc6;
    buf.writeUInt32BE(n, at);
    at += 4;
  }
  buf.set(bytes, at);
  return at + n;
}

function writeUint(buf: Buffer, at: number, v: number): number {
  if (v < 0x80) buf[at++] = v;
  else if (v < 0x100) {
    buf[at++] = 0xcc;
    buf[at++] = v;
  } else if (v < 0x10000) {
    buf[at++] = 0xcd;
    buf.writeUInt16BE(v, at);
    at += 2;
  } else if (v < 0x100000000) {
    buf[at++] = 0xce;
    buf.writeUInt32BE(v, at);
    at += 4;
  } else {
    buf[at++] = 0xcb;
    buf.writeDoubleBE(v, at);
    at += 8;
  }
  return at;
}

/**
 * `[kind, node, seq, text, msg]` (UNICAST) or, with `budget` -1, `[kind, node, seq, text, msg, -1]` (PUBLISH).
 * `seq` is a non-negative integer; `kind` a positive fixint.
 */
export function writeDataEnvelope(kind: number, node: string, seq: number, text: string, msg: Uint8Array, uncappedPublish: boolean): Buffer {
  const nodeBytes = Buffer.byteLength(node, 'utf8');
  const textBytes = Buffer.byteLength(text, 'utf8');
  const size = 2 + strHeader(nodeBytes) + nodeBytes + uintSize(seq) + strHeader(textBytes) + textBytes + binHeader(msg.length) + msg.length + (uncappedPublish ? 1 : 0);
  const buf = Buffer.allocUnsafe(size);
  buf[0] = 0x90 | (uncappedPublish ? 6 : 5);
  buf[1] = kind;
  let at = writeStr(buf, 2, node, nodeBytes);
  at = writeUint(buf, at, seq);
  at = writeStr(buf, at, text, textBytes);
  at = writeBin(buf, at, msg);
  if (uncappedPublish) buf[at++] = 0xff; // -1: negative fixint
  return buf;
}
