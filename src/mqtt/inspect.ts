// Checks mqtt-packet does not make, over the raw bytes of one packet it has parsed: strings are well-formed UTF-8
// [MQTT-1.5.3-1] without U+0000 [MQTT-1.5.3-2]; MQTT 5 properties belong to their packet, appear at most once where
// the spec says so, and hold legal values (§2.2.2.2); a CONNECT has nothing after its last field. It also returns the
// User Properties in the order they were sent, which the server must keep when it forwards them [MQTT-3.3.2-18].
import { isUtf8 } from 'node:buffer';
import { RC } from './codes.js';

export type UserProperty = readonly [name: string, value: string];

export interface Inspection {
  /** 0 when the packet passed; else the reason code to answer with (MALFORMED_PACKET, PROTOCOL_ERROR…). */
  code: number;
  why?: string;
  userProperties?: UserProperty[];
  willUserProperties?: UserProperty[];
  /** PUBLISH: where the payload starts in the packet. */
  payloadOffset?: number;
}

const Kind = { Byte: 0, U16: 1, U32: 2, Var: 3, Utf8: 4, Binary: 5, Pair: 6 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface PropertySpec {
  kind: Kind;
  /** May appear more than once. */
  many?: boolean;
  /** Legal values of a byte property. */
  bool?: boolean;
  /** A zero value is a protocol error. */
  nonZero?: boolean;
}

const P = new Map<number, PropertySpec>([
  [0x01, { kind: Kind.Byte, bool: true }], // Payload Format Indicator
  [0x02, { kind: Kind.U32 }], // Message Expiry Interval
  [0x03, { kind: Kind.Utf8 }], // Content Type
  [0x08, { kind: Kind.Utf8 }], // Response Topic
  [0x09, { kind: Kind.Binary }], // Correlation Data
  [0x0b, { kind: Kind.Var, nonZero: true }], // Subscription Identifier
  [0x11, { kind: Kind.U32 }], // Session Expiry Interval
  [0x15, { kind: Kind.Utf8 }], // Authentication Method
  [0x16, { kind: Kind.Binary }], // Authentication Data
  [0x17, { kind: Kind.Byte, bool: true }], // Request Problem Information
  [0x18, { kind: Kind.U32 }], // Will Delay Interval
  [0x19, { kind: Kind.Byte, bool: true }], // Request Response Information
  [0x1c, { kind: Kind.Utf8 }], // Server Reference
  [0x1f, { kind: Kind.Utf8 }], // Reason String
  [0x21, { kind: Kind.U16, nonZero: true }], // Receive Maximum
  [0x22, { kind: Kind.U16 }], // Topic Alias Maximum
  [0x23, { kind: Kind.U16 }], // Topic Alias (0 is answered as Topic Alias invalid by the engine)
  [0x26, { kind: Kind.Pair, many: true }], // User Property
  [0x27, { kind: Kind.U32, nonZero: true }], // Maximum Packet Size
]);

/** Properties a client may send, per packet. */
const ALLOWED: Record<string, ReadonlySet<number>> = {
  connect: new Set([0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27]),
  will: new Set([0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26]),
  publish: new Set([0x01, 0x02, 0x03, 0x08, 0x09, 0x23, 0x26]),
  ack: new Set([0x1f, 0x26]),
  subscribe: new Set([0x0b, 0x26]),
  unsubscribe: new Set([0x26]),
  disconnect: new Set([0x11, 0x1c, 0x1f, 0x26]),
  auth: new Set([0x15, 0x16, 0x1f, 0x26]),
};

class Failure extends Error {
  constructor(
    readonly code: number,
    why: string,
  ) {
    super(why);
  }
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new Failure(RC.MALFORMED_PACKET, 'packet too short');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  varint(): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8();
      value += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return value;
      mul *= 128;
    }
    throw new Failure(RC.MALFORMED_PACKET, 'bad variable byte integer');
  }
  binary(): Buffer {
    const n = this.u16();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  utf8(what: string): string {
    const b = this.binary();
    if (!isUtf8(b)) throw new Failure(RC.MALFORMED_PACKET, `${what} is not valid UTF-8`);
    if (b.includes(0)) throw new Failure(RC.MALFORMED_PACKET, `${what} holds U+0000`);
    return b.toString('utf8');
  }
}

/** Reads a property block; returns the user properties in order. */
function properties(r: Reader, packet: keyof typeof ALLOWED): UserProperty[] | undefined {
  const length = r.varint();
  r.need(length);
  const end = r.pos + length;
  const seen = new Set<number>();
  let users: UserProperty[] | undefined;
  while (r.pos < end) {
    const id = r.varint();
    const spec = P.get(id);
    if (!spec) throw new Failure(RC.MALFORMED_PACKET, `unknown property 0x${id.toString(16)}`);
    if (!ALLOWED[packet]!.has(id)) throw new Failure(RC.PROTOCOL_ERROR, `property 0x${id.toString(16)} is not allowed in ${packet}`);
    if (!spec.many && seen.has(id)) throw new Failure(RC.PROTOCOL_ERROR, `property 0x${id.toString(16)} given twice`);
    seen.add(id);
    let value = -1;
    switch (spec.kind) {
      case Kind.Byte:
        value = r.u8();
        if (spec.bool && value > 1) throw new Failure(RC.PROTOCOL_ERROR, `property 0x${id.toString(16)} must be 0 or 1`);
        break;
      case Kind.U16:
        value = r.u16();
        break;
      case Kind.U32:
        value = r.u32();
        break;
      case Kind.Var:
        value = r.varint();
        break;
      case Kind.Utf8:
        r.utf8(`property 0x${id.toString(16)}`);
        break;
      case Kind.Binary:
        r.binary();
        break;
      case Kind.Pair: {
        const name = r.utf8('user property name');
        const v = r.utf8('user property value');
        (users ??= []).push([name, v]);
        break;
      }
    }
    if (spec.nonZero && value === 0) throw new Failure(RC.PROTOCOL_ERROR, `property 0x${id.toString(16)} must not be 0`);
    if (r.pos > end) throw new Failure(RC.MALFORMED_PACKET, 'property runs past its block');
  }
  return users;
}

/**
 * Inspects one whole packet (`raw`, fixed header included; `bodyStart` is where the variable header begins) that
 * mqtt-packet parsed as `cmd`, for a connection speaking `version` (the CONNECT carries its own).
 */
export function inspectPacket(raw: Buffer, bodyStart: number, cmd: string, version: number): Inspection {
  const r = new Reader(raw, bodyStart, raw.length);
  const remaining = raw.length - bodyStart;
  const v5 = version === 5;
  try {
    const out: Inspection = { code: 0 };
    switch (cmd) {
      case 'connect': {
        r.utf8('protocol name');
        const level = r.u8() & 0x7f;
        const flags = r.u8();
        r.u16();
        if (level === 5) out.userProperties = properties(r, 'connect');
        r.utf8('client identifier');
        if (flags & 0x04) {
          if (level === 5) out.willUserProperties = properties(r, 'will');
          r.utf8('will topic');
          r.binary();
        }
        if (flags & 0x80) r.utf8('user name');
        else if (flags & 0x40 && level !== 5) throw new Failure(RC.PROTOCOL_ERROR, 'password without user name'); // [MQTT-3.1.2-22]
        if (flags & 0x40) r.binary();
        if (r.pos !== r.end) throw new Failure(RC.MALFORMED_PACKET, 'bytes after the last CONNECT field');
        break;
      }
      case 'publish': {
        r.utf8('topic name');
        if (raw[0]! & 0x06) r.u16();
        if (v5) out.userProperties = properties(r, 'publish');
        out.payloadOffset = r.pos;
        break;
      }
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        if (!v5) {
          if (remaining !== 2) throw new Failure(RC.MALFORMED_PACKET, `${cmd} must be 2 bytes long`);
          break;
        }
        r.u16();
        if (remaining > 2) r.u8();
        if (remaining > 3) out.userProperties = properties(r, 'ack');
        break;
      case 'subscribe':
        r.u16();
        if (v5) out.userProperties = properties(r, 'subscribe');
        if (r.pos >= r.end) throw new Failure(RC.PROTOCOL_ERROR, 'SUBSCRIBE without a topic filter'); // [MQTT-3.8.3-3]
        while (r.pos < r.end) {
          r.utf8('topic filter');
          r.u8();
        }
        break;
      case 'unsubscribe':
        r.u16();
        if (v5) out.userProperties = properties(r, 'unsubscribe');
        if (r.pos >= r.end) throw new Failure(RC.PROTOCOL_ERROR, 'UNSUBSCRIBE without a topic filter'); // [MQTT-3.10.3-2]
        while (r.pos < r.end) r.utf8('topic filter');
        break;
      case 'pingreq':
        if (remaining !== 0) throw new Failure(RC.MALFORMED_PACKET, 'PINGREQ has a body');
        break;
      case 'disconnect':
        if (!v5) {
          if (remaining !== 0) throw new Failure(RC.MALFORMED_PACKET, 'DISCONNECT has a body');
          break;
        }
        if (remaining > 0) r.u8();
        if (remaining > 1) out.userProperties = properties(r, 'disconnect');
        break;
      case 'auth':
        if (remaining > 0) r.u8();
        if (remaining > 1) out.userProperties = properties(r, 'auth');
        break;
      default:
        break;
    }
    return out;
  } catch (err) {
    if (err instanceof Failure) return { code: err.code, why: err.message };
    return { code: RC.MALFORMED_PACKET, why: 'unreadable packet' };
  }
}
