// The plain WebSocket translation (issue 11 item 1), both ways, with no socket in sight:
// device frames → SIGNAL messages, SIGNAL deliveries → device frames. `raw` carries payloads only;
// `json` carries envelopes ({"tag","from","type","payload"} out, {"to","payload"} in).
import { MSG, PAYLOAD } from '../protocol/codes.js';
import { encodeSignal } from '../protocol/messages.js';
import { decodeSignalPayload, parseSignal } from '../protocol/payload.js';
import type { MbpValue } from '../protocol/mbp.js';

export type PlainFormat = 'raw' | 'json';

/** One frame for the device. */
export interface DeviceFrame {
  data: string | Buffer;
  binary: boolean;
}

const TYPE_NAMES: Readonly<Record<number, string>> = {
  [PAYLOAD.EMPTY]: 'EMPTY',
  [PAYLOAD.TEXT]: 'TEXT',
  [PAYLOAD.BINARY]: 'BINARY',
  [PAYLOAD.OBJECT]: 'OBJECT',
  [PAYLOAD.MJSON]: 'MJSON',
  [PAYLOAD.MBA]: 'MBA',
};

/** Buffers inside decoded values become base64 strings, so every value has a JSON form. */
function jsonable(value: MbpValue): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}

/**
 * A SIGNAL (or SIGNAL_E2E) delivery as the device sees it; null for anything else (handshake, CID_RES, PONG…
 * mean nothing to a plain device) and for signals whose payload cannot be decoded.
 * `from` is the publisher's CID when the broker knows it.
 */
export function frameForDevice(msg: Uint8Array, format: PlainFormat, from = ''): DeviceFrame | null {
  if (msg[0] !== MSG.SIGNAL && msg[0] !== MSG.SIGNAL_E2E) return null;
  const signal = parseSignal(msg);
  if (!signal) return null;
  // An E2E payload is sealed for its holders of the passphrase; the device gets the sealed bytes.
  const payloadType = signal.type === MSG.SIGNAL_E2E ? PAYLOAD.BINARY : signal.payloadType;
  if (format === 'raw') {
    if (payloadType === PAYLOAD.BINARY) return { data: Buffer.from(signal.payload), binary: true };
    if (payloadType === PAYLOAD.TEXT) {
      const end = signal.payload.at(-1) === 0 ? signal.payload.length - 1 : signal.payload.length;
      return { data: signal.payload.toString('utf8', 0, end), binary: false };
    }
    if (payloadType === PAYLOAD.EMPTY) return { data: '', binary: false };
    if (payloadType === PAYLOAD.OBJECT || payloadType === PAYLOAD.MJSON) return { data: signal.payload.toString('utf8'), binary: false };
    const values = decodeSignalPayload(payloadType, signal.payload);
    if (!values) return null;
    return { data: JSON.stringify(values.map(jsonable)), binary: false };
  }
  const values = decodeSignalPayload(payloadType, signal.payload);
  if (!values) return null;
  const many = payloadType === PAYLOAD.MJSON || payloadType === PAYLOAD.MBA;
  const envelope = {
    tag: signal.tag,
    from,
    type: signal.type === MSG.SIGNAL_E2E ? 'E2E' : (TYPE_NAMES[payloadType] ?? 'UNKNOWN'),
    payload: many ? values.map(jsonable) : jsonable(values[0] ?? null),
  };
  return { data: JSON.stringify(envelope), binary: false };
}

export type DeviceInput =
  | { ok: true; signals: Buffer[] }
  | { ok: false; reason: string };

const textEncoder = new TextEncoder();

function textSignal(tag: string, text: string): Buffer {
  return encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(`${text}\0`, 'utf8'));
}

/** A frame from the device → the SIGNAL messages it publishes (one per target tag). */
export function signalsFromDevice(data: Buffer, binary: boolean, format: PlainFormat, channels: readonly string[]): DeviceInput {
  if (binary) return { ok: true, signals: channels.map((tag) => encodeSignal(tag, PAYLOAD.BINARY, data)) };
  const text = data.toString('utf8');
  if (format === 'raw') return { ok: true, signals: channels.map((tag) => textSignal(tag, text)) };
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'a text frame that is not JSON (the connection asked for ?format=json)' };
  }
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    return { ok: false, reason: 'a JSON envelope must be an object {"to", "payload"}' };
  }
  const { to, payload, type } = envelope as { to?: unknown; payload?: unknown; type?: unknown };
  if (to !== undefined && (typeof to !== 'string' || to === '')) return { ok: false, reason: '"to" must be a non-empty tag or cid@topic' };
  if (typeof to === 'string' && textEncoder.encode(to).length > 255) return { ok: false, reason: '"to" is longer than 255 bytes' };
  const targets = typeof to === 'string' ? [to] : channels;
  let message: (tag: string) => Buffer;
  if (type === 'BINARY') {
    if (typeof payload !== 'string') return { ok: false, reason: 'a BINARY payload must be a base64 string' };
    const bytes = Buffer.from(payload, 'base64');
    message = (tag) => encodeSignal(tag, PAYLOAD.BINARY, bytes);
  } else if (payload === undefined) {
    message = (tag) => encodeSignal(tag, PAYLOAD.EMPTY, Buffer.alloc(0));
  } else if (typeof payload === 'string' || typeof payload === 'number') {
    const value = String(payload);
    message = (tag) => textSignal(tag, value);
  } else {
    const json = Buffer.from(JSON.stringify(payload), 'utf8');
    message = (tag) => encodeSignal(tag, PAYLOAD.OBJECT, json);
  }
  return { ok: true, signals: targets.map(message) };
}

/** `/plain/a,b?format=json` → channels and format; a reason when the request cannot be served. */
export function parsePlainRequest(
  path: string,
  query: string,
  prefix: string,
): { ok: true; channels: string[]; format: PlainFormat } | { ok: false; reason: string } {
  let rest: string;
  try {
    rest = decodeURIComponent(path.slice(prefix.length));
  } catch {
    return { ok: false, reason: 'the channel list is not valid percent-encoding' };
  }
  const channels = [...new Set(rest.split(',').filter((tag) => tag !== ''))];
  if (channels.length === 0) return { ok: false, reason: `no channel: connect to ${prefix}<channel>[,<channel>…]` };
  if (channels.length > MAX_PLAIN_CHANNELS) return { ok: false, reason: `at most ${MAX_PLAIN_CHANNELS} channels per connection` };
  for (const tag of channels) {
    if (Buffer.byteLength(tag) > 255) return { ok: false, reason: 'a channel name is longer than 255 bytes' };
    if (tag.startsWith('$')) return { ok: false, reason: `channel "${tag}": names starting with $ are reserved` };
    if (tag.includes('@')) return { ok: false, reason: `channel "${tag}": a plain device listens on channels, not cid@topic` };
  }
  const params = new URLSearchParams(query);
  const format = params.get('format') ?? 'raw';
  if (format !== 'raw' && format !== 'json') return { ok: false, reason: `format must be raw or json, not "${format}"` };
  return { ok: true, channels, format };
}

/** Channels one plain connection may name in its path. */
export const MAX_PLAIN_CHANNELS = 16;
