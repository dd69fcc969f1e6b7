// Bytes in, whole packets out. The framer cuts the stream at packet boundaries itself (fixed header and Remaining
// Length), so the size limit is enforced from the header alone, before any body is buffered; each whole packet is
// then parsed by mqtt-packet and inspected (inspect.ts). Nothing here throws: a bad packet is a result.
// A connection's decoder holds only its unframed bytes: the mqtt-packet parser (an event emitter over a BufferList
// stream, ~1.5 kB) is one for all connections, since it is only ever handed one whole packet (parseWhole).
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { RC } from './codes.js';
import { readHotPacket } from './hot-packets.js';
import { inspectPacket, type UserProperty } from './inspect.js';

export interface DecodedPacket {
  packet: Packet;
  /** The packet's bytes, fixed header included. */
  raw: Buffer;
  userProperties?: UserProperty[];
  willUserProperties?: UserProperty[];
  payloadOffset?: number;
}

export interface DecodeFailure {
  /** The reason code that describes the failure (MALFORMED_PACKET, PROTOCOL_ERROR, PACKET_TOO_LARGE). */
  code: number;
  why: string;
  /** The raw packet when the framing was intact (CONNECT failures read its protocol level from it). */
  raw?: Buffer;
}

export type DecodeResult = DecodedPacket | DecodeFailure;

export const isFailure = (r: DecodeResult): r is DecodeFailure => 'code' in r;

const EMPTY = Buffer.alloc(0);

/** What the shared parser reads packets with: the protocol version of the connection whose packet it parses. */
const SETTINGS: Readonly<Record<number, { protocolVersion: number }>> = { 3: { protocolVersion: 3 }, 4: { protocolVersion: 4 }, 5: { protocolVersion: 5 } };

type SharedParser = mqttPacket.Parser & { settings: object };

let parsed: Packet | null = null;
let parseError: string | null = null;

function newParser(): SharedParser {
  const parser = mqttPacket.parser() as SharedParser;
  parser.on('packet', (packet: Packet) => {
    parsed = packet;
  });
  parser.on('error', (err: unknown) => {
    parseError = err instanceof Error ? err.message : String(err);
  });
  return parser;
}

let shared = newParser();

/**
 * Parses one whole framed packet with the shared parser. A parse that fails or leaves bytes behind replaces the
 * parser, so nothing of one connection's packet can reach the next packet parsed (another connection's).
 */
function parseWhole(raw: Buffer, version: number): Packet | string {
  parsed = null;
  parseError = null;
  // The parser reads 5-only fields by its settings (which a CONNECT replaces with itself): set them every time.
  shared.settings = SETTINGS[version] ?? SETTINGS[4]!;
  let left = 0;
  try {
    left = shared.parse(raw);
  } catch (err) {
    parseError = err instanceof Error ? err.message : 'parser threw';
  }
  const packet = parsed as Packet | null;
  const error = parseError;
  parsed = null;
  parseError = null;
  if (error !== null || packet === null || left !== 0) {
    shared = newParser();
    return error ?? 'incomplete packet';
  }
  return packet;
}

export class MqttDecoder {
  private buf: Buffer = EMPTY;
  private failed = false;
  /** The protocol version packets are read with (set once CONNECT is accepted). */
  version = 4;

  constructor(private readonly maxPacketSize: number) {}

  /** Bytes received and not yet returned as packets. */
  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next whole packet, a failure (after which the decoder returns nothing more), or null for "need more". */
  next(): DecodeResult | null {
    if (this.failed) return null;
    const buf = this.buf;
    if (buf.length < 2) return null;
    let remaining = 0;
    let mul = 1;
    let i = 1;
    for (;;) {
      if (i >= buf.length) return null;
      const b = buf[i]!;
      remaining += (b & 0x7f) * mul;
      i++;
      if ((b & 0x80) === 0) break;
      if (i === 5) return this.fail({ code: RC.MALFORMED_PACKET, why: 'Remaining Length longer than 4 bytes' });
      mul *= 128;
    }
    const total = i + remaining;
    if (total > this.maxPacketSize) return this.fail({ code: RC.PACKET_TOO_LARGE, why: `packet of ${total} bytes over the limit of ${this.maxPacketSize}` });
    if (buf.length < total) return null;
    const raw = buf.subarray(0, total);
    this.buf = buf.length === total ? EMPTY : buf.subarray(total);
    return this.parse(raw, i);
  }

  private parse(raw: Buffer, bodyStart: number): DecodeResult {
    const hot = readHotPacket(raw, bodyStart, this.version);
    if (hot !== null) return hot.cmd === 'publish' ? { packet: hot, raw, payloadOffset: raw.length - hot.payload.length } : { packet: hot, raw };
    const packet = parseWhole(raw, this.version);
    if (typeof packet === 'string') return this.fail({ code: RC.MALFORMED_PACKET, why: packet, raw });
    const version = packet.cmd === 'connect' ? (packet.protocolVersion ?? 4) : this.version;
    const inspected = inspectPacket(raw, bodyStart, packet.cmd, version);
    if (inspected.code !== 0) return this.fail({ code: inspected.code, why: inspected.why ?? 'bad packet', raw });
    const out: DecodedPacket = { packet, raw };
    if (inspected.userProperties) out.userProperties = inspected.userProperties;
    if (inspected.willUserProperties) out.willUserProperties = inspected.willUserProperties;
    if (inspected.payloadOffset !== undefined) out.payloadOffset = inspected.payloadOffset;
    return out;
  }

  private fail(failure: DecodeFailure): DecodeFailure {
    this.failed = true;
    this.buf = EMPTY;
    return failure;
  }
}

/** The protocol level byte of a CONNECT whose parse failed, or 0 when it cannot be read. */
export function connectLevel(raw: Buffer | undefined): number {
  if (!raw || raw.length < 4 || raw[0]! >> 4 !== 1) return 0;
  let i = 1;
  while (i < raw.length && raw[i]! & 0x80) i++;
  i++;
  if (i + 2 > raw.length) return 0;
  const nameLength = raw.readUInt16BE(i);
  const at = i + 2 + nameLength;
  return at < raw.length ? raw[at]! & 0x7f : 0;
}
