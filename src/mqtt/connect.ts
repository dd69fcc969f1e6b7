// What a CONNECT asks for and what the server grants (MQTT 3.1.1 §3.1, MQTT 5.0 §3.1): protocol name and level,
// client identifier, keepalive, session expiry, the client's own limits, and the Will's checks. Pure: the connection
// applies the terms or sends the refusal.
import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { IConnectPacket } from 'mqtt-packet';
import { RC } from './codes.js';
import type { MqttLimits } from './options.js';
import { isValidTopicName } from './topic.js';

/** Largest packet a client can receive when it names no limit (MQTT's own maximum). */
export const MQTT_MAX_PACKET = 268_435_460;

export interface ConnectTerms {
  version: 3 | 4 | 5;
  clientId: string;
  /** The identifier was made by the server (MQTT 5: CONNACK Assigned Client Identifier). */
  assigned: boolean;
  keepAliveMs: number;
  /** MQTT 5 Server Keep Alive, when the server changed the client's keepalive. */
  serverKeepAlive: number | undefined;
  clientReceiveMaximum: number;
  clientMaxPacket: number;
  aliasOutMax: number;
  problemInformation: boolean;
  wantsResponseInformation: boolean;
  /** Seconds the client asked the session to outlive the connection, and what it gets. */
  requestedExpiry: number;
  expiry: number;
}

export interface ConnectRefusal {
  refused: true;
  /** How to answer: a CONNACK with `code` in the client's version, the 3.1.1 CONNACK 0x01, or only the close. */
  answer: 'connack' | 'unacceptable-version' | 'close';
  version: 3 | 4 | 5;
  code: number;
  why: string;
  problemInformation: boolean;
}

export function readConnect(p: IConnectPacket, limits: Readonly<MqttLimits>): ConnectTerms | ConnectRefusal {
  const level = (p.protocolVersion ?? 4) as 3 | 4 | 5;
  const props = p.properties ?? {};
  const problemInformation = props.requestProblemInformation !== false;
  const refuse = (code: number, why: string, answer: ConnectRefusal['answer'] = 'connack'): ConnectRefusal => ({ refused: true, answer, version: level, code, why, problemInformation });
  const nameMatches = (level === 3 && p.protocolId === 'MQIsdp') || ((level === 4 || level === 5) && p.protocolId === 'MQTT');
  if (!nameMatches) return refuse(RC.UNSUPPORTED_PROTOCOL_VERSION, 'protocol name does not match the level', level === 5 ? 'connack' : 'unacceptable-version');
  if (props.authenticationMethod !== undefined) return refuse(RC.BAD_AUTHENTICATION_METHOD, 'extended authentication is not supported');

  let clientId = p.clientId;
  let assigned = false;
  if (Buffer.byteLength(clientId) > limits.maxClientIdBytes) return refuse(RC.CLIENT_IDENTIFIER_NOT_VALID, 'client identifier too long');
  if (clientId === '') {
    // 3.1 needs an identifier; 3.1.1 allows none only with a clean session [MQTT-3.1.3-7, MQTT-3.1.3-8]; 5 assigns one.
    if (level === 3 || (level === 4 && !p.clean)) return refuse(RC.CLIENT_IDENTIFIER_NOT_VALID, 'empty client identifier');
    clientId = `iosig-${randomBytes(12).toString('base64url')}`;
    assigned = level === 5;
  }

  let keepAlive = p.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (limits.maxKeepAlive > 0 && (keepAlive === 0 || keepAlive > limits.maxKeepAlive)) {
    keepAlive = limits.maxKeepAlive;
    if (level === 5) serverKeepAlive = keepAlive;
  }

  if (p.will) {
    // 3.1.1 has no code for a bad Will topic: the connection is closed [MQTT-3.1.2-9 … -14].
    if (!isValidTopicName(p.will.topic)) return refuse(RC.TOPIC_NAME_INVALID, 'invalid will topic', level === 5 ? 'connack' : 'close');
    const wp = p.will.properties ?? {};
    const payload = Buffer.isBuffer(p.will.payload) ? p.will.payload : Buffer.from(p.will.payload);
    if (wp.payloadFormatIndicator === true && !isUtf8(payload)) return refuse(RC.PAYLOAD_FORMAT_INVALID, 'will payload is not UTF-8');
    if (wp.responseTopic !== undefined && !isValidTopicName(wp.responseTopic)) return refuse(RC.PROTOCOL_ERROR, 'invalid will response topic');
  }

  const requestedExpiry = level === 5 ? (props.sessionExpiryInterval ?? 0) : p.clean ? 0 : limits.v3SessionExpiry;
  return {
    version: level,
    clientId,
    assigned,
    keepAliveMs: keepAlive * 1000,
    serverKeepAlive,
    clientReceiveMaximum: level === 5 ? (props.receiveMaximum ?? 65_535) : 65_535,
    clientMaxPacket: level === 5 ? (props.maximumPacketSize ?? MQTT_MAX_PACKET) : MQTT_MAX_PACKET,
    aliasOutMax: level === 5 ? Math.min(props.topicAliasMaximum ?? 0, limits.maxOutboundTopicAliases) : 0,
    problemInformation,
    wantsResponseInformation: props.requestResponseInformation === true,
    requestedExpiry,
    expiry: Math.min(requestedExpiry, limits.maxSessionExpiry),
  };
}
