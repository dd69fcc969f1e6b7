// Outbound PUBLISH bytes, written in one buffer. The server's hot path: built once per message and form, shared by
// every QoS 0 receiver of that form, copied and patched (packet identifier) for QoS 1/2 receivers. Written here rather
// than with mqtt-packet's generator because that one takes User Properties as an object, which loses their order
// when a name repeats ([MQTT-3.3.2-18] requires it kept); tests check every form against mqtt-packet's parser.
import type { UserProperty } from './inspect.js';

export interface PublishFields {
  topic: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  /** Written when qos > 0 (0 here when the caller patches it later). */
  packetId: number;
  payload: Buffer;
}

export interface PublishProperties {
  payloadFormatIndicator?: boolean;
  /** Seconds left. */
  messageExpiryInterval?: number;
  topicAlias?: number;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: readonly UserProperty[];
  subscriptionIdentifiers?: readonly number[];
  contentType?: string;
}

export interface EncodedPublish {
  bytes: Buffer;
  /** Where the packet identifier is (qos > 0), so a copy can be patched; -1 for QoS 0. */
  packetIdOffset: number;
}

function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  let value = n;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    buf[at++] = byte;
  } while (value > 0);
  return at;
}

function propertiesSize(p: PublishProperties): number {
  let n = 0;
  if (p.payloadFormatIndicator !== undefined) n += 2;
  if (p.messageExpiryInterval !== undefined) n += 5;
  if (p.topicAlias !== undefined) n += 3;
  if (p.responseTopic !== undefined) n += 3 + Buffer.byteLength(p.responseTopic);
  if (p.correlationData !== undefined) n += 3 + p.correlationData.length;
  if (p.contentType !== undefined) n += 3 + Buffer.byteLength(p.contentType);
  if (p.userProperties) for (const [k, v] of p.userProperties) n += 5 + Buffer.byteLength(k) + Buffer.byteLength(v);
  if (p.subscriptionIdentifiers) for (const id of p.subscriptionIdentifiers) n += 1 + varintSize(id);
  return n;
}

function writeString(buf: Buffer, at: number, s: string): number {
  const n = buf.write(s, at + 2, 'utf8');
  buf.writeUInt16BE(n, at);
  return at + 2 + n;
}

function writeProperties(buf: Buffer, start: number, p: PublishProperties): number {
  let at = start;
  if (p.payloadFormatIndicator !== undefined) {
    buf[at++] = 0x01;
    buf[at++] = p.payloadFormatIndicator ? 1 : 0;
  }
  if (p.messageExpiryInterval !== undefined) {
    buf[at++] = 0x02;
    buf.writeUInt32BE(p.messageExpiryInterval, at);
    at += 4;
  }
  if (p.contentType !== undefined) {
    buf[at++] = 0x03;
    at = writeString(buf, at, p.contentType);
  }
  if (p.responseTopic !== undefined) {
    buf[at++] = 0x08;
    at = writeString(buf, at, p.responseTopic);
  }
  if (p.correlationData !== undefined) {
    buf[at++] = 0x09;
    buf.writeUInt16BE(p.correlationData.length, at);
    p.correlationData.copy(buf, at + 2);
    at += 2 + p.correlationData.length;
  }
  if (p.subscriptionIdentifiers) {
    for (const id of p.subscriptionIdentifiers) {
      buf[at++] = 0x0b;
      at = writeVarint(buf, at, id);
    }
  }
  if (p.topicAlias !== undefined) {
    buf[at++] = 0x23;
    buf.writeUInt16BE(p.topicAlias, at);
    at += 2;
  }
  if (p.userProperties) {
    for (const [k, v] of p.userProperties) {
      buf[at++] = 0x26;
      at = writeString(buf, at, k);
      at = writeString(buf, at, v);
    }
  }
  return at;
}

/** The whole PUBLISH packet; `properties` only for MQTT 5 (`null` writes none, as 3.1.1 requires). */
export function encodePublish(fields: PublishFields, properties: PublishProperties | null): EncodedPublish {
  const topicBytes = Buffer.byteLength(fields.topic);
  const propsSize = properties ? propertiesSize(properties) : 0;
  const remaining = 2 + topicBytes + (fields.qos > 0 ? 2 : 0) + (properties ? varintSize(propsSize) + propsSize : 0) + fields.payload.length;
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  buf[0] = 0x30 | (fields.dup ? 0x08 : 0) | (fields.qos << 1) | (fields.retain ? 0x01 : 0);
  let at = writeVarint(buf, 1, remaining);
  at = writeString(buf, at, fields.topic);
  let packetIdOffset = -1;
  if (fields.qos > 0) {
    packetIdOffset = at;
    buf.writeUInt16BE(fields.packetId, at);
    at += 2;
  }
  if (properties) {
    at = writeVarint(buf, at, propsSize);
    at = writeProperties(buf, at, properties);
  }
  fields.payload.copy(buf, at);
  return { bytes: buf, packetIdOffset };
}

/** Size of the packet encodePublish would write, without writing it. */
export function publishSize(fields: Omit<PublishFields, 'packetId' | 'dup' | 'retain'>, properties: PublishProperties | null): number {
  const propsSize = properties ? propertiesSize(properties) : 0;
  const remaining = 2 + Buffer.byteLength(fields.topic) + (fields.qos > 0 ? 2 : 0) + (properties ? varintSize(propsSize) + propsSize : 0) + fields.payload.length;
  return 1 + varintSize(remaining) + remaining;
}

/** A copy of an encoded QoS 1/2 PUBLISH with its packet identifier and DUP flag set (whatever the original's were). */
export function withPacketId(encoded: EncodedPublish, packetId: number, dup: boolean): Buffer {
  const copy = Buffer.allocUnsafe(encoded.bytes.length);
  encoded.bytes.copy(copy);
  copy.writeUInt16BE(packetId, encoded.packetIdOffset);
  copy[0] = dup ? copy[0]! | 0x08 : copy[0]! & ~0x08;
  return copy;
}
