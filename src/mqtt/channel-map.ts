// How MQTT topics and iosig channels are one space (docs/mqtt.md has the table). Pure functions.
//
// Three names for a place:
// - the **client topic**: what an MQTT client publishes to or subscribes to;
// - the **routing topic**: the channel as the broker's subscription index sees it (an MQTT topic name);
// - the **channel key**: iosig's router key (`CH:news`, `CID:D1@temp`, `PRIVATE:#lab`).
// An ordinary topic is the same string in all three (`news` ↔ `CH:news`). iosig's own addressing (CID channels,
// unicasts, home channels) lives under `$iosig/`, which wildcards at the first level never match [MQTT-4.7.2-1], so
// a `#` subscriber does not see other devices' unicasts.
import { isUtf8 } from 'node:buffer';
import { PAYLOAD } from '../protocol/codes.js';

export const IOSIG_NS = '$iosig/';
const HOME_NS = '$iosig/home/';
const CID_NS = '$iosig/cid/';
const TO_NS = '$iosig/to/';
const SELF_NS = '$iosig/self/';
const INBOX_NS = '$iosig/inbox/';
export const SYS_NS = '$SYS/';

const CHANNEL_KEY = 'CH:';
const CID_KEY = 'CID:';

/** Who the mapping is done for: the MQTT client's CID and its home-channel prefix (`PRIVATE:` or `IP:<hex>`). */
export interface MappingIdentity {
  cid: string;
  home: string;
}

/** How a delivered routing topic is shown to the subscriber (the inverse of the filter rewrite it subscribed with). */
export type TopicView = 'as-is' | 'home' | 'inbox' | 'self';

export type PublishTarget =
  | { kind: 'channel'; routingTopic: string }
  | { kind: 'unicast'; cid: string; topic: string; routingTopic: string }
  | { kind: 'refused'; reason: 'reserved' | 'not-own-cid' };

export type FilterTarget = { kind: 'filter'; routingFilter: string; view: TopicView } | { kind: 'refused'; reason: 'reserved' | 'not-own-cid' };

/** First level of `rest` (up to `/`) and what follows it, or null when there is no `/`. */
function splitLevel(rest: string): [string, string] | null {
  const slash = rest.indexOf('/');
  return slash < 0 ? null : [rest.slice(0, slash), rest.slice(slash + 1)];
}

const hasWild = (s: string): boolean => s.includes('+') || s.includes('#');

/**
 * Where an MQTT PUBLISH on `topic` (a valid topic name) goes. Ordinary topics are channels; `$iosig/home/<t>`,
 * `$iosig/self/<t>` and `$iosig/cid/<own cid>/<t>` are the home channel and the CID publish; `$iosig/to/<cid>/<t>` is
 * a unicast. Every other `$` topic (`$SYS/…` included) is reserved: iosig refuses tags that start with `$`.
 */
export function publishTarget(topic: string, id: MappingIdentity): PublishTarget {
  if (topic.charCodeAt(0) !== 0x24) return { kind: 'channel', routingTopic: topic };
  if (topic.startsWith(HOME_NS)) return { kind: 'channel', routingTopic: `${HOME_NS}${id.home}/${topic.slice(HOME_NS.length)}` };
  if (topic.startsWith(SELF_NS)) return { kind: 'channel', routingTopic: `${CID_NS}${id.cid}/${topic.slice(SELF_NS.length)}` };
  if (topic.startsWith(CID_NS)) {
    const parts = splitLevel(topic.slice(CID_NS.length));
    if (!parts) return { kind: 'refused', reason: 'reserved' };
    return parts[0] === id.cid ? { kind: 'channel', routingTopic: topic } : { kind: 'refused', reason: 'not-own-cid' };
  }
  if (topic.startsWith(TO_NS)) {
    const parts = splitLevel(topic.slice(TO_NS.length));
    if (!parts) return { kind: 'refused', reason: 'reserved' };
    return { kind: 'unicast', cid: parts[0], topic: parts[1], routingTopic: topic };
  }
  return { kind: 'refused', reason: 'reserved' };
}

/**
 * The routing filter for an MQTT subscription to `filter` (valid, without any `$share/<group>/` prefix).
 * `$iosig/home/…` and `$iosig/inbox/…` name the subscriber's own home channels and unicasts, so nobody can name
 * another network's home or another device's unicasts; `$iosig/to/<cid>/…` is allowed for one's own CID only;
 * the namespace level after `$iosig/` must be literal. Other `$` filters (`$SYS/#`) pass as they are.
 */
export function subscribeTarget(filter: string, id: MappingIdentity): FilterTarget {
  if (filter.charCodeAt(0) !== 0x24 || !filter.startsWith(IOSIG_NS)) return { kind: 'filter', routingFilter: filter, view: 'as-is' };
  if (filter.startsWith(HOME_NS)) return { kind: 'filter', routingFilter: `${HOME_NS}${id.home}/${filter.slice(HOME_NS.length)}`, view: 'home' };
  if (filter.startsWith(INBOX_NS)) return { kind: 'filter', routingFilter: `${TO_NS}${id.cid}/${filter.slice(INBOX_NS.length)}`, view: 'inbox' };
  if (filter.startsWith(SELF_NS)) return { kind: 'filter', routingFilter: `${CID_NS}${id.cid}/${filter.slice(SELF_NS.length)}`, view: 'self' };
  if (filter.startsWith(CID_NS)) return { kind: 'filter', routingFilter: filter, view: 'as-is' };
  if (filter.startsWith(TO_NS)) {
    const parts = splitLevel(filter.slice(TO_NS.length));
    if (parts && parts[0] === id.cid) return { kind: 'filter', routingFilter: filter, view: 'as-is' };
    return { kind: 'refused', reason: 'not-own-cid' };
  }
  return { kind: 'refused', reason: 'reserved' };
}

/** The topic a subscriber sees for a delivered routing topic, given the view its subscription was made with. */
export function clientTopic(routingTopic: string, view: TopicView, id: MappingIdentity): string {
  switch (view) {
    case 'as-is':
      return routingTopic;
    case 'home':
      return HOME_NS + routingTopic.slice(HOME_NS.length + id.home.length + 1);
    case 'inbox':
      return INBOX_NS + routingTopic.slice(TO_NS.length + id.cid.length + 1);
    case 'self':
      return SELF_NS + routingTopic.slice(CID_NS.length + id.cid.length + 1);
  }
}

/** A tag or CID that can be written as MQTT topic levels: no wildcard characters, no U+0000. */
const representable = (s: string): boolean => !hasWild(s) && !s.includes('\0');

/**
 * The routing topic of an iosig channel key, or null when MQTT cannot name it: the empty tag, tags with `+`, `#`
 * or U+0000 (MQTT topic names cannot hold them), a CID with `/`, and reserved `$` tags.
 */
export function channelKeyToRoutingTopic(key: string): string | null {
  if (key.startsWith(CHANNEL_KEY)) {
    const tag = key.slice(CHANNEL_KEY.length);
    return tag.length > 0 && tag.charCodeAt(0) !== 0x24 && representable(tag) ? tag : null;
  }
  if (key.startsWith(CID_KEY)) {
    const tag = key.slice(CID_KEY.length);
    const at = tag.indexOf('@');
    if (at < 0) return null;
    const cid = tag.slice(0, at);
    const topic = tag.slice(at + 1);
    return cid.includes('/') || !representable(cid) || !representable(topic) ? null : `${CID_NS}${cid}/${topic}`;
  }
  const hash = key.indexOf('#');
  if (hash < 0 || (!key.startsWith('PRIVATE:') && !key.startsWith('IP:'))) return null;
  const home = key.slice(0, hash);
  const topic = key.slice(hash + 1);
  return home.includes('/') || !representable(topic) ? null : `${HOME_NS}${home}/${topic}`;
}

/** The routing topic on which a unicast to `cid` with `topic` reaches an MQTT client (subscribed via inbox). */
export function unicastRoutingTopic(cid: string, topic: string): string | null {
  return cid.includes('/') || !representable(cid) || !representable(topic) ? null : `${TO_NS}${cid}/${topic}`;
}

export type ChannelOfTopic = { kind: 'channel'; key: string; tag: string } | { kind: 'unicast'; cid: string; topic: string } | { kind: 'none' };

/**
 * The iosig side of a routing topic: a channel key (with the tag an iosignal client uses for it), a unicast, or
 * nothing (`$SYS/…`, other `$` topics: MQTT only). A home routing topic gives the home key; its `tag` is `#<t>`.
 */
export function routingTopicToChannel(topic: string): ChannelOfTopic {
  if (topic.charCodeAt(0) !== 0x24) return { kind: 'channel', key: CHANNEL_KEY + topic, tag: topic };
  if (topic.startsWith(CID_NS)) {
    const parts = splitLevel(topic.slice(CID_NS.length));
    if (!parts) return { kind: 'none' };
    const tag = `${parts[0]}@${parts[1]}`;
    return { kind: 'channel', key: CID_KEY + tag, tag };
  }
  if (topic.startsWith(HOME_NS)) {
    const parts = splitLevel(topic.slice(HOME_NS.length));
    if (!parts) return { kind: 'none' };
    return { kind: 'channel', key: `${parts[0]}#${parts[1]}`, tag: `#${parts[1]}` };
  }
  if (topic.startsWith(TO_NS)) {
    const parts = splitLevel(topic.slice(TO_NS.length));
    return parts ? { kind: 'unicast', cid: parts[0], topic: parts[1] } : { kind: 'none' };
  }
  return { kind: 'none' };
}

// ---- payloads ---------------------------------------------------------------------------------------------------

export const CONTENT_TYPE_JSON = 'application/json';
export const CONTENT_TYPE_MJSON = 'application/vnd.iosig.mjson+json';
export const CONTENT_TYPE_MBA = 'application/vnd.iosig.mba';

/** JSON payloads larger than this are not parsed to tell OBJECT from TEXT (they travel as TEXT). */
export const JSON_SNIFF_LIMIT = 65_536;

export interface MqttPayload {
  payload: Buffer;
  /** MQTT 5 Payload Format Indicator: true = UTF-8 text. */
  payloadFormatIndicator?: boolean;
  contentType?: string;
}

export interface SignalPayloadOut {
  payloadType: number;
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** An iosig signal payload as an MQTT application message (payload bytes + MQTT 5 hints). */
export function signalToMqtt(payloadType: number, payload: Buffer): MqttPayload {
  switch (payloadType) {
    case PAYLOAD.EMPTY:
      return { payload: EMPTY };
    case PAYLOAD.TEXT: {
      // Devices read TEXT as a C string: the trailing NUL belongs to iosignal, not to the text.
      const text = payload.length > 0 && payload[payload.length - 1] === 0 ? payload.subarray(0, payload.length - 1) : payload;
      return isUtf8(text) ? { payload: text, payloadFormatIndicator: true } : { payload: text };
    }
    case PAYLOAD.OBJECT:
      return utf8Hint(payload, CONTENT_TYPE_JSON);
    case PAYLOAD.MJSON:
      return utf8Hint(payload, CONTENT_TYPE_MJSON);
    case PAYLOAD.MBA:
      return { payload, contentType: CONTENT_TYPE_MBA };
    default:
      return { payload };
  }
}

function utf8Hint(payload: Buffer, contentType: string): MqttPayload {
  return isUtf8(payload) ? { payload, payloadFormatIndicator: true, contentType } : { payload, contentType };
}

const isJsonContentType = (ct: string): boolean => {
  const base = ct.split(';', 1)[0]!.trim().toLowerCase();
  return base === CONTENT_TYPE_JSON || base.endsWith('+json');
};

/** The parsed JSON of `payload` when it is UTF-8 JSON of one object, array or null (iosig's OBJECT); else undefined. */
function jsonDocument(payload: Buffer): unknown {
  if (payload.length > JSON_SNIFF_LIMIT || !isUtf8(payload)) return undefined;
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}

function firstNonSpace(payload: Buffer): number {
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  }
  return -1;
}

/** TEXT for UTF-8 without U+0000 (a device would cut the C string there), else BINARY. */
function textOrBinary(payload: Buffer): SignalPayloadOut {
  if (!payload.includes(0) && isUtf8(payload)) return { payloadType: PAYLOAD.TEXT, payload: Buffer.concat([payload, Buffer.of(0)]) };
  return { payloadType: PAYLOAD.BINARY, payload };
}

/**
 * An MQTT application message as an iosig signal payload. The content type decides first (iosig's own MJSON and
 * MBA types, JSON → OBJECT when it is an object, array or null), then the payload format indicator (UTF-8 → TEXT);
 * without either (MQTT 3.1.1) the bytes decide: empty → EMPTY, a JSON object or array → OBJECT, UTF-8 → TEXT,
 * anything else → BINARY.
 */
export function mqttToSignal(message: MqttPayload): SignalPayloadOut {
  const { payload, contentType, payloadFormatIndicator } = message;
  if (contentType === CONTENT_TYPE_MBA) return { payloadType: PAYLOAD.MBA, payload };
  if (contentType === CONTENT_TYPE_MJSON) {
    const doc = jsonDocument(payload);
    if (Array.isArray(doc) && doc.length >= 2) return { payloadType: PAYLOAD.MJSON, payload };
  }
  if (payload.length === 0) return { payloadType: PAYLOAD.EMPTY, payload: EMPTY };
  if (contentType !== undefined && isJsonContentType(contentType)) {
    if (jsonDocument(payload) !== undefined) return { payloadType: PAYLOAD.OBJECT, payload };
    return textOrBinary(payload);
  }
  if (payloadFormatIndicator === true || contentType?.toLowerCase().startsWith('text/')) return textOrBinary(payload);
  if (contentType !== undefined) return { payloadType: PAYLOAD.BINARY, payload };
  const first = firstNonSpace(payload);
  if ((first === 0x7b || first === 0x5b) && jsonDocument(payload) !== undefined) return { payloadType: PAYLOAD.OBJECT, payload };
  return textOrBinary(payload);
}
