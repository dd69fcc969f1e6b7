// An MQTT message as plain data, for the durable store: the fields a session's queued delivery and a retained
// message share, and the retained record itself (key `MQ:<topic>` in the store's retained table, the message in
// msgpack as its value; docs/durability.md §1).
import { decodeData, encodeData } from '../store/codec.js';
import type { RetainedValue, SessionData } from '../store/types.js';
import type { MqttMessage, QoS, StoredDelivery } from './port.js';

export type StoredMessage = Pick<StoredDelivery, 'topic' | 'payload' | 'qos' | 'retain' | 'payloadFormatIndicator' | 'contentType' | 'responseTopic' | 'correlationData' | 'userProperties' | 'expiresAt'>;

/** Keys of MQTT retained messages in the store's retained table (iosig's channel keys never start so). */
export const MQTT_RETAINED_PREFIX = 'MQ:';

/** `m` as plain data, with the QoS and RETAIN its receiver gets. */
export function storedMessage(m: MqttMessage, qos: QoS, retain: boolean): StoredMessage {
  const out: StoredMessage = { topic: m.topic, payload: m.payload, qos, retain };
  if (m.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = m.payloadFormatIndicator;
  if (m.contentType !== undefined) out.contentType = m.contentType;
  if (m.responseTopic !== undefined) out.responseTopic = m.responseTopic;
  if (m.correlationData !== undefined) out.correlationData = m.correlationData;
  if (m.userProperties !== undefined) out.userProperties = [...m.userProperties];
  if (m.expiresAt !== undefined) out.expiresAt = m.expiresAt;
  return out;
}

export function loadedMessage(s: StoredMessage): MqttMessage {
  return {
    topic: s.topic,
    payload: s.payload,
    qos: s.qos,
    retain: s.retain,
    origin: null,
    ...(s.payloadFormatIndicator !== undefined && { payloadFormatIndicator: s.payloadFormatIndicator }),
    ...(s.contentType !== undefined && { contentType: s.contentType }),
    ...(s.responseTopic !== undefined && { responseTopic: s.responseTopic }),
    ...(s.correlationData !== undefined && { correlationData: s.correlationData }),
    ...(s.userProperties !== undefined && { userProperties: s.userProperties }),
    ...(s.expiresAt !== undefined && { expiresAt: s.expiresAt }),
  };
}

/** A retained message as the store keeps it. */
export function retainedRecord(m: MqttMessage): RetainedValue {
  return { msg: encodeData(storedMessage(m, m.qos, true) as unknown as SessionData), owner: null };
}

/** A retained record read back; throws when it is damaged (the start reports it with the way out). */
export function retainedFromRecord(key: string, value: RetainedValue): MqttMessage {
  const s = decodeData(value.msg, 'MQTT retained', key) as unknown as StoredMessage;
  if (typeof s.topic !== 'string' || MQTT_RETAINED_PREFIX + s.topic !== key || !Buffer.isBuffer(s.payload) || (s.qos !== 0 && s.qos !== 1 && s.qos !== 2)) {
    throw new Error(`MQTT retained record ${JSON.stringify(key)} is damaged`);
  }
  return loadedMessage(s);
}
