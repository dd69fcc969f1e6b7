// What a plain device gets for a SIGNAL (issue 11 item 1; issue 16 items 1, 5 and 10), with no socket in sight.
// `raw`: the payload only. `json`: an envelope {"tag","from"[,"server":true],"type"[,"encoding"],"payload"}.
//
// Bounded by construction: a frame is at most 4/3 of the message plus a small envelope (frameBound), whatever
// the payload holds, and nothing here recurses over what a client wrote. A payload without a compact JSON form —
// TEXT that is not UTF-8 or is mostly control bytes, JSON nested deeper than MAX_JSON_DEPTH, larger than
// --max-plain-json (parsing it would stall the loop) or not JSON at all, bytes — travels as base64 marked
// `"encoding":"base64"` (raw devices: as a binary frame). The frame is built once per publish and format
// (Outbound.shared), and only when some device has room for it.
import { isUtf8 } from 'node:buffer';
import { MSG, PAYLOAD } from '../protocol/codes.js';
import { parseSignal } from '../protocol/payload.js';
import { unpack, type MbpValue } from '../protocol/mbp.js';
import { MAX_JSON_DEPTH, parseJsonWithin } from '../protocol/json-depth.js';
import type { Outbound, Publisher } from '../delivery/outbound.js';
import type { PlainFormat } from './request.js';

/** One frame for the device: its bytes (UTF-8 for a text frame; may be a view into the message) and its kind. */
export interface DeviceFrame {
  data: Uint8Array;
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

/** Envelope keys and punctuation, the TEXT rule's slack, and rounding: what a frame may add to 4/3 of the message. */
const ENVELOPE_BYTES = 256;
/** TEXT is sent as a JSON string while escaping adds at most a third of its bytes plus this much (else base64). */
const TEXT_ESCAPE_SLACK = 64;

/**
 * The most bytes the frame of `format` for `out` can take, known before it is built. Raw: the payload (an MBA's
 * JSON: 4/3 of it). JSON: 4/3 of the message (base64), the tag and the publisher escaped at worst six times over,
 * and the envelope.
 */
export function frameBound(out: Outbound, format: PlainFormat): number {
  const { msg, publisher } = out;
  const tagBytes = msg[1] ?? 0;
  const base64 = Math.ceil((msg.length * 4) / 3) + TEXT_ESCAPE_SLACK;
  if (format === 'raw') return msg[2 + tagBytes] === PAYLOAD.MBA ? base64 : msg.length;
  return base64 + 5 * tagBytes + 6 * Buffer.byteLength(publisher ?? '') + ENVELOPE_BYTES;
}

type FrameBuilder = (out: Outbound) => DeviceFrame | null;
const builders = new Map<string, FrameBuilder>();

/**
 * The builder Outbound.shared keys a format's frame by: one per format and JSON limit, the same function for every
 * device, so a publish builds one frame per format.
 */
export function frameBuilder(format: PlainFormat, maxJson: number): FrameBuilder {
  const key = `${format} ${maxJson}`;
  let build = builders.get(key);
  if (!build) builders.set(key, (build = (out) => frameForDevice(out.msg, format, out.publisher, maxJson)));
  return build;
}

/** --max-plain-json by default: a 1 MiB envelope of small objects costs about 20-60 ms of parsing. */
export const DEFAULT_MAX_PLAIN_JSON = 1024 * 1024;

/**
 * A SIGNAL (or SIGNAL_E2E) delivery as the device sees it; null for anything else (handshake, CID_RES, PONG…
 * mean nothing to a plain device) and for a malformed signal. `publisher`: the publishing client's CID, or null
 * for the server (`"server":true` in JSON). `maxJson`: the largest JSON payload parsed (--max-plain-json).
 */
export function frameForDevice(
  msg: Uint8Array,
  format: PlainFormat,
  publisher: Publisher = '',
  maxJson: number = DEFAULT_MAX_PLAIN_JSON,
): DeviceFrame | null {
  const signal = parseSignal(msg);
  if (!signal) return null;
  // An E2E payload is sealed for the holders of its passphrase: the device gets the sealed bytes.
  const e2e = signal.type === MSG.SIGNAL_E2E;
  const payloadType = e2e ? PAYLOAD.BINARY : signal.payloadType;
  if (format === 'raw') return rawFrame(payloadType, signal.payload, maxJson);
  const head =
    `{"tag":${JSON.stringify(signal.tag)},"from":${JSON.stringify(publisher ?? '')},` +
    `${publisher === null ? '"server":true,' : ''}"type":"${e2e ? 'E2E' : (TYPE_NAMES[payloadType] ?? 'UNKNOWN')}",`;
  return { data: Buffer.from(`${head}${payloadField(payloadType, signal.payload, maxJson)}}`, 'utf8'), binary: false };
}

const text = (data: Uint8Array): DeviceFrame => ({ data, binary: false });
const binary = (data: Uint8Array): DeviceFrame => ({ data, binary: true });

/** Raw: TEXT (without its NUL), OBJECT and MJSON as text frames when they are UTF-8; bytes as binary frames. */
function rawFrame(payloadType: number, payload: Buffer, maxJson: number): DeviceFrame {
  switch (payloadType) {
    case PAYLOAD.EMPTY:
      return text(payload.subarray(0, 0));
    case PAYLOAD.TEXT: {
      const body = withoutNul(payload);
      return isUtf8(body) ? text(body) : binary(body);
    }
    case PAYLOAD.OBJECT:
    case PAYLOAD.MJSON:
      return isUtf8(payload) ? text(payload) : binary(payload);
    case PAYLOAD.MBA: {
      const json = mbaJson(payload, maxJson);
      return json === null ? binary(payload) : text(Buffer.from(json, 'utf8'));
    }
    default:
      return binary(payload);
  }
}

/** The `"payload":…` part of a JSON envelope (with `"encoding":"base64",` before it when it is base64). */
function payloadField(payloadType: number, payload: Buffer, maxJson: number): string {
  switch (payloadType) {
    case PAYLOAD.EMPTY:
      return '"payload":null';
    case PAYLOAD.TEXT: {
      const body = withoutNul(payload);
      return compactText(body) ? `"payload":${JSON.stringify(body.toString('utf8'))}` : base64Field(body);
    }
    case PAYLOAD.OBJECT:
    case PAYLOAD.MJSON: {
      const json = jsonText(payload, payloadType === PAYLOAD.MJSON, maxJson);
      return json === null ? base64Field(payload) : `"payload":${json}`;
    }
    case PAYLOAD.MBA: {
      const json = mbaJson(payload, maxJson);
      return json === null ? base64Field(payload) : `"payload":${json}`;
    }
    default:
      return base64Field(payload);
  }
}

function base64Field(bytes: Uint8Array): string {
  return `"encoding":"base64","payload":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"`;
}

function withoutNul(payload: Buffer): Buffer {
  return payload.length > 0 && payload[payload.length - 1] === 0 ? payload.subarray(0, payload.length - 1) : payload;
}

/** Bytes JSON escaping adds per byte: six for a control byte (`\u0001`), two for `"`, `\` and `\n`-style ones. */
const ESCAPE_EXTRA = (() => {
  const extra = new Uint8Array(256);
  for (let b = 0; b < 0x20; b++) extra[b] = 5;
  for (const b of [0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c]) extra[b] = 1;
  return extra;
})();

/** True when `body` is UTF-8 that JSON escaping grows by at most a third plus TEXT_ESCAPE_SLACK bytes. */
function compactText(body: Buffer): boolean {
  if (!isUtf8(body)) return false;
  const allowed = body.length / 3 + TEXT_ESCAPE_SLACK;
  let extra = 0;
  for (let i = 0; i < body.length; i++) {
    extra += ESCAPE_EXTRA[body[i]!]!;
    if (extra > allowed) return false;
  }
  return true;
}

/**
 * The payload's own text when it is UTF-8 JSON of at most `maxJson` bytes nested at most MAX_JSON_DEPTH deep (an
 * array when `array`): it is then embedded as it is, never serialised again. null otherwise.
 */
function jsonText(payload: Buffer, array: boolean, maxJson: number): string | null {
  if (payload.length > maxJson || !isUtf8(payload)) return null;
  const value = parseJsonWithin(payload, MAX_JSON_DEPTH);
  if (value === undefined || (array && !Array.isArray(value))) return null;
  return payload.toString('utf8');
}

/** Buffers inside decoded values become base64 strings, so every value has a JSON form. */
function jsonable(value: MbpValue): unknown {
  return Buffer.isBuffer(value) ? value.toString('base64') : value;
}

/**
 * An MBA payload's arguments as a JSON array (fields decode within MAX_JSON_DEPTH, so serialising them is
 * bounded), or null when it is larger than `maxJson`, does not decode, or its JSON would be larger than base64 of
 * the bytes would be.
 */
function mbaJson(payload: Buffer, maxJson: number): string | null {
  if (payload.length > maxJson) return null;
  const args = unpack(payload)?.args;
  if (!args) return null;
  const json = JSON.stringify(args.map(jsonable));
  return Buffer.byteLength(json) <= Math.ceil((payload.length * 4) / 3) + TEXT_ESCAPE_SLACK ? json : null;
}
