// A look at a Redis message before msgpackr decodes it (issue 16 item 1). msgpackr's decoder recurses into
// nested arrays and maps, and anyone who can publish on the bus's Redis channels can send any bytes: 10 000
// nested one-byte arrays overflow its stack. Envelopes nest three levels at most (a bundle of envelopes, an
// envelope, a list of keys or budget shares inside it) and never use extension types, so anything deeper or
// stranger is refused here, without recursion, and counted as malformed by the bus. Pure: no I/O.

/** Levels of arrays and maps a Redis message of the bus may nest: bundle → envelope → list. */
export const ENVELOPE_DEPTH = 3;

/**
 * True when the first msgpack value in `bytes` is complete, nests arrays and maps at most `maxDepth` levels and
 * holds no extension type (nor the unused byte 0xc1). Bytes after that value are not looked at.
 */
export function envelopeShapeOk(bytes: Uint8Array, maxDepth = ENVELOPE_DEPTH): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  // Items still to read in each open array or map (a map's pairs count twice); the bottom entry is the top level.
  const open: number[] = [1];
  let at = 0;
  while (open.length > 0) {
    const top = open.length - 1;
    if (open[top] === 0) {
      open.pop();
      continue;
    }
    open[top]!--;
    if (at >= n) return false;
    const c = bytes[at]!;
    let items = -1;
    let skip = 0;
    if (c <= 0x7f || c >= 0xe0 || c === 0xc0 || c === 0xc2 || c === 0xc3) skip = 1;
    else if (c <= 0x8f) items = 2 * (c & 0x0f);
    else if (c <= 0x9f) items = c & 0x0f;
    else if (c <= 0xbf) skip = 1 + (c & 0x1f);
    else if (c === 0xc4 || c === 0xd9) skip = at + 1 < n ? 2 + bytes[at + 1]! : -1;
    else if (c === 0xc5 || c === 0xda) skip = at + 2 < n ? 3 + view.getUint16(at + 1) : -1;
    else if (c === 0xc6 || c === 0xdb) skip = at + 4 < n ? 5 + view.getUint32(at + 1) : -1;
    else if (c === 0xca) skip = 5;
    else if (c === 0xcb) skip = 9;
    else if (c >= 0xcc && c <= 0xd3) skip = 1 + (1 << (c & 0x03));
    else if (c === 0xdc) items = at + 2 < n ? view.getUint16(at + 1) : -1;
    else if (c === 0xdd) items = at + 4 < n ? view.getUint32(at + 1) : -1;
    else if (c === 0xde) items = at + 2 < n ? 2 * view.getUint16(at + 1) : -1;
    else if (c === 0xdf) items = at + 4 < n ? 2 * view.getUint32(at + 1) : -1;
    else return false; // 0xc1, and the extension types 0xc7–0xc9, 0xd4–0xd8
    if (skip !== 0) {
      if (skip < 0) return false;
      at += skip;
      if (at > n) return false;
      continue;
    }
    if (items < 0) return false;
    // The header: 1 byte for a fix container, 3 or 5 for the sized ones.
    at += c <= 0x9f ? 1 : c === 0xdc || c === 0xde ? 3 : 5;
    // Every item takes at least one byte: a count past the bytes left is a lie.
    if (items > n - at) return false;
    if (items > 0) {
      if (open.length >= maxDepth + 1) return false;
      open.push(items);
    }
  }
  return true;
}
