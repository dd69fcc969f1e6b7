// Signal payloads (docs/protocol.md §5.2): how JS clients turn arguments into a payloadType + bytes, and back.
// The server never looks at payloads; this is for clients, tools and tests.
import { MSG, PAYLOAD } from './codes.js';
import { encodeSignal, signalTag } from './messages.js';
import { MBA, binaryBytes, pack, unpack, type JsonValue, type MbpValue } from './mbp.js';
import { parseJsonWithin } from './json-depth.js';

/** One of PAYLOAD. */
export type SignalPayloadType = (typeof PAYLOAD)[keyof typeof PAYLOAD];

/** A SIGNAL's payload type and bytes. */
export interface SignalPayload {
  payloadType: SignalPayloadType;
  payload: Buffer;
}

/** A decoded SIGNAL or SIGNAL_E2E: its tag, payload type and payload. */
export interface ParsedSignal {
  /** SIGNAL or SIGNAL_E2E. */
  type: number;
  tag: string;
  payloadType: number;
  /** A view into the message. */
  payload: Buffer;
}

const NO_BYTES = Buffer.alloc(0);

/** Like encodeSignalPayload, but a BINARY payload may share memory with the argument. */
function choosePayload(args: readonly unknown[]): SignalPayload {
  if (args.length === 0) return { payloadType: PAYLOAD.EMPTY, payload: NO_BYTES };
  if (args.length === 1) {
    const [only] = args;
    if (typeof only === 'string' || typeof only === 'number') {
      // Devices read TEXT as a C string, hence the trailing NUL.
      return { payloadType: PAYLOAD.TEXT, payload: Buffer.from(`${only}\0`) };
    }
    const binary = binaryBytes(only);
    if (binary) return { payloadType: PAYLOAD.BINARY, payload: Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength) };
    if (typeof only === 'object') return { payloadType: PAYLOAD.OBJECT, payload: Buffer.from(JSON.stringify(only) ?? '') };
    // Booleans, undefined and functions have no payload form; the reference throws the same way.
    throw new Error('unknown payload arguments');
  }
  if (args.some((arg) => binaryBytes(arg) !== null)) return { payloadType: PAYLOAD.MBA, payload: pack(MBA(...args)) };
  return { payloadType: PAYLOAD.MJSON, payload: Buffer.from(JSON.stringify(args)) };
}

/**
 * The payload type and bytes the JS sender picks: none → EMPTY; one string/number → TEXT (+0x00);
 * one binary → BINARY; one other object or null → OBJECT; several without binary → MJSON; with binary → MBA.
 * Throws for a single boolean/undefined/function argument.
 */
export function encodeSignalPayload(...args: unknown[]): SignalPayload {
  const chosen = choosePayload(args);
  // Copy a BINARY payload so the caller's array can change afterwards.
  return chosen.payloadType === PAYLOAD.BINARY ? { ...chosen, payload: Buffer.from(chosen.payload) } : chosen;
}

/** A whole SIGNAL message for `tag` carrying `args`. Throws on a non-string or over-255-byte tag. */
export function buildSignal(tag: string, ...args: unknown[]): Buffer {
  if (typeof tag !== 'string') throw new TypeError('tag should be string.');
  const { payloadType, payload } = choosePayload(args);
  return encodeSignal(tag, payloadType, payload);
}

/** SIGNAL/SIGNAL_E2E split into its parts, or null when malformed (payloadType byte required, Q1; tag must be UTF-8). */
export function parseSignal(msg: Uint8Array): ParsedSignal | null {
  const type = msg[0];
  if (type !== MSG.SIGNAL && type !== MSG.SIGNAL_E2E) return null;
  const tag = signalTag(msg);
  if (tag === null) return null;
  const bodyStart = 3 + msg[1]!;
  const payload = msg.subarray(bodyStart);
  return {
    type,
    tag,
    payloadType: msg[bodyStart - 1]!,
    payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
  };
}

const utf8 = new TextDecoder();

/**
 * The values a JS receiver hands to its listeners, or null where it would drop the signal
 * (bad JSON or JSON nested deeper than MAX_JSON_DEPTH, MJSON that is not an array, MBA without args, unknown
 * type). EMPTY gives `[null]`.
 * TEXT loses one trailing 0x00 if present. Buffers returned are copies.
 */
export function decodeSignalPayload(payloadType: number, payload: Uint8Array): MbpValue[] | null {
  switch (payloadType) {
    case PAYLOAD.EMPTY:
      return [null];
    case PAYLOAD.TEXT: {
      const end = payload.length > 0 && payload[payload.length - 1] === 0 ? payload.length - 1 : payload.length;
      return [utf8.decode(payload.subarray(0, end))];
    }
    case PAYLOAD.BINARY:
      return [Buffer.from(payload)];
    case PAYLOAD.OBJECT: {
      const value = parseJsonWithin(payload) as JsonValue | undefined;
      return value === undefined ? null : [value];
    }
    case PAYLOAD.MJSON: {
      const values = parseJsonWithin(payload);
      return Array.isArray(values) ? (values as JsonValue[]) : null;
    }
    case PAYLOAD.MBA:
      return unpack(payload)?.args ?? null;
    default:
      return null;
  }
}
