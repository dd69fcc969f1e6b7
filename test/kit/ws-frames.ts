// Client-side WebSocket framing (RFC 6455) without a library: what the hand-written "raw" ws wire and the
// benchmark's ceiling server use, because the `ws` package costs more per message than the server under test.

/**
 * A masked client frame. The masking key is all zeros, which RFC 6455 permits on the wire (the server still
 * unmasks); it saves the XOR pass so a load generator stays cheap.
 */
export function wsClientFrame(msg: Uint8Array, opcode = 2): Buffer {
  const len = msg.length;
  const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(h + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  out.writeUInt32BE(0, h);
  out.set(msg, h + 4);
  return out;
}

export interface WsParserEvents {
  message(m: Buffer, binary: boolean): void;
  ping(payload: Buffer): void;
  pong?(payload: Buffer): void;
  close(code: number): void;
}

/** Incremental parser for unmasked server→client WebSocket frames; `push` returns false on a masked frame. */
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
        len = data.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        if (off + 10 > n) break;
        len = data.readUInt32BE(off + 2) * 2 ** 32 + data.readUInt32BE(off + 6);
        h = 10;
      }
      if (off + h + len > n) break;
      const payload = data.subarray(off + h, off + h + len);
      off += h + len;
      const fin = (b0 & 0x80) !== 0;
      const op = b0 & 0x0f;
      if (op === 1 || op === 2) {
        if (fin) ev.message(payload, op === 2);
        else {
          this.frag = [payload];
          this.fragBinary = op === 2;
        }
      } else if (op === 0) {
        if (this.frag) {
          this.frag.push(payload);
          if (fin) {
            const m = Buffer.concat(this.frag);
            this.frag = null;
            ev.message(m, this.fragBinary);
          }
        }
      } else if (op === 9) {
        ev.ping(payload);
      } else if (op === 10) {
        ev.pong?.(payload);
      } else if (op === 8) {
        ev.close(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
      }
    }
    if (off < n) this.buf = off === 0 ? data : data.subarray(off);
    return true;
  }
}
