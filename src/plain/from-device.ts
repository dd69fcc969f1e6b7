// What a plain device's frame asks the broker to publish (issue 11 item 1; issue 16 items 1 and 5), with no
// socket in sight. `raw`: the frame is the payload, published on every channel of the device. `json`: an
// envelope {"to", "type", "payload"}. A frame names one payload and its targets; the SIGNALs are written later,
// one at a time into one buffer (DeviceFrameInput.message), after the connection has judged the whole frame.
import { MSG, PAYLOAD } from '../protocol/codes.js';
import { MAX_JSON_DEPTH, jsonDepthWithin } from '../protocol/json-depth.js';
import type { PlainFormat } from './request.js';

/** One frame from the device: the same payload for each target tag. */
export interface DeviceFrameInput {
  ok: true;
  /** Target tags (the channels, or the envelope's `to`) as UTF-8. */
  targets: readonly Buffer[];
  payloadType: number;
  /** The payload (may be a view into the transport's buffer, valid during the call). */
  payload: Uint8Array;
  /** TEXT: a NUL follows the payload in every SIGNAL, as the JS clients send it, for devices reading C strings. */
  nul: boolean;
}

/** Bytes of the payload as every SIGNAL carries it. */
export function payloadBytes(input: DeviceFrameInput): number {
  return input.payload.length + (input.nul ? 1 : 0);
}

export type DeviceInput = DeviceFrameInput | { ok: false; reason: string };

/** A device's channels as UTF-8, made once per connection. */
export function targetTags(channels: readonly string[]): Buffer[] {
  return channels.map((tag) => Buffer.from(tag, 'utf8'));
}

/**
 * A frame from the device → what it publishes. A JSON envelope larger than `maxJson` bytes (--max-plain-json) or
 * nested deeper than MAX_JSON_DEPTH + 1 levels (so its payload deeper than MAX_JSON_DEPTH) is refused before it is
 * parsed.
 */
export function readDeviceFrame(data: Uint8Array, binary: boolean, format: PlainFormat, channels: readonly Buffer[], maxJson: number): DeviceInput {
  if (binary) return { ok: true, targets: channels, payloadType: PAYLOAD.BINARY, payload: data, nul: false };
  if (format === 'raw') return { ok: true, targets: channels, payloadType: PAYLOAD.TEXT, payload: data, nul: true };
  if (data.length > maxJson) {
    return { ok: false, reason: `a JSON envelope of ${data.length} bytes; at most ${maxJson} (send larger payloads as binary frames)` };
  }
  if (!jsonDepthWithin(data, MAX_JSON_DEPTH + 1)) {
    return { ok: false, reason: `the payload is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects` };
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return { ok: false, reason: 'a text frame that is not JSON (the connection asked for ?format=json)' };
  }
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    return { ok: false, reason: 'a JSON envelope must be an object {"to", "payload"}' };
  }
  const { to, payload, type } = envelope as { to?: unknown; payload?: unknown; type?: unknown };
  if (to !== undefined && (typeof to !== 'string' || to === '')) return { ok: false, reason: '"to" must be a non-empty tag or cid@topic' };
  const toBytes = typeof to === 'string' ? Buffer.from(to, 'utf8') : null;
  if (toBytes && toBytes.length > 255) return { ok: false, reason: '"to" is longer than 255 bytes' };
  const targets = toBytes ? [toBytes] : channels;
  if (type === 'BINARY') {
    if (typeof payload !== 'string') return { ok: false, reason: 'a BINARY payload must be a base64 string' };
    return { ok: true, targets, payloadType: PAYLOAD.BINARY, payload: Buffer.from(payload, 'base64'), nul: false };
  }
  if (payload === undefined) return { ok: true, targets, payloadType: PAYLOAD.EMPTY, payload: Buffer.alloc(0), nul: false };
  if (typeof payload === 'string' || typeof payload === 'number') {
    return { ok: true, targets, payloadType: PAYLOAD.TEXT, payload: Buffer.from(String(payload), 'utf8'), nul: true };
  }
  // Within the depth bound (checked above), so serialising it again cannot run out of stack.
  return { ok: true, targets, payloadType: PAYLOAD.OBJECT, payload: Buffer.from(JSON.stringify(payload), 'utf8'), nul: false };
}

/**
 * The SIGNALs of a frame, written one at a time into one buffer: the payload is copied once, and each target's
 * header is written right before it. `message(i)` is valid until the next call (the connection copies whatever
 * it keeps, as it does with a transport's transient buffers).
 */
export class FrameSignals {
  private readonly buf: Buffer;
  /** Where the payload starts in `buf`: after room for the longest header. */
  private readonly body: number;

  constructor(private readonly input: DeviceFrameInput) {
    let longest = 0;
    for (const target of input.targets) longest = Math.max(longest, target.length);
    this.body = 3 + longest;
    this.buf = Buffer.allocUnsafe(this.body + payloadBytes(input));
    this.buf.set(input.payload, this.body);
    if (input.nul) this.buf[this.buf.length - 1] = 0;
  }

  get count(): number {
    return this.input.targets.length;
  }

  /** Bytes of the SIGNAL for target `i`. */
  size(i: number): number {
    return 3 + this.input.targets[i]!.length + payloadBytes(this.input);
  }

  message(i: number): Buffer {
    const tag = this.input.targets[i]!;
    const start = this.body - 3 - tag.length;
    const buf = this.buf;
    buf[start] = MSG.SIGNAL;
    buf[start + 1] = tag.length;
    buf.set(tag, start + 2);
    buf[this.body - 1] = this.input.payloadType;
    return buf.subarray(start);
  }
}
