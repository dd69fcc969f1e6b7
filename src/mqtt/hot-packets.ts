// The packets of the QoS 0/1 hot path read straight from their bytes: PUBLISH without MQTT 5 properties, the
// 2-byte acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP) and PINGREQ. mqtt-packet's parser costs more than the
// rest of a round trip for these fixed layouts; every other packet, and any of these that is not plainly well
// formed, still goes through mqtt-packet and inspect.ts, which then report the fault. The result is the packet
// mqtt-packet would produce (test/mqtt/hot-packets.test.ts compares them). Pure: no I/O, nothing kept.
import { isUtf8 } from 'node:buffer';
import type { IPingreqPacket, IPublishPacket, Packet } from 'mqtt-packet';

/** First byte → acknowledgement (PUBREL carries its fixed flags 0b0010) [MQTT-2.2.2-1]. */
const ACKS = new Map<number, 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'>([
  [0x40, 'puback'],
  [0x50, 'pubrec'],
  [0x62, 'pubrel'],
  [0x70, 'pubcomp'],
]);

/**
 * The packet in `raw` (one whole packet, its variable header at `bodyStart`) for a connection speaking `version`,
 * or null when it is not one of the shapes read here (the generic parser takes it).
 */
export function readHotPacket(raw: Buffer, bodyStart: number, version: number): Packet | null {
  const first = raw[0]!;
  const length = raw.length - bodyStart;
  if (first >> 4 === 3) return readPublish(raw, first, bodyStart, length, version);
  if (length === 2) {
    const cmd = ACKS.get(first);
    if (cmd === undefined) return null;
    const packet = { cmd, retain: false, qos: (first >> 1) & 3, dup: false, length, topic: null, payload: null, messageId: raw.readUInt16BE(bodyStart) };
    return (version === 5 ? { ...packet, reasonCode: 0 } : packet) as unknown as Packet;
  }
  if (first === 0xc0 && length === 0) return { cmd: 'pingreq', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as unknown as IPingreqPacket;
  return null;
}

function readPublish(raw: Buffer, first: number, start: number, length: number, version: number): IPublishPacket | null {
  const qos = (first >> 1) & 3;
  if (qos === 3) return null;
  const end = raw.length;
  let pos = start;
  if (pos + 2 > end) return null;
  const topicEnd = pos + 2 + raw.readUInt16BE(pos);
  pos += 2;
  if (topicEnd > end) return null;
  // A topic is UTF-8 without U+0000 [MQTT-1.5.3-1, -2]; ASCII (most topics) needs no decoder.
  let ascii = true;
  for (let i = pos; i < topicEnd; i++) {
    const b = raw[i]!;
    if (b === 0) return null;
    if (b >= 0x80) ascii = false;
  }
  if (!ascii && !isUtf8(raw.subarray(pos, topicEnd))) return null;
  const topic = raw.toString(ascii ? 'latin1' : 'utf8', pos, topicEnd);
  pos = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (pos + 2 > end) return null;
    messageId = raw.readUInt16BE(pos);
    pos += 2;
  }
  if (version === 5) {
    if (pos >= end || raw[pos] !== 0) return null; // properties: the generic path reads and checks them
    pos++;
  }
  const packet = { cmd: 'publish', retain: (first & 1) !== 0, qos, dup: (first & 8) !== 0, length, topic, payload: raw.subarray(pos, end) } as IPublishPacket;
  if (messageId !== undefined) packet.messageId = messageId;
  return packet;
}
