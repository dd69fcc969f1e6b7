// Minimal wire helpers for the benchmark clients and the ceiling server.
// Written from /work/shared/PROTOCOL.md (§1.2 CongSocket framing, §2 codes,
// §5.1 SIGNAL layout, §5.5 SUBSCRIBE) and RFC 6455 (client-side WebSocket framing).

export const B0_SERVER_TIME_NONCE = 0xb0;
export const C0_SERVER_READY = 0xc0;
export const C1_CID_REQ = 0xc1;
export const C2_CID_RES = 0xc2;
export const CD_PING = 0xcd;
export const CE_PONG = 0xce;
export const D0_SIGNAL = 0xd0;
export const D3_SUBSCRIBE = 0xd3;
export const PAYLOAD_BINARY = 2;

/** SIGNAL = D0 ‖ tagLen ‖ tag ‖ payloadType ‖ payload (§5.1). */
export function signalMsg(tag: string, payload: Uint8Array, payloadType = PAYLOAD_BINARY): Buffer {
  const t = Buffer.from(tag, 'utf8');
  if (t.length > 255) throw new RangeError('tag too long');
  const out = Buffer.allocUnsafe(3 + t.length + payload.length);
  out[0] = D0_SIGNAL;
  out[1] = t.length;
  t.copy(out, 2);
  out[2 + t.length] = payloadType;
  out.set(payload, 3 + t.length);
  return out;
}

/** SUBSCRIBE = D3 ‖ tagLen ‖ tags (comma separated) (§5.5). */
export function subscribeMsg(tags: string): Buffer {
  const t = Buffer.from(tags, 'utf8');
  if (t.length > 255) throw new RangeError('tags too long');
  const out = Buffer.allocUnsafe(2 + t.length);
  out[0] = D3_SUBSCRIBE;
  out[1] = t.length;
  t.copy(out, 2);
  return out;
}

/** Tag of a SIGNAL message (no validation beyond bounds). */
export function signalTag(msg: Uint8Array): string | undefined {
  if (msg.length < 3) return undefined;
  const len = msg[1]!;
  if (msg.length < 2 + len) return undefined;
  return Buffer.from(msg.buffer, msg.byteOffset + 2, len).toString('utf8');
}

// ---------------------------------------------------------------- CongSocket

/** Header size for a payload of `len` bytes (smallest type that fits). */
export function congHeaderSize(len: number): number {
  return len <= 0xff ? 2 : len <= 0xffff ? 3 : len <= 0xffffff ? 4 : 5;
}

/** Writes the CongSocket header for `len` at out[off]; returns the header size. */
export function writeCongHeader(out: Uint8Array, off: number, len: number): number {
  if (len <= 0xff) {
    out[off] = 1; out[off + 1] = len; return 2;
  }
  if (len <= 0xffff) {
    out[off] = 2; out[off + 1] = len & 0xff; out[off + 2] = len >>> 8; return 3;
  }
  if (len <= 0xffffff) {
    out[off] = 3; out[off + 1] = len & 0xff; out[off + 2] = (len >>> 8) & 0xff; out[off + 3] = len >>> 16;
    return 4;
  }
  out[off] = 4;
  out[off + 1] = len & 0xff; out[off + 2] = (len >>> 8) & 0xff;
  out[off + 3] = (len >>> 16) & 0xff; out[off + 4] = len >>> 24;
  return 5;
}

/** One framed CongSocket buffer for `msg`. */
export function congFrame(msg: Uint8Array): Buffer {
  const h = congHeaderSize(msg.length);
  const out = Buffer.allocUnsafe(h + msg.length);
  writeCongHeader(out, 0, msg.length);
  out.set(msg, h);
  return out;
}

/**
 * Incremental CongSocket frame parser: bytes in, whole messages out, parsed in a
 * loop. Returns false on a protocol error (unknown type byte).
 */
export class CongParser {
  private buf: Buffer | null = null;

  push(chunk: Buffer, onMsg: (m: Buffer) => void): boolean {
    let data = chunk;
    if (this.buf !== null) {
      data = Buffer.concat([this.buf, chunk]);
      this.buf = null;
    }
    let off = 0;
    const n = data.length;
    while (off < n) {
      const type = data[off]!;
      let h: number;
      let len: number;
      if (type === 1) {
        if (off + 2 > n) break;
        h = 2; len = data[off + 1]!;
      } else if (type === 2) {
        if (off + 3 > n) break;
        h = 3; len = data[off + 1]! | (data[off + 2]! << 8);
      } else if (type === 3) {
        if (off + 4 > n) break;
        h = 4; len = data[off + 1]! | (data[off + 2]! << 8) | (data[off + 3]! << 16);
      } else if (type === 4) {
        if (off + 5 > n) break;
        h = 5; len = (data[off + 1]! | (data[off + 2]! << 8) | (data[off + 3]! << 16)) + data[off + 4]! * 0x1000000;
      } else {
        return false;
      }
      if (off + h + len > n) break;
      if (len > 0) onMsg(data.subarray(off + h, off + h + len));
      off += h + len;
    }
    if (off < n) this.buf = off === 0 ? data : data.subarray(off);
    return true;
  }
}

// ---------------------------------------------------------------- WebSocket (client side, RFC 6455)

/**
 * A masked binary client frame. The masking key is all zeros, which RFC 6455
 * permits on the wire (the server still unmasks); it saves the XOR pass so the
 * load generator stays cheap.
 */
export function wsClientFrame(msg: Uint8Array, opcode = 2): Buffer {
  const len = msg.length;
  const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(h + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126; out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127; out.writeUInt32BE(Math.floor(len / 2 ** 32), 2); out.writeUInt32BE(len >>> 0, 6);
  }
  out.writeUInt32BE(0, h);
  out.set(msg, h + 4);
  return out;
}

export interface WsParserEvents {
  message(m: Buffer, binary: boolean): void;
  ping(payload: Buffer): void;
  close(): void;
}

/** Incremental parser for unmasked server→client WebSocket frames. */
export class WsParser {
  private buf: Buffer | null = null;
  private frag: Buffer[] | null = null;
  private fragBinary = true;

  push(chunk: Buffer, ev: WsParserEvents): boolean {
    let data = chunk;
    if (this.buf !== null) {
      data = Buffer.concat([this.buf, chunk]);
      this.buf = null;
    }
    let off = 0;
    const n = data.length;
    while (off + 2 <= n) {
      const b0 = data[off]!;
      const b1 = data[off + 1]!;
      if (b1 & 0x80) return false; // servers never mask
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (off + 4 > n) break;
        len = data.readUInt16BE(off + 2); h = 4;
      } else if (len === 127) {
        if (off + 10 > n) break;
        len = data.readUInt32BE(off + 2) * 2 ** 32 + data.readUInt32BE(off + 6); h = 10;
      }
      if (off + h + len > n) break;
      const payload = data.subarray(off + h, off + h + len);
      off += h + len;
      const fin = (b0 & 0x80) !== 0;
      const op = b0 & 0x0f;
      if (op === 1 || op === 2) {
        if (fin) ev.message(payload, op === 2);
        else { this.frag = [payload]; this.fragBinary = op === 2; }
      } else if (op === 0) {
        if (this.frag) {
          this.frag.push(payload);
          if (fin) { const m = Buffer.concat(this.frag); this.frag = null; ev.message(m, this.fragBinary); }
        }
      } else if (op === 9) {
        ev.ping(payload);
      } else if (op === 8) {
        ev.close();
      }
    }
    if (off < n) this.buf = off === 0 ? data : data.subarray(off);
    return true;
  }
}
